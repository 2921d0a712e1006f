//! Forwarding to upstream resolvers: one question per exchange, UDP first, TCP when the UDP
//! answer is truncated, every step under a deadline.
//!
//! Hand-rolled on hickory-proto's message codec rather than hickory-resolver: a forwarder must
//! relay the upstream's answer as it is (response code, authority section, AD bit), while the
//! resolver turns negative answers into errors, caches on its own terms and follows CNAMEs
//! itself. The exchange is short, and its timeouts are ours to bound.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

/// The EDNS payload size advertised upstream (the DNS flag day 2020 value, no fragmentation).
const UPSTREAM_PAYLOAD: u16 = 1232;

/// The longest timeout honoured (a longer one is taken as this).
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where and how to forward names outside the cluster domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardConfig {
    /// Tried in order; the next one after a timeout, an error, SERVFAIL or REFUSED.
    pub upstreams: Vec<SocketAddr>,
    /// The time one upstream gets (UDP and, after truncation, TCP).
    pub attempt_timeout: Duration,
    /// The time a forwarded question gets in all, over all upstreams. Below the 5 s a stub
    /// resolver waits by default, so that the client gets SERVFAIL rather than silence.
    pub deadline: Duration,
    /// Forwarded questions under way at once; past it, SERVFAIL at once.
    pub max_in_flight: usize,
}

impl ForwardConfig {
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            upstreams,
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(4),
            max_in_flight: 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream nameserver is configured")]
    NoUpstream,
    #[error("too many forwarded questions under way")]
    Busy,
    #[error("upstream {upstream} did not answer in time")]
    Timeout { upstream: SocketAddr },
    #[error("the forwarding deadline passed")]
    Deadline,
    #[error("upstream {upstream}: {source}")]
    Io {
        upstream: SocketAddr,
        source: std::io::Error,
    },
    #[error("upstream {upstream}: {reason}")]
    Protocol {
        upstream: SocketAddr,
        reason: String,
    },
    #[error("encoding the question: {0}")]
    Encode(String),
}

/// What the client asked beyond the question, carried upstream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryFlags {
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub dnssec_ok: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Forwarder {
    config: ForwardConfig,
    permits: Arc<Semaphore>,
}

impl Forwarder {
    pub(crate) fn new(mut config: ForwardConfig) -> Self {
        // Bounded, so that deadlines computed from them cannot overflow.
        config.attempt_timeout = config.attempt_timeout.min(MAX_TIMEOUT);
        config.deadline = config.deadline.min(MAX_TIMEOUT);
        let permits = Arc::new(Semaphore::new(
            config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS),
        ));
        Self { config, permits }
    }

    /// Asks the upstreams `query`, in order, and returns the first answer that is neither
    /// SERVFAIL nor REFUSED (or the last such answer when every upstream gave one).
    pub(crate) async fn forward(
        &self,
        query: &Query,
        flags: QueryFlags,
    ) -> Result<Message, ForwardError> {
        let _permit = self.permits.try_acquire().map_err(|_| ForwardError::Busy)?;
        if self.config.upstreams.is_empty() {
            return Err(ForwardError::NoUpstream);
        }
        let deadline = Instant::now() + self.config.deadline;
        let mut last_answer: Option<Message> = None;
        let mut last_error = ForwardError::Deadline;
        for &upstream in &self.config.upstreams {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let attempt_deadline = deadline.min(now + self.config.attempt_timeout);
            let mut request = Message::query();
            request.metadata.recursion_desired = flags.recursion_desired;
            request.metadata.checking_disabled = flags.checking_disabled;
            request.add_query(query.clone());
            let mut edns = Edns::new();
            edns.set_max_payload(UPSTREAM_PAYLOAD);
            edns.set_dnssec_ok(flags.dnssec_ok);
            request.set_edns(edns);
            let bytes = request
                .to_vec()
                .map_err(|e| ForwardError::Encode(e.to_string()))?;

            match timeout_at(attempt_deadline, exchange(upstream, &request, &bytes)).await {
                Ok(Ok(answer)) => {
                    let code = answer.metadata.response_code;
                    if code == ResponseCode::ServFail || code == ResponseCode::Refused {
                        tracing::debug!(%upstream, %code, "upstream refused or failed, trying the next");
                        last_answer = Some(answer);
                        continue;
                    }
                    return Ok(answer);
                }
                Ok(Err(error)) => {
                    tracing::debug!(%upstream, %error, "forwarding failed");
                    last_error = error;
                }
                Err(_) => {
                    tracing::debug!(%upstream, "upstream timed out");
                    last_error = ForwardError::Timeout { upstream };
                }
            }
        }
        last_answer.ok_or(last_error)
    }
}

async fn exchange(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> Result<Message, ForwardError> {
    let answer = exchange_udp(upstream, request, bytes).await?;
    if answer.metadata.truncation {
        return exchange_tcp(upstream, request, bytes).await;
    }
    Ok(answer)
}

async fn exchange_udp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> Result<Message, ForwardError> {
    let io = |source| ForwardError::Io { upstream, source };
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A fresh socket per question: a random source port, and the connected socket only
    // receives from the upstream (and reports its ICMP unreachable as an error).
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(upstream).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buffer = vec![0u8; usize::from(u16::MAX)];
    loop {
        let n = socket.recv(&mut buffer).await.map_err(io)?;
        // Anything that is not the answer to this question (a late answer to another, noise)
        // is ignored; the deadline bounds the wait.
        match Message::from_vec(&buffer[..n]) {
            Ok(answer) if answers(request, &answer) => return Ok(answer),
            Ok(_) => tracing::debug!(%upstream, "ignoring an unrelated datagram"),
            Err(error) => tracing::debug!(%upstream, %error, "ignoring an undecodable datagram"),
        }
    }
}

async fn exchange_tcp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> Result<Message, ForwardError> {
    let io = |source| ForwardError::Io { upstream, source };
    let length = u16::try_from(bytes.len()).map_err(|_| ForwardError::Protocol {
        upstream,
        reason: "question too long for TCP".to_owned(),
    })?;
    let mut stream = TcpStream::connect(upstream).await.map_err(io)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await.map_err(io)?;
    let mut buffer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut buffer).await.map_err(io)?;
    let answer = Message::from_vec(&buffer).map_err(|e| ForwardError::Protocol {
        upstream,
        reason: format!("undecodable answer over TCP: {e}"),
    })?;
    if !answers(request, &answer) {
        return Err(ForwardError::Protocol {
            upstream,
            reason: "the answer over TCP is for another question".to_owned(),
        });
    }
    Ok(answer)
}

/// Whether `answer` answers `request`: a response with its ID and its question (an error
/// response may leave the question out).
fn answers(request: &Message, answer: &Message) -> bool {
    if answer.metadata.message_type != MessageType::Response
        || answer.metadata.id != request.metadata.id
    {
        return false;
    }
    match (request.queries.as_slice(), answer.queries.as_slice()) {
        ([asked], [answered]) => {
            asked.name() == answered.name()
                && asked.query_type() == answered.query_type()
                && asked.query_class() == answered.query_class()
        }
        (_, []) => answer.metadata.response_code != ResponseCode::NoError,
        _ => false,
    }
}
