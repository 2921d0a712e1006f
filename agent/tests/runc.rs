//! The runc runtime for real (as root): an OCI image built from the host's static
//! busybox, imported into the image store, and containers run through the `Runtime` trait
//! with the `clipper-shim` binary as their shim.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clipper_agent::oci::{ImageStore, OciConfig, OciRuntime};
use clipper_agent::runtime::{ContainerSpec, ContainerState, PullPolicy, Runtime, RuntimeError};
use serde_json::json;

/// How long a test waits for a container to reach a state: runc starts and stops
/// containers in well under a second; this only bounds a failure.
const STATE_WAIT: Duration = Duration::from_secs(15);
const STATE_POLL: Duration = Duration::from_millis(20);
const BUSYBOX: &str = "/usr/bin/busybox";
const RUNC: &str = "/usr/sbin/runc";
const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "ls", "test", "true", "false", "id", "dd",
];

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tar entry of a test layer.
enum Entry<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, Vec<u8>),
    Symlink(&'a str, &'a str),
}

/// A gzip layer of `entries`: (compressed bytes, diff id).
fn layer(entries: &[Entry]) -> (Vec<u8>, String) {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::Dir(path, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .expect("dir");
            }
            Entry::File(path, mode, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, path, &data[..])
                    .expect("file");
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, path, target)
                    .expect("symlink");
            }
        }
    }
    let tar = builder.into_inner().expect("tar");
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

fn busybox_layer() -> (Vec<u8>, String) {
    let busybox = std::fs::read(BUSYBOX).expect("the host's static busybox");
    let mut entries = vec![
        Entry::Dir("bin", 0o755),
        Entry::File("bin/busybox", 0o755, busybox),
        Entry::Dir("etc", 0o755),
        Entry::File(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
        ),
        Entry::Dir("tmp", 0o1777),
        Entry::Dir("proc", 0o555),
        Entry::Dir("sys", 0o555),
        Entry::Dir("dev", 0o755),
    ];
    let links: Vec<String> = APPLETS.iter().map(|a| format!("bin/{a}")).collect();
    for link in &links {
        entries.push(Entry::Symlink(link, "busybox"));
    }
    layer(&entries)
}

fn write_blob(layout: &Path, bytes: &[u8]) -> (String, u64) {
    let hex = sha256_hex(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("blob");
    (format!("sha256:{hex}"), bytes.len() as u64)
}

/// Writes an OCI image layout with one image of `layers` (bottom first), named `name`
/// in index.json's `org.opencontainers.image.ref.name`.
fn write_layout(layout: &Path, layers: &[(Vec<u8>, String)], name: Option<&str>) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("layout");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let mut layer_descs = Vec::new();
    for (blob, _) in layers {
        let (digest, size) = write_blob(layout, blob);
        layer_descs.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": size,
        }));
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>()},
    });
    let (config_digest, config_size) = write_blob(layout, config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    });
    let (manifest_digest, manifest_size) = write_blob(layout, manifest.to_string().as_bytes());
    let mut desc = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest,
        "size": manifest_size,
    });
    if let Some(name) = name {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    }
    let index = json!({"schemaVersion": 2, "manifests": [desc]});
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index.json");
}

