//! Services that appear and disappear while the proxy runs: listeners opened and closed by
//! `ProxyHandle::apply` on every thread, bind failures reported without harm to other
//! services, and IP_FREEBIND for addresses assigned after the proxy binds them (in a network
//! namespace the test creates).

use clipper_dataplane::config::Config;
use clipper_dataplane::service::{
    BalancerKind, Conditions, Endpoint, Protocol, ServiceKey, ServiceSpec,
};
use clipper_dataplane::uring::{self, ApplyError};
use clipper_dataplane::{Change, ProxyHandle};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// Every socket operation in these tests gives up after this long instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections an echo backend serves before its accept loop ends.
const BACKEND_MAX_CONNS: usize = 64;

/// An echo backend on `127.0.0.1:0`: echoes every byte and, after the client's EOF, writes
/// `bye <tag>` and closes.
fn echo_backend(tag: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming().take(BACKEND_MAX_CONNS) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut buf = [0u8; 4096];
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
    addr
}

fn spec(name: &str, listen: &str, protocol: Protocol, backends: &[SocketAddr]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        key: ServiceKey {
            addr: listen.parse().unwrap(),
            protocol,
        },
        balancer: BalancerKind::RoundRobin,
        affinity_timeout: None,
        endpoints: backends
            .iter()
            .map(|a| Endpoint {
                addr: *a,
                weight: 1,
                conditions: Conditions::READY,
            })
            .collect(),
    }
}

/// A proxy with no services.
fn empty_proxy(threads: usize) -> ProxyHandle {
    assert!(
        uring::io_uring_available(),
        "io_uring is unavailable (kernel.io_uring_disabled or seccomp?)"
    );
    uring::start(&Config::default(), threads).unwrap()
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends `payload`, half-closes, reads to EOF; returns the backend's tag after checking the
/// echo.
fn exchange(addr: SocketAddr, payload: &[u8]) -> usize {
    let mut s = client(addr);
    s.write_all(payload).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(payload), "echoed bytes differ");
    let t = std::str::from_utf8(&out[payload.len()..]).unwrap();
    t.strip_prefix("bye ").unwrap().parse().unwrap()
}

