//! End-to-end tests of the io_uring TCP proxy on loopback: echo backends on ephemeral ports,
//! the proxy in front, real client sockets.

use clipper_dataplane::config::{BackendConfig, Config, ServiceConfig};
use clipper_dataplane::service::Conditions;
use clipper_dataplane::service::{BalancerKind, Protocol};
use clipper_dataplane::{Change, DriverOptions, ProxyHandle, uring};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Every socket operation in these tests gives up after this long instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections an echo backend serves before its accept loop ends.
const BACKEND_MAX_CONNS: usize = 64;

/// An echo backend: echoes every byte, and after the client's EOF writes `bye <tag>` and
/// closes — so a reply that ends in the trailer proves the backend saw the FIN.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

fn echo_backend(tag: usize) -> Echo {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().take(BACKEND_MAX_CONNS) {
            let Ok(mut s) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
                let _ = s.write_all(format!("bye {tag}").as_bytes());
            });
        }
    });
    Echo { addr, accepted }
}

/// A loopback port with nothing listening (connects are refused).
fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn config(backends: &[SocketAddr], balancer: BalancerKind) -> Config {
    let mut c = Config {
        services: vec![ServiceConfig {
            name: "test/echo".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Tcp,
            balancer,
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
    c.tcp.connect_timeout_ms = 2_000;
    c
}

fn start(c: &Config, threads: usize) -> (ProxyHandle, SocketAddr) {
    start_opts(c, threads, DriverOptions::default())
}

fn start_opts(c: &Config, threads: usize, opts: DriverOptions) -> (ProxyHandle, SocketAddr) {
    assert!(
        uring::io_uring_available(),
        "io_uring is unavailable (kernel.io_uring_disabled or seccomp?)"
    );
    let h = uring::start_with(c, threads, opts).unwrap();
    let addr = h.listen_addr("test/echo").unwrap();
    (h, addr)
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends `payload`, half-closes, reads until EOF; returns everything read.
fn exchange(addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut s = client(addr);
    let writer = {
        let mut w = s.try_clone().unwrap();
        let payload = payload.to_vec();
        std::thread::spawn(move || {
            w.write_all(&payload).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    out
}

fn trailer_tag(reply: &[u8], payload_len: usize) -> usize {
    let t = std::str::from_utf8(&reply[payload_len..]).unwrap();
    t.strip_prefix("bye ").unwrap().parse().unwrap()
}

const SINGLE_SHOT: DriverOptions = DriverOptions {
    provided_buffers: clipper_dataplane::uring::PROVIDED_BUFFERS,
    multishot_recv: false,
    pin_threads: true,
};

#[test]
fn bytes_round_trip_and_half_close_propagates() {
    round_trip_and_half_close(DriverOptions::default());
}

#[test]
fn bytes_round_trip_and_half_close_propagates_with_single_shot_recv() {
    round_trip_and_half_close(SINGLE_SHOT);
}

fn round_trip_and_half_close(opts: DriverOptions) {
    let backends: Vec<Echo> = (0..2).map(echo_backend).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let (proxy, addr) = start_opts(&config(&addrs, BalancerKind::RoundRobin), 2, opts);
    // 1 MiB: many buffer-fulls, so partial sends and backpressure are exercised.
    let payload: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let reply = exchange(addr, &payload);
    assert!(
        reply.len() > payload.len(),
        "reply of {} bytes",
        reply.len()
    );
    assert!(reply[..payload.len()] == payload[..], "echoed bytes differ");
    // The trailer is written only after the backend read EOF: the client's FIN went through,
    // and the backend's reply after it still reached the client.
    let tag = trailer_tag(&reply, payload.len());
    assert!(tag < 2);

    // A short interactive exchange on the same proxy: request, response, then close.
    let mut s = client(addr);
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.starts_with(b"bye "));

    let metrics = proxy.metrics().render_prometheus();
    assert!(metrics.contains("clipper_proxy_backend_bytes_to_backend_total"));
    assert!(metrics.contains("clipper_proxy_accepted_total{service=\"test/echo\"} 2"));
    proxy.shutdown().unwrap();
}

#[test]
fn dead_backend_is_skipped_by_retry() {
    let live = echo_backend(7);
    let dead = dead_port();
    let (proxy, addr) = start(&config(&[dead, live.addr], BalancerKind::RoundRobin), 1);
    for _ in 0..4 {
        let reply = exchange(addr, b"hello");
        assert_eq!(&reply[..5], b"hello");
        assert_eq!(trailer_tag(&reply, 5), 7);
    }
    assert_eq!(live.accepted.load(Ordering::SeqCst), 4);
    let text = proxy.metrics().render_prometheus();
    let line = format!(
        "clipper_proxy_backend_connect_errors_total{{service=\"test/echo\",backend=\"{dead}\"}} "
    );
    let errors: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap()
        .parse()
        .unwrap();
    // Round robin sends every other new connection to the dead backend first.
    assert!(errors >= 2, "{errors} connect errors\n{text}");
    proxy.shutdown().unwrap();
}

#[test]
fn round_robin_spreads_connections() {
    let backends: Vec<Echo> = (0..3).map(echo_backend).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let (proxy, addr) = start(&config(&addrs, BalancerKind::RoundRobin), 1);
    let mut seen = [0usize; 3];
    for _ in 0..9 {
        let reply = exchange(addr, b"x");
        seen[trailer_tag(&reply, 1)] += 1;
    }
    assert_eq!(seen, [3, 3, 3]);
    proxy.shutdown().unwrap();
}

#[test]
fn excess_connections_are_refused_cleanly() {
    let b = echo_backend(0);
    let mut c = config(&[b.addr], BalancerKind::LeastConn);
    c.tcp.max_connections_per_core = 2;
    let (proxy, addr) = start(&c, 1);
    // Two connections held open and proven established end to end.
    let mut held: Vec<TcpStream> = (0..2).map(|_| client(addr)).collect();
    for s in &mut held {
        s.write_all(b"a").unwrap();
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
    }
    // The third is accepted by the kernel and closed by the proxy at once.
    let mut third = client(addr);
    let mut buf = [0u8; 16];
    let n = third.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "refused connection is closed without data");
    let text = proxy.metrics().render_prometheus();
    assert!(
        text.contains("clipper_proxy_refused_limit_total{service=\"test/echo\"} 1"),
        "{text}"
    );
    // The held connections still work.
    for s in &mut held {
        s.write_all(b"b").unwrap();
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"b");
    }
    proxy.shutdown().unwrap();
}

/// A backend that hands its first connection to `f` on a thread; returns its address.
fn custom_backend(f: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            f(s);
        }
    });
    addr
}

#[test]
fn backend_reset_reaches_client_as_reset() {
    let backend = custom_backend(|mut s| {
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST
    });
    let (proxy, addr) = start(&config(&[backend], BalancerKind::RoundRobin), 1);
    let mut s = client(addr);
    s.write_all(b"x").unwrap();
    let mut buf = [0u8; 8];
    let err = s.read(&mut buf).expect_err("a reset, not data or EOF");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    proxy.shutdown().unwrap();
}

#[test]
fn client_reset_reaches_backend_as_reset() {
    let (tx, rx) = std::sync::mpsc::channel();
    let backend = custom_backend(move |mut s| {
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        s.write_all(b"y").unwrap();
        let mut buf = [0u8; 8];
        let _ = tx.send(s.read(&mut buf).map_err(|e| e.kind()));
    });
    let (proxy, addr) = start(&config(&[backend], BalancerKind::RoundRobin), 1);
    let mut s = client(addr);
    s.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    s.read_exact(&mut one).unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    let got = rx.recv_timeout(IO_TIMEOUT).unwrap();
    assert_eq!(got, Err(std::io::ErrorKind::ConnectionReset));
    proxy.shutdown().unwrap();
}

#[test]
fn idle_connection_is_closed_after_the_idle_timeout() {
    let (tx, rx) = std::sync::mpsc::channel();
    let backend = custom_backend(move |mut s| {
        let mut buf = [0u8; 8];
        let n = s.read(&mut buf).unwrap();
        s.write_all(&buf[..n]).unwrap();
        // Then nothing: the proxy's idle timeout must end the connection (EOF here).
        let _ = tx.send(s.read(&mut buf).map_err(|e| e.kind()));
    });
    let mut c = config(&[backend], BalancerKind::RoundRobin);
    c.tcp.idle_timeout_seconds = 1;
    let (proxy, addr) = start(&c, 1);
    let mut s = client(addr);
    s.write_all(b"hi").unwrap();
    let mut two = [0u8; 2];
    s.read_exact(&mut two).unwrap();
    let quiet_since = std::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed with FIN");
    let waited = quiet_since.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Ok(0));
    let text = proxy.metrics().render_prometheus();
    assert!(text.contains("clipper_proxy_idle_timeouts_total{service=\"test/echo\"} 1"));
    proxy.shutdown().unwrap();
}

