//! The QUIC node protocol's frames, sans-IO: encoding, an incremental decoder fed with
//! whatever bytes arrived, and the client's watch state machine (resume and relist).
//!
//! One QUIC bidirectional stream carries one watch. The client sends one
//! [`WatchRequest`] frame; the server answers with the initial state as `Added` events,
//! an [`Frame::InitialEnd`], then events and periodic bookmarks, and ends with an
//! [`Frame::Error`] (a Kubernetes `Status`) when it stops the watch for a reason the
//! client should know (410 Expired: relist; 429/StreamStalled: too slow).
//!
//! ```text
//! frame   = len:u32le  type:u8  payload        (len counts type + payload)
//! 0x01 WatchRequest  payload = JSON of WatchRequest
//! 0x10 Event         payload = kind:u8 revision:i64le object  (object = the stored
//!                    envelope bytes, unchanged: validate with envelope::check before use)
//! 0x11 Bookmark      payload = revision:i64le
//! 0x12 InitialEnd    payload = revision:i64le
//! 0x13 Error         payload = JSON of a Kubernetes Status
//! 0x02 Call          payload = head_len:u32le head (JSON of CallHead) body
//! 0x20 Reply         payload = status:u16le ctype_len:u16le content_type body
//! ```
//!
//! A stream may instead carry one request/response exchange — a write (create,
//! update, patch, status, binding, eviction, delete) or a read — with the same
//! semantics and errors as the REST API: the client sends one [`Frame::Call`] (method,
//! path with query, content type, body) and finishes its side; the server answers with
//! one [`Frame::Reply`] (HTTP status code, content type, body: the object, or a
//! Kubernetes `Status` on failure) and finishes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The ALPN protocol name of the node protocol.
pub const ALPN: &[u8] = b"clipper-watch/1";

/// Largest frame accepted: objects are at most 3 MiB as JSON and their rkyv envelopes
/// stay well below 8 MiB; anything larger is a broken or hostile peer.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// Largest watch request: selectors and names are short.
pub const MAX_REQUEST: usize = 64 * 1024;

const HEADER: usize = 5;

const T_REQUEST: u8 = 0x01;
const T_CALL: u8 = 0x02;
const T_REPLY: u8 = 0x20;
const T_EVENT: u8 = 0x10;
const T_BOOKMARK: u8 = 0x11;
const T_INITIAL_END: u8 = 0x12;
const T_ERROR: u8 = 0x13;

/// QUIC application error codes used when a stream or connection is cut.
pub mod codes {
    /// The peer sent a frame that does not decode.
    pub const MALFORMED: u32 = 1;
    /// The consumer did not read for too long; the server dropped the watch.
    pub const STALLED: u32 = 2;
    /// The server is shutting down.
    pub const SHUTDOWN: u32 = 3;
    /// The client is done.
    pub const DONE: u32 = 0;
}