fn metric(proxy: &ProxyHandle, line_prefix: &str) -> Option<u64> {
    proxy
        .metrics()
        .render_prometheus()
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn tcp_service_added_at_runtime_is_served_by_every_thread_on_one_resolved_port() {
    let proxy = empty_proxy(2);
    assert!(proxy.listening().is_empty());
    let b0 = echo_backend(0);
    let report = proxy.apply([Change::Upsert(spec(
        "rt/web",
        "127.0.0.1:0",
        Protocol::Tcp,
        &[b0],
    ))]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.listening.len(), 1);
    let addr = report.listen_addr("rt/web").unwrap();
    assert_ne!(addr.port(), 0, "port 0 resolved");
    assert_eq!(proxy.listen_addr("rt/web"), Some(addr));
    // The table holds the service under the bound address.
    let key = ServiceKey {
        addr,
        protocol: Protocol::Tcp,
    };
    assert!(proxy.table().load().get(&key).is_some());
    // Many connections: SO_REUSEPORT spreads them over both threads' sockets, and every one
    // is served (a thread that had not armed its accept would leave some hanging).
    for i in 0..16u8 {
        assert_eq!(exchange(addr, &[b'a' + i]), 0);
    }
    assert_eq!(
        metric(&proxy, "clipper_proxy_accepted_total{service=\"rt/web\"} "),
        Some(16)
    );
    assert_eq!(metric(&proxy, "clipper_proxy_listeners "), Some(1));

    // The same service upserted again with its port-0 key updates it in place: no new
    // listener, new connections go to the new backend.
    let b1 = echo_backend(1);
    let report = proxy.apply([Change::Upsert(spec(
        "rt/web",
        "127.0.0.1:0",
        Protocol::Tcp,
        &[b1],
    ))]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(report.listening.is_empty());
    assert_eq!(report.table.compiled, 1);
    assert_eq!(proxy.listening().len(), 1);
    assert_eq!(exchange(addr, b"moved"), 1);
    proxy.shutdown().unwrap();
}

#[test]
fn removed_tcp_service_stops_accepting_while_its_connections_drain() {
    let proxy = empty_proxy(2);
    let b = echo_backend(0);
    let report = proxy.apply([Change::Upsert(spec(
        "rt/drain",
        "127.0.0.1:0",
        Protocol::Tcp,
        &[b],
    ))]);
    let addr = report.listen_addr("rt/drain").unwrap();
    let key = ServiceKey {
        addr,
        protocol: Protocol::Tcp,
    };
    // An established connection, proven end to end.
    let mut old = client(addr);
    old.write_all(b"1").unwrap();
    let mut one = [0u8; 1];
    old.read_exact(&mut one).unwrap();

    let report = proxy.apply([Change::Remove(key)]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.closed, vec![key]);
    assert_eq!(report.table.removed, 1);
    assert_eq!(proxy.listen_addr("rt/drain"), None);
    assert!(proxy.table().load().get(&key).is_none());
    // No thread listens any more: the kernel refuses new connections.
    let err = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // The established connection keeps working until it ends by itself.
    old.write_all(b"2").unwrap();
    old.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"2");
    old.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    old.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye 0");

    // The same address served again.
    let report = proxy.apply([Change::Upsert(spec(
        "rt/drain",
        &addr.to_string(),
        Protocol::Tcp,
        &[b],
    ))]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.listen_addr("rt/drain"), Some(addr));
    assert_eq!(exchange(addr, b"again"), 0);
    proxy.shutdown().unwrap();
}

#[test]
fn bind_failure_is_reported_and_other_services_keep_serving() {
    let proxy = empty_proxy(2);
    let b = echo_backend(0);
    let first = proxy.apply([Change::Upsert(spec(
        "rt/first",
        "127.0.0.1:0",
        Protocol::Tcp,
        &[b],
    ))]);
    let first_addr = first.listen_addr("rt/first").unwrap();
    // Another process's socket (no SO_REUSEPORT) holds this port.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    let report = proxy.apply([
        Change::Upsert(spec("rt/taken", &taken.to_string(), Protocol::Tcp, &[b])),
        Change::Upsert(spec("rt/ok", "127.0.0.1:0", Protocol::Tcp, &[b])),
    ]);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    match &report.errors[0] {
        ApplyError::Bind { name, source, .. } => {
            assert_eq!(name, "rt/taken");
            assert_eq!(source.kind(), ErrorKind::AddrInUse);
        }
        e => panic!("unexpected error {e}"),
    }
    assert!(report.errors[0].to_string().contains("rt/taken"));
    assert_eq!(
        report.table.compiled, 1,
        "only the bound service is in the table"
    );
    assert_eq!(proxy.listen_addr("rt/taken"), None);
    let ok = report.listen_addr("rt/ok").unwrap();
    assert!(!proxy.is_finished(), "the proxy keeps running");
    assert_eq!(exchange(ok, b"ok"), 0);
    assert_eq!(exchange(first_addr, b"first"), 0);
    assert_eq!(metric(&proxy, "clipper_proxy_bind_errors_total "), Some(1));
    assert_eq!(metric(&proxy, "clipper_proxy_listeners "), Some(2));
    proxy.shutdown().unwrap();
    drop(squatter);
}

#[test]
fn start_with_fails_when_a_configured_service_cannot_bind() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    let config = Config::from_yaml(&format!(
        "services:\n  - name: web\n    listen: {taken}\n    backends: [{{addr: 127.0.0.1:9}}]\n"
    ))
    .unwrap();
    let err = uring::start(&config, 2).expect_err("the port is taken");
    let text = err.to_string();
    assert!(
        text.contains("web") && text.contains(&taken.to_string()),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

/// Sends `payload` from `c` (connected to the proxy) to the backend socket `b`, answers it
/// from `b` with `reply`, and checks that the client receives it from the service address.
/// Returns the address the backend saw (the flow's socket).
fn udp_round(c: &UdpSocket, b: &UdpSocket, payload: &[u8], reply: &[u8]) -> SocketAddr {
    c.send(payload).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], payload);
    b.send_to(reply, from).unwrap();
    let n = c.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], reply);
    from
}