/// A runtime over a fresh root with busybox:latest imported; removes its containers
/// (runc state, overlay mounts) when dropped, even after a failed assertion.
struct Fixture {
    dir: tempfile::TempDir,
    runtime: OciRuntime,
    ids: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("layout");
        write_layout(&layout, &[busybox_layer()], Some("busybox"));
        let runtime = OciRuntime::new(Self::config(dir.path())).expect("runtime");
        let imported = runtime.images().import(&layout, None).expect("import");
        assert_eq!(imported[0].reference, "docker.io/library/busybox:latest");
        Fixture {
            dir,
            runtime,
            ids: Vec::new(),
        }
    }

    fn config(dir: &Path) -> OciConfig {
        OciConfig {
            root: dir.join("root"),
            runc: RUNC.into(),
            shim_program: env!("CARGO_BIN_EXE_clipper-shim").into(),
            shim_args: Vec::new(),
        }
    }

    fn spec(&mut self, name: &str, command: &[&str]) -> ContainerSpec {
        let id = format!("{name}-{}-{}", std::process::id(), self.ids.len());
        self.ids.push(id.clone());
        ContainerSpec {
            id: id.clone(),
            pod_uid: format!("pod-{id}"),
            pod_namespace: "default".into(),
            pod_name: name.into(),
            container_name: name.into(),
            attempt: 0,
            image: "busybox".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: Vec::new(),
            env: vec![("GREETING".into(), "hello".into())],
            working_dir: None,
            netns: None,
            hostname: name.into(),
            mounts: Vec::new(),
            log_path: self.dir.path().join("logs").join(format!("{id}.log")),
            memory_limit_bytes: Some(64 << 20),
            cpu_limit_millis: Some(500),
            stdin: false,
            stdin_once: false,
            tty: false,
        }
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.dir
            .path()
            .join("root/containers")
            .join(id)
            .join("rootfs")
    }

    async fn wait_for(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&ContainerState) -> bool,
    ) -> ContainerState {
        let deadline = Instant::now() + STATE_WAIT;
        loop {
            let status = self.runtime.status(id).await.expect("status");
            if done(&status.state) {
                return status.state;
            }
            assert!(
                Instant::now() < deadline,
                "{id} not {what} within {STATE_WAIT:?}: {:?}",
                status.state
            );
            tokio::time::sleep(STATE_POLL).await;
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = std::process::Command::new(RUNC)
                .arg("--root")
                .arg(self.dir.path().join("root/runc"))
                .args(["delete", "--force", id])
                .output();
            let _ = std::process::Command::new("umount")
                .arg(self.rootfs(id))
                .output();
        }
    }
}

fn mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    let needle = path.to_string_lossy().into_owned();
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(needle.as_str()))
}

/// The log's lines as (stream, tag, text), each line's timestamp checked.
fn cri_lines(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).expect("log");
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let ts = parts.next().expect("timestamp");
            assert!(
                chrono::DateTime::parse_from_rfc3339(ts).is_ok()
                    && ts.ends_with('Z')
                    && ts.len() == 30,
                "timestamp {ts:?} in {line:?}"
            );
            let stream = parts.next().expect("stream").to_string();
            let tag = parts.next().expect("tag").to_string();
            let rest = parts.next().unwrap_or_default().to_string();
            (stream, tag, rest)
        })
        .collect()
}

