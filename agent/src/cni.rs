//! The real [`Network`]: a network namespace per pod, attached to a node-local bridge by
//! the standard CNI plugins (bridge + host-local IPAM, portmap, loopback).
//!
//! What it runs and where it keeps things:
//!
//! - The namespace is created by util-linux `unshare --net=<file>`, which bind-mounts the
//!   new namespace onto `<netns_dir>/clipper-<uid>`; with the default `netns_dir` of
//!   `/run/netns` that is where `ip netns` looks, so `ip netns exec clipper-<uid> ...`
//!   works for debugging. Deleting it is `umount` + unlink, as `ip netns del` does.
//! - The plugins are executed as the CNI spec (1.0) describes: the operation in the
//!   `CNI_*` environment, the network configuration on stdin, the result or an error
//!   object on stdout. A network configuration list is run plugin by plugin, each given
//!   the previous one's result as `prevResult`; DEL runs the list in reverse with the ADD
//!   result as `prevResult`.
//! - `state_dir` holds the configuration list it runs (`<bridge>.conflist`, for
//!   inspection), host-local's address database (`ipam/`, passed as its `dataDir`) and a
//!   record per pod (`pods/<uid>.json`, written atomically). The record is written before
//!   the plugins run, so a crash mid-setup leaves a record that [`Network::list`] reports
//!   and [`Network::teardown`] cleans up.
//!
//! A pod whose namespace disappeared (a reboot empties /run/netns) is still torn down:
//! DEL runs without a namespace, which releases its address. The bridge plugin (1.1.1)
//! finds the pod's masquerade rule through the pod's interface, though, so without the
//! namespace that rule stays; after a reboot it is gone anyway, and only a namespace
//! deleted behind the agent's back leaves one (harmless: it masquerades an address that
//! leaves the node only when reused).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::network::{Attachment, Network, NetworkError, PodRef};

/// The CNI spec version of the configuration we hand the plugins; containernetworking
/// plugins support it since 1.0.
pub const CNI_VERSION: &str = "1.0.0";

/// The interface name inside the pod's namespace.
pub const POD_IFNAME: &str = "eth0";
/// The default bridge: not `clipper0`, which is the service proxy's link for ClusterIPs.
pub const DEFAULT_BRIDGE: &str = "clipper-br0";

/// How long one plugin invocation may run: the bridge plugin's ADD takes tens of
/// milliseconds, but it and portmap call iptables, which waits for the xtables lock.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `unshare` / `umount` may run: both are a couple of syscalls.
const NETNS_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the kernel's IPv4 forwarding switch lives; pods reach beyond the node through it.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// What the agent's CNI networking needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CniConfig {
    /// Where the plugin executables are (`CNI_PATH`).
    pub bin_dir: PathBuf,
    /// The agent's CNI state: the conflist, host-local's data and the pod records.
    pub state_dir: PathBuf,
    /// The node-local bridge the pods are attached to (at most 15 characters).
    pub bridge: String,
    /// The node's pod address range, IPv4 `a.b.c.d/n` with the host bits zero; the
    /// bridge gets the first address (the pods' gateway).
    pub pod_cidr: String,
    /// The MTU of the bridge and the pods' interfaces; the plugin's default when unset.
    pub mtu: Option<u32>,
    /// Where the pods' namespaces are bind-mounted.
    pub netns_dir: PathBuf,
    /// Whether the bridge plugin masquerades pod traffic leaving the pod CIDR (needs
    /// iptables; off with a warning without it). Off when the node's network routes the
    /// pod CIDR itself.
    pub masquerade: bool,
}

impl CniConfig {
    /// The defaults (`/usr/lib/cni`, bridge `clipper0`, `/run/netns`) for a state
    /// directory and pod CIDR.
    pub fn new(state_dir: impl Into<PathBuf>, pod_cidr: impl Into<String>) -> CniConfig {
        CniConfig {
            bin_dir: PathBuf::from("/usr/lib/cni"),
            state_dir: state_dir.into(),
            bridge: DEFAULT_BRIDGE.to_string(),
            pod_cidr: pod_cidr.into(),
            mtu: None,
            netns_dir: PathBuf::from("/run/netns"),
            masquerade: true,
        }
    }