fn udp_socket(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn udp_service_added_and_removed_at_runtime_drops_its_flows() {
    let proxy = empty_proxy(2);
    let backend = udp_socket("127.0.0.1:0");
    let b_addr = backend.local_addr().unwrap();
    let report = proxy.apply([Change::Upsert(spec(
        "rt/dns",
        "127.0.0.1:0",
        Protocol::Udp,
        &[b_addr],
    ))]);
    assert!(report.is_ok(), "{:?}", report.errors);
    let addr = report.listen_addr("rt/dns").unwrap();
    let key = ServiceKey {
        addr,
        protocol: Protocol::Udp,
    };
    let c = udp_socket("127.0.0.1:0");
    c.connect(addr).unwrap();
    let flow = udp_round(&c, &backend, b"q1", b"a1");
    assert_eq!(udp_round(&c, &backend, b"q2", b"a2"), flow, "one flow");

    let report = proxy.apply([Change::Remove(key)]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.closed, vec![key]);
    // Nothing receives on the address any more: the kernel answers with port unreachable,
    // which the connected client sees as a refused connection.
    c.send(b"gone?").unwrap();
    let mut buf = [0u8; 64];
    let err = c.recv(&mut buf).expect_err("port unreachable");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    // Served again with the same backend: the old flow was dropped with its service, so the
    // client's next datagram opens a new flow (new socket, counted in the new service's
    // gauge) instead of reusing the old one.
    let report = proxy.apply([Change::Upsert(spec(
        "rt/dns",
        &addr.to_string(),
        Protocol::Udp,
        &[b_addr],
    ))]);
    assert!(report.is_ok(), "{:?}", report.errors);
    let again = udp_round(&c, &backend, b"q3", b"a3");
    assert_ne!(again, flow, "a new flow socket");
    assert_eq!(
        metric(&proxy, "clipper_proxy_udp_flows{service=\"rt/dns\"} "),
        Some(1)
    );
    proxy.shutdown().unwrap();
}

#[test]
fn removing_and_re_adding_in_one_batch_keeps_the_listener() {
    let proxy = empty_proxy(1);
    let (b0, b1) = (echo_backend(0), echo_backend(1));
    let report = proxy.apply([Change::Upsert(spec(
        "rt/swap",
        "127.0.0.1:0",
        Protocol::Tcp,
        &[b0],
    ))]);
    let addr = report.listen_addr("rt/swap").unwrap();
    let key = ServiceKey {
        addr,
        protocol: Protocol::Tcp,
    };
    let report = proxy.apply([
        Change::Remove(key),
        Change::Upsert(spec("rt/swap", &addr.to_string(), Protocol::Tcp, &[b1])),
    ]);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(report.closed.is_empty() && report.listening.is_empty());
    assert_eq!(exchange(addr, b"x"), 1);
    proxy.shutdown().unwrap();
}

// --- IP_FREEBIND, in a network namespace of the test's own ---

/// A netlink socket subscribed to IPv6 route changes: subscribed before an address is
/// added, it cannot miss the address's local route appearing.
struct RouteEvents(std::os::fd::OwnedFd);

impl RouteEvents {
    fn subscribe() -> RouteEvents {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        assert!(
            fd >= 0,
            "netlink socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero bytes are a valid sockaddr_nl.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = libc::RTMGRP_IPV6_ROUTE as u32;
        // SAFETY: `sa` is a live sockaddr_nl and the length is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sa).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "netlink bind: {}", std::io::Error::last_os_error());
        socket2::SockRef::from(&fd)
            .set_read_timeout(Some(IO_TIMEOUT))
            .unwrap();
        RouteEvents(fd)
    }

    /// Waits (bounded) until the local routing table has `addr`, checking again at every
    /// route change.
    fn wait_for_local_route(&self, addr: &str) {
        use std::os::fd::AsRawFd;
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            let out = std::process::Command::new("ip")
                .args(["-6", "route", "show", "table", "local"])
                .output()
                .expect("running ip");
            if String::from_utf8_lossy(&out.stdout).contains(&format!("local {addr} ")) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no local route for {addr}"
            );
            let mut buf = [0u8; 16 * 1024];
            // SAFETY: `buf` is writable for its length. A timeout (EAGAIN) just loops to the
            // deadline check.
            let _ =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        }
    }
}

