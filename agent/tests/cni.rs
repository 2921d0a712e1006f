//! The CNI network for real: namespaces, the bridge and host-local plugins, TCP between
//! two pods. Needs root, /usr/lib/cni (containernetworking-plugins) and util-linux. Every
//! test has its own bridge, pod CIDR, state and namespace directories (named after the
//! process id, so parallel runs and the node's own `clipper0` never meet), and a guard
//! that tears the pods down and deletes the bridge however the test ends.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use clipper_agent::cni::{CniConfig, CniNetwork};
use clipper_agent::network::{Network, PodRef};

/// How long a step between two pods may take: a connection on a local bridge is
/// immediate, so this only bounds a broken setup.
const NET_WAIT: Duration = Duration::from_secs(10);

/// One test's network: its own bridge and CIDR, torn down on drop.
struct Fixture {
    net: Arc<CniNetwork>,
    config: CniConfig,
    bridge: String,
    /// The network's first three octets.
    prefix: [u8; 3],
    uids: Vec<String>,
    _state: tempfile::TempDir,
    _netns: tempfile::TempDir,
}

impl Fixture {
    /// `tag` distinguishes the tests of this binary (same pid): 0..=9.
    fn new(tag: u8, masquerade: bool) -> Fixture {
        Fixture::with_prefix_len(tag, masquerade, 24)
    }

    fn with_prefix_len(tag: u8, masquerade: bool, len: u8) -> Fixture {
        let pid = std::process::id();
        let bridge = format!("clt{}x{tag}", pid % 100_000);
        let prefix = [10, 230 + tag, (pid % 250) as u8];
        let state = tempfile::tempdir().expect("state dir");
        let netns = tempfile::tempdir().expect("netns dir");
        let mut config = CniConfig::new(
            state.path().join("cni"),
            format!("{}.{}.{}.0/{len}", prefix[0], prefix[1], prefix[2]),
        );
        config.bridge = bridge.clone();
        config.netns_dir = netns.path().to_path_buf();
        config.masquerade = masquerade;
        let net = Arc::new(CniNetwork::new(config.clone()).expect("CniNetwork::new"));
        Fixture {
            net,
            config,
            bridge,
            prefix,
            uids: Vec::new(),
            _state: state,
            _netns: netns,
        }
    }

    fn pod(&mut self, name: &str) -> PodRef {
        let uid = format!("{}-{}-{name}", std::process::id(), self.bridge);
        self.uids.push(uid.clone());
        PodRef {
            uid,
            namespace: "default".to_string(),
            name: name.to_string(),
        }
    }

    fn in_cidr(&self, ip: IpAddr) -> bool {
        matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == self.prefix && v4.octets()[3] > 1)
    }

    /// host-local's record of an address: a file named after it in its data directory.
    fn ipam_entry(&self, ip: IpAddr) -> PathBuf {
        self.config
            .state_dir
            .join("ipam")
            .join(&self.bridge)
            .join(ip.to_string())
    }

    fn ipam_entries(&self) -> Vec<String> {
        let dir = self.config.state_dir.join("ipam").join(&self.bridge);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.parse::<Ipv4Addr>().is_ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Drop cannot await inside the test's runtime: a thread with its own runtime.
        let net = self.net.clone();
        let uids = std::mem::take(&mut self.uids);
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            for uid in uids {
                if let Err(e) = rt.block_on(net.teardown(&uid)) {
                    eprintln!("cleanup: tearing down {uid}: {e}");
                }
            }
        });
        let _ = cleanup.join();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Moves the calling thread into the network namespace mounted at `path`.
fn enter_netns(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: setns takes a file descriptor we own and keep open for the call, and only
    // changes the calling thread's network namespace (a thread of its own in these tests).
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP exchange from pod `from` to pod `to`: a listener on `to`'s address inside its
/// namespace, a client inside `from`'s. Returns the client address the server saw.
fn tcp_exchange(to_ns: &Path, to_ip: IpAddr, from_ns: &Path) -> SocketAddr {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let to_ns = to_ns.to_path_buf();
    std::thread::spawn(move || {
        let serve = || -> std::io::Result<(SocketAddr, String)> {
            enter_netns(&to_ns)?;
            let listener = TcpListener::bind((to_ip, 0))?;
            let _ = ready_tx.send(listener.local_addr()?.port());
            let (stream, peer) = listener.accept()?;
            stream.set_read_timeout(Some(NET_WAIT))?;
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line)?;
            (&stream).write_all(format!("pong {line}").as_bytes())?;
            Ok((peer, line))
        };
        let _ = done_tx.send(serve());
    });
    let port = ready_rx
        .recv_timeout(NET_WAIT)
        .expect("the listener did not come up in the pod's namespace");

    let from_ns = from_ns.to_path_buf();
    let client = std::thread::spawn(move || -> std::io::Result<String> {
        enter_netns(&from_ns)?;
        let stream = TcpStream::connect_timeout(&SocketAddr::new(to_ip, port), NET_WAIT)?;
        stream.set_read_timeout(Some(NET_WAIT))?;
        (&stream).write_all(b"ping\n")?;
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply)?;
        Ok(reply)
    });
    let reply = client
        .join()
        .expect("client thread")
        .expect("connecting from one pod to the other");
    assert_eq!(reply, "pong ping\n");
    let (peer, line) = done_rx
        .recv_timeout(NET_WAIT)
        .expect("the server did not finish")
        .expect("serving in the pod's namespace");
    assert_eq!(line, "ping\n");
    peer
}

