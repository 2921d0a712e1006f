//! The server: hickory-server's UDP and TCP loops, a request handler that answers the cluster
//! domain from the zone, follows CNAMEs, and forwards everything else.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use crate::DnsError;
use crate::forward::{ForwardConfig, Forwarder, QueryFlags};
use crate::zone::{Answer, ZoneHandle};

/// How long a TCP connection may stay idle before the server closes it.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// The longest CNAME chain followed for a client.
const MAX_CNAME_CHAIN: usize = 8;

/// The largest UDP response, whatever the client advertises.
const MAX_UDP_PAYLOAD: u16 = 4096;

/// A running DNS server. Dropping it stops the server; [`DnsServer::shutdown`] stops it and
/// waits until its sockets are closed.
pub struct DnsServer {
    local_addr: SocketAddr,
    server: hickory_server::Server<Handler>,
}

impl DnsServer {
    /// Binds UDP and TCP on `listen` (port 0: one free port for both) and serves: names in the
    /// zone's cluster domain from the zone, the rest from the upstreams in `forward`.
    pub async fn start(
        listen: SocketAddr,
        zone: ZoneHandle,
        forward: ForwardConfig,
    ) -> Result<Self, DnsError> {
        let (udp, tcp) = bind(listen).await?;
        let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            addr: listen,
            protocol: "UDP",
            source,
        })?;
        let handler = Handler {
            zone,
            forwarder: Forwarder::new(forward),
        };
        let mut server = hickory_server::Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        tracing::info!(%local_addr, "cluster DNS serving on UDP and TCP");
        Ok(Self { local_addr, server })
    }

    /// The address served, UDP and TCP (with the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, finishes the questions under way and closes the sockets.
    pub async fn shutdown(mut self) -> Result<(), DnsError> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(|e| DnsError::Stopped(e.to_string()))
    }

    /// Waits until the server stops by itself, which it does only when a socket fails.
    pub async fn wait(&mut self) -> Result<(), DnsError> {
        self.server
            .block_until_done()
            .await
            .map_err(|e| DnsError::Stopped(e.to_string()))
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_udp = |addr: SocketAddr| async move {
        UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                addr,
                protocol: "UDP",
                source,
            })
    };
    let bind_tcp = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                addr,
                protocol: "TCP",
                source,
            })
    };
    if listen.port() != 0 {
        return Ok((bind_udp(listen).await?, bind_tcp(listen).await?));
    }
    // Port 0: take a free UDP port, then the same TCP port, which may be taken; a few tries.
    let mut last_error = None;
    for _ in 0..16 {
        let udp = bind_udp(listen).await?;
        let port = udp
            .local_addr()
            .map_err(|source| DnsError::Bind {
                addr: listen,
                protocol: "UDP",
                source,
            })?
            .port();
        match bind_tcp(SocketAddr::new(listen.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(DnsError::Bind {
        addr: listen,
        protocol: "TCP",
        source: std::io::Error::other("no port free for both UDP and TCP"),
    }))
}

struct Handler {
    zone: ZoneHandle,
    forwarder: Forwarder,
}

/// A response before encoding.
struct Reply {
    code: ResponseCode,
    authoritative: bool,
    authentic_data: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Reply {
    fn error(code: ResponseCode) -> Self {
        Self {
            code,
            authoritative: false,
            authentic_data: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    fn negative(code: ResponseCode, soa: Record) -> Self {
        Self {
            code,
            authoritative: true,
            authorities: vec![soa],
            ..Self::error(code)
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let reply = self.resolve(request).await;

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = reply.authoritative;
        metadata.recursion_available = true;
        metadata.authentic_data = reply.authentic_data;
        metadata.response_code = reply.code;
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            edns.set_dnssec_ok(asked.flags().dnssec_ok);
            edns
        });
        let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
            metadata,
            reply.answers.iter(),
            reply.authorities.iter(),
            std::iter::empty(),
            reply.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, src = %request.src(), "sending a DNS response failed");
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

impl Handler {
    async fn resolve(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::error(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return Reply::error(ResponseCode::FormErr);
        };
        let query = info.query.original().clone();
        let flags = QueryFlags {
            recursion_desired: request.metadata.recursion_desired,
            checking_disabled: request.metadata.checking_disabled,
            dnssec_ok: request
                .edns
                .as_ref()
                .is_some_and(|edns| edns.flags().dnssec_ok),
        };
        let qtype = query.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Reply::error(ResponseCode::Refused);
        }
        if query.query_class() != DNSClass::IN {
            return self.forwarded(&query, flags).await;
        }
        match self.zone.lookup(query.name(), qtype) {
            Answer::Forward => self.forwarded(&query, flags).await,
            Answer::NoData { soa } => Reply::negative(ResponseCode::NoError, soa),
            Answer::NxDomain { soa } => Reply::negative(ResponseCode::NXDomain, soa),
            Answer::Records {
                answers,
                additionals,
            } => {
                let mut reply = Reply {
                    code: ResponseCode::NoError,
                    authoritative: true,
                    authentic_data: false,
                    answers,
                    authorities: Vec::new(),
                    additionals,
                };
                if !matches!(qtype, RecordType::CNAME | RecordType::ANY) {
                    self.follow_cnames(&mut reply, qtype, flags).await;
                }
                reply
            }
        }
    }

    /// Completes an answer that ends in a CNAME (an ExternalName service) as a recursive
    /// server does: the target from the zone when it is in the cluster domain, else upstream.
    async fn follow_cnames(&self, reply: &mut Reply, qtype: RecordType, flags: QueryFlags) {
        for _ in 0..MAX_CNAME_CHAIN {
            let Some(target) = reply.answers.last().and_then(|r| match &r.data {
                RData::CNAME(cname) => Some(cname.0.clone()),
                _ => None,
            }) else {
                return;
            };
            if reply.answers.iter().any(|r| r.name == target) {
                // A loop.
                return;
            }
            match self.zone.lookup(&target, qtype) {
                Answer::Records {
                    answers,
                    additionals,
                } => {
                    reply.answers.extend(answers);
                    reply.additionals.extend(additionals);
                }
                Answer::NoData { soa } => {
                    reply.authorities = vec![soa];
                    return;
                }
                Answer::NxDomain { soa } => {
                    reply.code = ResponseCode::NXDomain;
                    reply.authorities = vec![soa];
                    return;
                }
                Answer::Forward => {
                    let upstream = self.forwarded(&Query::query(target, qtype), flags).await;
                    reply.authoritative = false;
                    reply.code = upstream.code;
                    reply.answers.extend(upstream.answers);
                    if reply.code != ResponseCode::NoError || upstream.authorities.is_empty() {
                        reply.authorities = upstream.authorities;
                    }
                    return;
                }
            }
        }
    }

    async fn forwarded(&self, query: &Query, flags: QueryFlags) -> Reply {
        match self.forwarder.forward(query, flags).await {
            Ok(answer) => {
                let code = answer.metadata.response_code;
                // Extended codes need the client's EDNS to be expressed; keep to the basic ones.
                let code = if u16::from(code) > 15 {
                    ResponseCode::ServFail
                } else {
                    code
                };
                Reply {
                    code,
                    authoritative: false,
                    authentic_data: answer.metadata.authentic_data,
                    answers: answer.answers,
                    authorities: answer.authorities,
                    additionals: answer.additionals,
                }
            }
            Err(error) => {
                tracing::debug!(name = %query.name(), qtype = %query.query_type(), %error, "forwarding failed");
                Reply::error(ResponseCode::ServFail)
            }
        }
    }
}
