//! The server on real sockets, on 127.0.0.1 only: every record kind through hickory's client over
//! UDP and TCP, forwarding to a small upstream server the test runs itself, and malformed input.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clipper_dns::{
    DnsServer, ForwardConfig, Name, RData, RecordType, Zone, ZoneConfig, ZoneHandle,
};
use clipper_proto::api::core::v1::Service;
use clipper_proto::api::discovery::v1::EndpointSlice;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR, SOA};
use hickory_proto::rr::{DNSClass, Record};
use hickory_server::net::client::{Client, ClientHandle};
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::tcp::TcpClientStream;
use hickory_server::net::udp::UdpClientStream;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// The bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

fn zone() -> ZoneHandle {
    let mut zone = Zone::new(ZoneConfig::default()).unwrap();
    let service = |v: serde_json::Value| serde_json::from_value::<Service>(v).unwrap();
    zone.upsert_service(&service(json!({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20", "fd00::20"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    })))
    .unwrap();
    zone.upsert_service(&service(json!({
        "metadata": {"namespace": "default", "name": "db"},
        "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
    })))
    .unwrap();
    zone.upsert_slice(
        &serde_json::from_value::<EndpointSlice>(json!({
            "metadata": {"namespace": "default", "name": "db-x",
                         "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "hostname": "db-1", "conditions": {"ready": true}},
                {"addresses": ["10.0.0.3"], "hostname": "db-2", "conditions": {"ready": false}}
            ],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]
        }))
        .unwrap(),
    )
    .unwrap();
    zone.upsert_service(&service(json!({
        "metadata": {"namespace": "default", "name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "www.example.com"}
    })))
    .unwrap();
    zone.upsert_service(&service(json!({
        "metadata": {"namespace": "default", "name": "alias"},
        "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}
    })))
    .unwrap();
    ZoneHandle::new(zone)
}

// ---- a tiny upstream server -------------------------------------------------------------------

struct Upstream {
    addr: SocketAddr,
    udp_questions: Arc<AtomicUsize>,
    tcp_questions: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The upstream's answers. `None`: no answer at all.
fn upstream_answer(request: &Message, over_tcp: bool) -> Option<Message> {
    let query = request.queries.first()?;
    let mut response = Message::response(request.metadata.id, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_query(query.clone());
    let name = query.name().to_ascii().to_ascii_lowercase();
    let a = |ip: [u8; 4]| Record::from_rdata(query.name().clone(), 60, RData::A(A(ip.into())));
    match (name.as_str(), query.query_type()) {
        ("example.com.", RecordType::A) => {
            response.add_answer(a([192, 0, 2, 1]));
        }
        ("www.example.com.", RecordType::A) => {
            response.add_answer(a([192, 0, 2, 80]));
        }
        ("big.example.com.", RecordType::A) => {
            if over_tcp {
                for i in 1..=20 {
                    response.add_answer(a([192, 0, 2, i]));
                }
            } else {
                response.metadata.truncation = true;
            }
        }
        ("nx.example.com.", _) => {
            response.metadata.response_code = ResponseCode::NXDomain;
            response.add_authority(Record::from_rdata(
                Name::from_ascii("example.com.").unwrap(),
                300,
                RData::SOA(SOA::new(
                    Name::from_ascii("ns.example.com.").unwrap(),
                    Name::from_ascii("admin.example.com.").unwrap(),
                    7,
                    3600,
                    600,
                    86400,
                    300,
                )),
            ));
        }
        ("8.8.8.8.in-addr.arpa.", RecordType::PTR) => {
            response.add_answer(Record::from_rdata(
                query.name().clone(),
                60,
                RData::PTR(PTR(Name::from_ascii("dns.example.").unwrap())),
            ));
        }
        ("slow.example.com.", _) => return None,
        _ => response.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(response)
}

async fn start_upstream() -> Upstream {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_questions = Arc::new(AtomicUsize::new(0));
    let tcp_questions = Arc::new(AtomicUsize::new(0));
    let counter = udp_questions.clone();
    let udp_task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 65535];
        while let Ok((n, from)) = udp.recv_from(&mut buffer).await {
            let Ok(request) = Message::from_vec(&buffer[..n]) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            if let Some(response) = upstream_answer(&request, false) {
                let _ = udp.send_to(&response.to_vec().unwrap(), from).await;
            }
        }
    });
    let counter = tcp_questions.clone();
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                loop {
                    let mut length = [0u8; 2];
                    if stream.read_exact(&mut length).await.is_err() {
                        return;
                    }
                    let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let Ok(request) = Message::from_vec(&body) else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    if let Some(response) = upstream_answer(&request, true) {
                        let bytes = response.to_vec().unwrap();
                        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&bytes);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Upstream {
        addr,
        udp_questions,
        tcp_questions,
        tasks: vec![udp_task, tcp_task],
    }
}

/// An address where nothing listens (UDP answers with ICMP port unreachable).
async fn dead_address() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.local_addr().unwrap()
}

fn forward_config(upstreams: Vec<SocketAddr>) -> ForwardConfig {
    ForwardConfig {
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(1),
        ..ForwardConfig::new(upstreams)
    }
}

async fn start(upstreams: Vec<SocketAddr>) -> (DnsServer, ZoneHandle) {
    let zone = zone();
    let server = DnsServer::start(
        "127.0.0.1:0".parse().unwrap(),
        zone.clone(),
        forward_config(upstreams),
    )
    .await
    .unwrap();
    (server, zone)
}

// ---- clients ----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Transport {
    Udp,
    Tcp,
}

async fn client(server: SocketAddr, transport: Transport) -> Client<TokioRuntimeProvider> {
    let provider = TokioRuntimeProvider::new();
    match transport {
        Transport::Udp => {
            let (client, background) = Client::<TokioRuntimeProvider>::from_sender(
                UdpClientStream::builder(server, provider)
                    .with_timeout(Some(WAIT))
                    .build(),
            );
            tokio::spawn(background);
            client
        }
        Transport::Tcp => {
            let (stream, sender) = TcpClientStream::new(server, None, Some(WAIT), provider);
            let stream = timeout(WAIT, stream).await.unwrap().unwrap();
            let (client, background) =
                Client::<TokioRuntimeProvider>::with_timeout(stream, sender, WAIT);
            tokio::spawn(background);
            client
        }
    }
}

async fn ask(client: &mut Client<TokioRuntimeProvider>, name: &str, qtype: RecordType) -> Message {
    let query = client.query(Name::from_ascii(name).unwrap(), DNSClass::IN, qtype);
    timeout(WAIT, query)
        .await
        .unwrap_or_else(|_| panic!("{name} {qtype}: no answer in time"))
        .unwrap_or_else(|e| panic!("{name} {qtype}: {e}"))
        .into_message()
}

fn render(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => format!("{} A {}", r.name, a.0),
            RData::AAAA(a) => format!("{} AAAA {}", r.name, a.0),
            RData::CNAME(c) => format!("{} CNAME {}", r.name, c.0),
            RData::PTR(p) => format!("{} PTR {}", r.name, p.0),
            RData::SRV(s) => format!(
                "{} SRV {} {} {} {}",
                r.name, s.priority, s.weight, s.port, s.target
            ),
            RData::SOA(s) => format!("{} SOA {}", r.name, s.mname),
            other => format!("{} {}", r.name, other.record_type()),
        })
        .collect()
}

// ---- tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn answers_every_record_kind_over_udp_and_tcp() {
    let upstream = start_upstream().await;
    let (server, _zone) = start(vec![upstream.addr]).await;
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut c = client(server.local_addr(), transport).await;
        let context = format!("{transport:?}");

        let m = ask(&mut c, "web.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{context}");
        assert!(m.metadata.authoritative, "{context}");
        assert!(m.metadata.recursion_available, "{context}");
        assert_eq!(
            render(&m.answers),
            ["web.default.svc.cluster.local. A 10.96.0.20"],
            "{context}"
        );
        assert_eq!(m.answers[0].ttl, 30);

        let m = ask(&mut c, "Web.Default.svc.cluster.local.", RecordType::AAAA).await;
        assert_eq!(
            render(&m.answers),
            ["Web.Default.svc.cluster.local. AAAA fd00::20"],
            "{context}"
        );

        let m = ask(&mut c, "db.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(
            render(&m.answers),
            [
                "db.default.svc.cluster.local. A 10.0.0.1",
                "db.default.svc.cluster.local. A 10.0.0.2"
            ],
            "{context}"
        );

        let m = ask(&mut c, "db-1.db.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(
            render(&m.answers),
            ["db-1.db.default.svc.cluster.local. A 10.0.0.2"],
            "{context}"
        );

        let m = ask(
            &mut c,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .await;
        assert_eq!(
            render(&m.answers),
            [
                "_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."
            ],
            "{context}"
        );
        assert_eq!(
            render(&m.additionals),
            [
                "web.default.svc.cluster.local. A 10.96.0.20",
                "web.default.svc.cluster.local. AAAA fd00::20"
            ],
            "{context}"
        );

        let m = ask(
            &mut c,
            "_pg._tcp.db.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .await;
        assert_eq!(
            render(&m.answers),
            [
                "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
                "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-1.db.default.svc.cluster.local.",
            ],
            "{context}"
        );

        let m = ask(
            &mut c,
            "10-244-1-7.default.pod.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(
            render(&m.answers),
            ["10-244-1-7.default.pod.cluster.local. A 10.244.1.7"],
            "{context}"
        );

        let m = ask(&mut c, "20.0.96.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(
            render(&m.answers),
            ["20.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local."],
            "{context}"
        );

        let m = ask(&mut c, "dns-version.cluster.local.", RecordType::TXT).await;
        assert_eq!(m.answers.len(), 1, "{context}");
    }
}

#[tokio::test]
async fn negative_answers_carry_the_soa() {
    let (server, _zone) = start(Vec::new()).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;

    let m = ask(&mut c, "nope.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(
        render(&m.authorities),
        ["cluster.local. SOA ns.dns.cluster.local."]
    );
    let RData::SOA(soa) = &m.authorities[0].data else {
        unreachable!()
    };
    assert_eq!(soa.minimum, 30);

    let m = ask(&mut c, "web.default.svc.cluster.local.", RecordType::MX).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(
        render(&m.authorities),
        ["cluster.local. SOA ns.dns.cluster.local."]
    );

    // Unknown namespace, not-ready endpoint.
    for name in [
        "web.nowhere.svc.cluster.local.",
        "db-2.db.default.svc.cluster.local.",
    ] {
        let m = ask(&mut c, name, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
}

#[tokio::test]
async fn external_names_are_followed() {
    let upstream = start_upstream().await;
    let (server, _zone) = start(vec![upstream.addr]).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;

    let m = ask(&mut c, "ext.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        render(&m.answers),
        [
            "ext.default.svc.cluster.local. CNAME www.example.com.",
            "www.example.com. A 192.0.2.80"
        ]
    );

    let m = ask(&mut c, "ext.default.svc.cluster.local.", RecordType::CNAME).await;
    assert_eq!(
        render(&m.answers),
        ["ext.default.svc.cluster.local. CNAME www.example.com."]
    );

    // A target inside the cluster domain is answered from the zone.
    let m = ask(&mut c, "alias.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        render(&m.answers),
        [
            "alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. A 10.96.0.20"
        ]
    );
    assert!(m.metadata.authoritative);
}

#[tokio::test]
async fn forwards_outside_the_cluster_domain() {
    let upstream = start_upstream().await;
    // The first upstream is dead: the forwarder moves on to the next.
    let (server, _zone) = start(vec![dead_address().await, upstream.addr]).await;
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut c = client(server.local_addr(), transport).await;
        let m = ask(&mut c, "example.com.", RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(!m.metadata.authoritative);
        assert!(m.metadata.recursion_available);
        assert_eq!(render(&m.answers), ["example.com. A 192.0.2.1"]);

        let m = ask(&mut c, "nx.example.com.", RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(render(&m.authorities), ["example.com. SOA ns.example.com."]);

        // Reverse names the zone does not know go upstream.
        let m = ask(&mut c, "8.8.8.8.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(
            render(&m.answers),
            ["8.8.8.8.in-addr.arpa. PTR dns.example."]
        );
    }
    assert!(upstream.udp_questions.load(Ordering::SeqCst) >= 6);
}

#[tokio::test]
async fn truncated_upstream_answers_are_retried_over_tcp() {
    let upstream = start_upstream().await;
    let (server, _zone) = start(vec![upstream.addr]).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;
    let m = ask(&mut c, "big.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 20);
    assert_eq!(upstream.tcp_questions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unanswered_forward_fails_within_the_deadline() {
    let upstream = start_upstream().await;
    let (server, _zone) = start(vec![upstream.addr]).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;
    let started = Instant::now();
    let m = ask(&mut c, "slow.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // The deadline is 1 s (attempt 500 ms).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // No upstream at all: SERVFAIL at once.
    let (server, _zone) = start(Vec::new()).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;
    let m = ask(&mut c, "example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn zone_updates_are_served_without_restart() {
    let (server, zone) = start(Vec::new()).await;
    let mut c = client(server.local_addr(), Transport::Udp).await;
    let name = "late.default.svc.cluster.local.";
    let m = ask(&mut c, name, RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    zone.update(|z| {
        z.upsert_service(
            &serde_json::from_value::<Service>(json!({
                "metadata": {"namespace": "default", "name": "late"},
                "spec": {"clusterIP": "10.96.0.99"}
            }))
            .unwrap(),
        )
    })
    .unwrap();
    let m = ask(&mut c, name, RecordType::A).await;
    assert_eq!(render(&m.answers), [format!("{name} A 10.96.0.99")]);
    zone.update(|z| z.remove_service("default", "late"));
    let m = ask(&mut c, name, RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

// ---- malformed input --------------------------------------------------------------------------

fn query_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

/// Sends raw bytes over UDP and waits (bounded) for one answer.
async fn udp_exchange(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buffer = vec![0u8; 65535];
    match timeout(wait, socket.recv(&mut buffer)).await {
        Ok(Ok(n)) => Some(Message::from_vec(&buffer[..n]).expect("the server sent garbage")),
        _ => None,
    }
}

async fn still_answers(server: SocketAddr) {
    let m = udp_exchange(
        server,
        &query_bytes(4242, "web.default.svc.cluster.local.", RecordType::A),
        WAIT,
    )
    .await
    .expect("the server stopped answering");
    assert_eq!(m.metadata.id, 4242);
    assert_eq!(
        render(&m.answers),
        ["web.default.svc.cluster.local. A 10.96.0.20"]
    );
}

#[tokio::test]
async fn malformed_packets_do_not_stop_the_server() {
    let (server, _zone) = start(Vec::new()).await;
    let addr = server.local_addr();

    // Too short to be a header: no answer, and no harm.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for bytes in [&b""[..], &[0u8; 5][..], &[0xff; 11][..]] {
        socket.send_to(bytes, addr).await.unwrap();
    }
    still_answers(addr).await;

    // A header announcing a question that is not there; a label running past the end; a
    // compression pointer to itself: FORMERR with the ID.
    let mut header_only = query_bytes(7, "x.", RecordType::A);
    header_only.truncate(12);
    let mut past_the_end = header_only.clone();
    past_the_end.extend_from_slice(&[63, b'a', b'b']);
    let mut pointer_loop = header_only.clone();
    pointer_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    for bytes in [header_only, past_the_end, pointer_loop] {
        let m = udp_exchange(addr, &bytes, WAIT)
            .await
            .expect("an answer to a bad question");
        assert_eq!(m.metadata.id, 7);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    }
    still_answers(addr).await;

    // A response is not answered (no reflection): sent before a query from the same socket,
    // nothing but the query's answer comes back.
    let mut response = Message::new(9, MessageType::Response, OpCode::Query);
    response.add_query(Query::query(
        Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let reflector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    reflector.connect(addr).await.unwrap();
    reflector.send(&response.to_vec().unwrap()).await.unwrap();
    reflector
        .send(&query_bytes(
            4243,
            "web.default.svc.cluster.local.",
            RecordType::A,
        ))
        .await
        .unwrap();
    let mut buffer = vec![0u8; 65535];
    let n = timeout(WAIT, reflector.recv(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Message::from_vec(&buffer[..n]).unwrap().metadata.id, 4243);
    assert!(reflector.try_recv(&mut buffer).is_err());

    // Two questions: FORMERR. Another opcode: NOTIMP.
    let mut two = Message::new(10, MessageType::Query, OpCode::Query);
    two.add_query(Query::query(Name::from_ascii("a.").unwrap(), RecordType::A));
    two.add_query(Query::query(Name::from_ascii("b.").unwrap(), RecordType::A));
    let m = udp_exchange(addr, &two.to_vec().unwrap(), WAIT)
        .await
        .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut notify = Message::new(11, MessageType::Query, OpCode::Notify);
    notify.add_query(Query::query(
        Name::from_ascii("cluster.local.").unwrap(),
        RecordType::SOA,
    ));
    let m = udp_exchange(addr, &notify.to_vec().unwrap(), WAIT)
        .await
        .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

    // Zone transfers are refused.
    let m = udp_exchange(
        addr,
        &query_bytes(12, "cluster.local.", RecordType::AXFR),
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);

    // Noise: a deterministic stream of random datagrams.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let len = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half of them look like queries, to get past the header.
        if bytes.len() > 12 && next() % 2 == 0 {
            bytes[2] &= 0x7f; // QR = query
            bytes[2] &= 0x87; // opcode QUERY
            bytes[4] = 0;
            bytes[5] = 1; // one question
        }
        socket.send_to(&bytes, addr).await.unwrap();
    }
    still_answers(addr).await;

    // Over TCP: a frame shorter than announced; a frame too short for a header (ignored, the
    // connection closes when idle); a frame with a header and a bad question (FORMERR).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(stream);
    let mut short = TcpStream::connect(addr).await.unwrap();
    short
        .write_all(&[0, 4, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bad = query_bytes(13, "x.", RecordType::A);
    bad.truncate(12);
    bad.extend_from_slice(&[63, b'a']);
    let mut framed = (bad.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bad);
    stream.write_all(&framed).await.unwrap();
    let mut length = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut length))
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
    timeout(WAIT, stream.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&body).unwrap();
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (13, ResponseCode::FormErr)
    );
    let mut c = client(addr, Transport::Tcp).await;
    let m = ask(&mut c, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.answers.len(), 1);
    still_answers(addr).await;
    drop(short);
}

#[tokio::test]
async fn edns_payload_bounds_udp_answers() {
    let (server, zone) = start(Vec::new()).await;
    // A headless service with many endpoints: more than 512 bytes of answers.
    let endpoints: Vec<_> = (1..=60)
        .map(|i| json!({"addresses": [format!("10.1.0.{i}")], "conditions": {"ready": true}}))
        .collect();
    zone.update(|z| {
        z.upsert_service(
            &serde_json::from_value::<Service>(json!({
                "metadata": {"namespace": "default", "name": "many"},
                "spec": {"clusterIP": "None"}
            }))
            .unwrap(),
        )?;
        z.upsert_slice(
            &serde_json::from_value::<EndpointSlice>(json!({
                "metadata": {"namespace": "default", "name": "many-1",
                             "labels": {"kubernetes.io/service-name": "many"}},
                "addressType": "IPv4",
                "endpoints": endpoints
            }))
            .unwrap(),
        )
    })
    .unwrap();
    let name = "many.default.svc.cluster.local.";

    // Without EDNS: 512 bytes, truncated.
    let m = udp_exchange(
        server.local_addr(),
        &query_bytes(1, name, RecordType::A),
        WAIT,
    )
    .await
    .unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.len() < 60);

    // With EDNS 4096: all of them.
    let mut q = Message::new(2, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let m = udp_exchange(server.local_addr(), &q.to_vec().unwrap(), WAIT)
        .await
        .unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    assert!(m.edns.is_some());

    // Over TCP: all of them.
    let mut c = client(server.local_addr(), Transport::Tcp).await;
    let m = ask(&mut c, name, RecordType::A).await;
    assert_eq!(m.answers.len(), 60);
}

#[tokio::test]
async fn shutdown_closes_the_sockets() {
    let (server, _zone) = start(Vec::new()).await;
    let addr = server.local_addr();
    still_answers(addr).await;
    timeout(WAIT, server.shutdown()).await.unwrap().unwrap();
    // The port is free again, for UDP and TCP.
    UdpSocket::bind(addr).await.unwrap();
    TcpListener::bind(addr).await.unwrap();
}
