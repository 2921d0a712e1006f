//! The OCI bundle's `config.json` for runc, built from a container's spec and its image's
//! config: Kubernetes' command/args semantics, the environment, the user, namespaces,
//! Docker's default mounts, capabilities and masked paths, and the cgroup limits.

use std::path::Path;

use serde_json::{Value, json};

use super::image::ImageConfig;
use crate::runtime::{ContainerSpec, RuntimeError};

/// The `PATH` a container gets when neither the image nor the spec sets one (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The CFS period the CPU limit is expressed against (Kubernetes' and Docker's 100 ms).
pub const CPU_PERIOD_MICROS: u64 = 100_000;
/// The open files limit of container processes at most (containerd's and Docker's
/// default); lowered to the agent's own hard limit, which runc cannot exceed.
const NOFILE_LIMIT: u64 = 1_048_576;

/// [`NOFILE_LIMIT`], or the hard limit this process has if lower.
fn nofile_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live rlimit getrlimit writes into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    NOFILE_LIMIT.min(limit.rlim_max)
}

/// Docker's default capability set (what Kubernetes containers get without
/// `securityContext.capabilities`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths under /proc and /sys hidden from containers (Docker's and containerd's list).
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths under /proc made read-only.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The process arguments per Kubernetes: `command` replaces the image's entrypoint and
/// `args` its cmd; a `command` without `args` drops the image's cmd.
pub fn process_args(
    spec: &ContainerSpec,
    image: &ImageConfig,
) -> Result<Vec<String>, RuntimeError> {
    let (entrypoint, cmd): (&[String], &[String]) =
        match (spec.command.is_empty(), spec.args.is_empty()) {
            (false, false) => (&spec.command, &spec.args),
            (false, true) => (&spec.command, &[]),
            (true, false) => (&image.entrypoint, &spec.args),
            (true, true) => (&image.entrypoint, &image.cmd),
        };
    let args: Vec<String> = entrypoint.iter().chain(cmd).cloned().collect();
    if args.is_empty() {
        return Err(RuntimeError::InvalidSpec(format!(
            "container {:?}: no command specified (the image has neither entrypoint nor cmd)",
            spec.container_name
        )));
    }
    Ok(args)
}

/// The environment: `HOSTNAME`, then the image's, then the spec's; a later entry for a
/// name replaces the earlier one in place; `PATH` defaults to [`DEFAULT_PATH`].
pub fn process_env(spec: &ContainerSpec, image: &ImageConfig) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |key: &str, value: &str| match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    };
    if !spec.hostname.is_empty() {
        set("HOSTNAME", &spec.hostname);
    }
    for entry in &image.env {
        match entry.split_once('=') {
            Some((k, v)) => set(k, v),
            None => set(entry, ""),
        }
    }
    for (k, v) in &spec.env {
        set(k, v);
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".to_string(), DEFAULT_PATH.to_string()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A user as the process runs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolves the image's `User` (`uid`, `uid:gid`, `name`, `name:group`) against the
/// rootfs' `/etc/passwd` and `/etc/group`; empty is root.
pub fn resolve_user(user: Option<&str>, rootfs: &Path) -> Result<User, RuntimeError> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok(User::default());
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // passwd: name:x:uid:gid:gecos:home:shell
    let passwd_entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user_part || f[2] == user_part));
    let uid = match user_part.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => passwd_entry
            .as_ref()
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| {
                RuntimeError::InvalidSpec(format!(
                    "user {user_part:?} is not in the image's /etc/passwd"
                ))
            })?,
    };
    let user_name = passwd_entry.as_ref().map(|f| f[0].to_string());
    let gid = match group_part {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    RuntimeError::InvalidSpec(format!(
                        "group {g:?} is not in the image's /etc/group"
                    ))
                })?,
        },
        None => passwd_entry
            .as_ref()
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(0),
    };
    // group: name:x:gid:member,member
    let additional_gids = match (&user_name, group_part) {
        (Some(name), None) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        _ => Vec::new(),
    };
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// The cgroup (relative to each hierarchy) a container's processes run in.
pub fn cgroup_path(spec: &ContainerSpec) -> String {
    format!("/clipper/{}/{}", spec.pod_uid, spec.id)
}