#[test]
fn concurrent_bulk_transfers_survive_provided_buffer_exhaustion() {
    bulk_with_one_buffer(DriverOptions::default());
}

#[test]
fn concurrent_bulk_transfers_survive_provided_buffer_exhaustion_with_single_shot_recv() {
    bulk_with_one_buffer(SINGLE_SHOT);
}

fn bulk_with_one_buffer(base: DriverOptions) {
    let backends: Vec<Echo> = (0..2).map(|i| echo_backend(10 + i)).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    // One provided buffer for four connections × two directions: most recvs find the ring
    // empty and must fall back to private buffers without losing or reordering bytes.
    let opts = DriverOptions {
        provided_buffers: 1,
        ..base
    };
    let (proxy, addr) = start_opts(&config(&addrs, BalancerKind::LeastConn), 1, opts);
    let payload: Arc<Vec<u8>> = Arc::new((0..262_144u32).map(|i| (i * 7 % 253) as u8).collect());
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let payload = payload.clone();
            std::thread::spawn(move || exchange(addr, &payload))
        })
        .collect();
    for c in clients {
        let reply = c.join().unwrap();
        assert!(reply[..payload.len()] == payload[..], "echoed bytes differ");
        assert!(trailer_tag(&reply, payload.len()) >= 10);
    }
    proxy.shutdown().unwrap();
}

