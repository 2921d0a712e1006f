//! proto-bench: encode, decode and access of a typical Pod and of a 150,000-pod list —
//! Clipper's rkyv envelopes vs serde_json on Clipper's types vs k8s-openapi's JSON.
//!
//! Run: `cargo run --release -p clipper-perf --bin proto-bench` (writes
//! perf/results/proto.md); `--quick` runs a small version for CI.

use std::hint::black_box;
use std::time::Instant;

use clipper_perf::{Table, machine_summary, median};
use clipper_proto::api::core::v1::{Pod, PodList};
use clipper_proto::envelope::{self, AlignedBytes, Envelope};
use k8s_openapi::api::core::v1::Pod as K8sPod;

/// A pod as a Deployment's ReplicaSet creates it and the kubelet reports it: ~4 KiB of
/// JSON with managed fields, probes, a projected token volume and full status.
fn pod_json(i: usize) -> serde_json::Value {
    let node = format!("node-{:04}", i % 5000);
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("web-7d4b9c6f8-{i:06x}"), "generateName": "web-7d4b9c6f8-",
            "namespace": "shop", "uid": format!("6f1c2d3e-0000-4000-8000-{i:012x}"),
            "resourceVersion": format!("{}", 100000 + i), "creationTimestamp": "2024-03-01T12:00:00Z",
            "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d4b9c6f8"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-03-01T11:59:00Z", "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c6f8",
                "uid": "0b6e6a9e-1111-2222-3333-444455556666", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": "2024-03-01T12:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
                             "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}]
        },
        "spec": {
            "containers": [{
                "name": "web", "image": "registry.example.com/shop/web:1.42.0", "imagePullPolicy": "IfNotPresent",
                "args": ["--listen=:8080", "--log-level=info"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                        {"name": "CACHE_SIZE", "value": "256"}],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                    "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10,
                    "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": true},
                                 {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": node,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {
            "phase": "Running", "qosClass": "Burstable", "hostIP": "192.168.1.20",
            "podIP": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            "startTime": "2024-03-01T12:00:01Z",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2024-03-01T12:00:01Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-03-01T12:00:09Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2024-03-01T12:00:09Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-03-01T12:00:00Z"}],
            "containerStatuses": [{"name": "web", "ready": true, "started": true, "restartCount": 0,
                "image": "registry.example.com/shop/web:1.42.0",
                "imageID": "registry.example.com/shop/web@sha256:4f6b2d8a0c1e3f5a7b9d0e2f4a6c8e0a1b3d5f7a9c0e2f4b6d8a0c2e4f6a8b0c",
                "containerID": format!("containerd://{i:064x}"),
                "state": {"running": {"startedAt": "2024-03-01T12:00:03Z"}}}]
        }
    })
}

/// Nanoseconds per operation: the median of `samples` timings of `batch` calls.
fn per_op_ns(samples: usize, batch: usize, mut f: impl FnMut()) -> f64 {
    let times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    median(&times)
}

/// Milliseconds for one call, the median of `samples` runs.
fn once_ms(samples: usize, mut f: impl FnMut()) -> f64 {
    let times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&times)
}

fn read_fields(p: &Pod) -> usize {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .map_or(0, |n| n.len())
        + p.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_ref())
            .map_or(0, |i| i.len())
}

fn read_fields_k8s(p: &K8sPod) -> usize {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .map_or(0, |n| n.len())
        + p.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_ref())
            .map_or(0, |i| i.len())
}

