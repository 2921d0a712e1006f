//! SPDY/3.1, sans-IO: the framing, the zlib-compressed header blocks with SPDY/3's
//! dictionary, and [`Session`], one connection's state machine (stream ids, half-closes,
//! resets, pings, GOAWAY). Bytes go in through [`Session::receive`], frames to send come
//! out of [`Session::take_output`]; no sockets, no clock.
//!
//! This is what kubectl before 1.30 speaks for exec and port-forward (client-go's
//! `httpstream/spdy`, over `moby/spdystream`), and what kubectl 1.31+ still speaks for
//! port-forward, tunnelled inside a WebSocket (`SPDY/3.1+portforward.k8s.io`).
//!
//! Facts of the peer this is built for (spdystream): header names are lowercase and
//! unique per block (it refuses others); DATA on a stream it has not seen a SYN_REPLY for
//! is dropped; it ignores SETTINGS and WINDOW_UPDATE and never sends WINDOW_UPDATE, so
//! flow-control windows are not enforced in either direction here (enforcing them would
//! stall every transfer after 64 KiB); a PING from the other side is echoed.
//!
//! Malformed input is an error ([`SpdyError`]), never a panic: frame lengths are checked
//! against [`Limits::max_frame_bytes`] before anything is buffered, header blocks are
//! inflated into at most [`Limits::max_header_bytes`], and counts are checked against the
//! bytes actually present before anything is allocated for them.

use std::collections::HashMap;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The protocol version in every control frame.
pub const VERSION: u16 = 3;

/// Control frame types.
pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const SETTINGS: u16 = 4;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
pub const HEADERS: u16 = 8;
pub const WINDOW_UPDATE: u16 = 9;

/// FLAG_FIN on SYN_STREAM, SYN_REPLY, HEADERS and DATA.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes.
pub const PROTOCOL_ERROR: u32 = 1;
pub const INVALID_STREAM: u32 = 2;
pub const REFUSED_STREAM: u32 = 3;
pub const CANCEL: u32 = 5;
pub const INTERNAL_ERROR: u32 = 6;
pub const STREAM_IN_USE: u32 = 8;
pub const STREAM_ALREADY_CLOSED: u32 = 9;

/// GOAWAY status codes.
pub const GOAWAY_OK: u32 = 0;
pub const GOAWAY_PROTOCOL_ERROR: u32 = 1;
pub const GOAWAY_INTERNAL_ERROR: u32 = 2;

/// Largest DATA payload the format can carry (a 24-bit length).
pub const MAX_DATA_LENGTH: usize = (1 << 24) - 1;
/// DATA frames written carry at most this much (client-go reads in 32 KiB buffers).
pub const DATA_CHUNK_BYTES: usize = 32 * 1024;
/// Frame header size, control or data.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Bounds on what a peer may make this side hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame payload accepted: kube's peers send at most 32 KiB of data per frame;
    /// more is refused before it is buffered.
    pub max_frame_bytes: usize,
    /// Largest header block once inflated (a zlib bomb stops here).
    pub max_header_bytes: usize,
    /// Streams open at once; a SYN_STREAM beyond this is refused (REFUSED_STREAM).
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_streams: 1024,
        }
    }
}

/// The header block's dictionary of SPDY/3 (draft 3, section 2.6.10.1): each word of
/// `DICTIONARY_WORDS` with a 4-byte big-endian length before it, then `DICTIONARY_TAIL`.
/// Its Adler-32 is `0xe3c6a7c2` (a test checks it).
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// SPDY/3's header compression dictionary.
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

/// A header block: lowercase names, each once; several values of one name are joined
/// with NUL, as SPDY carries them.
pub type Headers = Vec<(String, String)>;

/// The value of `name` (case-insensitive) in `headers`.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// Flag, id and value of each setting.
    Settings {
        flags: u8,
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
}

/// Why bytes were refused; all are fatal to the session (the caller sends GOAWAY and
/// closes). Stream-level problems are answered with RST_STREAM instead and are not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY: unsupported version {0}")]
    UnsupportedVersion(u16),
    #[error("SPDY: a frame of {length} bytes is larger than the limit of {limit}")]
    FrameTooLarge { length: usize, limit: usize },
    #[error("SPDY: invalid {frame} frame: {why}")]
    InvalidFrame { frame: &'static str, why: String },
    #[error("SPDY: header block: {0}")]
    HeaderBlock(String),
    #[error("SPDY: protocol error: {0}")]
    Protocol(String),
    #[error("SPDY: stream {0} is not open")]
    NoSuchStream(u32),
    #[error("SPDY: the session has ended")]
    Ended,
}