#[test]
fn terminating_backend_drains_while_new_connections_go_elsewhere() {
    let backends: Vec<Echo> = (0..2).map(echo_backend).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let (proxy, addr) = start(&config(&addrs, BalancerKind::RoundRobin), 1);
    // The first connection goes to backend 0 (round robin starts there) and stays open.
    let mut old = client(addr);
    old.write_all(b"1").unwrap();
    let mut one = [0u8; 1];
    old.read_exact(&mut one).unwrap();
    assert_eq!(backends[0].accepted.load(Ordering::SeqCst), 1);

    // Backend 0 starts terminating (no longer ready or serving).
    let table = proxy.table().load_full();
    let (_, svc) = table.iter().next().unwrap();
    let mut spec = svc.spec.clone();
    spec.endpoints[0].conditions = Conditions::TERMINATING;
    proxy.apply([Change::Upsert(spec)]);

    // New connections all go to backend 1.
    for _ in 0..4 {
        let reply = exchange(addr, b"n");
        assert_eq!(trailer_tag(&reply, 1), 1);
    }
    assert_eq!(backends[0].accepted.load(Ordering::SeqCst), 1);
    // The old connection keeps working until it ends by itself.
    old.write_all(b"2").unwrap();
    old.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"2");
    old.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    old.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye 0");
    proxy.shutdown().unwrap();
}

/// A loopback listener whose accept queue is full and never drained: connects to it hang in
/// SYN-SENT (the kernel drops their SYNs), like a backend that vanished from the network.
/// Returns the listener and the fillers, which must stay alive.
fn blackhole() -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap();
    let fillers = (0..2)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr); // EINPROGRESS
            s
        })
        .collect();
    (l, fillers)
}

#[test]
fn connect_timeout_moves_on_to_another_backend() {
    let (hole, _fillers) = blackhole();
    let hole_addr = hole.local_addr().unwrap().as_socket().unwrap();
    let live = echo_backend(5);
    let mut c = config(&[hole_addr, live.addr], BalancerKind::RoundRobin);
    c.tcp.connect_timeout_ms = 200;
    let (proxy, addr) = start(&c, 1);
    // Round robin tries the black hole first; after 200 ms the connect is cancelled and the
    // live backend serves the client.
    let began = std::time::Instant::now();
    let reply = exchange(addr, b"slow");
    assert_eq!(trailer_tag(&reply, 4), 5);
    assert!(began.elapsed() >= Duration::from_millis(190));
    let text = proxy.metrics().render_prometheus();
    let line = format!(
        "clipper_proxy_backend_connect_errors_total{{service=\"test/echo\",backend=\"{hole_addr}\"}} 1"
    );
    assert!(text.contains(&line), "{text}");
    proxy.shutdown().unwrap();
}

#[test]
fn client_ip_affinity_pins_every_connection_of_a_client() {
    let backends: Vec<Echo> = (0..3).map(|i| echo_backend(20 + i)).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let mut c = config(&addrs, BalancerKind::RoundRobin);
    c.services[0].session_affinity_timeout_seconds = Some(60);
    let (proxy, addr) = start(&c, 2);
    // Every test client is 127.0.0.1: round robin would rotate, affinity must not — across
    // source ports and across the two threads' cores (Maglev makes their first choice agree).
    let tags: Vec<usize> = (0..6)
        .map(|_| trailer_tag(&exchange(addr, b"a"), 1))
        .collect();
    assert!(tags.iter().all(|t| *t == tags[0]), "{tags:?}");
    proxy.shutdown().unwrap();
}