    /// Checks the configuration without changing anything: the CIDR, the bridge name, and
    /// that the plugins it needs are executable files in `bin_dir`.
    pub fn validate(&self) -> Result<(), NetworkError> {
        parse_cidr(&self.pod_cidr)?;
        validate_bridge_name(&self.bridge)?;
        if let Some(mtu) = self.mtu
            && !(576..=65535).contains(&mtu)
        {
            return Err(failed(format!("mtu {mtu} is outside 576..=65535")));
        }
        let mut plugins = vec!["bridge", "host-local", "loopback"];
        if iptables_available() {
            plugins.push("portmap");
        }
        for tool in ["unshare", "umount"] {
            if find_in_path(tool).is_none() {
                return Err(failed(format!(
                    "{tool} (util-linux) is not in PATH; it creates and deletes the pods' network namespaces"
                )));
            }
        }
        for plugin in plugins {
            let path = self.bin_dir.join(plugin);
            let meta = std::fs::metadata(&path).map_err(|e| {
                failed(format!(
                    "CNI plugin {plugin:?} not usable at {}: {e} (install containernetworking-plugins or set the CNI bin dir)",
                    path.display()
                ))
            })?;
            if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                return Err(failed(format!(
                    "CNI plugin {plugin:?} at {} is not an executable file",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// Pod networking through CNI plugins; see the module documentation.
pub struct CniNetwork {
    config: CniConfig,
    /// `netns_dir`, canonical, so a mounted namespace file can be recognised.
    netns_dir: PathBuf,
    conflist: Value,
    /// Serialises setup and teardown of one pod; different pods proceed in parallel.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the agent remembers about one pod's attachment (`pods/<uid>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    uid: String,
    namespace: String,
    name: String,
    netns: PathBuf,
    /// Set once ADD succeeded; a record without it is a setup that did not finish.
    #[serde(default)]
    ip: Option<IpAddr>,
    /// The conflist's final ADD result, given back to the plugins as DEL's `prevResult`.
    #[serde(default)]
    result: Option<Value>,
}

impl CniNetwork {
    /// Validates the configuration, creates the state directories, writes the conflist
    /// and turns IPv4 forwarding on if it is off.
    pub fn new(config: CniConfig) -> Result<CniNetwork, NetworkError> {
        config.validate()?;
        let iptables = iptables_available();
        if !iptables {
            tracing::warn!(
                "iptables not found in PATH: pods get no masquerading (ipMasq off) and no host ports (no portmap)"
            );
        }
        for dir in [
            config.state_dir.clone(),
            config.state_dir.join("pods"),
            config.state_dir.join("ipam"),
            config.netns_dir.clone(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        }
        let netns_dir = std::fs::canonicalize(&config.netns_dir)
            .map_err(|e| failed(format!("resolving {}: {e}", config.netns_dir.display())))?;
        let conflist = build_conflist(&config, &config.state_dir.join("ipam"), iptables)?;
        let path = config.state_dir.join(format!("{}.conflist", config.bridge));
        let text = serde_json::to_vec_pretty(&conflist)
            .map_err(|e| failed(format!("serializing the conflist: {e}")))?;
        write_atomic_sync(&path, &text)?;
        enable_ip_forward()?;
        Ok(CniNetwork {
            config,
            netns_dir,
            conflist,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The network configuration list the plugins are run with.
    pub fn conflist(&self) -> &Value {
        &self.conflist
    }

    /// Where a pod's network namespace is (or would be) mounted.
    pub fn netns_path(&self, pod_uid: &str) -> PathBuf {
        self.netns_dir.join(format!("clipper-{pod_uid}"))
    }

    fn record_path(&self, uid: &str) -> PathBuf {
        self.config
            .state_dir
            .join("pods")
            .join(format!("{uid}.json"))
    }

    fn lock_for(&self, uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(uid.to_string()).or_default().clone()
    }

    fn forget_lock(&self, uid: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map's reference and the caller's left: nobody else waits on it.
        if locks.get(uid).is_some_and(|l| Arc::strong_count(l) <= 2) {
            locks.remove(uid);
        }
    }

    async fn read_record(&self, uid: &str) -> Result<Option<Record>, NetworkError> {
        let path = self.record_path(uid);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| failed(format!("reading {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed(format!("reading {}: {e}", path.display()))),
        }
    }

    async fn write_record(&self, record: &Record) -> Result<(), NetworkError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| failed(format!("serializing the record of pod {}: {e}", record.uid)))?;
        write_atomic(&self.record_path(&record.uid), &bytes).await
    }

    async fn setup_locked(&self, pod: &PodRef) -> Result<Attachment, NetworkError> {
        if let Some(record) = self.read_record(&pod.uid).await? {
            if let Some(ip) = record.ip
                && is_mount_point(&record.netns)
            {
                return Ok(Attachment {
                    netns: record.netns,
                    ip,
                });
            }
            tracing::info!(
                pod = %pod.uid,
                "cleaning up an unfinished or stale network attachment before setting it up again"
            );
            self.teardown_record(record).await?;
        }
        let netns = self.netns_path(&pod.uid);
        if is_mount_point(&netns) || netns.exists() {
            // A namespace without a record: a crash between creating it and writing the
            // record is impossible (the record comes first), so it is someone's leftover.
            delete_netns(&netns).await?;
        }
        let mut record = Record {
            uid: pod.uid.clone(),
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            netns: netns.clone(),
            ip: None,
            result: None,
        };
        self.write_record(&record).await?;
        let added = async {
            create_netns(&netns).await?;
            self.add(&record).await
        }
        .await;
        match added {
            Ok((result, ip)) => {
                record.ip = Some(ip);
                record.result = Some(result);
                self.write_record(&record).await?;
                tracing::info!(pod = %pod.uid, %ip, netns = %netns.display(), "pod network set up");
                Ok(Attachment { netns, ip })
            }
            Err(e) => {
                if let Err(undo) = self.teardown_record(record).await {
                    tracing::warn!(pod = %pod.uid, error = %undo, "undoing a failed network setup");
                }
                Err(e)
            }
        }
    }

    /// Runs ADD: loopback for `lo`, then the conflist's plugins in order.
    async fn add(&self, record: &Record) -> Result<(Value, IpAddr), NetworkError> {
        let netns = record.netns.to_string_lossy().into_owned();
        let lo = loopback_config();
        self.exec_plugin("ADD", &lo, record, &netns, "lo").await?;
        let mut prev: Option<Value> = None;
        for plugin in &plugins(&self.conflist) {
            let conf = plugin_config(&self.conflist, plugin, prev.as_ref());
            let out = self
                .exec_plugin("ADD", &conf, record, &netns, POD_IFNAME)
                .await?;
            let result: Value = serde_json::from_slice(&out).map_err(|e| {
                failed(format!(
                    "CNI ADD {} for pod {}: result is not JSON ({e}): {}",
                    plugin_type(plugin),
                    record.uid,
                    String::from_utf8_lossy(&out).trim()
                ))
            })?;
            prev = Some(result);
        }
        let result = prev.ok_or_else(|| failed("the CNI conflist has no plugins".to_string()))?;
        let ip = parse_result_ip(&result, POD_IFNAME)
            .map_err(|e| failed(format!("CNI ADD for pod {}: {e}", record.uid)))?;
        Ok((result, ip))
    }

    /// Runs DEL for everything ADD may have done, deletes the namespace and, if all that
    /// worked, the record. Missing pieces are fine; failures leave the record for a retry.
    async fn teardown_record(&self, record: Record) -> Result<(), NetworkError> {
        let netns = if is_mount_point(&record.netns) {
            record.netns.to_string_lossy().into_owned()
        } else {
            // The plugins still release the address and host-side state without it.
            String::new()
        };
        let mut errors = Vec::new();
        for plugin in plugins(&self.conflist).iter().rev() {
            let conf = plugin_config(&self.conflist, plugin, record.result.as_ref());
            if let Err(e) = self
                .exec_plugin("DEL", &conf, &record, &netns, POD_IFNAME)
                .await
            {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = self
            .exec_plugin("DEL", &loopback_config(), &record, &netns, "lo")
            .await
        {
            errors.push(e.to_string());
        }
        if let Err(e) = delete_netns(&record.netns).await {
            errors.push(e.to_string());
        }
        if !errors.is_empty() {
            return Err(failed(errors.join("; ")));
        }
        let path = self.record_path(&record.uid);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(format!("removing {}: {e}", path.display()))),
        }
        tracing::info!(pod = %record.uid, "pod network torn down");
        Ok(())
    }

    /// Executes one plugin as the CNI spec describes; stdout on success.
    async fn exec_plugin(
        &self,
        command: &str,
        conf: &Value,
        record: &Record,
        netns: &str,
        ifname: &str,
    ) -> Result<Vec<u8>, NetworkError> {
        let kind = plugin_type(conf);
        let what = format!("CNI {command} {kind} ({ifname}) for pod {}", record.uid);
        let stdin = serde_json::to_vec(conf).map_err(|e| failed(format!("{what}: {e}")))?;
        let mut cmd = Command::new(self.config.bin_dir.join(kind));
        cmd.env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &record.uid)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_ARGS", cni_args(record))
            .env("CNI_PATH", &self.config.bin_dir);
        let output = run(&mut cmd, Some(&stdin), PLUGIN_TIMEOUT, &what).await?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(failed(format!(
            "{what}: {}",
            describe_failure(&output.stdout, &output.stderr, output.status)
        )))
    }
}

#[async_trait::async_trait]
impl Network for CniNetwork {
    async fn setup(&self, pod: &PodRef) -> Result<Attachment, NetworkError> {
        validate_uid(&pod.uid)?;
        let lock = self.lock_for(&pod.uid);
        let result = {
            let _held = lock.lock().await;
            self.setup_locked(pod).await
        };
        drop(lock);
        result
    }

    async fn teardown(&self, pod_uid: &str) -> Result<(), NetworkError> {
        validate_uid(pod_uid)?;
        let lock = self.lock_for(pod_uid);
        let result = {
            let _held = lock.lock().await;
            match self.read_record(pod_uid).await? {
                Some(record) => self.teardown_record(record).await,
                None => {
                    // Never set up, or already torn down; a namespace left behind without
                    // a record holds no address, so deleting it is all there is to do.
                    delete_netns(&self.netns_path(pod_uid)).await
                }
            }
        };
        self.forget_lock(pod_uid);
        drop(lock);
        result
    }

    async fn list(&self) -> Result<Vec<String>, NetworkError> {
        let dir = self.config.state_dir.join("pods");
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| failed(format!("listing {}: {e}", dir.display())))?;
        let mut uids = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| failed(format!("listing {}: {e}", dir.display())))?
        {
            let name = entry.file_name();
            if let Some(uid) = name.to_str().and_then(|n| n.strip_suffix(".json"))
                && validate_uid(uid).is_ok()
            {
                uids.push(uid.to_string());
            }
        }
        uids.sort();
        Ok(uids)
    }
}

fn failed(msg: String) -> NetworkError {
    NetworkError::Failed(msg)
}

/// Parses an IPv4 CIDR whose host bits are zero and that leaves room for a gateway and
/// at least one pod.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8), NetworkError> {
    let bad = |why: &str| failed(format!("pod CIDR {cidr:?}: {why}"));
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| bad("expected an IPv4 network like 10.244.0.0/24"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| bad("the address part is not an IP address"))?;
    let IpAddr::V4(addr) = addr else {
        return Err(bad("only IPv4 pod networks are supported"));
    };
    let len: u8 = len
        .parse()
        .map_err(|_| bad("the prefix length is not a number"))?;
    if len > 30 {
        return Err(bad(
            "the prefix length must be at most 30 (a gateway and a pod)",
        ));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(bad(&format!(
            "host bits are set; the network is {}/{len}",
            Ipv4Addr::from(u32::from(addr) & mask)
        )));
    }
    Ok((addr, len))
}

fn validate_bridge_name(name: &str) -> Result<(), NetworkError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(failed(format!(
            "bridge name {name:?}: must be 1-15 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Pod uids name files and are the CNI container id, whose allowed characters the spec
/// fixes: alphanumerics, `-`, `_` and `.`, starting with an alphanumeric.
fn validate_uid(uid: &str) -> Result<(), NetworkError> {
    let ok = !uid.is_empty()
        && uid.len() <= 200
        && uid.as_bytes()[0].is_ascii_alphanumeric()
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(failed(format!(
            "pod uid {uid:?} cannot name a network attachment: expected letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The configuration list for a config; `iptables` says whether masquerading and port
/// mapping (both need the iptables command) are available.
fn build_conflist(
    config: &CniConfig,
    ipam_dir: &Path,
    iptables: bool,
) -> Result<Value, NetworkError> {
    let (net, len) = parse_cidr(&config.pod_cidr)?;
    let mut bridge = json!({
        "type": "bridge",
        "bridge": config.bridge,
        "isGateway": true,
        "ipMasq": config.masquerade && iptables,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": format!("{net}/{len}") }]],
            "routes": [{ "dst": "0.0.0.0/0" }],
            "dataDir": ipam_dir,
        },
    });
    if let Some(mtu) = config.mtu {
        bridge["mtu"] = json!(mtu);
    }
    let mut plugins = vec![bridge];
    if iptables {
        plugins.push(json!({ "type": "portmap", "capabilities": { "portMappings": true } }));
    }
    Ok(json!({
        "cniVersion": CNI_VERSION,
        "name": config.bridge,
        "plugins": plugins,
    }))
}

fn loopback_config() -> Value {
    json!({ "cniVersion": CNI_VERSION, "name": "clipper-lo", "type": "loopback" })
}

fn plugins(conflist: &Value) -> Vec<Value> {
    conflist["plugins"].as_array().cloned().unwrap_or_default()
}

fn plugin_type(conf: &Value) -> &str {
    conf["type"].as_str().unwrap_or("")
}

/// One plugin's stdin in a list: its own object with the list's `name` and `cniVersion`,
/// and the previous result (ADD) or the list's cached result (DEL) as `prevResult`.
fn plugin_config(conflist: &Value, plugin: &Value, prev: Option<&Value>) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = conflist["name"].clone();
    conf["cniVersion"] = conflist["cniVersion"].clone();
    if let Some(prev) = prev {
        conf["prevResult"] = prev.clone();
    }
    conf
}

/// `CNI_ARGS`: the pod's identity the way Kubernetes passes it; `IgnoreUnknown` because
/// host-local rejects keys it does not know otherwise.
fn cni_args(record: &Record) -> String {
    let clean = |s: &str| !s.is_empty() && !s.contains([';', '=']);
    let mut args = String::from("IgnoreUnknown=1");
    if clean(&record.namespace) && clean(&record.name) {
        args.push_str(&format!(
            ";K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={}",
            record.namespace, record.name, record.uid
        ));
    }
    args
}

/// The pod's address from a (1.0 or 0.4) ADD result: the first address on `ifname` in
/// the namespace, else the first address.
fn parse_result_ip(result: &Value, ifname: &str) -> Result<IpAddr, String> {
    let ips = result["ips"]
        .as_array()
        .filter(|ips| !ips.is_empty())
        .ok_or_else(|| format!("the result has no IP addresses: {result}"))?;
    let on_pod_if = |ip: &&Value| {
        ip["interface"]
            .as_u64()
            .and_then(|i| result["interfaces"].get(usize::try_from(i).ok()?))
            .is_some_and(|i| {
                i["name"] == ifname && i["sandbox"].as_str().is_some_and(|s| !s.is_empty())
            })
    };
    let chosen = ips.iter().find(on_pod_if).unwrap_or(&ips[0]);
    let address = chosen["address"]
        .as_str()
        .ok_or_else(|| format!("the result's address is missing: {chosen}"))?;
    let ip = address.split_once('/').map_or(address, |(ip, _)| ip);
    ip.parse()
        .map_err(|_| format!("the result's address {address:?} is not an IP address"))
}

/// A failed plugin's story: the CNI error object on stdout (`msg`, `details`, `code`),
/// else whatever it printed, plus its stderr.
fn describe_failure(stdout: &[u8], stderr: &[u8], status: std::process::ExitStatus) -> String {
    let mut out = match serde_json::from_slice::<Value>(stdout) {
        Ok(err) if err.get("msg").is_some() || err.get("code").is_some() => {
            let mut s = err["msg"].as_str().unwrap_or("(no msg)").to_string();
            if let Some(details) = err["details"].as_str().filter(|d| !d.is_empty()) {
                s.push_str(&format!(": {details}"));
            }
            if let Some(code) = err["code"].as_u64() {
                s.push_str(&format!(" (CNI error code {code})"));
            }
            s
        }
        _ => {
            let text = String::from_utf8_lossy(stdout);
            let text = text.trim();
            if text.is_empty() {
                format!("exited with {status}")
            } else {
                format!("exited with {status}: {text}")
            }
        }
    };
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        out.push_str(&format!("; stderr: {stderr}"));
    }
    out
}

/// Runs a command to completion within `timeout`, killing it if it overruns.
async fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    what: &str,
) -> Result<std::process::Output, NetworkError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("{what}: starting it: {e}")))?;
    let work = async {
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)
                .await
                .map_err(|e| failed(format!("{what}: writing its stdin: {e}")))?;
            drop(pipe);
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| failed(format!("{what}: {e}")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| failed(format!("{what}: no answer within {timeout:?}; killed it")))?
}

/// A namespace file counts as present when something is mounted on it (its device differs
/// from its directory's); an unmounted leftover file is not a namespace.
fn is_mount_point(path: &Path) -> bool {
    let (Ok(file), Some(Ok(dir))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    file.dev() != dir.dev()
}

async fn create_netns(path: &Path) -> Result<(), NetworkError> {
    let what = format!("creating network namespace {}", path.display());
    tokio::fs::File::create(path)
        .await
        .map_err(|e| failed(format!("{what}: {e}")))?;
    let mut arg = std::ffi::OsString::from("--net=");
    arg.push(path);
    let output = run(
        Command::new("unshare").arg(arg).arg("true"),
        None,
        NETNS_TIMEOUT,
        &what,
    )
    .await?;
    if !output.status.success() {
        let _ = tokio::fs::remove_file(path).await;
        return Err(failed(format!(
            "{what}: {}",
            describe_failure(&output.stdout, &output.stderr, output.status)
        )));
    }
    Ok(())
}

/// Unmounts and removes a namespace file; a missing one is fine.
async fn delete_netns(path: &Path) -> Result<(), NetworkError> {
    let what = format!("deleting network namespace {}", path.display());
    let mut umount_error = String::new();
    if is_mount_point(path) {
        let output = run(
            Command::new("umount").arg("--lazy").arg(path),
            None,
            NETNS_TIMEOUT,
            &what,
        )
        .await?;
        if !output.status.success() {
            umount_error = describe_failure(&output.stdout, &output.stderr, output.status);
        }
    }
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if umount_error.is_empty() => Err(failed(format!("{what}: {e}"))),
        Err(e) => Err(failed(format!("{what}: {e}; umount: {umount_error}"))),
    }
}

/// Whether an `iptables` executable is on PATH (the bridge plugin's masquerading and
/// portmap run it from there).
fn iptables_available() -> bool {
    find_in_path("iptables").is_some()
}

/// An executable file named `name` in a PATH directory.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn enable_ip_forward() -> Result<(), NetworkError> {
    let current = std::fs::read_to_string(IP_FORWARD)
        .map_err(|e| failed(format!("reading {IP_FORWARD}: {e}")))?;
    if current.trim() == "1" {
        return Ok(());
    }
    std::fs::write(IP_FORWARD, "1").map_err(|e| {
        failed(format!(
            "enabling IPv4 forwarding ({IP_FORWARD}), which pod traffic leaving the node needs: {e}"
        ))
    })?;
    tracing::info!(
        "enabled IPv4 forwarding ({IP_FORWARD} was {})",
        current.trim()
    );
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_atomic_sync(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    use std::io::Write;
    let tmp = tmp_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| failed(format!("writing {}: {e}", path.display())))
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    let tmp = tmp_path(path);
    let write = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&tmp, path).await
    };
    write
        .await
        .map_err(|e| failed(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cidr: &str, mtu: Option<u32>) -> CniConfig {
        let mut c = CniConfig::new("/var/lib/clipper/cni", cidr);
        c.mtu = mtu;
        c
    }

    #[test]
    fn conflist_generation() {
        let check = |config: CniConfig, iptables: bool, expect: Value| {
            let got = build_conflist(&config, Path::new("/s/ipam"), iptables)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, expect, "config {config:?} iptables {iptables}");
        };
        check(
            config("10.244.0.0/24", None),
            true,
            json!({
                "cniVersion": "1.0.0",
                "name": "clipper-br0",
                "plugins": [
                    {
                        "type": "bridge", "bridge": "clipper-br0", "isGateway": true,
                        "ipMasq": true, "hairpinMode": true,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{ "subnet": "10.244.0.0/24" }]],
                            "routes": [{ "dst": "0.0.0.0/0" }],
                            "dataDir": "/s/ipam",
                        },
                    },
                    { "type": "portmap", "capabilities": { "portMappings": true } },
                ],
            }),
        );
        let mut no_masq = config("10.244.0.0/24", None);
        no_masq.masquerade = false;
        check(
            no_masq,
            true,
            json!({
                "cniVersion": "1.0.0",
                "name": "clipper-br0",
                "plugins": [
                    {
                        "type": "bridge", "bridge": "clipper-br0", "isGateway": true,
                        "ipMasq": false, "hairpinMode": true,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{ "subnet": "10.244.0.0/24" }]],
                            "routes": [{ "dst": "0.0.0.0/0" }],
                            "dataDir": "/s/ipam",
                        },
                    },
                    { "type": "portmap", "capabilities": { "portMappings": true } },
                ],
            }),
        );
        check(
            config("10.0.0.0/16", Some(1400)),
            false,
            json!({
                "cniVersion": "1.0.0",
                "name": "clipper-br0",
                "plugins": [
                    {
                        "type": "bridge", "bridge": "clipper-br0", "isGateway": true,
                        "ipMasq": false, "hairpinMode": true, "mtu": 1400,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{ "subnet": "10.0.0.0/16" }]],
                            "routes": [{ "dst": "0.0.0.0/0" }],
                            "dataDir": "/s/ipam",
                        },
                    },
                ],
            }),
        );
    }

    #[test]
    fn plugin_config_chains_prev_result() {
        let list =
            json!({ "cniVersion": "1.0.0", "name": "n", "plugins": [{ "type": "portmap" }] });
        let prev = json!({ "ips": [] });
        let got = plugin_config(&list, &list["plugins"][0], Some(&prev));
        assert_eq!(
            got,
            json!({ "type": "portmap", "name": "n", "cniVersion": "1.0.0", "prevResult": { "ips": [] } })
        );
        let got = plugin_config(&list, &list["plugins"][0], None);
        assert_eq!(
            got,
            json!({ "type": "portmap", "name": "n", "cniVersion": "1.0.0" })
        );
    }

    #[test]
    fn cidr_parsing() {
        let check = |input: &str, expect: Result<(&str, u8), &str>| {
            let got = parse_cidr(input);
            match (got, expect) {
                (Ok((addr, len)), Ok((want, want_len))) => {
                    assert_eq!(
                        (addr.to_string().as_str(), len),
                        (want, want_len),
                        "{input}"
                    )
                }
                (Err(e), Err(want)) => {
                    assert!(e.to_string().contains(want), "{input}: {e} lacks {want:?}")
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        };
        check("10.244.0.0/24", Ok(("10.244.0.0", 24)));
        check("10.0.0.0/8", Ok(("10.0.0.0", 8)));
        check(
            "10.244.0.1/24",
            Err("host bits are set; the network is 10.244.0.0/24"),
        );
        check("10.244.0.0/31", Err("at most 30"));
        check("10.244.0.0", Err("expected an IPv4 network"));
        check("10.244.0.0/x", Err("not a number"));
        check("banana/24", Err("not an IP address"));
        check("fd00::/64", Err("only IPv4"));
    }

    #[test]
    fn result_parsing() {
        let check = |input: Value, expect: Result<&str, &str>| {
            let got = parse_result_ip(&input, "eth0");
            match (got, expect) {
                (Ok(ip), Ok(want)) => assert_eq!(ip.to_string(), want, "{input}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{input}: {e} lacks {want:?}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        };
        // The bridge plugin's 1.0.0 result: bridge, host veth, pod interface.
        check(
            json!({
                "cniVersion": "1.0.0",
                "interfaces": [
                    { "name": "clipper0", "mac": "aa:aa:aa:aa:aa:aa" },
                    { "name": "veth1234", "mac": "bb:bb:bb:bb:bb:bb" },
                    { "name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/netns/p" },
                ],
                "ips": [{ "interface": 2, "address": "10.244.0.5/24", "gateway": "10.244.0.1" }],
                "routes": [{ "dst": "0.0.0.0/0" }],
                "dns": {},
            }),
            Ok("10.244.0.5"),
        );
        // The pod's interface wins over an address on the host side.
        check(
            json!({
                "interfaces": [
                    { "name": "clipper0" },
                    { "name": "eth0", "sandbox": "/run/netns/p" },
                ],
                "ips": [
                    { "interface": 0, "address": "10.244.0.1/24" },
                    { "interface": 1, "address": "10.244.0.7/24" },
                ],
            }),
            Ok("10.244.0.7"),
        );
        // 0.4.0 style, no interface index: the first address.
        check(
            json!({ "ips": [{ "version": "4", "address": "10.1.2.3/16" }] }),
            Ok("10.1.2.3"),
        );
        check(json!({ "ips": [] }), Err("no IP addresses"));
        check(json!({}), Err("no IP addresses"));
        check(
            json!({ "ips": [{ "interface": 0 }] }),
            Err("address is missing"),
        );
        check(
            json!({ "ips": [{ "address": "bogus/24" }] }),
            Err("\"bogus/24\" is not an IP address"),
        );
    }

    #[test]
    fn failure_description() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let check = |stdout: &str, stderr: &str, expect: &str| {
            assert_eq!(
                describe_failure(stdout.as_bytes(), stderr.as_bytes(), status),
                expect
            );
        };
        check(
            r#"{"cniVersion":"1.0.0","code":11,"msg":"failed to allocate","details":"range is full"}"#,
            "",
            "failed to allocate: range is full (CNI error code 11)",
        );
        check(
            r#"{"code":7,"msg":"bad config"}"#,
            "some log\n",
            "bad config (CNI error code 7); stderr: some log",
        );
        check(
            "",
            "panic: boom\n",
            "exited with exit status: 1; stderr: panic: boom",
        );
        check("not json", "", "exited with exit status: 1: not json");
    }

    #[test]
    fn uid_and_bridge_names() {
        assert!(validate_uid("0b5c9d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e").is_ok());
        for bad in ["", "-x", "a/b", "a b", "../x", ".hidden"] {
            assert!(validate_uid(bad).is_err(), "{bad:?}");
        }
        assert!(validate_bridge_name("clipper0").is_ok());
        for bad in ["", "sixteen-chars-xx", "br 0", "br/0"] {
            assert!(validate_bridge_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cni_args_carry_the_pod() {
        let record = Record {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            netns: PathBuf::from("/run/netns/clipper-u1"),
            ip: None,
            result: None,
        };
        assert_eq!(
            cni_args(&record),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=u1"
        );
        let odd = Record {
            name: "a;b".into(),
            ..record
        };
        assert_eq!(cni_args(&odd), "IgnoreUnknown=1");
    }
}
