//! A pod's status as the kubelet reports it, computed from what the pod worker observed:
//! phase, conditions, container statuses. Pure: no I/O, the time passed in.

use std::time::{SystemTime, UNIX_EPOCH};

use clipper_proto::Time;
use clipper_proto::api::core::v1::{Pod, PodCondition};
use serde_json::{Value, json};

use crate::runtime::{ContainerState, ContainerStatus};

/// The runtime's name in `containerID` (`<type>://<id>`), as containerd writes `containerd://`.
pub const CONTAINER_ID_SCHEME: &str = "runc";

/// What the pod worker knows of one container of the spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerRecord {
    pub name: String,
    pub image: String,
    /// The image's id once the runtime has it.
    pub image_id: String,
    /// The latest attempt the runtime ran.
    pub current: Option<ContainerStatus>,
    /// The attempt before it, once that one has exited.
    pub previous: Option<ContainerStatus>,
    /// Attempts started after the first.
    pub restart_count: u32,
    /// Why the container is not running: (reason, message). Set while it waits to be
    /// created, to be restarted after a back-off, or after a failure to create it.
    pub waiting: Option<(String, String)>,
    /// Whether its readiness probe passes (running and without a probe counts as ready).
    pub ready: bool,
    /// Running, but its startup probe has not passed yet.
    pub startup_pending: bool,
}

impl ContainerRecord {
    pub fn new(name: &str, image: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            image: image.to_string(),
            ..ContainerRecord::default()
        }
    }

    pub fn running(&self) -> bool {
        matches!(
            self.current.as_ref().map(|c| &c.state),
            Some(ContainerState::Running { .. })
        )
    }

    /// The exit code of the latest attempt, once it has exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self.current.as_ref().map(|c| &c.state) {
            Some(ContainerState::Exited { exit_code, .. }) => Some(*exit_code),
            _ => None,
        }
    }
}

fn seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn time(t: SystemTime) -> String {
    Time(seconds(t)).to_string()
}

fn terminated(c: &ContainerStatus) -> Option<Value> {
    match &c.state {
        ContainerState::Exited {
            exit_code,
            started_at,
            finished_at,
            reason,
        } => {
            let mut t = json!({
                "exitCode": exit_code,
                "reason": reason,
                "finishedAt": time(*finished_at),
                "containerID": format!("{CONTAINER_ID_SCHEME}://{}", c.id),
            });
            if let Some(s) = started_at {
                t["startedAt"] = json!(time(*s));
            }
            Some(t)
        }
        _ => None,
    }
}

/// One entry of `containerStatuses` / `initContainerStatuses`.
pub fn container_status(r: &ContainerRecord) -> Value {
    let state = match (&r.waiting, r.current.as_ref().map(|c| &c.state)) {
        (Some((reason, message)), _) => {
            let mut w = json!({ "reason": reason });
            if !message.is_empty() {
                w["message"] = json!(message);
            }
            json!({ "waiting": w })
        }
        (None, Some(ContainerState::Running { started_at, .. })) => {
            json!({ "running": { "startedAt": time(*started_at) } })
        }
        (None, Some(ContainerState::Exited { .. })) => r
            .current
            .as_ref()
            .and_then(terminated)
            .map_or_else(|| json!({}), |t| json!({ "terminated": t })),
        (None, Some(ContainerState::Created) | None) => {
            json!({ "waiting": { "reason": "ContainerCreating" } })
        }
    };
    // lastState: the previous attempt; while waiting to restart, the latest one.
    let last = if r.waiting.is_some() {
        r.current.as_ref().and_then(terminated)
    } else {
        r.previous.as_ref().and_then(terminated)
    };
    let mut s = json!({
        "name": r.name,
        "image": r.image,
        "imageID": r.image_id,
        "ready": r.ready && r.running() && r.waiting.is_none(),
        "restartCount": r.restart_count,
        "started": r.running() && r.waiting.is_none() && !r.startup_pending,
        "state": state,
        "lastState": last.map_or_else(|| json!({}), |t| json!({ "terminated": t })),
    });
    if let Some(c) = &r.current {
        s["containerID"] = json!(format!("{CONTAINER_ID_SCHEME}://{}", c.id));
    }
    s
}