#[tokio::test]
async fn a_container_exits_with_its_code_and_its_output_in_the_cri_log() {
    let mut f = Fixture::new();
    let spec = f.spec(
        "echo",
        &["sh", "-c", "echo $GREETING; echo err >&2; exit 3"],
    );
    f.runtime
        .create_and_start(&spec)
        .await
        .expect("create_and_start");
    let state = f
        .wait_for(&spec.id, "exited", |s| {
            matches!(s, ContainerState::Exited { .. })
        })
        .await;
    let ContainerState::Exited {
        exit_code,
        reason,
        started_at,
        finished_at,
    } = state
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (3, "Error"));
    assert!(started_at.is_some_and(|s| s <= finished_at));
    let lines = cri_lines(&spec.log_path);
    assert!(
        lines.contains(&("stdout".into(), "F".into(), "hello".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stderr".into(), "F".into(), "err".into())),
        "{lines:?}"
    );
    let status = f.runtime.status(&spec.id).await.expect("status");
    assert_eq!(status.container_name, "echo");
    assert!(status.image_id.starts_with("sha256:"));

    f.runtime.remove(&spec.id).await.expect("remove");
    assert!(!mounted(&f.rootfs(&spec.id)));
    assert!(spec.log_path.exists(), "the log outlives the container");
}

#[tokio::test]
async fn a_running_container_execs_stops_and_survives_a_runtime_restart() {
    let mut f = Fixture::new();
    // pid 1 of a pid namespace ignores SIGTERM unless it handles it: sleep does not.
    let stubborn = f.spec("sleeper", &["sleep", "1000"]);
    let polite = f.spec(
        "polite",
        &["sh", "-c", "trap 'exit 143' TERM; sleep 1000 & wait"],
    );
    for spec in [&stubborn, &polite] {
        f.runtime
            .create_and_start(spec)
            .await
            .expect("create_and_start");
        let state = f.runtime.status(&spec.id).await.expect("status").state;
        let ContainerState::Running { pid, .. } = state else {
            panic!("{} not running: {state:?}", spec.id)
        };
        assert!(pid > 0);
    }

    let out = f
        .runtime
        .exec(
            &stubborn.id,
            &["echo".into(), "hi".into()],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    assert_eq!((out.exit_code, out.stdout.as_slice()), (0, &b"hi\n"[..]));
    let out = f
        .runtime
        .exec(
            &stubborn.id,
            &["sh".into(), "-c".into(), "exit 7".into()],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 7);
    let hung = f
        .runtime
        .exec(
            &stubborn.id,
            &["sleep".into(), "100".into()],
            Duration::from_millis(300),
        )
        .await;
    assert!(matches!(hung, Err(RuntimeError::Failed(_))), "{hung:?}");

    // A new runtime over the same root (an agent restart) finds both.
    let restarted = OciRuntime::new(Fixture::config(f.dir.path())).expect("runtime");
    let listed = restarted.list().await.expect("list");
    for spec in [&stubborn, &polite] {
        let found = listed
            .iter()
            .find(|s| s.id == spec.id)
            .expect("listed after restart");
        assert_eq!(found.pod_uid, spec.pod_uid);
        assert!(
            matches!(found.state, ContainerState::Running { .. }),
            "{found:?}"
        );
    }

    let begun = Instant::now();
    restarted
        .stop(&polite.id, Duration::from_secs(5))
        .await
        .expect("stop");
    assert!(
        begun.elapsed() < Duration::from_secs(5),
        "SIGTERM was enough"
    );
    let state = f.runtime.status(&polite.id).await.expect("status").state;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 143, .. }),
        "{state:?}"
    );

    restarted
        .stop(&stubborn.id, Duration::from_millis(500))
        .await
        .expect("stop");
    let state = f.runtime.status(&stubborn.id).await.expect("status").state;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 137, .. }),
        "{state:?}"
    );
    // Stopping again is fine.
    restarted
        .stop(&stubborn.id, Duration::from_millis(500))
        .await
        .expect("stop again");

    for spec in [&stubborn, &polite] {
        f.runtime.remove(&spec.id).await.expect("remove");
        assert!(!mounted(&f.rootfs(&spec.id)), "{} still mounted", spec.id);
        assert!(!f.dir.path().join("root/containers").join(&spec.id).exists());
        assert!(matches!(
            f.runtime.status(&spec.id).await,
            Err(RuntimeError::NotFound(_))
        ));
    }
    assert!(f.runtime.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let mut f = Fixture::new();
    // dd's 256 MiB buffer, filled from /dev/zero, cannot fit in 32 MiB.
    let mut spec = f.spec(
        "oom",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
    );
    spec.memory_limit_bytes = Some(32 << 20);
    f.runtime
        .create_and_start(&spec)
        .await
        .expect("create_and_start");
    let state = f
        .wait_for(&spec.id, "exited", |s| {
            matches!(s, ContainerState::Exited { .. })
        })
        .await;
    let ContainerState::Exited {
        exit_code, reason, ..
    } = state
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (137, "OOMKilled"));
    f.runtime.remove(&spec.id).await.expect("remove");
}

