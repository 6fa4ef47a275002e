#!/usr/bin/env python3
"""The official Kubernetes Python client (`kubernetes` on PyPI) against the
cluster in $KUBECONFIG: ConfigMap CRUD in a fresh namespace, a watch that
sees ADDED/MODIFIED/DELETED, 409 on a stale resourceVersion, 422 with
details.causes, 404 on a missing object, namespace deletion.

Run through scripts/python-client-test.sh. Prints one line per check and a
final line `N passed, N failed`; exits 1 if any check failed.
"""

import json
import sys
import threading
import time
import traceback
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config()
v1 = client.CoreV1Api()
NS = "pyclient-" + uuid.uuid4().hex[:8]
results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
            print(f"PASS {name}")
        except Exception as e:  # noqa: BLE001 - a failed check, whatever it was
            results.append((name, e))
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if not isinstance(e, (AssertionError, ApiException)):
                traceback.print_exc()
        return fn

    return wrap


def cm(name, data, rv=None):
    meta = client.V1ObjectMeta(name=name, labels={"suite": "pyclient"}, resource_version=rv)
    return client.V1ConfigMap(metadata=meta, data=data)


def api_error(fn, *args, **kwargs):
    """Calls fn expecting an ApiException; returns (status, decoded body)."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        body = json.loads(e.body) if e.body else {}
        return e.status, body
    raise AssertionError(f"{fn.__name__} succeeded; an error was expected")


@check("create namespace")
def _():
    ns = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    assert ns.metadata.name == NS, ns.metadata
    assert ns.status.phase == "Active", ns.status


@check("ConfigMap create/read/list/replace/patch/delete")
def _():
    created = v1.create_namespaced_config_map(NS, cm("one", {"a": "1"}))
    assert created.metadata.uid and created.metadata.resource_version, created.metadata
    assert created.metadata.creation_timestamp is not None
    got = v1.read_namespaced_config_map("one", NS)
    assert got.data == {"a": "1"}, got.data
    assert got.metadata.uid == created.metadata.uid
    lst = v1.list_namespaced_config_map(NS, label_selector="suite=pyclient")
    assert [i.metadata.name for i in lst.items] == ["one"], [i.metadata.name for i in lst.items]
    assert lst.metadata.resource_version, lst.metadata
    got.data = {"a": "2"}
    replaced = v1.replace_namespaced_config_map("one", NS, got)
    assert replaced.data == {"a": "2"}, replaced.data
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = v1.patch_namespaced_config_map("one", NS, {"data": {"b": "3"}})
    assert patched.data == {"a": "2", "b": "3"}, patched.data
    v1.delete_namespaced_config_map("one", NS)
    status, body = api_error(v1.read_namespaced_config_map, "one", NS)
    assert status == 404, (status, body)


@check("watch sees ADDED, MODIFIED, DELETED")
def _():
    rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    seen = []
    errors = []

    def run():
        w = watch.Watch()
        try:
            for ev in w.stream(
                v1.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=10
            ):
                if ev["object"].metadata.name != "watched":
                    continue
                seen.append((ev["type"], ev["object"].data))
                if ev["type"] == "DELETED":
                    w.stop()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    v1.create_namespaced_config_map(NS, cm("watched", {"v": "1"}))
    v1.patch_namespaced_config_map("watched", NS, {"data": {"v": "2"}})
    v1.delete_namespaced_config_map("watched", NS)
    t.join(15)
    assert not t.is_alive(), f"watch still running; events so far {seen}"
    assert not errors, errors
    types = [s[0] for s in seen]
    assert types == ["ADDED", "MODIFIED", "DELETED"], seen
    assert seen[1][1] == {"v": "2"}, seen


@check("replace with a stale resourceVersion -> 409 Conflict")
def _():
    first = v1.create_namespaced_config_map(NS, cm("conflict", {"v": "1"}))
    v1.patch_namespaced_config_map("conflict", NS, {"data": {"v": "2"}})
    stale = cm("conflict", {"v": "3"}, rv=first.metadata.resource_version)
    status, body = api_error(v1.replace_namespaced_config_map, "conflict", NS, stale)
    assert status == 409, (status, body)
    assert body.get("kind") == "Status" and body.get("reason") == "Conflict", body
    assert body.get("code") == 409, body
    assert v1.read_namespaced_config_map("conflict", NS).data == {"v": "2"}


@check("invalid ConfigMap name -> 422 Invalid with details.causes")
def _():
    status, body = api_error(v1.create_namespaced_config_map, NS, cm("Bad_Name", {"a": "1"}))
    assert status == 422, (status, body)
    assert body.get("reason") == "Invalid", body
    details = body.get("details") or {}
    assert details.get("kind") == "ConfigMap" and details.get("name") == "Bad_Name", details
    fields = [c.get("field") for c in details.get("causes", [])]
    assert "metadata.name" in fields, details


@check("Pod without containers -> 422 with cause spec.containers")
def _():
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="nocontainers"), spec=client.V1PodSpec(containers=[])
    )
    status, body = api_error(v1.create_namespaced_pod, NS, pod)
    assert status == 422, (status, body)
    assert body.get("reason") == "Invalid", body
    causes = (body.get("details") or {}).get("causes", [])
    assert any(c.get("field") == "spec.containers" for c in causes), causes


@check("get a missing ConfigMap -> 404 NotFound")
def _():
    status, body = api_error(v1.read_namespaced_config_map, "does-not-exist", NS)
    assert status == 404, (status, body)
    assert body.get("reason") == "NotFound", body
    assert (body.get("details") or {}).get("name") == "does-not-exist", body


@check("delete the namespace")
def _():
    v1.delete_namespace(NS)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            ns = v1.read_namespace(NS)
        except ApiException as e:
            assert e.status == 404, e
            return
        assert ns.status.phase == "Terminating", ns.status
        time.sleep(0.2)
    raise AssertionError(f"namespace {NS} still exists after 30 s")


passed = sum(1 for _, e in results if e is None)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