/// What a client asks to watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatchRequest {
    /// "" for the core group.
    #[serde(default)]
    pub group: String,
    pub version: String,
    /// The plural resource name (`pods`).
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_selector: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_selector: String,
    /// `None`: the current state first, then changes. `Some(r)`: changes after `r`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<i64>,
    /// A bearer token, for clients without a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    fn to_u8(self) -> u8 {
        match self {
            EventKind::Added => 1,
            EventKind::Modified => 2,
            EventKind::Deleted => 3,
        }
    }

    fn from_u8(b: u8) -> Option<EventKind> {
        match b {
            1 => Some(EventKind::Added),
            2 => Some(EventKind::Modified),
            3 => Some(EventKind::Deleted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// The head of a request/response call: everything but the body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallHead {
    /// GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The REST path with its query (`/api/v1/namespaces/x/pods?dryRun=All`).
    pub path: String,
    /// The body's media type (JSON, YAML, protobuf, or a patch type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// A bearer token, for clients without a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    WatchRequest(WatchRequest),
    /// A request/response call.
    Call {
        head: CallHead,
        body: Bytes,
    },
    /// The answer to a call.
    Reply {
        status: u16,
        content_type: String,
        body: Bytes,
    },
    Event {
        kind: EventKind,
        revision: i64,
        /// The stored envelope, as the store wrote it. Not yet validated.
        object: Bytes,
    },
    Bookmark(i64),
    InitialEnd(i64),
    /// A Kubernetes `Status` as JSON (code, reason, message).
    Error(StatusSummary),
}

/// The parts of a Kubernetes `Status` a watch client acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSummary {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("unknown frame type {0:#04x}")]
    UnknownType(u8),
    #[error("malformed {what} frame: {detail}")]
    Malformed { what: &'static str, detail: String },
}

fn malformed(what: &'static str, detail: impl Into<String>) -> WireError {
    WireError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// Encodes a frame's header for a payload of `payload_len` bytes.
fn header(out: &mut BytesMut, ty: u8, payload_len: usize) {
    out.put_u32_le((payload_len + 1) as u32);
    out.put_u8(ty);
}

/// The request frame.
pub fn encode_request(req: &WatchRequest) -> Bytes {
    let json = serde_json::to_vec(req).unwrap_or_default();
    let mut out = BytesMut::with_capacity(HEADER + json.len());
    header(&mut out, T_REQUEST, json.len());
    out.extend_from_slice(&json);
    out.freeze()
}

/// A call frame.
pub fn encode_call(head: &CallHead, body: &[u8]) -> Bytes {
    let json = serde_json::to_vec(head).unwrap_or_default();
    let mut out = BytesMut::with_capacity(HEADER + 4 + json.len() + body.len());
    header(&mut out, T_CALL, 4 + json.len() + body.len());
    out.put_u32_le(json.len() as u32);
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out.freeze()
}

/// The head of a reply frame; the caller writes the body next (not copied).
pub fn encode_reply_head(status: u16, content_type: &str, body_len: usize) -> Bytes {
    let ct = &content_type.as_bytes()[..content_type.len().min(u16::MAX as usize)];
    let mut out = BytesMut::with_capacity(HEADER + 4 + ct.len());
    header(&mut out, T_REPLY, 4 + ct.len() + body_len);
    out.put_u16_le(status);
    out.put_u16_le(ct.len() as u16);
    out.extend_from_slice(ct);
    out.freeze()
}

/// The head of an event frame: everything but the object bytes, which the caller
/// writes next (from the watch cache, without copying).
pub fn encode_event_head(kind: EventKind, revision: i64, object_len: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER + 9);
    header(&mut out, T_EVENT, 9 + object_len);
    out.put_u8(kind.to_u8());
    out.put_i64_le(revision);
    out.freeze()
}

/// A whole event frame (tests and small objects).
pub fn encode_event(kind: EventKind, revision: i64, object: &[u8]) -> Bytes {
    let mut out = BytesMut::from(&encode_event_head(kind, revision, object.len())[..]);
    out.extend_from_slice(object);
    out.freeze()
}

pub fn encode_bookmark(revision: i64) -> Bytes {
    revision_frame(T_BOOKMARK, revision)
}

pub fn encode_initial_end(revision: i64) -> Bytes {
    revision_frame(T_INITIAL_END, revision)
}

fn revision_frame(ty: u8, revision: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER + 8);
    header(&mut out, ty, 8);
    out.put_i64_le(revision);
    out.freeze()
}

/// An error frame carrying a Status (the full Status JSON is accepted; the summary
/// fields are what clients read).
pub fn encode_error(status_json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER + status_json.len());
    header(&mut out, T_ERROR, status_json.len());
    out.extend_from_slice(status_json);
    out.freeze()
}

/// Incremental decoder: feed bytes as they arrive, take whole frames out. Holds at most
/// one frame's bytes plus what arrived with it.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limit: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder refusing frames over `limit` bytes (at most [`MAX_FRAME`]).
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            limit: limit.min(MAX_FRAME),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed. After an error the
    /// stream is unusable: the caller closes it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len == 0 {
            return Err(WireError::Empty);
        }
        if len > self.limit {
            return Err(WireError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            // Reserve for the rest of this frame only once its size is known to be sane.
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        let mut body = self.buf.split_to(len).freeze();
        let ty = body.get_u8();
        parse(ty, body).map(Some)
    }
}