#[tokio::test]
async fn a_container_that_cannot_start_reports_runcs_error_and_leaves_nothing() {
    let mut f = Fixture::new();
    let spec = f.spec("nocmd", &["/no/such/program"]);
    let err = f.runtime.create_and_start(&spec).await;
    match err {
        Err(RuntimeError::Failed(message)) => {
            assert!(message.contains("/no/such/program"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.runtime.status(&spec.id).await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(!mounted(&f.rootfs(&spec.id)));
    assert!(!f.dir.path().join("root/containers").join(&spec.id).exists());
}

#[tokio::test]
async fn missing_images_are_pull_errors() {
    let mut f = Fixture::new();
    let info = f
        .runtime
        .ensure_image("busybox", PullPolicy::IfNotPresent)
        .await
        .expect("held");
    assert_eq!(info.reference, "docker.io/library/busybox:latest");
    assert!(info.id.starts_with("sha256:"));
    assert!(
        f.runtime
            .ensure_image("busybox:latest", PullPolicy::Never)
            .await
            .is_ok()
    );

    let err = f
        .runtime
        .ensure_image("nginx", PullPolicy::IfNotPresent)
        .await;
    match err {
        Err(RuntimeError::ImagePull(message)) => {
            assert!(
                message.contains("docker.io/library/nginx:latest"),
                "{message}"
            );
            assert!(message.contains("clipper image import"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let err = f.runtime.ensure_image("nginx", PullPolicy::Never).await;
    assert!(
        matches!(err, Err(RuntimeError::ImageNeverPull(_))),
        "{err:?}"
    );
    let err = f
        .runtime
        .ensure_image("Not A Reference", PullPolicy::Always)
        .await;
    assert!(matches!(err, Err(RuntimeError::ImagePull(_))), "{err:?}");

    let mut spec = f.spec("noimage", &["true"]);
    spec.image = "registry.example:5000/absent:1".into();
    let err = f.runtime.create_and_start(&spec).await;
    assert!(matches!(err, Err(RuntimeError::ImagePull(_))), "{err:?}");
    assert!(matches!(
        f.runtime.status(&spec.id).await,
        Err(RuntimeError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_upper_layer_whiteout_hides_a_lower_file() {
    let mut f = Fixture::new();
    let layout = f.dir.path().join("layered");
    let upper = layer(&[
        Entry::Dir("etc", 0o755),
        Entry::File("etc/.wh.passwd", 0o644, Vec::new()),
        Entry::File("etc/added", 0o644, b"from the upper layer\n".to_vec()),
    ]);
    write_layout(&layout, &[busybox_layer(), upper], None);
    let imported = f
        .runtime
        .images()
        .import(&layout, Some("example.com/layered:v1"))
        .expect("import");
    assert_eq!(imported[0].reference, "example.com/layered:v1");

    let mut spec = f.spec(
        "whiteout",
        &["sh", "-c", "test -e /etc/passwd && exit 1; cat /etc/added"],
    );
    spec.image = "example.com/layered:v1".into();
    f.runtime
        .create_and_start(&spec)
        .await
        .expect("create_and_start");
    let state = f
        .wait_for(&spec.id, "exited", |s| {
            matches!(s, ContainerState::Exited { .. })
        })
        .await;
    assert!(
        matches!(state, ContainerState::Exited { exit_code: 0, .. }),
        "{state:?}"
    );
    let lines = cri_lines(&spec.log_path);
    assert_eq!(
        lines,
        vec![("stdout".into(), "F".into(), "from the upper layer".into())]
    );
    f.runtime.remove(&spec.id).await.expect("remove");
}

#[test]
fn layouts_import_from_tar_and_gzip_and_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    write_layout(&layout, &[busybox_layer()], Some("quay.io/test/bb:1.0"));
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_dir_all(".", &layout)
        .expect("tar the layout");
    let tar = builder.into_inner().expect("tar");
    std::fs::write(dir.path().join("image.tar"), &tar).expect("write tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    std::fs::write(dir.path().join("image.tar.gz"), gz.finish().expect("gzip")).expect("write tgz");

    let store = ImageStore::open(dir.path().join("root")).expect("store");
    let from_tar = store
        .import(&dir.path().join("image.tar"), None)
        .expect("import tar");
    assert_eq!(from_tar[0].reference, "quay.io/test/bb:1.0");
    let from_gz = store
        .import(&dir.path().join("image.tar.gz"), Some("other"))
        .expect("import gzip");
    assert_eq!(from_gz[0].reference, "docker.io/library/other:latest");
    assert_eq!(from_gz[0].id, from_tar[0].id);
    let listed: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|i| i.reference)
        .collect();
    assert_eq!(
        listed,
        vec!["docker.io/library/other:latest", "quay.io/test/bb:1.0"]
    );
    let image = store.resolve("other").expect("resolve");
    assert!(image.layers[0].join("bin/busybox").is_file());
    // By digest too.
    let digest = &from_gz[0].digest;
    assert!(store.resolve(&format!("other@{digest}")).is_ok());

    // A corrupted blob is refused.
    let bad = dir.path().join("bad");
    write_layout(&bad, &[busybox_layer()], Some("bad"));
    for entry in std::fs::read_dir(bad.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        if std::fs::metadata(&path).expect("meta").len() > 10_000 {
            let mut bytes = std::fs::read(&path).expect("read");
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&path, bytes).expect("corrupt");
        }
    }
    let fresh = ImageStore::open(dir.path().join("root2")).expect("store");
    let err = fresh.import(&bad, None).expect_err("corrupt blob");
    assert!(err.to_string().contains("digest"), "{err}");
}