fn invalid(frame: &'static str, why: impl Into<String>) -> SpdyError {
    SpdyError::InvalidFrame {
        frame,
        why: why.into(),
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    // Callers check lengths first; a short slice reads as zero rather than panicking.
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// Inflates header blocks: one zlib stream per direction for the whole session.
struct Inflater {
    z: Decompress,
    dictionary_set: bool,
    limit: usize,
}

impl Inflater {
    fn new(limit: usize) -> Inflater {
        Inflater {
            z: Decompress::new(true),
            dictionary_set: false,
            limit,
        }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let err = |e: &dyn std::fmt::Display| SpdyError::HeaderBlock(e.to_string());
        let mut out: Vec<u8> = Vec::with_capacity(256);
        loop {
            if out.len() == out.capacity() {
                if out.len() >= self.limit {
                    return Err(SpdyError::HeaderBlock(format!(
                        "larger than {} bytes inflated",
                        self.limit
                    )));
                }
                out.reserve((out.len()).clamp(256, self.limit - out.len()));
            }
            let before_in = self.z.total_in();
            let before_out = self.z.total_out();
            let res = self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let consumed = (self.z.total_in() - before_in) as usize;
            let produced = (self.z.total_out() - before_out) as usize;
            input = input.get(consumed..).unwrap_or(&[]);
            match res {
                Ok(Status::StreamEnd) => {
                    return Err(SpdyError::HeaderBlock(
                        "the compression stream ended".into(),
                    ));
                }
                Ok(_) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        return Ok(out);
                    }
                    if consumed == 0 && produced == 0 && out.len() < out.capacity() {
                        return Err(SpdyError::HeaderBlock("truncated".into()));
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(_) if !self.dictionary_set => {
                        self.dictionary_set = true;
                        self.z.set_dictionary(&dictionary()).map_err(|e| err(&e))?;
                    }
                    _ => return Err(err(&e)),
                },
            }
        }
    }
}

/// Deflates header blocks, each ended by a sync flush (the peer inflates it at once).
struct Deflater {
    z: Compress,
}

impl Deflater {
    fn new() -> Deflater {
        let mut z = Compress::new(Compression::default(), true);
        // Fails only on a stream already started; this one is new.
        let _ = z.set_dictionary(&dictionary());
        Deflater { z }
    }

    fn deflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() + 64);
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::HeaderBlock(e.to_string()))?;
            let consumed = (self.z.total_in() - before) as usize;
            input = input.get(consumed..).unwrap_or(&[]);
            // Done when all input is in and the flush fit (room was left over).
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The uncompressed form of a header block.
fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (n, v) in headers {
        let n = n.to_ascii_lowercase();
        b.extend_from_slice(&(n.len() as u32).to_be_bytes());
        b.extend_from_slice(n.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

fn decode_block(b: &[u8]) -> Result<Headers, SpdyError> {
    let bad = |why: &str| SpdyError::HeaderBlock(why.to_string());
    if b.len() < 4 {
        return Err(bad("no pair count"));
    }
    let count = be32(b, 0) as usize;
    // Each pair takes at least 8 bytes: a count beyond that is a lie, caught before any
    // allocation sized by it.
    if count > (b.len() - 4) / 8 {
        return Err(bad("more pairs than bytes"));
    }
    let mut at = 4;
    let mut take = |what: &str| -> Result<String, SpdyError> {
        if b.len() < at + 4 {
            return Err(SpdyError::HeaderBlock(format!("truncated {what} length")));
        }
        let n = be32(b, at) as usize;
        at += 4;
        let Some(s) = b.get(at..at.saturating_add(n)) else {
            return Err(SpdyError::HeaderBlock(format!("truncated {what}")));
        };
        at += n;
        String::from_utf8(s.to_vec())
            .map_err(|_| SpdyError::HeaderBlock(format!("{what} is not UTF-8")))
    };
    let mut headers: Headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = take("name")?;
        let value = take("value")?;
        if name.is_empty() {
            return Err(bad("empty header name"));
        }
        if name.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(SpdyError::HeaderBlock(format!(
                "header name {name:?} is not lowercase"
            )));
        }
        if headers.iter().any(|(n, _)| *n == name) {
            return Err(SpdyError::HeaderBlock(format!(
                "header {name:?} appears twice"
            )));
        }
        headers.push((name, value));
    }
    if at != b.len() {
        return Err(bad("bytes after the last pair"));
    }
    Ok(headers)
}

/// Frames from bytes: buffers a partial frame, refuses oversized ones at their header.
pub struct FrameDecoder {
    buf: Vec<u8>,
    inflater: Inflater,
    limits: Limits,
}