/// `PodPhase` as kubelet's getPhase computes it (pkg/kubelet/kubelet_pods.go).
pub fn phase(
    restart_policy: &str,
    init: &[ContainerRecord],
    containers: &[ContainerRecord],
) -> &'static str {
    // An init container that failed for good fails the pod; one not yet done keeps
    // it pending.
    for c in init {
        match c.exit_code() {
            Some(0) if c.waiting.is_none() => continue,
            Some(_) if restart_policy == "Never" && c.waiting.is_none() => return "Failed",
            _ => return "Pending",
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        if c.waiting.is_some() || c.current.is_none() {
            if c.current.as_ref().and_then(terminated).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
            continue;
        }
        match c.exit_code() {
            None if c.running() => running += 1,
            None => waiting += 1,
            Some(code) => {
                stopped += 1;
                if code == 0 {
                    succeeded += 1;
                }
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if restart_policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if restart_policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// Everything the worker reports in one status write.
pub struct Observed<'a> {
    pub init: &'a [ContainerRecord],
    pub containers: &'a [ContainerRecord],
    pub pod_ip: Option<std::net::IpAddr>,
    pub host_ip: Option<std::net::IpAddr>,
    /// When the worker first took the pod.
    pub start_time: Time,
    /// Set once the pod's network and files exist.
    pub sandbox_ready: bool,
    /// The phase to keep: a pod that reached Succeeded or Failed stays there.
    pub terminal_phase: Option<&'static str>,
    pub now: Time,
}

fn condition(
    pod: &Pod,
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    now: Time,
) -> serde_json::Value {
    let status = if ok { "True" } else { "False" };
    // The transition time moves only when the status does.
    let previous: Option<&PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind));
    let since = match previous {
        Some(p) if p.status == status => p.last_transition_time.unwrap_or(now),
        _ => now,
    };
    let mut c = json!({
        "type": kind,
        "status": status,
        "lastProbeTime": null,
        "lastTransitionTime": since.to_string(),
    });
    if let Some(r) = reason.filter(|_| !ok) {
        c["reason"] = json!(r);
    }
    c
}

/// The `status` a merge patch sends: every field the kubelet owns.
pub fn pod_status(pod: &Pod, o: &Observed<'_>) -> Value {
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let phase = o
        .terminal_phase
        .unwrap_or_else(|| phase(restart_policy, o.init, o.containers));
    let initialized = o
        .init
        .iter()
        .all(|c| c.exit_code() == Some(0) && c.waiting.is_none());
    let containers_ready =
        !o.containers.is_empty() && o.containers.iter().all(|c| c.ready && c.running());
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let ready_reason = if terminal {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let mut conditions = vec![
        condition(
            pod,
            "PodReadyToStartContainers",
            o.sandbox_ready,
            None,
            o.now,
        ),
        condition(
            pod,
            "Initialized",
            initialized,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotInitialized"
            }),
            o.now,
        ),
        condition(
            pod,
            "Ready",
            containers_ready && !terminal,
            Some(ready_reason),
            o.now,
        ),
        condition(
            pod,
            "ContainersReady",
            containers_ready && !terminal,
            Some(ready_reason),
            o.now,
        ),
    ];
    // PodScheduled is the scheduler's; keep what it wrote.
    if let Some(scheduled) = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| serde_json::to_value(c).ok())
    {
        conditions.push(scheduled);
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "startTime": o.start_time.to_string(),
        "containerStatuses": o.containers.iter().map(container_status).collect::<Vec<_>>(),
        "reason": null,
        "message": null,
    });
    if !o.init.is_empty() {
        status["initContainerStatuses"] = o.init.iter().map(container_status).collect();
    }
    if let Some(ip) = o.host_ip {
        status["hostIP"] = json!(ip.to_string());
        status["hostIPs"] = json!([{ "ip": ip.to_string() }]);
    }
    if let Some(ip) = o.pod_ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{ "ip": ip.to_string() }]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn exited(code: i32) -> ContainerRecord {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        ContainerRecord {
            name: "c".into(),
            current: Some(ContainerStatus {
                id: "id".into(),
                pod_uid: "u".into(),
                container_name: "c".into(),
                attempt: 0,
                image_id: String::new(),
                state: ContainerState::Exited {
                    exit_code: code,
                    started_at: Some(at),
                    finished_at: at,
                    reason: if code == 0 { "Completed" } else { "Error" }.into(),
                },
            }),
            ..ContainerRecord::default()
        }
    }

    fn running() -> ContainerRecord {
        ContainerRecord {
            name: "c".into(),
            ready: true,
            current: Some(ContainerStatus {
                id: "id".into(),
                pod_uid: "u".into(),
                container_name: "c".into(),
                attempt: 0,
                image_id: String::new(),
                state: ContainerState::Running {
                    pid: 1,
                    started_at: UNIX_EPOCH,
                },
            }),
            ..ContainerRecord::default()
        }
    }

    fn backing_off(code: i32) -> ContainerRecord {
        ContainerRecord {
            waiting: Some(("CrashLoopBackOff".into(), String::new())),
            restart_count: 1,
            ..exited(code)
        }
    }

    fn creating() -> ContainerRecord {
        ContainerRecord::new("c", "busybox")
    }

    fn check(policy: &str, init: &[ContainerRecord], main: &[ContainerRecord], expect: &str) {
        assert_eq!(
            phase(policy, init, main),
            expect,
            "{policy} init={init:?} main={main:?}"
        );
    }

    #[test]
    fn phases_follow_kubelet() {
        check("Always", &[], &[creating()], "Pending");
        check("Always", &[], &[running()], "Running");
        check("Always", &[], &[exited(0)], "Running");
        check("Always", &[], &[backing_off(1)], "Running");
        check("OnFailure", &[], &[exited(0)], "Succeeded");
        check("OnFailure", &[], &[exited(1)], "Running");
        check("Never", &[], &[exited(0)], "Succeeded");
        check("Never", &[], &[exited(2)], "Failed");
        check("Never", &[], &[exited(0), exited(1)], "Failed");
        check("Never", &[], &[running(), exited(1)], "Running");
        check("Never", &[], &[creating(), running()], "Pending");
        check("Always", &[creating()], &[creating()], "Pending");
        check("Always", &[exited(0)], &[running()], "Running");
        check("Never", &[exited(1)], &[creating()], "Failed");
        check("OnFailure", &[exited(1)], &[creating()], "Pending");
    }

    #[test]
    fn container_status_shapes() {
        let s = container_status(&running());
        assert!(s["state"]["running"]["startedAt"].is_string(), "{s}");
        assert_eq!(s["ready"], true);
        assert_eq!(s["started"], true);
        assert_eq!(s["containerID"], "runc://id");

        let s = container_status(&backing_off(7));
        assert_eq!(s["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(s["lastState"]["terminated"]["exitCode"], 7);
        assert_eq!(s["ready"], false);
        assert_eq!(s["restartCount"], 1);

        let s = container_status(&exited(0));
        assert_eq!(s["state"]["terminated"]["reason"], "Completed");
        assert_eq!(
            s["state"]["terminated"]["finishedAt"],
            "2023-11-14T22:13:20Z"
        );

        let s = container_status(&creating());
        assert_eq!(s["state"]["waiting"]["reason"], "ContainerCreating");
        assert!(s.get("containerID").is_none());
    }

    #[test]
    fn conditions_keep_their_transition_times() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}], "restartPolicy": "Always"},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2019-01-01T00:00:00Z"}
            ]}
        }))
        .expect("pod");
        let c = [running()];
        let now = Time(1_800_000_000);
        let s = pod_status(
            &pod,
            &Observed {
                init: &[],
                containers: &c,
                pod_ip: Some("10.244.0.5".parse().expect("ip")),
                host_ip: None,
                start_time: now,
                sandbox_ready: true,
                terminal_phase: None,
                now,
            },
        );
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.244.0.5");
        let conds = s["conditions"].as_array().expect("conditions");
        let find = |t: &str| conds.iter().find(|c| c["type"] == t).expect(t).clone();
        assert_eq!(
            find("Ready")["lastTransitionTime"],
            "2020-01-01T00:00:00Z",
            "unchanged status keeps its time"
        );
        assert_eq!(
            find("ContainersReady")["lastTransitionTime"],
            now.to_string()
        );
        assert_eq!(
            find("PodScheduled")["lastTransitionTime"],
            "2019-01-01T00:00:00Z"
        );
    }
}
