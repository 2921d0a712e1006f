//! End-to-end tests of the io_uring UDP relay on loopback.

use clipper_dataplane::config::{BackendConfig, Config, ServiceConfig};
use clipper_dataplane::service::{BalancerKind, Protocol};
use clipper_dataplane::{Change, uring};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Every receive in these tests gives up after this long instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Datagrams an echo backend answers before its loop ends.
const BACKEND_MAX_DATAGRAMS: usize = 256;

/// A UDP backend answering each datagram with `<tag>:<payload>`.
fn udp_echo(tag: usize) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..BACKEND_MAX_DATAGRAMS {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                return;
            };
            let mut reply = format!("{tag}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from);
        }
    });
    addr
}

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends `payload` through the proxy and returns the answering backend's tag.
fn ask(c: &UdpSocket, proxy: SocketAddr, payload: &[u8]) -> usize {
    c.send_to(payload, proxy).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!(from, proxy, "the reply comes from the service address");
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let (tag, echoed) = text.split_once(':').unwrap();
    assert_eq!(echoed.as_bytes(), payload);
    tag.parse().unwrap()
}

#[test]
fn udp_flows_relay_stick_and_move_off_a_deleted_backend() {
    assert!(uring::io_uring_available(), "io_uring is unavailable");
    let backends = [udp_echo(0), udp_echo(1)];
    let config = Config {
        services: vec![ServiceConfig {
            name: "test/dns".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Udp,
            balancer: BalancerKind::RoundRobin,
            session_affinity_timeout_seconds: None,
            backends: backends
                .iter()
                .map(|a| BackendConfig {
                    addr: *a,
                    weight: 1,
                    ready: true,
                    serving: None,
                    terminating: false,
                })
                .collect(),
        }],
        ..Config::default()
    };
    let proxy = uring::start(&config, 1).unwrap();
    let addr = proxy.listen_addr("test/dns").unwrap();

    let (a, b) = (client(), client());
    let tag_a = ask(&a, addr, b"query-1");
    for i in 0..5 {
        assert_eq!(
            ask(&a, addr, format!("again-{i}").as_bytes()),
            tag_a,
            "flow is sticky"
        );
    }
    let tag_b = ask(&b, addr, b"query-2");
    assert_ne!(
        tag_a, tag_b,
        "round robin puts the second flow on the other backend"
    );

    // Delete a's backend: its flow is dropped at once and its next datagram is served by the
    // remaining backend, while b's flow is untouched.
    let table = proxy.table().load_full();
    let (_, svc) = table.iter().next().unwrap();
    let mut spec = svc.spec.clone();
    spec.endpoints.retain(|e| e.addr != backends[tag_a]);
    proxy.apply([Change::Upsert(spec)]);
    assert_eq!(ask(&a, addr, b"after-delete"), tag_b);
    assert_eq!(ask(&b, addr, b"still-there"), tag_b);

    let text = proxy.metrics().render_prometheus();
    assert!(
        text.contains("clipper_proxy_udp_flows{service=\"test/dns\"} 2"),
        "{text}"
    );
    proxy.shutdown().unwrap();
}
