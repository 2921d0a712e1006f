//! The QUIC node protocol against a real `clipper up`: a client watching with the admin
//! kubeconfig's certificate, resuming after a forced disconnect with nothing lost and
//! nothing repeated, filtered by labels, refused without permission, cut off when it
//! stalls, and malformed frames answered with an error while the server keeps serving;
//! writes and reads as calls over the same connection, with REST's semantics.

mod common;

use clipper_client::{ClientError, Credentials, Options, QuicClient, WatchEvent};
use clipper_proto::api::core::v1::ConfigMap;
use clipper_proto::wire::{self, EventKind, WatchRequest};
use common::Cluster;
use std::time::Duration;

/// Bound on every wait for an event.
const WAIT: Duration = Duration::from_secs(30);

fn configmaps(ns: &str) -> WatchRequest {
    WatchRequest {
        version: "v1".into(),
        resource: "configmaps".into(),
        namespace: Some(ns.into()),
        ..Default::default()
    }
}

async fn next(w: &mut clipper_client::Watch) -> WatchEvent {
    tokio::time::timeout(WAIT, w.next())
        .await
        .expect("an event within the time limit")
        .expect("the watch goes on")
}

/// The next event, decoded as a ConfigMap: (kind, name, data["v"]).
async fn next_cm(w: &mut clipper_client::Watch) -> (EventKind, String, String, i64) {
    match next(w).await {
        WatchEvent::Event {
            kind,
            revision,
            object,
        } => {
            let cm: ConfigMap = object.decode().expect("a valid ConfigMap envelope");
            let v = cm
                .data
                .as_ref()
                .and_then(|d| d.get("v").cloned())
                .unwrap_or_default();
            (kind, cm.metadata.name.unwrap_or_default(), v, revision)
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_watch_streams_resumes_filters_and_cuts_off_stalled_consumers() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "q"]);
    for (name, v) in [("a", "1"), ("b", "1")] {
        k.ok(&[
            "create",
            "configmap",
            name,
            "-n",
            "q",
            &format!("--from-literal=v={v}"),
        ]);
    }
    let creds = Credentials::from_kubeconfig(&cluster.kubeconfig).expect("kubeconfig");
    let client = QuicClient::new(creds.clone(), Options::default()).expect("client");

    // Initial state, then the sync marker.
    let mut w = client.watch(configmaps("q"));
    let first = [next_cm(&mut w).await, next_cm(&mut w).await];
    let mut names: Vec<&str> = first.iter().map(|e| e.1.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    assert!(first.iter().all(|e| e.0 == EventKind::Added));
    let synced = match next(&mut w).await {
        WatchEvent::Synced(r) => r,
        other => panic!("expected Synced, got {other:?}"),
    };
    assert!(first.iter().all(|e| e.3 <= synced));

    // A change arrives as an event after the sync revision.
    k.ok(&["create", "configmap", "c", "-n", "q", "--from-literal=v=1"]);
    let (kind, name, _, rev_c) = next_cm(&mut w).await;
    assert_eq!((kind, name.as_str()), (EventKind::Added, "c"));
    assert!(rev_c > synced);

    // Forced disconnect: changes made while disconnected arrive once, in order.
    client.disconnect().await;
    k.ok(&["create", "configmap", "d", "-n", "q", "--from-literal=v=1"]);
    k.ok(&[
        "patch",
        "configmap",
        "a",
        "-n",
        "q",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]);
    k.ok(&["delete", "configmap", "b", "-n", "q"]);
    let after: Vec<_> = vec![
        next_cm(&mut w).await,
        next_cm(&mut w).await,
        next_cm(&mut w).await,
    ];
    let seen: Vec<(EventKind, &str, &str)> = after
        .iter()
        .map(|(k, n, v, _)| (*k, n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (EventKind::Added, "d", "1"),
            (EventKind::Modified, "a", "2"),
            (EventKind::Deleted, "b", "1"),
        ]
    );
    assert!(
        after.windows(2).all(|p| p[0].3 < p[1].3) && after[0].3 > rev_c,
        "revisions strictly increase across the reconnect: {after:?}"
    );
    assert_eq!(w.connections(), 2, "one reconnect");

    // Label selectors filter on the server.
    let mut labelled = client.watch(WatchRequest {
        label_selector: "tier=front".into(),
        ..configmaps("q")
    });
    match next(&mut labelled).await {
        WatchEvent::Synced(_) => {}
        other => panic!("nothing matches before the labels: {other:?}"),
    }
    k.ok(&["label", "configmap", "c", "-n", "q", "tier=back"]);
    k.ok(&["label", "configmap", "d", "-n", "q", "tier=front"]);
    // An object that starts to match arrives as ADDED, as Kubernetes' filtered watches
    // report it.
    let (kind, name, _, _) = next_cm(&mut labelled).await;
    assert_eq!((kind, name.as_str()), (EventKind::Added, "d"));
    // The unfiltered watch saw both label changes.
    for want in ["c", "d"] {
        let (kind, name, _, _) = next_cm(&mut w).await;
        assert_eq!((kind, name.as_str()), (EventKind::Modified, want));
    }

    // A token without permissions: 403 with Kubernetes' message.
    k.ok(&["create", "serviceaccount", "nobody", "-n", "q"]);
    let token = k.ok(&["create", "token", "nobody", "-n", "q"]);
    let anon = Credentials {
        identity: None,
        token: Some(token.trim().to_string()),
        ..creds.clone()
    };
    let limited = QuicClient::new(anon, Options::default()).expect("client");
    let mut denied = limited.watch(configmaps("q"));
    match tokio::time::timeout(WAIT, denied.next())
        .await
        .expect("an answer")
    {
        Err(ClientError::Status(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(
                s.message.contains(
                    "User \"system:serviceaccount:q:nobody\" cannot watch resource \"configmaps\""
                ),
                "{}",
                s.message
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }

    // Malformed frames: an error Status on that stream, and the server goes on.
    let (mut send, mut recv) = client.open_raw_stream().await.expect("stream");
    send.write_all(&[5, 0, 0, 0, 0x7f, 1, 2, 3, 4])
        .await
        .expect("write garbage");
    let reply = tokio::time::timeout(WAIT, recv.read_to_end(64 * 1024))
        .await
        .expect("a reply")
        .expect("the stream ends cleanly");
    let mut dec = wire::Decoder::default();
    dec.feed(&reply);
    match dec.next_frame() {
        Ok(Some(wire::Frame::Error(s))) => {
            assert_eq!(s.code, 400);
            assert!(s.message.contains("unknown frame type"), "{}", s.message);
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    let (mut send, mut recv) = client.open_raw_stream().await.expect("stream");
    send.write_all(&u32::MAX.to_le_bytes())
        .await
        .expect("write");
    let reply = tokio::time::timeout(WAIT, recv.read_to_end(64 * 1024))
        .await
        .expect("a reply")
        .expect("the stream ends cleanly");
    dec = wire::Decoder::default();
    dec.feed(&reply);
    assert!(
        matches!(dec.next_frame(), Ok(Some(wire::Frame::Error(ref s))) if s.code == 413),
        "an oversized frame is refused as REST refuses an oversized body"
    );
    k.ok(&["create", "configmap", "e", "-n", "q", "--from-literal=v=1"]);
    let (kind, name, _, _) = next_cm(&mut w).await;
    assert_eq!(
        (kind, name.as_str()),
        (EventKind::Added, "e"),
        "the first watch still works"
    );

    // A consumer that stops reading is cut off with a reason, and only its watch.
    let small = QuicClient::new(
        creds.clone(),
        Options {
            stream_receive_window: 4096,
            ..Options::default()
        },
    )
    .expect("client");
    let mut stalled = small.watch(configmaps("q"));
    // Read up to the sync marker, then stop reading while 3 KiB objects pile up.
    loop {
        if let WatchEvent::Synced(_) = next(&mut stalled).await {
            break;
        }
    }
    let big = "x".repeat(3000);
    let mut manifest = String::new();
    for i in 0..12 {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{i}\n  namespace: q\ndata:\n  v: {big}\n"
        ));
    }
    k.ok_stdin(&["apply", "-f", "-"], &manifest);
    // The server gives up after its stall timeout; reading now drains what the window
    // held and then reports the cut-off.
    // Not reading *is* the condition under test: any read would open the window and let
    // the server continue, so this waits out the server's stall timer instead of an event.
    tokio::time::sleep(wire_stall_wait()).await;
    let mut delivered = 0;
    let outcome = loop {
        match tokio::time::timeout(WAIT, stalled.next())
            .await
            .expect("an answer")
        {
            Ok(WatchEvent::Event { .. }) => delivered += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
        assert!(
            delivered <= 12,
            "the stalled watch cannot receive everything"
        );
    };
    match outcome {
        ClientError::Status(s) => assert_eq!(s.reason, "StreamStalled", "{s:?}"),
        other => panic!("expected a stall cut-off, got {other}"),
    }
    assert!(delivered < 12, "the server stopped sending: {delivered}");
    // The healthy watch saw all twelve.
    for i in 0..12 {
        let (kind, name, _, _) = next_cm(&mut w).await;
        assert_eq!((kind, name), (EventKind::Added, format!("big-{i}")));
    }
    cluster.stop();
}

/// A little longer than the server's stall timeout.
fn wire_stall_wait() -> Duration {
    clipper_apiserver::quic::STALL_TIMEOUT + Duration::from_secs(2)
}

/// The names kubectl lists in a namespace, sorted.
fn kubectl_names(k: &common::Kubectl, ns: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "configmaps",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_informer_mirrors_the_server_across_a_disconnect() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "inf"]);
    for n in ["one", "two", "three"] {
        k.ok(&["create", "configmap", n, "-n", "inf", "--from-literal=v=1"]);
    }
    let creds = Credentials::from_kubeconfig(&cluster.kubeconfig).expect("kubeconfig");
    let client = QuicClient::new(creds, Options::default()).expect("client");
    let mut informer: clipper_client::Informer<ConfigMap> =
        clipper_client::Informer::new(client.watch(configmaps("inf")));
    tokio::time::timeout(WAIT, informer.wait_synced())
        .await
        .expect("synced in time")
        .expect("synced");
    let cached = |i: &clipper_client::Informer<ConfigMap>| -> Vec<String> {
        let mut v: Vec<String> = i.cache().keys().map(|(_, n)| n.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(cached(&informer), kubectl_names(&k, "inf"));

    client.disconnect().await;
    k.ok(&["delete", "configmap", "two", "-n", "inf"]);
    k.ok(&[
        "create",
        "configmap",
        "four",
        "-n",
        "inf",
        "--from-literal=v=4",
    ]);
    k.ok(&[
        "patch",
        "configmap",
        "one",
        "-n",
        "inf",
        "-p",
        r#"{"data":{"v":"9"}}"#,
    ]);
    let want = kubectl_names(&k, "inf");
    assert_eq!(want, ["four", "one", "three"]);
    tokio::time::timeout(
        WAIT,
        informer.wait_for(|c| {
            c.get("inf", "one")
                .and_then(|o| o.data.as_ref().map(|d| d["v"] == "9"))
                .unwrap_or(false)
        }),
    )
    .await
    .expect("caught up in time")
    .expect("informer runs");
    assert_eq!(cached(&informer), want, "the cache equals the server");

    // Writes go over HTTPS with the same credentials; errors are the server's Status.
    let rest = clipper_client::RestClient::new(
        Credentials::from_kubeconfig(&cluster.kubeconfig).expect("kubeconfig"),
        "clipper-e2e/0",
    )
    .expect("rest client");
    let five = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "five", "namespace": "inf"}, "data": {"v": "5"}
    });
    let created = rest
        .create("/api/v1/namespaces/inf/configmaps", &five)
        .await
        .expect("created over HTTPS");
    assert_eq!(created["metadata"]["name"], "five");
    match rest
        .create("/api/v1/namespaces/inf/configmaps", &five)
        .await
    {
        Err(ClientError::Status(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"))
        }
        other => panic!("expected 409, got {other:?}"),
    }
    tokio::time::timeout(WAIT, informer.wait_for(|c| c.get("inf", "five").is_some()))
        .await
        .expect("the informer sees the HTTPS write in time")
        .expect("informer runs");
    assert_eq!(
        informer
            .cache()
            .get("inf", "four")
            .and_then(|o| o.data.clone()),
        Some([("v".to_string(), "4".to_string())].into())
    );
    cluster.stop();
}

/// Writes and reads over QUIC calls, with REST's semantics and errors: create, get,
/// patch, update with a stale resourceVersion (409), status subresource, delete; 404,
/// 409 AlreadyExists, 422 with causes, 400 for malformed JSON, 415, 403 for a token
/// without permission; a watch is refused as a call; a broken call frame gets a 400
/// and the connection keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_reads_over_quic_calls_match_rest() {
    let cluster = Cluster::start();
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "qc"]);
    k.ok(&["create", "serviceaccount", "nobody", "-n", "qc"]);
    let creds = Credentials::from_kubeconfig(&cluster.kubeconfig).expect("kubeconfig");
    let client = QuicClient::new(creds.clone(), Options::default()).expect("client");
    let cms = "/api/v1/namespaces/qc/configmaps";
    let status = |r: Result<serde_json::Value, ClientError>| match r {
        Err(ClientError::Status(s)) => (s.code, s.reason, s.message),
        other => panic!("expected a Status, got {other:?}"),
    };

    let created = client
        .json(
            "POST",
            cms,
            None,
            Some(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c1"}, "data": {"k": "v1"}})),
        )
        .await
        .expect("create over QUIC");
    let rv1 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!rv1.is_empty(), "{created}");
    // kubectl sees what QUIC wrote.
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-n", "qc", "-o", "jsonpath={.data.k}"]),
        "v1"
    );
    let patched = client
        .json(
            "PATCH",
            &format!("{cms}/c1"),
            Some("application/merge-patch+json"),
            Some(&serde_json::json!({"data": {"k": "v2"}})),
        )
        .await
        .expect("patch over QUIC");
    assert_eq!(patched["data"]["k"], "v2");
    let got = client
        .json("GET", &format!("{cms}/c1"), None, None)
        .await
        .expect("get");
    assert_eq!(got["data"]["k"], "v2");

    // A stale update: 409 Conflict, as REST.
    let stale = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c1", "resourceVersion": rv1}, "data": {"k": "v3"}});
    let (code, reason, message) = status(
        client
            .json("PUT", &format!("{cms}/c1"), None, Some(&stale))
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"), "{message}");
    assert!(
        message.contains("the object has been modified"),
        "{message}"
    );
    // AlreadyExists, NotFound, Invalid, malformed JSON, unsupported media type.
    let (code, reason, _) = status(
        client
            .json(
                "POST",
                cms,
                None,
                Some(&serde_json::json!({"metadata": {"name": "c1"}})),
            )
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    let (code, reason, message) =
        status(client.json("GET", &format!("{cms}/nope"), None, None).await);
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "configmaps \"nope\" not found");
    let (code, reason, message) = status(
        client
            .json(
                "POST",
                cms,
                None,
                Some(&serde_json::json!({"metadata": {"name": "Bad_Name"}})),
            )
            .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"), "{message}");
    let (code, _, body) = client
        .call("POST", cms, Some("application/json"), b"{not json")
        .await
        .expect("a reply");
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    let (code, _, _) = client
        .call("POST", cms, Some("text/csv"), b"a,b")
        .await
        .expect("a reply");
    assert_eq!(code, 415);
    let (code, reason, message) = status(
        client
            .json("GET", &format!("{cms}?watch=1"), None, None)
            .await,
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{message}");

    // A token without permission: 403 with Kubernetes' message.
    let token = k.ok(&["create", "token", "nobody", "-n", "qc"]);
    let weak = QuicClient::new(
        Credentials {
            identity: None,
            token: Some(token.trim().to_string()),
            ..creds.clone()
        },
        Options::default(),
    )
    .expect("client");
    let (code, reason, message) =
        status(weak.json("DELETE", &format!("{cms}/c1"), None, None).await);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert!(
        message.starts_with("configmaps \"c1\" is forbidden: User \"system:serviceaccount:qc:nobody\" cannot delete resource"),
        "{message}"
    );

    // A broken call frame: a 400 Status on that stream; the connection keeps serving.
    let (mut send, mut recv) = client.open_raw_stream().await.expect("stream");
    let mut bad = 12u32.to_le_bytes().to_vec();
    bad.push(0x02);
    bad.extend_from_slice(&7u32.to_le_bytes());
    bad.extend_from_slice(b"{oops}!");
    send.write_all(&bad).await.expect("send");
    let _ = send.finish();
    let reply = tokio::time::timeout(WAIT, recv.read_to_end(1 << 20))
        .await
        .expect("answered in time")
        .expect("read");
    let mut d = wire::Decoder::default();
    d.feed(&reply);
    match d.next_frame() {
        Ok(Some(wire::Frame::Error(s))) => assert_eq!(s.code, 400, "{s:?}"),
        other => panic!("expected an error frame, got {other:?}"),
    }
    let deleted = client
        .json("DELETE", &format!("{cms}/c1"), None, None)
        .await
        .expect("delete over QUIC after the broken frame");
    assert_eq!(deleted["status"], "Success", "{deleted}");
    assert!(
        !k.run(&["get", "cm", "c1", "-n", "qc"]).ok,
        "deleted as kubectl sees it"
    );
}