fn parse(ty: u8, mut p: Bytes) -> Result<Frame, WireError> {
    match ty {
        T_REQUEST => {
            if p.len() > MAX_REQUEST {
                return Err(malformed("watch request", "larger than 64 KiB"));
            }
            serde_json::from_slice(&p)
                .map(Frame::WatchRequest)
                .map_err(|e| malformed("watch request", e.to_string()))
        }
        T_EVENT => {
            if p.len() < 9 {
                return Err(malformed("event", "shorter than its fixed part"));
            }
            let kind = EventKind::from_u8(p.get_u8())
                .ok_or_else(|| malformed("event", "unknown event kind"))?;
            let revision = p.get_i64_le();
            if revision <= 0 {
                return Err(malformed("event", "revision must be positive"));
            }
            Ok(Frame::Event {
                kind,
                revision,
                object: p,
            })
        }
        T_BOOKMARK | T_INITIAL_END => {
            if p.len() != 8 {
                return Err(malformed("bookmark", "payload must be 8 bytes"));
            }
            let revision = p.get_i64_le();
            Ok(if ty == T_BOOKMARK {
                Frame::Bookmark(revision)
            } else {
                Frame::InitialEnd(revision)
            })
        }
        T_ERROR => serde_json::from_slice(&p)
            .map(Frame::Error)
            .map_err(|e| malformed("error", e.to_string())),
        T_CALL => {
            if p.len() < 4 {
                return Err(malformed("call", "shorter than its head length"));
            }
            let head_len = p.get_u32_le() as usize;
            if head_len > p.len() || head_len > MAX_REQUEST {
                return Err(malformed("call", "head longer than the frame or 64 KiB"));
            }
            let head_bytes = p.split_to(head_len);
            let head: CallHead = serde_json::from_slice(&head_bytes)
                .map_err(|e| malformed("call", e.to_string()))?;
            if !matches!(
                head.method.as_str(),
                "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
            ) {
                return Err(malformed("call", format!("method {:?}", head.method)));
            }
            if !head.path.starts_with('/') {
                return Err(malformed("call", "the path must start with /"));
            }
            Ok(Frame::Call { head, body: p })
        }
        T_REPLY => {
            if p.len() < 4 {
                return Err(malformed("reply", "shorter than its fixed part"));
            }
            let status = p.get_u16_le();
            let ct_len = p.get_u16_le() as usize;
            if ct_len > p.len() {
                return Err(malformed("reply", "content type longer than the frame"));
            }
            let ct = p.split_to(ct_len);
            let content_type = String::from_utf8(ct.to_vec())
                .map_err(|_| malformed("reply", "content type is not UTF-8"))?;
            Ok(Frame::Reply {
                status,
                content_type,
                body: p,
            })
        }
        other => Err(WireError::UnknownType(other)),
    }
}

/// What a watch client's state machine tells its driver after a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Deliver this event to the consumer.
    Event {
        kind: EventKind,
        revision: i64,
        object: Bytes,
    },
    /// The initial state is complete (after a fresh start or a relist).
    Synced(i64),
    /// Nothing to deliver (a bookmark, or a replayed event already seen).
    Nothing,
    /// The server says the revision is gone: reconnect with [`WatchSession::request`]
    /// (which now asks for the current state) and treat what follows as a relist.
    Relist,
    /// The server ended the watch for good.
    Failed(StatusSummary),
}

/// The client side of one watch across reconnects: remembers the last revision seen,
/// so a new stream resumes exactly after it, and turns 410 into a relist.
#[derive(Clone, Debug)]
pub struct WatchSession {
    base: WatchRequest,
    last_revision: Option<i64>,
    synced: bool,
}

impl WatchSession {
    pub fn new(request: WatchRequest) -> WatchSession {
        let last_revision = request.from_revision;
        WatchSession {
            synced: last_revision.is_some(),
            base: request,
            last_revision,
        }
    }

    /// The request to send on a new stream: from the last revision seen, or the current
    /// state when nothing was seen yet (or after a 410).
    pub fn request(&self) -> WatchRequest {
        WatchRequest {
            from_revision: self.last_revision,
            ..self.base.clone()
        }
    }

    pub fn last_revision(&self) -> Option<i64> {
        self.last_revision
    }

    /// Whether the initial state has been delivered completely.
    pub fn synced(&self) -> bool {
        self.synced
    }

    pub fn on_frame(&mut self, frame: Frame) -> Step {
        match frame {
            Frame::Event {
                kind,
                revision,
                object,
            } => {
                // Initial ADDED events carry each object's own revision, in key order,
                // not revision order; only after InitialEnd does the revision advance.
                if self.synced {
                    if self.last_revision.is_some_and(|r| revision <= r) {
                        return Step::Nothing;
                    }
                    self.last_revision = Some(revision);
                }
                Step::Event {
                    kind,
                    revision,
                    object,
                }
            }
            Frame::InitialEnd(r) => {
                self.synced = true;
                self.last_revision = Some(r);
                Step::Synced(r)
            }
            Frame::Bookmark(r) => {
                if self.synced && self.last_revision.is_none_or(|l| r > l) {
                    self.last_revision = Some(r);
                }
                Step::Nothing
            }
            Frame::Error(s) if s.code == 410 => {
                self.last_revision = None;
                self.synced = false;
                Step::Relist
            }
            Frame::Error(s) => Step::Failed(s),
            Frame::WatchRequest(_) | Frame::Call { .. } | Frame::Reply { .. } => {
                Step::Failed(StatusSummary {
                    code: 500,
                    reason: "InternalError".into(),
                    message: "the server sent a frame that does not belong to a watch".into(),
                })
            }
        }
    }