impl FrameDecoder {
    pub fn new(limits: Limits) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            inflater: Inflater::new(limits.max_header_bytes),
            limits,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` when more bytes are needed. Control frames of
    /// unknown types are skipped, as SPDY/3 says.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        loop {
            if self.buf.len() < FRAME_HEADER_BYTES {
                return Ok(None);
            }
            let first = be32(&self.buf, 0);
            let flags = self.buf[4];
            let length = (be32(&self.buf, 4) & 0x00ff_ffff) as usize;
            if length > self.limits.max_frame_bytes {
                return Err(SpdyError::FrameTooLarge {
                    length,
                    limit: self.limits.max_frame_bytes,
                });
            }
            let control = first & 0x8000_0000 != 0;
            if control {
                let version = ((first >> 16) & 0x7fff) as u16;
                if version != VERSION {
                    return Err(SpdyError::UnsupportedVersion(version));
                }
            }
            if self.buf.len() < FRAME_HEADER_BYTES + length {
                return Ok(None);
            }
            let payload: Vec<u8> =
                self.buf[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length].to_vec();
            self.buf.drain(..FRAME_HEADER_BYTES + length);
            if !control {
                let stream_id = first & 0x7fff_ffff;
                if stream_id == 0 {
                    return Err(invalid("DATA", "stream id 0"));
                }
                return Ok(Some(Frame::Data {
                    stream_id,
                    flags,
                    data: payload,
                }));
            }
            let kind = (first & 0xffff) as u16;
            if let Some(f) = self.control(kind, flags, &payload)? {
                return Ok(Some(f));
            }
        }
    }

    fn control(&mut self, kind: u16, flags: u8, p: &[u8]) -> Result<Option<Frame>, SpdyError> {
        let need = |frame: &'static str, n: usize| {
            if p.len() < n {
                Err(invalid(
                    frame,
                    format!("{} bytes, at least {n} needed", p.len()),
                ))
            } else {
                Ok(())
            }
        };
        let exactly = |frame: &'static str, n: usize| {
            if p.len() != n {
                Err(invalid(frame, format!("{} bytes, {n} expected", p.len())))
            } else {
                Ok(())
            }
        };
        let stream = |frame: &'static str| {
            let id = be32(p, 0) & 0x7fff_ffff;
            if id == 0 {
                Err(invalid(frame, "stream id 0"))
            } else {
                Ok(id)
            }
        };
        let frame = match kind {
            SYN_STREAM => {
                need("SYN_STREAM", 10)?;
                let stream_id = stream("SYN_STREAM")?;
                let associated_to = be32(p, 4) & 0x7fff_ffff;
                let priority = p[8] >> 5;
                let headers = decode_block(&self.inflater.inflate(&p[10..])?)?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    flags,
                    headers,
                }
            }
            SYN_REPLY => {
                need("SYN_REPLY", 4)?;
                let stream_id = stream("SYN_REPLY")?;
                let headers = decode_block(&self.inflater.inflate(&p[4..])?)?;
                Frame::SynReply {
                    stream_id,
                    flags,
                    headers,
                }
            }
            HEADERS => {
                need("HEADERS", 4)?;
                let stream_id = stream("HEADERS")?;
                let headers = decode_block(&self.inflater.inflate(&p[4..])?)?;
                Frame::Headers {
                    stream_id,
                    flags,
                    headers,
                }
            }
            RST_STREAM => {
                exactly("RST_STREAM", 8)?;
                Frame::RstStream {
                    stream_id: stream("RST_STREAM")?,
                    status: be32(p, 4),
                }
            }
            SETTINGS => {
                need("SETTINGS", 4)?;
                let n = be32(p, 0) as usize;
                if (p.len() - 4) / 8 != n || !(p.len() - 4).is_multiple_of(8) {
                    return Err(invalid(
                        "SETTINGS",
                        format!("{n} entries in {} bytes", p.len()),
                    ));
                }
                let entries = (0..n)
                    .map(|i| {
                        let at = 4 + i * 8;
                        (p[at], be32(p, at) & 0x00ff_ffff, be32(p, at + 4))
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            PING => {
                exactly("PING", 4)?;
                Frame::Ping { id: be32(p, 0) }
            }
            GOAWAY => {
                exactly("GOAWAY", 8)?;
                Frame::GoAway {
                    last_good_stream_id: be32(p, 0) & 0x7fff_ffff,
                    status: be32(p, 4),
                }
            }
            WINDOW_UPDATE => {
                exactly("WINDOW_UPDATE", 8)?;
                Frame::WindowUpdate {
                    stream_id: be32(p, 0) & 0x7fff_ffff,
                    delta: be32(p, 4) & 0x7fff_ffff,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(frame))
    }
}

/// Frames to bytes, with the session's header compressor.
pub struct FrameEncoder {
    deflater: Deflater,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        FrameEncoder::new()
    }
}

impl FrameEncoder {
    pub fn new() -> FrameEncoder {
        FrameEncoder {
            deflater: Deflater::new(),
        }
    }

    fn control(out: &mut Vec<u8>, kind: u16, flags: u8, payload: &[u8]) -> Result<(), SpdyError> {
        if payload.len() > MAX_DATA_LENGTH {
            return Err(SpdyError::FrameTooLarge {
                length: payload.len(),
                limit: MAX_DATA_LENGTH,
            });
        }
        out.extend_from_slice(
            &(0x8000_0000u32 | (u32::from(VERSION) << 16) | u32::from(kind)).to_be_bytes(),
        );
        out.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }

    /// Appends `frame`'s bytes to `out`. Stream ids are masked to 31 bits.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), SpdyError> {
        let id = |v: u32| (v & 0x7fff_ffff).to_be_bytes();
        match frame {
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                let mut p = Vec::new();
                p.extend_from_slice(&id(*stream_id));
                p.extend_from_slice(&id(*associated_to));
                p.push((priority & 0x07) << 5);
                p.push(0);
                p.extend(self.deflater.deflate(&encode_block(headers))?);
                Self::control(out, SYN_STREAM, *flags, &p)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let mut p = id(*stream_id).to_vec();
                p.extend(self.deflater.deflate(&encode_block(headers))?);
                Self::control(out, kind, *flags, &p)
            }
            Frame::RstStream { stream_id, status } => {
                let mut p = id(*stream_id).to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                Self::control(out, RST_STREAM, 0, &p)
            }
            Frame::Settings { flags, entries } => {
                let mut p = (entries.len() as u32).to_be_bytes().to_vec();
                for (f, i, v) in entries {
                    p.extend_from_slice(&((u32::from(*f) << 24) | (i & 0x00ff_ffff)).to_be_bytes());
                    p.extend_from_slice(&v.to_be_bytes());
                }
                Self::control(out, SETTINGS, *flags, &p)
            }
            Frame::Ping { id: ping } => Self::control(out, PING, 0, &ping.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut p = id(*last_good_stream_id).to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                Self::control(out, GOAWAY, 0, &p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut p = id(*stream_id).to_vec();
                p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                Self::control(out, WINDOW_UPDATE, 0, &p)
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if data.len() > MAX_DATA_LENGTH {
                    return Err(SpdyError::FrameTooLarge {
                        length: data.len(),
                        limit: MAX_DATA_LENGTH,
                    });
                }
                out.extend_from_slice(&id(*stream_id));
                out.extend_from_slice(
                    &((u32::from(*flags) << 24) | data.len() as u32).to_be_bytes(),
                );
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// Which end of the connection this session is: clients open odd streams, servers even.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// What the peer did, as [`Session::receive`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer opened a stream (SYN_STREAM); `fin` when it will send nothing on it.
    Opened {
        stream_id: u32,
        headers: Headers,
        fin: bool,
    },
    /// The peer accepted a stream this side opened (SYN_REPLY).
    Replied {
        stream_id: u32,
        headers: Headers,
        fin: bool,
    },
    /// Data on a stream; `fin` when it is the peer's last (possibly with no data).
    Data {
        stream_id: u32,
        data: Vec<u8>,
        fin: bool,
    },
    /// The peer reset a stream: it is gone both ways.
    Reset { stream_id: u32, status: u32 },
    /// The peer answered a PING this side sent.
    Pong { id: u32 },
    /// The peer is going away: no new streams; streams above `last_good_stream_id` that this
    /// side opened were not processed.
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct StreamState {
    /// This side sent FIN.
    local_closed: bool,
    /// The peer sent FIN.
    remote_closed: bool,
    /// This side opened it.
    local: bool,
}

/// One SPDY/3.1 connection's state.
pub struct Session {
    role: Role,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    out: Vec<u8>,
    streams: HashMap<u32, StreamState>,
    next_stream_id: u32,
    last_remote_stream_id: u32,
    next_ping_id: u32,
    going_away: bool,
    limits: Limits,
}

impl Session {
    pub fn new(role: Role) -> Session {
        Session::with_limits(role, Limits::default())
    }

    pub fn with_limits(role: Role, limits: Limits) -> Session {
        let first = match role {
            Role::Client => 1,
            Role::Server => 2,
        };
        Session {
            role,
            decoder: FrameDecoder::new(limits),
            encoder: FrameEncoder::new(),
            out: Vec::new(),
            streams: HashMap::new(),
            next_stream_id: first,
            last_remote_stream_id: 0,
            next_ping_id: first,
            going_away: false,
            limits,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Streams not yet closed both ways nor reset.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether `stream_id` is open for this side to send on.
    pub fn can_send(&self, stream_id: u32) -> bool {
        self.streams
            .get(&stream_id)
            .is_some_and(|s| !s.local_closed)
    }

    /// Bytes waiting to be written to the connection.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Takes the bytes to write to the connection.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn push(&mut self, frame: &Frame) -> Result<(), SpdyError> {
        self.encoder.encode(frame, &mut self.out)
    }

    fn close_if_done(&mut self, stream_id: u32) {
        if self
            .streams
            .get(&stream_id)
            .is_some_and(|s| s.local_closed && s.remote_closed)
        {
            self.streams.remove(&stream_id);
        }
    }

    fn peer_initiated(&self, stream_id: u32) -> bool {
        let odd = stream_id % 2 == 1;
        match self.role {
            Role::Server => odd,
            Role::Client => !odd,
        }
    }

    /// Feeds bytes read from the connection; returns what the peer did. Replies the
    /// protocol requires (a PING's echo, RST_STREAM for frames on unknown streams) are
    /// queued as output. An error is fatal: send [`Session::go_away`] and close.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SpdyError> {
        self.decoder.push(bytes);
        let mut events = Vec::new();
        while let Some(frame) = self.decoder.next_frame()? {
            self.handle(frame, &mut events)?;
        }
        Ok(events)
    }

    fn handle(&mut self, frame: Frame, events: &mut Vec<Event>) -> Result<(), SpdyError> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                if !self.peer_initiated(stream_id) {
                    return Err(SpdyError::Protocol(format!(
                        "stream {stream_id} has this side's parity"
                    )));
                }
                if stream_id <= self.last_remote_stream_id {
                    return Err(SpdyError::Protocol(format!(
                        "stream {stream_id} does not increase (last {})",
                        self.last_remote_stream_id
                    )));
                }
                self.last_remote_stream_id = stream_id;
                if self.going_away {
                    return self.push(&Frame::RstStream {
                        stream_id,
                        status: REFUSED_STREAM,
                    });
                }
                if self.streams.len() >= self.limits.max_streams {
                    return self.push(&Frame::RstStream {
                        stream_id,
                        status: REFUSED_STREAM,
                    });
                }
                let fin = flags & FLAG_FIN != 0;
                self.streams.insert(
                    stream_id,
                    StreamState {
                        remote_closed: fin,
                        local_closed: flags & FLAG_UNIDIRECTIONAL != 0,
                        local: false,
                    },
                );
                events.push(Event::Opened {
                    stream_id,
                    headers,
                    fin,
                });
                self.close_if_done(stream_id);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                let Some(s) = self.streams.get_mut(&stream_id).filter(|s| s.local) else {
                    return self.push(&Frame::RstStream {
                        stream_id,
                        status: INVALID_STREAM,
                    });
                };
                let fin = flags & FLAG_FIN != 0;
                s.remote_closed |= fin;
                events.push(Event::Replied {
                    stream_id,
                    headers,
                    fin,
                });
                self.close_if_done(stream_id);
            }
            Frame::Headers {
                stream_id, flags, ..
            } => {
                // Extra headers carry nothing kube uses; a FIN on them still counts.
                if flags & FLAG_FIN != 0 {
                    self.remote_fin(stream_id, events)?;
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let fin = flags & FLAG_FIN != 0;
                match self.streams.get(&stream_id) {
                    None => {
                        return self.push(&Frame::RstStream {
                            stream_id,
                            status: INVALID_STREAM,
                        });
                    }
                    Some(s) if s.remote_closed => {
                        return self.push(&Frame::RstStream {
                            stream_id,
                            status: STREAM_ALREADY_CLOSED,
                        });
                    }
                    Some(_) => {}
                }
                if fin && let Some(s) = self.streams.get_mut(&stream_id) {
                    s.remote_closed = true;
                }
                events.push(Event::Data {
                    stream_id,
                    data,
                    fin,
                });
                self.close_if_done(stream_id);
            }
            Frame::RstStream { stream_id, status } => {
                if self.streams.remove(&stream_id).is_some() {
                    events.push(Event::Reset { stream_id, status });
                }
            }
            Frame::Ping { id } => {
                // Ours come back with our parity; the peer's are echoed.
                let ours = id % 2 == self.next_ping_id % 2;
                if ours {
                    events.push(Event::Pong { id });
                } else {
                    self.push(&Frame::Ping { id })?;
                }
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                self.going_away = true;
                events.push(Event::GoAway {
                    last_good_stream_id,
                    status,
                });
            }
            Frame::Settings { .. } | Frame::WindowUpdate { .. } => {}
        }
        Ok(())
    }

    fn remote_fin(&mut self, stream_id: u32, events: &mut Vec<Event>) -> Result<(), SpdyError> {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            if !s.remote_closed {
                s.remote_closed = true;
                events.push(Event::Data {
                    stream_id,
                    data: Vec::new(),
                    fin: true,
                });
            }
            self.close_if_done(stream_id);
        }
        Ok(())
    }

    /// Opens a stream with `headers`; its id.
    pub fn open(&mut self, headers: &Headers, fin: bool) -> Result<u32, SpdyError> {
        if self.going_away {
            return Err(SpdyError::Ended);
        }
        let stream_id = self.next_stream_id;
        if stream_id > 0x7fff_ffff {
            return Err(SpdyError::Protocol("stream ids exhausted".into()));
        }
        self.next_stream_id += 2;
        self.push(&Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            flags: if fin { FLAG_FIN } else { 0 },
            headers: headers.clone(),
        })?;
        self.streams.insert(
            stream_id,
            StreamState {
                local_closed: fin,
                remote_closed: false,
                local: true,
            },
        );
        Ok(stream_id)
    }

    /// Accepts a stream the peer opened (SYN_REPLY).
    pub fn reply(&mut self, stream_id: u32, headers: &Headers, fin: bool) -> Result<(), SpdyError> {
        let Some(s) = self.streams.get_mut(&stream_id).filter(|s| !s.local) else {
            return Err(SpdyError::NoSuchStream(stream_id));
        };
        s.local_closed |= fin;
        self.push(&Frame::SynReply {
            stream_id,
            flags: if fin { FLAG_FIN } else { 0 },
            headers: headers.clone(),
        })?;
        self.close_if_done(stream_id);
        Ok(())
    }

    /// Sends data (in frames of at most [`DATA_CHUNK_BYTES`]); `fin` closes this side.
    pub fn send_data(&mut self, stream_id: u32, data: &[u8], fin: bool) -> Result<(), SpdyError> {
        if !self.can_send(stream_id) {
            return Err(SpdyError::NoSuchStream(stream_id));
        }
        let mut chunks = data.chunks(DATA_CHUNK_BYTES).peekable();
        if chunks.peek().is_none() {
            self.push(&Frame::Data {
                stream_id,
                flags: if fin { FLAG_FIN } else { 0 },
                data: Vec::new(),
            })?;
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            self.push(&Frame::Data {
                stream_id,
                flags: if fin && last { FLAG_FIN } else { 0 },
                data: chunk.to_vec(),
            })?;
        }
        if fin {
            if let Some(s) = self.streams.get_mut(&stream_id) {
                s.local_closed = true;
            }
            self.close_if_done(stream_id);
        }
        Ok(())
    }

    /// Resets a stream (gone both ways); a stream already gone is left alone.
    pub fn reset(&mut self, stream_id: u32, status: u32) -> Result<(), SpdyError> {
        if self.streams.remove(&stream_id).is_some() {
            self.push(&Frame::RstStream { stream_id, status })?;
        }
        Ok(())
    }

    /// Sends a PING; its id, which [`Event::Pong`] reports when it comes back.
    pub fn ping(&mut self) -> Result<u32, SpdyError> {
        let id = self.next_ping_id;
        self.next_ping_id = self.next_ping_id.wrapping_add(2);
        self.push(&Frame::Ping { id })?;
        Ok(id)
    }

    /// Sends GOAWAY: no new streams from the peer will be accepted.
    pub fn go_away(&mut self, status: u32) -> Result<(), SpdyError> {
        if self.going_away {
            return Ok(());
        }
        self.going_away = true;
        self.push(&Frame::GoAway {
            last_good_stream_id: self.last_remote_stream_id,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn adler32(bytes: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &c in bytes {
            a = (a + u32::from(c)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(adler32(&d), 0xe3c6_a7c2);
    }

    #[test]
    fn every_frame_round_trips() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                flags: FLAG_FIN,
                headers: h(&[("streamtype", "error"), ("port", "8080")]),
            },
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: vec![],
            },
            Frame::Headers {
                stream_id: 1,
                flags: FLAG_FIN,
                headers: h(&[("x", "a\0b")]),
            },
            Frame::RstStream {
                stream_id: 5,
                status: CANCEL,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![(0, 7, 65536), (1, 4, 100)],
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_good_stream_id: 9,
                status: GOAWAY_OK,
            },
            Frame::WindowUpdate {
                stream_id: 3,
                delta: 1000,
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: b"hello".to_vec(),
            },
        ];
        let mut enc = FrameEncoder::new();
        let mut bytes = Vec::new();
        for f in &frames {
            enc.encode(f, &mut bytes).expect("encode");
        }
        // Fed one byte at a time: partial frames wait for the rest.
        let mut dec = FrameDecoder::new(Limits::default());
        let mut got = Vec::new();
        for b in &bytes {
            dec.push(std::slice::from_ref(b));
            while let Some(f) = dec.next_frame().expect("decode") {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn known_bytes_decode() {
        // A PING, a RST_STREAM and a DATA frame written out by hand from the draft.
        let bytes = [
            0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, //
            0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
            0x00, 0x05, //
            0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x02, b'h', b'i',
        ];
        let mut dec = FrameDecoder::new(Limits::default());
        dec.push(&bytes);
        assert_eq!(dec.next_frame(), Ok(Some(Frame::Ping { id: 1 })));
        assert_eq!(
            dec.next_frame(),
            Ok(Some(Frame::RstStream {
                stream_id: 3,
                status: CANCEL
            }))
        );
        assert_eq!(
            dec.next_frame(),
            Ok(Some(Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: b"hi".to_vec()
            }))
        );
        assert_eq!(dec.next_frame(), Ok(None));
        // An unknown control type (CREDENTIAL, 10) is skipped.
        dec.push(&[0x80, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x01, 0xff]);
        dec.push(&[0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 2]);
        assert_eq!(dec.next_frame(), Ok(Some(Frame::Ping { id: 2 })));
    }

    #[test]
    fn malformed_frames_are_errors() {
        let decode = |bytes: &[u8]| {
            let mut dec = FrameDecoder::new(Limits {
                max_frame_bytes: 1024,
                ..Limits::default()
            });
            dec.push(bytes);
            dec.next_frame()
        };
        // Version 2.
        assert_eq!(
            decode(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]),
            Err(SpdyError::UnsupportedVersion(2))
        );
        // Too large: refused at the header, before the payload arrives.
        assert!(matches!(
            decode(&[0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]),
            Err(SpdyError::FrameTooLarge { .. })
        ));
        // Wrong lengths.
        assert!(decode(&[0x80, 0x03, 0x00, 0x06, 0, 0, 0, 3, 0, 0, 0]).is_err());
        assert!(decode(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1]).is_err());
        assert!(decode(&[0x80, 0x03, 0x00, 0x07, 0, 0, 0, 0]).is_err());
        assert!(decode(&[0x80, 0x03, 0x00, 0x01, 0, 0, 0, 2, 0, 1]).is_err());
        // SETTINGS claiming more entries than it has.
        assert!(decode(&[0x80, 0x03, 0x00, 0x04, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Stream 0.
        assert!(decode(&[0, 0, 0, 0, 0, 0, 0, 1, b'x']).is_err());
        assert!(decode(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        // A header block that is not zlib.
        let mut syn = vec![
            0x80, 0x03, 0x00, 0x01, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
        ];
        syn.extend_from_slice(b"junk");
        assert!(matches!(decode(&syn), Err(SpdyError::HeaderBlock(_))));
    }

    fn syn_with_block(block: &[u8]) -> Vec<u8> {
        let mut deflater = Deflater::new();
        let z = deflater.deflate(block).expect("deflate");
        let mut p = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend(z);
        let mut out = Vec::new();
        FrameEncoder::control(&mut out, SYN_STREAM, 0, &p).expect("frame");
        out
    }

    #[test]
    fn bad_header_blocks_are_errors() {
        let decode = |bytes: &[u8]| {
            let mut dec = FrameDecoder::new(Limits::default());
            dec.push(bytes);
            dec.next_frame()
        };
        let pair = |n: &str, v: &str| {
            let mut b = (n.len() as u32).to_be_bytes().to_vec();
            b.extend_from_slice(n.as_bytes());
            b.extend_from_slice(&(v.len() as u32).to_be_bytes());
            b.extend_from_slice(v.as_bytes());
            b
        };
        let block = |pairs: &[Vec<u8>], count: u32| {
            let mut b = count.to_be_bytes().to_vec();
            for p in pairs {
                b.extend_from_slice(p);
            }
            b
        };
        let ok = block(&[pair("a", "1")], 1);
        assert!(decode(&syn_with_block(&ok)).is_ok());
        for bad in [
            block(&[pair("Upper", "1")], 1),
            block(&[pair("a", "1"), pair("a", "2")], 2),
            block(&[pair("", "1")], 1),
            block(&[pair("a", "1")], 0x7fff_ffff),
            block(&[pair("a", "1")], 2),
            block(&[pair("a", "1"), vec![0]], 1),
            vec![0, 0],
            {
                let mut b = block(&[], 1);
                b.extend_from_slice(&[0, 0, 0, 200, b'x']);
                b.extend_from_slice(&[0; 8]);
                b
            },
        ] {
            assert!(
                matches!(
                    decode(&syn_with_block(&bad)),
                    Err(SpdyError::HeaderBlock(_))
                ),
                "{bad:?}"
            );
        }
        // A block inflating past the limit (a zlib bomb) stops at the limit.
        let huge = block(&[pair("a", &"x".repeat(200_000))], 1);
        let mut dec = FrameDecoder::new(Limits::default());
        dec.push(&syn_with_block(&huge));
        assert!(matches!(dec.next_frame(), Err(SpdyError::HeaderBlock(_))));
    }

    /// Bytes from one session into the other; the events the receiver reports.
    fn pass(from: &mut Session, to: &mut Session) -> Vec<Event> {
        let bytes = from.take_output();
        to.receive(&bytes).expect("receive")
    }

    #[test]
    fn sessions_talk_to_each_other() {
        let mut client = Session::new(Role::Client);
        let mut server = Session::new(Role::Server);
        let headers = h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        let e = client.open(&headers, false).expect("open");
        let d = client
            .open(
                &h(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
                false,
            )
            .expect("open");
        assert_eq!((e, d), (1, 3));
        let events = pass(&mut client, &mut server);
        assert_eq!(
            events[0],
            Event::Opened {
                stream_id: 1,
                headers: headers.clone(),
                fin: false
            }
        );
        assert_eq!(events.len(), 2);
        // The shared compression context carries over frames: the second block used it.
        server.reply(1, &vec![], false).expect("reply");
        server.reply(3, &vec![], false).expect("reply");
        let events = pass(&mut server, &mut client);
        assert!(matches!(events[1], Event::Replied { stream_id: 3, .. }));
        client.send_data(3, b"GET /", false).expect("data");
        client.send_data(1, b"", true).expect("fin");
        let events = pass(&mut client, &mut server);
        assert_eq!(
            events,
            vec![
                Event::Data {
                    stream_id: 3,
                    data: b"GET /".to_vec(),
                    fin: false
                },
                Event::Data {
                    stream_id: 1,
                    data: vec![],
                    fin: true
                }
            ]
        );
        // Large data is split into chunks.
        let big = vec![7u8; DATA_CHUNK_BYTES * 2 + 1];
        server.send_data(3, &big, true).expect("big");
        let events = pass(&mut server, &mut client);
        assert_eq!(events.len(), 3);
        let got: Vec<u8> = events
            .iter()
            .flat_map(|e| match e {
                Event::Data { data, .. } => data.clone(),
                _ => vec![],
            })
            .collect();
        assert_eq!(got, big);
        assert!(matches!(events[2], Event::Data { fin: true, .. }));
        // Sending after FIN is refused locally.
        assert_eq!(
            server.send_data(3, b"x", false),
            Err(SpdyError::NoSuchStream(3))
        );
        // The client pings; the server echoes; the client sees its pong.
        let id = client.ping().expect("ping");
        assert!(pass(&mut client, &mut server).is_empty());
        assert_eq!(pass(&mut server, &mut client), vec![Event::Pong { id }]);
        // A reset ends the stream both ways.
        client.reset(3, CANCEL).expect("reset");
        assert_eq!(
            pass(&mut client, &mut server),
            vec![Event::Reset {
                stream_id: 3,
                status: CANCEL
            }]
        );
        assert!(!server.can_send(3));
        // Going away: later streams are refused.
        server.go_away(GOAWAY_OK).expect("goaway");
        assert!(matches!(
            pass(&mut server, &mut client)[0],
            Event::GoAway { .. }
        ));
        assert_eq!(client.open(&vec![], false), Err(SpdyError::Ended));
    }

    #[test]
    fn protocol_violations() {
        // Data on a stream never opened: a RST_STREAM back, the session lives on.
        let mut server = Session::new(Role::Server);
        let mut bytes = Vec::new();
        FrameEncoder::new()
            .encode(
                &Frame::Data {
                    stream_id: 9,
                    flags: 0,
                    data: b"x".to_vec(),
                },
                &mut bytes,
            )
            .expect("encode");
        assert_eq!(server.receive(&bytes), Ok(vec![]));
        let mut dec = FrameDecoder::new(Limits::default());
        dec.push(&server.take_output());
        assert_eq!(
            dec.next_frame(),
            Ok(Some(Frame::RstStream {
                stream_id: 9,
                status: INVALID_STREAM
            }))
        );
        // A client opening an even stream, or a stream id that goes back: fatal.
        let mut client = Session::new(Role::Client);
        client.next_stream_id = 2;
        client.open(&vec![], false).expect("open");
        assert!(matches!(
            server.receive(&client.take_output()),
            Err(SpdyError::Protocol(_))
        ));
        let mut server = Session::new(Role::Server);
        let mut client = Session::new(Role::Client);
        client.open(&vec![], false).expect("open");
        client.open(&vec![], false).expect("open");
        server.receive(&client.take_output()).expect("two streams");
        client.next_stream_id = 3;
        client.open(&vec![], false).expect("open");
        assert!(server.receive(&client.take_output()).is_err());
        // Too many streams: refused, not fatal.
        let mut server = Session::with_limits(
            Role::Server,
            Limits {
                max_streams: 1,
                ..Limits::default()
            },
        );
        let mut client = Session::new(Role::Client);
        client.open(&vec![], false).expect("open");
        client.open(&vec![], false).expect("open");
        let events = server.receive(&client.take_output()).expect("receive");
        assert_eq!(events.len(), 1);
        let events = client.receive(&server.take_output()).expect("reset");
        assert_eq!(
            events,
            vec![Event::Reset {
                stream_id: 3,
                status: REFUSED_STREAM
            }]
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic generator: random streams, and every truncation and single-byte
        // corruption of a valid session's bytes.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 && bytes.len() >= 4 {
                bytes[0] = 0x80;
                bytes[1] = 0x03;
                bytes[2] = 0;
                bytes[3] = (next() % 10) as u8;
            }
            let _ = Session::new(Role::Server).receive(&bytes);
        }
        let mut client = Session::new(Role::Client);
        client
            .open(&h(&[("streamtype", "stdout")]), false)
            .expect("open");
        client.send_data(1, b"payload", true).expect("data");
        client.ping().expect("ping");
        let valid = client.take_output();
        for cut in 0..valid.len() {
            let _ = Session::new(Role::Server).receive(&valid[..cut]);
            let mut corrupt = valid.clone();
            corrupt[cut] ^= 0x5a;
            let _ = Session::new(Role::Server).receive(&corrupt);
        }
    }
}