/// The complete `config.json` (OCI runtime spec 1.0) of a container whose root is the
/// (already mounted) `rootfs`.
pub fn runtime_config(
    spec: &ContainerSpec,
    image: &ImageConfig,
    rootfs: &Path,
) -> Result<Value, RuntimeError> {
    let args = process_args(spec, image)?;
    let env = process_env(spec, image);
    let cwd = spec
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| image.working_dir.clone())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(RuntimeError::InvalidSpec(format!(
            "workingDir {cwd:?} is not an absolute path"
        )));
    }
    let user = resolve_user(image.user.as_deref(), rootfs)?;
    let caps = DEFAULT_CAPABILITIES;
    let nofile = nofile_limit();

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for mount in &spec.mounts {
        if !mount.container_path.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "mount path {:?} is not absolute",
                mount.container_path
            )));
        }
        let mut options = vec!["rbind", "rprivate"];
        if mount.read_only {
            options.push("ro");
        }
        mounts.push(json!({
            "destination": mount.container_path,
            "type": "bind",
            "source": mount.host_path,
            "options": options,
        }));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if let Some(netns) = &spec.netns {
        namespaces.push(json!({"type": "network", "path": netns}));
    }

    let mut resources = json!({
        "devices": [{"allow": false, "access": "rwm"}],
    });
    if let Some(limit) = spec.memory_limit_bytes {
        resources["memory"] = json!({"limit": limit});
    }
    if let Some(millis) = spec.cpu_limit_millis {
        // At least 1 ms per period: the kernel refuses smaller quotas.
        let quota = (millis * CPU_PERIOD_MICROS / 1000).max(1000);
        resources["cpu"] = json!({"quota": quota, "period": CPU_PERIOD_MICROS});
    }

    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": spec.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": cgroup_path(spec),
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &[&str], args: &[&str], env: &[(&str, &str)]) -> ContainerSpec {
        ContainerSpec {
            id: "c1".into(),
            pod_uid: "uid".into(),
            pod_namespace: "default".into(),
            pod_name: "p".into(),
            container_name: "c".into(),
            attempt: 0,
            image: "busybox".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            working_dir: None,
            netns: None,
            hostname: String::new(),
            mounts: Vec::new(),
            log_path: "/dev/null".into(),
            memory_limit_bytes: None,
            cpu_limit_millis: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        }
    }

    fn image(entrypoint: &[&str], cmd: &[&str], env: &[&str]) -> ImageConfig {
        ImageConfig {
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            working_dir: None,
            user: None,
        }
    }

    /// One row: the image's entrypoint and cmd, the spec's command and args → argv.
    fn check_args(
        entrypoint: &[&str],
        cmd: &[&str],
        command: &[&str],
        args: &[&str],
        expected: &[&str],
    ) {
        let got = process_args(&spec(command, args, &[]), &image(entrypoint, cmd, &[]))
            .unwrap_or_else(|e| panic!("{entrypoint:?} {cmd:?} {command:?} {args:?}: {e}"));
        assert_eq!(
            got, expected,
            "entrypoint {entrypoint:?} cmd {cmd:?} command {command:?} args {args:?}"
        );
    }

    #[test]
    fn args_follow_kubernetes_semantics() {
        // Neither: the image's entrypoint and cmd.
        check_args(&["/ep"], &["c1"], &[], &[], &["/ep", "c1"]);
        check_args(&[], &["sh"], &[], &[], &["sh"]);
        // Only args: the image's entrypoint with the spec's args.
        check_args(&["/ep"], &["c1"], &[], &["a1"], &["/ep", "a1"]);
        // Only command: the image's cmd is dropped.
        check_args(&["/ep"], &["c1"], &["/cmd"], &[], &["/cmd"]);
        // Both: the image contributes nothing.
        check_args(
            &["/ep"],
            &["c1"],
            &["/cmd"],
            &["a1", "a2"],
            &["/cmd", "a1", "a2"],
        );
        let err = process_args(&spec(&[], &[], &[]), &image(&[], &[], &[]));
        assert!(matches!(err, Err(RuntimeError::InvalidSpec(_))));
    }

    fn check_env(image_env: &[&str], spec_env: &[(&str, &str)], expected: &[&str]) {
        let got = process_env(&spec(&[], &[], spec_env), &image(&[], &[], image_env));
        assert_eq!(got, expected, "image {image_env:?} spec {spec_env:?}");
    }

    #[test]
    fn env_is_image_then_spec_with_later_winning() {
        let default_path = format!("PATH={DEFAULT_PATH}");
        check_env(&[], &[], &[&default_path]);
        check_env(&["PATH=/bin", "A=1"], &[], &["PATH=/bin", "A=1"]);
        check_env(
            &["PATH=/bin", "A=1"],
            &[("A", "2"), ("B", "3")],
            &["PATH=/bin", "A=2", "B=3"],
        );
        check_env(
            &["A=1"],
            &[("B", "x=y"), ("B", "z")],
            &[&default_path, "A=1", "B=z"],
        );
        check_env(&[], &[("PATH", "/opt")], &["PATH=/opt"]);
    }

    #[test]
    fn users_resolve_against_the_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("etc");
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nweb:x:1001:\nextra:x:2000:web\n",
        )
        .expect("group");
        let root = resolve_user(None, dir.path()).expect("root");
        assert_eq!(root, User::default());
        let web = resolve_user(Some("web"), dir.path()).expect("web");
        assert_eq!(
            web,
            User {
                uid: 1000,
                gid: 1001,
                additional_gids: vec![2000]
            }
        );
        let numeric = resolve_user(Some("5:6"), dir.path()).expect("numeric");
        assert_eq!(
            numeric,
            User {
                uid: 5,
                gid: 6,
                additional_gids: vec![]
            }
        );
        let named_group = resolve_user(Some("1000:extra"), dir.path()).expect("named group");
        assert_eq!(named_group.gid, 2000);
        assert!(resolve_user(Some("nobody"), dir.path()).is_err());
    }

    #[test]
    fn config_carries_limits_namespaces_and_mounts() {
        let mut s = spec(&["sh"], &[], &[]);
        s.memory_limit_bytes = Some(64 << 20);
        s.cpu_limit_millis = Some(250);
        s.netns = Some("/var/run/netns/x".into());
        s.mounts.push(crate::runtime::Mount {
            host_path: "/data".into(),
            container_path: "/data".into(),
            read_only: true,
        });
        let config =
            runtime_config(&s, &image(&[], &[], &[]), Path::new("/nonexistent")).expect("config");
        assert_eq!(config["linux"]["cgroupsPath"], "/clipper/uid/c1");
        assert_eq!(config["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(config["linux"]["resources"]["cpu"]["quota"], 25_000);
        assert_eq!(config["linux"]["resources"]["cpu"]["period"], 100_000);
        let namespaces = config["linux"]["namespaces"]
            .as_array()
            .expect("namespaces");
        assert!(namespaces.contains(&json!({"type": "network", "path": "/var/run/netns/x"})));
        let mounts = config["mounts"].as_array().expect("mounts");
        let data = mounts
            .iter()
            .find(|m| m["destination"] == "/data")
            .expect("data mount");
        assert_eq!(data["options"], json!(["rbind", "rprivate", "ro"]));
    }
}