    /// The stream broke before the watch ended (connection lost, server restart): an
    /// unsynced watch starts over, a synced one resumes from its last revision.
    pub fn on_disconnect(&mut self) {
        if !self.synced {
            self.last_revision = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<(Bytes, Frame)> {
        let req = WatchRequest {
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
            namespace: Some("default".into()),
            label_selector: "app=web".into(),
            field_selector: String::new(),
            from_revision: Some(42),
            token: None,
        };
        vec![
            (encode_request(&req), Frame::WatchRequest(req.clone())),
            (
                encode_event(EventKind::Modified, 7, b"CLPRobject"),
                Frame::Event {
                    kind: EventKind::Modified,
                    revision: 7,
                    object: Bytes::from_static(b"CLPRobject"),
                },
            ),
            (encode_bookmark(9), Frame::Bookmark(9)),
            (encode_initial_end(11), Frame::InitialEnd(11)),
            (
                encode_error(
                    br#"{"kind":"Status","code":410,"reason":"Expired","message":"too old"}"#,
                ),
                Frame::Error(StatusSummary {
                    code: 410,
                    reason: "Expired".into(),
                    message: "too old".into(),
                }),
            ),
            {
                let head = CallHead {
                    method: "PATCH".into(),
                    path: "/api/v1/namespaces/default/pods/p/status?fieldManager=agent".into(),
                    content_type: Some("application/merge-patch+json".into()),
                    token: Some("abc".into()),
                };
                let body = br#"{"status":{"phase":"Running"}}"#;
                (
                    encode_call(&head, body),
                    Frame::Call {
                        head,
                        body: Bytes::from_static(body),
                    },
                )
            },
            {
                let mut b = encode_reply_head(409, "application/json", 4).to_vec();
                b.extend_from_slice(b"{}\r\n");
                (
                    Bytes::from(b),
                    Frame::Reply {
                        status: 409,
                        content_type: "application/json".into(),
                        body: Bytes::from_static(b"{}\r\n"),
                    },
                )
            },
        ]
    }

    #[test]
    fn every_frame_round_trips_whole_and_byte_by_byte() {
        let frames = all_frames();
        let mut stream = Vec::new();
        for (b, _) in &frames {
            stream.extend_from_slice(b);
        }
        // Whole.
        let mut d = Decoder::default();
        d.feed(&stream);
        for (_, want) in &frames {
            assert_eq!(d.next_frame().unwrap().as_ref(), Some(want));
        }
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 0);
        // One byte at a time: never a frame early, every frame exactly once.
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for b in &stream {
            d.feed(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        let want: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_event_head_plus_the_object_is_the_event() {
        let head = encode_event_head(EventKind::Added, 5, 3);
        let mut joined = head.to_vec();
        joined.extend_from_slice(b"abc");
        assert_eq!(&joined[..], &encode_event(EventKind::Added, 5, b"abc")[..]);
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0, 0, 0, 0], "empty"),
            ((MAX_FRAME as u32 + 1).to_le_bytes().to_vec(), "exceeds"),
            (vec![1, 0, 0, 0, 0x7f], "unknown frame type"),
            (vec![3, 0, 0, 0, T_EVENT, 1, 0], "shorter"),
            (
                [&[10u8, 0, 0, 0, T_EVENT, 9][..], &7i64.to_le_bytes()].concat(),
                "unknown event kind",
            ),
            (
                [&[10u8, 0, 0, 0, T_EVENT, 1][..], &0i64.to_le_bytes()].concat(),
                "positive",
            ),
            (vec![2, 0, 0, 0, T_BOOKMARK, 1], "8 bytes"),
            (vec![3, 0, 0, 0, T_REQUEST, b'{', b'x'], "watch request"),
            (
                [&[20u8, 0, 0, 0, T_REQUEST][..], br#"{"version":"v1"}   "#].concat(),
                "missing field",
            ),
            (
                vec![3, 0, 0, 0, T_CALL, 1, 0],
                "shorter than its head length",
            ),
            (
                [&[9u8, 0, 0, 0, T_CALL][..], &100u32.to_le_bytes(), b"{}{}"].concat(),
                "head longer",
            ),
            (
                call_bytes(r#"{"method":"BREW","path":"/api"}"#),
                "method \"BREW\"",
            ),
            (
                call_bytes(r#"{"method":"GET","path":"api"}"#),
                "must start with /",
            ),
            (call_bytes(r#"{"method":"GET"}"#), "missing field `path`"),
            (
                vec![3, 0, 0, 0, T_REPLY, 200, 0],
                "shorter than its fixed part",
            ),
            (
                vec![7, 0, 0, 0, T_REPLY, 200, 0, 9, 0, b'a', b'b'],
                "content type longer",
            ),
            (
                vec![7, 0, 0, 0, T_REPLY, 200, 0, 2, 0, 0xff, 0xfe],
                "not UTF-8",
            ),
        ];
        for (bytes, want) in cases {
            let mut d = Decoder::default();
            d.feed(&bytes);
            let err = d.next_frame().expect_err(want).to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    fn call_bytes(head: &str) -> Vec<u8> {
        let mut v = ((5 + head.len()) as u32).to_le_bytes().to_vec();
        v.push(T_CALL);
        v.extend_from_slice(&(head.len() as u32).to_le_bytes());
        v.extend_from_slice(head.as_bytes());
        v
    }

    #[test]
    fn a_huge_length_is_refused_before_anything_is_buffered_for_it() {
        let mut d = Decoder::new(1024);
        d.feed(&2048u32.to_le_bytes());
        assert_eq!(d.next_frame(), Err(WireError::TooLarge(2048)));
        assert!(d.buf.capacity() < 2048);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 5 && next() % 2 == 0 {
                // Plausible lengths and types make the parsers run.
                let body = (len - 4) as u32;
                bytes[..4].copy_from_slice(&body.to_le_bytes());
                bytes[4] =
                    [T_REQUEST, T_EVENT, T_BOOKMARK, T_INITIAL_END, T_ERROR][(next() % 5) as usize];
            }
            let mut d = Decoder::new(1 << 16);
            d.feed(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }

    fn event(kind: EventKind, revision: i64) -> Frame {
        Frame::Event {
            kind,
            revision,
            object: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn a_session_resumes_after_the_last_revision_and_drops_replays() {
        let mut s = WatchSession::new(WatchRequest {
            version: "v1".into(),
            resource: "pods".into(),
            ..Default::default()
        });
        assert_eq!(s.request().from_revision, None, "first: the current state");
        // Initial state in key order: revisions are not monotonic and must not move
        // the resume point.
        assert!(matches!(
            s.on_frame(event(EventKind::Added, 9)),
            Step::Event { .. }
        ));
        assert!(matches!(
            s.on_frame(event(EventKind::Added, 4)),
            Step::Event { .. }
        ));
        assert_eq!(s.last_revision(), None);
        assert_eq!(s.on_frame(Frame::InitialEnd(12)), Step::Synced(12));
        assert!(matches!(
            s.on_frame(event(EventKind::Modified, 13)),
            Step::Event { revision: 13, .. }
        ));
        assert_eq!(s.on_frame(Frame::Bookmark(20)), Step::Nothing);
        s.on_disconnect();
        assert_eq!(
            s.request().from_revision,
            Some(20),
            "resume after the bookmark"
        );
        // A replayed old event is dropped.
        assert_eq!(s.on_frame(event(EventKind::Modified, 13)), Step::Nothing);
    }

    #[test]
    fn a_disconnect_before_sync_starts_over() {
        let mut s = WatchSession::new(WatchRequest::default());
        s.on_frame(event(EventKind::Added, 3));
        s.on_disconnect();
        assert_eq!(s.request().from_revision, None);
        assert!(!s.synced());
    }

    #[test]
    fn expired_means_relist_and_other_errors_end_the_watch() {
        let mut s = WatchSession::new(WatchRequest {
            from_revision: Some(5),
            ..Default::default()
        });
        assert!(s.synced());
        let expired = Frame::Error(StatusSummary {
            code: 410,
            reason: "Expired".into(),
            message: String::new(),
        });
        assert_eq!(s.on_frame(expired), Step::Relist);
        assert_eq!(s.request().from_revision, None);
        assert!(!s.synced());
        let forbidden = StatusSummary {
            code: 403,
            reason: "Forbidden".into(),
            message: "no".into(),
        };
        assert_eq!(
            s.on_frame(Frame::Error(forbidden.clone())),
            Step::Failed(forbidden)
        );
    }
}