/// Runs `ip` with `args`; whether it succeeded.
fn try_ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("running ip")
        .status
        .success()
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` on a thread that has entered a fresh network namespace (only a loopback
/// interface, brought up). Threads and processes it starts inherit the namespace; the
/// namespace disappears with its last socket and thread. Returns `None` when namespaces
/// cannot be created here (not root).
fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET only moves this thread into a new network
        // namespace; it touches no memory of ours.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            eprintln!("skipped: cannot create a network namespace: {e}");
            return None;
        }
        ip(&["link", "set", "lo", "up"]);
        Some(f())
    })
    .join()
    .unwrap()
}

#[test]
fn freebind_serves_an_address_assigned_after_the_service_was_added() {
    let ran = in_new_netns(|| {
        const VIP: &str = "10.255.255.7";
        const VIP6: &str = "fd00:c11f::7";
        let vip_tcp = format!("{VIP}:8080");
        let vip_udp = format!("{VIP}:5353");
        let vip6_tcp = format!("[{VIP6}]:8080");
        // The premise: nothing has the address yet, so a plain bind fails.
        let err = TcpListener::bind(vip_tcp.as_str()).expect_err("address not local yet");
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
        let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();

        let proxy = empty_proxy(2);
        let b = echo_backend(3);
        let ub = udp_socket("127.0.0.1:0");
        let mut changes = vec![
            Change::Upsert(spec("ns/web", &vip_tcp, Protocol::Tcp, &[b])),
            Change::Upsert(spec(
                "ns/dns",
                &vip_udp,
                Protocol::Udp,
                &[ub.local_addr().unwrap()],
            )),
        ];
        if ipv6 {
            changes.push(Change::Upsert(spec(
                "ns/web6",
                &vip6_tcp,
                Protocol::Tcp,
                &[b],
            )));
        }
        let report = proxy.apply(changes);
        assert!(report.is_ok(), "{:?}", report.errors);

        // Another component assigns the ClusterIPs to a dummy interface later. (On a
        // kernel built without the dummy driver, to the loopback interface: as local.)
        let dev = if try_ip(&["link", "add", "clipper-vip0", "type", "dummy"]) {
            ip(&["link", "set", "clipper-vip0", "up"]);
            "clipper-vip0"
        } else {
            "lo"
        };
        let routes = RouteEvents::subscribe();
        ip(&["addr", "add", &format!("{VIP}/32"), "dev", dev]);
        if ipv6 {
            ip(&[
                "-6",
                "addr",
                "add",
                &format!("{VIP6}/128"),
                "dev",
                dev,
                "nodad",
            ]);
            // IPv4 installs an address's local route before `ip` returns; IPv6 does it
            // from a workqueue just after.
            routes.wait_for_local_route(VIP6);
        }

        assert_eq!(exchange(vip_tcp.parse().unwrap(), b"to the vip"), 3);
        let c = udp_socket(&format!("{VIP}:0"));
        c.connect(vip_udp.as_str()).unwrap();
        udp_round(&c, &ub, b"query", b"answer");
        if ipv6 {
            assert_eq!(exchange(vip6_tcp.parse().unwrap(), b"v6"), 3);
        }
        proxy.shutdown().unwrap();
    });
    if ran.is_none() {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_ne!(euid, 0, "root could not create a network namespace");
    }
}
