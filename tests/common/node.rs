//! A node of the test's own: `clipper up` with its agent inside a network namespace
//! (standing in for the host), a busybox OCI layout to import, kubectl run inside the
//! namespace. Shared by the end-to-end tests of the node agent (needs root, runc, CNI
//! plugins and a static busybox).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{Kubectl, kubectl_binary, wait_until_serving};

/// Runs `cmd` with sh and asserts success; returns stdout.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An OCI image layout holding busybox: one gzip layer with /bin/busybox and a symlink
/// per applet, /etc/passwd, and a config whose Cmd is `sh`.
pub fn busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("busybox-layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let list = Command::new("/usr/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir_header = |path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, path, std::io::empty())
            .expect("dir entry");
    };
    for d in ["bin", "etc", "tmp", "www"] {
        dir_header(d);
    }
    let busybox = std::fs::read("/usr/bin/busybox").expect("busybox-static");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_cksum();
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .expect("busybox entry");
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    for (path, text) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("www/index.html", "hello from a pod\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(text.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, path, text.as_bytes())
            .expect("file entry");
    }
    let raw = tar.into_inner().expect("tar");
    let diff_id = sha256_hex(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let blob = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
    });
    let (config_digest, config_size) = blob(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer_size,
        }],
    });
    let (manifest_digest, manifest_size) = blob(&serde_json::to_vec(&manifest).expect("json"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "busybox:latest" },
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    layout
}

/// The test's "host": a network namespace with loopback, removed on drop with what
/// `clipper up` left in it.
pub struct Host {
    pub ns: String,
    pub dir: tempfile::TempDir,
    up: Option<Child>,
}

impl Host {
    /// A namespace named `{prefix}{pid}`: tests running at once need distinct prefixes.
    pub fn new(prefix: &str) -> Host {
        let ns = format!("{prefix}{}", std::process::id());
        sh(&format!(
            "ip netns del {ns} 2>/dev/null; ip netns add {ns} && ip -n {ns} link set lo up"
        ));
        Host {
            ns,
            dir: tempfile::tempdir().expect("tempdir"),
            up: None,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `nsenter` into the namespace's network only: `ip netns exec` would also remount
    /// /sys, hiding the cgroup mounts runc needs.
    pub fn command(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns));
        c.arg(env!("CARGO_BIN_EXE_clipper"));
        c
    }

    /// `clipper up` in the namespace; returns the kubeconfig.
    pub fn start(&mut self) -> PathBuf {
        self.start_with(&["--listen", "127.0.0.1:0", "--node-name", "node-1"])
    }

    /// `clipper up` with these flags (and `--data-dir`); returns the kubeconfig.
    pub fn start_with(&mut self, flags: &[&str]) -> PathBuf {
        let mut child = self
            .command()
            .arg("up")
            .args(flags)
            .arg("--data-dir")
            .arg(self.data())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("clipper up starts");
        let kubeconfig = PathBuf::from(wait_until_serving(&mut child));
        self.up = Some(child);
        kubeconfig
    }

    /// SIGTERM and a clean exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.up.take() {
            super::stop(child);
        }
    }

    /// kubectl `version` (see [`kubectl_binary`]) run inside the namespace.
    pub fn kubectl(&self, kubeconfig: &Path, version: &str) -> Kubectl {
        let wrapper = self.dir.path().join(format!("kubectl-{version}-in-host"));
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                self.ns,
                kubectl_binary(version).display()
            ),
        )
        .expect("write wrapper");
        sh(&format!("chmod +x {}", wrapper.display()));
        Kubectl::new(
            wrapper,
            kubeconfig.to_path_buf(),
            self.dir.path().join("home"),
        )
    }

    /// `clipper`'s kubectl verbs run inside the namespace, driven as [`Host::kubectl`]'s
    /// kubectl is (a wrapper script; `Kubectl::run` gives the exit code and stderr).
    pub fn clipper_cli(&self, kubeconfig: &Path) -> Kubectl {
        let wrapper = self.dir.path().join("clipper-in-host");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec nsenter --net=/run/netns/{} {} \"$@\"\n",
                self.ns,
                env!("CARGO_BIN_EXE_clipper")
            ),
        )
        .expect("write wrapper");
        sh(&format!("chmod +x {}", wrapper.display()));
        Kubectl::new(
            wrapper,
            kubeconfig.to_path_buf(),
            self.dir.path().join("home"),
        )
    }

    pub fn clipper(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("clipper runs");
        assert!(
            out.status.success(),
            "clipper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.up.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Containers, pod namespaces (CNI's records: `<root>/cni/pods/<uid>.json`) and
        // pod cgroups the agent left (the test stopped with pods running, or failed).
        let agent = self.data().join("agent");
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "for c in $(runc --root {root} list -q 2>/dev/null); do runc --root {root} delete -f $c; \
                       rmdir /sys/fs/cgroup/*/clipper/$(echo $c | cut -c1-36) 2>/dev/null; done; \
                     grep ' {dir}' /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l; \
                     for f in {cni}/pods/*.json; do [ -e \"$f\" ] || continue; u=$(basename \"$f\" .json); \
                       ip netns del clipper-$u 2>/dev/null; rmdir /sys/fs/cgroup/*/clipper/$u 2>/dev/null; done; \
                     ip netns del {ns}",
                    root = agent.join("runc").display(),
                    dir = self.dir.path().display(),
                    cni = agent.join("cni").display(),
                    ns = self.ns
                ),
            ])
            .status();
    }
}