fn read_archived(p: &<Pod as rkyv::Archive>::Archived) -> usize {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .map_or(0, |n| n.len())
        + p.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_ref())
            .map_or(0, |i| i.len())
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, batch, list_len, list_samples) = if quick {
        (3, 200, 5_000, 1)
    } else {
        (9, 5_000, 150_000, 5)
    };

    // One pod.
    let doc = pod_json(1);
    let json = serde_json::to_vec(&doc)?;
    let pod: Pod = serde_json::from_slice(&json)?;
    let k8s: K8sPod = serde_json::from_slice(&json)?;
    let env = envelope::encode(&pod)?;
    let ours_json = serde_json::to_vec(&pod)?;
    let k8s_json = serde_json::to_vec(&k8s)?;

    let mut single = Table::new(&[
        "operation (one Pod)",
        "rkyv envelope",
        "serde_json, Clipper types",
        "k8s-openapi JSON",
    ]);
    let enc_rkyv = per_op_ns(samples, batch, || {
        black_box(
            envelope::encode(black_box(&pod))
                .map(|b| b.len())
                .unwrap_or(0),
        );
    });
    let enc_json = per_op_ns(samples, batch, || {
        black_box(
            serde_json::to_vec(black_box(&pod))
                .map(|b| b.len())
                .unwrap_or(0),
        );
    });
    let enc_k8s = per_op_ns(samples, batch, || {
        black_box(
            serde_json::to_vec(black_box(&k8s))
                .map(|b| b.len())
                .unwrap_or(0),
        );
    });
    single.row_ns("encode", &[enc_rkyv, enc_json, enc_k8s]);
    let dec_rkyv = per_op_ns(samples, batch, || {
        black_box(
            envelope::decode::<Pod>(black_box(&env))
                .map(|p| read_fields(&p))
                .unwrap_or(0),
        );
    });
    let dec_json = per_op_ns(samples, batch, || {
        black_box(
            serde_json::from_slice::<Pod>(black_box(&ours_json))
                .map(|p| read_fields(&p))
                .unwrap_or(0),
        );
    });
    let dec_k8s = per_op_ns(samples, batch, || {
        black_box(
            serde_json::from_slice::<K8sPod>(black_box(&k8s_json))
                .map(|p| read_fields_k8s(&p))
                .unwrap_or(0),
        );
    });
    single.row_ns(
        "decode to an owned object (validated)",
        &[dec_rkyv, dec_json, dec_k8s],
    );
    let acc_checked = per_op_ns(samples, batch, || {
        let n = Envelope::parse(black_box(&env))
            .and_then(|e| e.access::<Pod>().map(read_archived))
            .unwrap_or(0);
        black_box(n);
    });
    let acc_trusted = per_op_ns(samples, batch, || {
        let n = Envelope::parse(black_box(&env))
            .and_then(|e| e.access_trusted::<Pod>().map(read_archived))
            .unwrap_or(0);
        black_box(n);
    });
    single.row_ns(
        "access 2 fields, bytes from the network (checksum + bytecheck)",
        &[acc_checked, dec_json, dec_k8s],
    );
    single.row_ns(
        "access 2 fields, bytes from our store (checksum only)",
        &[acc_trusted, dec_json, dec_k8s],
    );
    single.row_text(
        "size (bytes)",
        &[
            env.len().to_string(),
            ours_json.len().to_string(),
            k8s_json.len().to_string(),
        ],
    );

    // A list of pods, as the store and the API server hold them.
    let pods: Vec<Pod> = (0..list_len)
        .map(|i| serde_json::from_value(pod_json(i)))
        .collect::<Result<_, _>>()?;
    let k8s_pods: Vec<K8sPod> = (0..list_len)
        .map(|i| serde_json::from_value(pod_json(i)))
        .collect::<Result<_, _>>()?;
    let list = PodList {
        items: pods.clone(),
        ..Default::default()
    };
    let k8s_list = k8s_openapi::List::<K8sPod> {
        items: k8s_pods,
        metadata: Default::default(),
    };
    let envelopes: Vec<AlignedBytes> = pods
        .iter()
        .map(envelope::encode)
        .collect::<Result<_, _>>()?;
    let list_json = serde_json::to_vec(&list)?;
    let k8s_list_json = serde_json::to_vec(&k8s_list)?;

    let mut many = Table::new(&[
        &format!("operation ({list_len} Pods)"),
        "rkyv envelopes",
        "serde_json, Clipper types",
        "k8s-openapi JSON",
    ]);
    let enc = [
        once_ms(list_samples, || {
            let total: usize = pods
                .iter()
                .map(|p| envelope::encode(p).map(|b| b.len()).unwrap_or(0))
                .sum();
            black_box(total);
        }),
        once_ms(list_samples, || {
            black_box(serde_json::to_vec(&list).map(|b| b.len()).unwrap_or(0));
        }),
        once_ms(list_samples, || {
            black_box(serde_json::to_vec(&k8s_list).map(|b| b.len()).unwrap_or(0));
        }),
    ];
    many.row_ms("encode", &enc);
    let dec = [
        once_ms(list_samples, || {
            let n: usize = envelopes
                .iter()
                .map(|e| {
                    envelope::decode::<Pod>(e)
                        .map(|p| read_fields(&p))
                        .unwrap_or(0)
                })
                .sum();
            black_box(n);
        }),
        once_ms(list_samples, || {
            let l: PodList = serde_json::from_slice(&list_json).unwrap_or_default();
            black_box(l.items.iter().map(read_fields).sum::<usize>());
        }),
        once_ms(list_samples, || {
            let l: Result<k8s_openapi::List<K8sPod>, _> = serde_json::from_slice(&k8s_list_json);
            black_box(
                l.map(|l| l.items.iter().map(read_fields_k8s).sum::<usize>())
                    .unwrap_or(0),
            );
        }),
    ];
    many.row_ms("decode to owned objects (validated)", &dec);
    let scan_checked = once_ms(list_samples, || {
        let n: usize = envelopes
            .iter()
            .map(|e| {
                Envelope::parse(e)
                    .and_then(|e| e.access::<Pod>().map(read_archived))
                    .unwrap_or(0)
            })
            .sum();
        black_box(n);
    });
    let scan_trusted = once_ms(list_samples, || {
        let n: usize = envelopes
            .iter()
            .map(|e| {
                Envelope::parse(e)
                    .and_then(|e| e.access_trusted::<Pod>().map(read_archived))
                    .unwrap_or(0)
            })
            .sum();
        black_box(n);
    });
    many.row_ms(
        "scan 2 fields of every pod, untrusted bytes",
        &[scan_checked, dec[1], dec[2]],
    );
    many.row_ms(
        "scan 2 fields of every pod, bytes from our store",
        &[scan_trusted, dec[1], dec[2]],
    );
    let env_bytes: usize = envelopes.iter().map(|e| e.len()).sum();
    many.row_text(
        "size (MiB)",
        &[
            format!("{:.1}", env_bytes as f64 / 1048576.0),
            format!("{:.1}", list_json.len() as f64 / 1048576.0),
            format!("{:.1}", k8s_list_json.len() as f64 / 1048576.0),
        ],
    );

    let command = "cargo run --release -p clipper-perf --bin proto-bench";
    let report = format!(
        "# API object codecs: rkyv envelopes vs JSON\n\n\
         Command: `{command}`  \n\
         Machine: {}  \n\
         Method: medians of {samples} samples of {batch} operations for one Pod, and of {list_samples} runs for the list. \
         The Pod is a typical Deployment pod with managed fields and full status (`pod_json` in perf/src/bin/proto-bench.rs). \
         \"Access\" reads spec.nodeName and the first container's image; JSON has no access without a full decode, \
         so its columns repeat the decode time. \"Untrusted\" runs rkyv's bytecheck validation over the payload \
         (what the QUIC client does with bytes from the network); \"from our store\" checks only the envelope's CRC-32C \
         (what the API server does with bytes its own store wrote).\n\n\
         {}\n\n{}\n",
        machine_summary(),
        single.markdown(),
        many.markdown()
    );
    println!("{report}");
    if !quick {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/proto.md");
        std::fs::write(&path, &report)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