#[tokio::test]
async fn two_pods_talk_and_teardown_releases_everything() {
    let mut fx = Fixture::new(0, true);
    let a = fx.pod("a");
    let b = fx.pod("b");

    let att_a = fx.net.setup(&a).await.expect("setup a");
    let att_b = fx.net.setup(&b).await.expect("setup b");
    assert!(fx.in_cidr(att_a.ip), "{} outside the pod CIDR", att_a.ip);
    assert!(fx.in_cidr(att_b.ip), "{} outside the pod CIDR", att_b.ip);
    assert_ne!(att_a.ip, att_b.ip);
    assert_ne!(att_a.netns, att_b.netns);
    assert_eq!(att_a.netns, fx.net.netns_path(&a.uid));
    assert!(fx.ipam_entry(att_a.ip).exists());

    // Traffic both ways on the bridge; the server sees the client's own address (no NAT
    // between pods of a node).
    let peer = tcp_exchange(&att_a.netns, att_a.ip, &att_b.netns);
    assert_eq!(peer.ip(), att_b.ip);
    let peer = tcp_exchange(&att_b.netns, att_b.ip, &att_a.netns);
    assert_eq!(peer.ip(), att_a.ip);

    // Setup is idempotent, also across an agent restart (a new CniNetwork over the same
    // state).
    assert_eq!(fx.net.setup(&a).await.expect("setup a again"), att_a);
    let restarted = CniNetwork::new(fx.config.clone()).expect("restart");
    assert_eq!(
        restarted.list().await.expect("list"),
        sorted(vec![a.uid.clone(), b.uid.clone()])
    );
    assert_eq!(restarted.setup(&b).await.expect("setup b again"), att_b);

    // Teardown releases the address and deletes the namespace; twice is fine.
    fx.net.teardown(&b.uid).await.expect("teardown b");
    assert!(!att_b.netns.exists(), "b's namespace is still there");
    assert!(
        !fx.ipam_entry(att_b.ip).exists(),
        "b's address is still allocated"
    );
    assert_eq!(fx.net.list().await.expect("list"), vec![a.uid.clone()]);
    fx.net.teardown(&b.uid).await.expect("teardown b again");
    fx.net
        .teardown("never-set-up")
        .await
        .expect("teardown of an unknown pod");

    // A third pod gets an address of its own and reaches the first.
    let c = fx.pod("c");
    let att_c = fx.net.setup(&c).await.expect("setup c");
    assert!(fx.in_cidr(att_c.ip));
    assert_ne!(att_c.ip, att_a.ip);
    tcp_exchange(&att_a.netns, att_a.ip, &att_c.netns);

    fx.net.teardown(&a.uid).await.expect("teardown a");
    fx.net.teardown(&c.uid).await.expect("teardown c");
    assert!(fx.net.list().await.expect("list").is_empty());
    assert_eq!(fx.ipam_entries(), Vec::<String>::new());
    assert!(!att_a.netns.exists() && !att_c.netns.exists());
    // The bridge plugin's masquerading rules went with the pods.
    if let Ok(out) = std::process::Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .output()
    {
        let rules = String::from_utf8_lossy(&out.stdout);
        for pod in [&a, &b, &c] {
            assert!(!rules.contains(&pod.uid), "nat rules left for {}", pod.uid);
        }
    }
}

