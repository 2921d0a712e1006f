"""The official Python `kubernetes` client against a running Clipper: list, watch,
create, patch, delete, and the errors as ApiException with Kubernetes' codes.

Run by tests/python_client.rs with KUBECONFIG set; prints one line per check and exits
non-zero on the first failure.
"""

import json
import os
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def expect_error(code, reason, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        body = json.loads(e.body)
        check(e.status == code, f"{fn.__name__} answers {code} (got {e.status})")
        check(body.get("kind") == "Status" and body.get("reason") == reason,
              f"the error body is a Status with reason {reason}: {body}")
        return body
    check(False, f"{fn.__name__} should fail with {code}")


def main():
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    core = client.CoreV1Api()
    apps = client.AppsV1Api()

    names = [n.metadata.name for n in core.list_namespace().items]
    check("default" in names and "kube-system" in names, f"namespaces listed: {names}")

    ns = "python"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    expect_error(409, "AlreadyExists", core.create_namespace,
                 client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    start = core.list_namespaced_config_map(ns).metadata.resource_version
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "py"}),
        data={"mode": "prod"},
    )
    created = core.create_namespaced_config_map(ns, cm)
    check(created.metadata.uid and created.metadata.resource_version, "create returns the stored object")
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other"), data={"x": "1"}))

    selected = core.list_namespaced_config_map(ns, label_selector="app=py").items
    check([c.metadata.name for c in selected] == ["settings"], "label selector")
    by_field = core.list_namespaced_config_map(ns, field_selector="metadata.name=other").items
    check([c.metadata.name for c in by_field] == ["other"], "field selector")
    page = core.list_namespaced_config_map(ns, limit=1)
    check(len(page.items) == 1 and page.metadata._continue, "limit gives a continue token")
    rest = core.list_namespaced_config_map(ns, limit=1, _continue=page.metadata._continue)
    check(len(rest.items) == 1 and rest.items[0].metadata.name != page.items[0].metadata.name,
          "the continue token gives the next page")

    patched = core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "dev", "extra": "x"}})
    check(patched.data == {"mode": "dev", "extra": "x"}, f"patch merged: {patched.data}")
    jp = core.patch_namespaced_config_map(
        "settings", ns, [{"op": "remove", "path": "/data/extra"}])
    check(jp.data == {"mode": "dev"}, f"json patch: {jp.data}")

    stale = created
    stale.data = {"mode": "stale"}
    expect_error(409, "Conflict", core.replace_namespaced_config_map, "settings", ns, stale)

    core.delete_namespaced_config_map("settings", ns)
    expect_error(404, "NotFound", core.read_namespaced_config_map, "settings", ns)

    # Everything since `start`, in order, through a watch.
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns,
                          resource_version=start, timeout_seconds=20):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    check(seen == [("ADDED", "settings"), ("ADDED", "other"), ("MODIFIED", "settings"),
                   ("MODIFIED", "settings"), ("DELETED", "settings")],
          f"watch delivers every change in order: {seen}")

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]),
            ),
        ),
    )
    d = apps.create_namespaced_deployment(ns, dep)
    check(d.spec.strategy.type == "RollingUpdate", "defaults applied to the deployment")
    body = expect_error(422, "Invalid", apps.create_namespaced_deployment, ns,
                        client.V1Deployment(
                            metadata=client.V1ObjectMeta(name="Bad_Name"),
                            spec=dep.spec))
    check(any("metadata.name" == c.get("field") for c in body["details"]["causes"]),
          "the 422 names the field")
    scaled = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    check(scaled.spec.replicas == 4, "scale subresource")
    check(apps.read_namespaced_deployment("web", ns).spec.replicas == 4, "scale reached the deployment")
    apps.delete_namespaced_deployment("web", ns, propagation_policy="Foreground")

    core.delete_namespace(ns)
    print("OK")


if __name__ == "__main__":
    main()