#[tokio::test]
async fn a_vanished_namespace_is_recovered() {
    // Without masquerading: the bridge plugin cannot remove a pod's masquerade rule
    // without its namespace (see the cni module's documentation), and this test removes
    // namespaces behind the agent's back without a reboot to clear the rules.
    let mut fx = Fixture::new(1, false);
    let d = fx.pod("d");
    let att = fx.net.setup(&d).await.expect("setup d");
    // As after a reboot: the namespace mount is gone, the record and the address are not.
    umount_and_remove(&att.netns);
    assert_eq!(fx.net.list().await.expect("list"), vec![d.uid.clone()]);

    // Setup notices and attaches the pod again.
    let again = fx.net.setup(&d).await.expect("setup d again");
    assert!(fx.in_cidr(again.ip));
    assert!(again.netns.exists());
    assert_eq!(fx.ipam_entries(), vec![again.ip.to_string()]);

    // Teardown without the namespace still releases the address.
    umount_and_remove(&again.netns);
    fx.net.teardown(&d.uid).await.expect("teardown d");
    assert_eq!(fx.ipam_entries(), Vec::<String>::new());
    assert!(fx.net.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn concurrent_pods_get_distinct_addresses() {
    let mut fx = Fixture::new(2, true);
    let pods: Vec<PodRef> = (0..6).map(|i| fx.pod(&format!("p{i}"))).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for pod in pods.clone() {
        let net = fx.net.clone();
        tasks.spawn(async move { net.setup(&pod).await.map(|a| (pod.uid, a)) });
    }
    let mut ips = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (uid, att) = done.expect("task").expect("concurrent setup");
        assert!(fx.in_cidr(att.ip), "{uid}: {} outside the pod CIDR", att.ip);
        ips.push(att.ip);
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), pods.len(), "addresses handed out twice: {ips:?}");
    assert_eq!(fx.ipam_entries().len(), pods.len());

    let mut teardowns = tokio::task::JoinSet::new();
    for pod in pods {
        let net = fx.net.clone();
        teardowns.spawn(async move { net.teardown(&pod.uid).await });
    }
    while let Some(done) = teardowns.join_next().await {
        done.expect("task").expect("concurrent teardown");
    }
    assert!(fx.net.list().await.expect("list").is_empty());
    assert_eq!(fx.ipam_entries(), Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_setup_is_explained_and_undone() {
    // A /30: the gateway and one pod.
    let mut fx = Fixture::with_prefix_len(3, true, 30);
    let first = fx.pod("first");
    let second = fx.pod("second");
    let att = fx.net.setup(&first).await.expect("setup first");
    let err = fx
        .net
        .setup(&second)
        .await
        .expect_err("a full range")
        .to_string();
    for want in [
        "CNI ADD bridge (eth0)",
        &second.uid,
        "no IP addresses available",
    ] {
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }
    assert!(!fx.net.netns_path(&second.uid).exists());
    assert_eq!(fx.net.list().await.expect("list"), vec![first.uid.clone()]);
    assert_eq!(fx.ipam_entries(), vec![att.ip.to_string()]);
    fx.net.teardown(&first.uid).await.expect("teardown first");
}

#[test]
fn bad_configurations_are_explained() {
    let state = tempfile::tempdir().expect("state dir");
    let check = |config: CniConfig, expect: &[&str]| {
        let err = match CniNetwork::new(config.clone()) {
            Ok(_) => panic!("{config:?} was accepted"),
            Err(e) => e.to_string(),
        };
        for want in expect {
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
        assert!(
            !config.state_dir.exists(),
            "a rejected config created {}",
            config.state_dir.display()
        );
    };
    let base = CniConfig::new(state.path().join("cni"), "10.231.0.0/24");
    for (cidr, why) in [
        ("10.231.0.0/33", "at most 30"),
        ("10.231.0.7/24", "host bits are set"),
        ("not-a-cidr", "expected an IPv4 network"),
    ] {
        let mut c = base.clone();
        c.pod_cidr = cidr.to_string();
        check(c, &["pod CIDR", cidr, why]);
    }

    let empty = tempfile::tempdir().expect("bin dir");
    let mut c = base.clone();
    c.bin_dir = empty.path().to_path_buf();
    check(
        c,
        &["CNI plugin \"bridge\"", &empty.path().display().to_string()],
    );

    let plain = tempfile::tempdir().expect("bin dir");
    for plugin in ["bridge", "host-local", "loopback", "portmap"] {
        std::fs::write(plain.path().join(plugin), "").expect("plugin file");
    }
    let mut c = base.clone();
    c.bin_dir = plain.path().to_path_buf();
    check(c, &["CNI plugin \"bridge\"", "not an executable file"]);

    let mut c = base;
    c.bridge = "a-bridge-name-too-long".to_string();
    check(c, &["bridge name", "1-15 characters"]);
}

fn umount_and_remove(path: &Path) {
    let status = std::process::Command::new("umount")
        .arg(path)
        .status()
        .expect("umount");
    assert!(status.success(), "umount {}", path.display());
    std::fs::remove_file(path).expect("removing the namespace file");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
