"""Reproductions for the API server review (each test names the bug it shows; all are expected to FAIL
until the bug is fixed).

Real-process tests use tests.api_cluster; in-process tests drive ApiServer with an in-memory store.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from actors.apiserver.client import ApiError
from tests.api_cluster import ApiCluster
from tests.helpers import wait_until


def configmap(name: str, ns: str = "default", **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data or {"k": "v"}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("review")).start_all()
    c.admin = c.session(timeout_s=4.0, deadline_s=12.0)
    c.wait_ready(c.admin)
    yield c
    c.close()


def _code(session, coro) -> tuple[int, str]:
    try:
        session.run(coro, timeout_s=60)
    except ApiError as exc:
        return exc.code, exc.message
    return 200, ""


# --- BUG: inputs that make a handler raise (bus answers handler_failed -> 500) -------------------

@pytest.mark.parametrize("case", [
    "get-namespaced-without-namespace",
    "update-metadata-not-a-map",
    "patch-metadata-not-a-map",
    "delete-preconditions-not-a-map",
    "delete-grace-infinite",
    "continue-token-start-not-a-string",
    "bind-metadata-not-a-map",
    "create-pod-quantity-nan",
    "create-name-not-a-string",
])
def test_bad_input_is_a_4xx_not_an_internal_error(cluster, case):
    """BUG (handler exceptions): each of these requests is answered 500 "Internal error occurred:
    <Python exception>" (bus handler_failed) instead of Kubernetes' 400/404/422."""
    s = cluster.admin
    api = s.api
    name = f"bad-{case}"[:60]
    if case not in ("get-namespaced-without-namespace", "continue-token-start-not-a-string", "create-pod-quantity-nan",
                    "create-name-not-a-string"):
        s.run(api.create(configmap(name)))
    if case == "bind-metadata-not-a-map":
        s.run(api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
    calls = {
        "get-namespaced-without-namespace": lambda: api.call("get", "configmaps", "", "x"),
        "update-metadata-not-a-map": lambda: api.call(
            "update", "configmaps", "default", name, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}),
        "patch-metadata-not-a-map": lambda: api.call(
            "patch", "configmaps", "default", name, body={"metadata": "x"}, options={"patchType": "merge"}),
        "delete-preconditions-not-a-map": lambda: api.call(
            "delete", "configmaps", "default", name, body={"preconditions": "x"}),
        "delete-grace-infinite": lambda: api.call(
            "delete", "configmaps", "default", name, body={"gracePeriodSeconds": float("inf")}),
        "continue-token-start-not-a-string": lambda: api.call("list", "configmaps", "default", options={
            "limit": 1, "continue": base64.urlsafe_b64encode(json.dumps({"start": 5, "rv": 1}).encode()).decode()}),
        "bind-metadata-not-a-map": lambda: api.call(
            "create", "pods", "default", name, subresource="binding",
            body={"apiVersion": "v1", "kind": "Binding", "metadata": "x", "target": {"name": "n"}}),
        "create-pod-quantity-nan": lambda: api.call("create", "pods", "default", body={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nan-pod"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": float("nan")}}}]}}),
        "create-name-not-a-string": lambda: api.call("create", "configmaps", "default", body={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}}),
    }
    code, message = _code(s, calls[case]())
    assert code != 500 and 400 <= code < 500, (code, message)


# --- BUG: a response larger than a peer frame is dropped silently -----------------------------------

def test_an_invalid_object_with_a_long_value_gets_its_422(cluster):
    """BUG (peer frame limit): the 422 Status repeats the bad value (message and details.causes), so it is
    larger than bus.max_frame_bytes. The broker's own limit is the store's (64 MiB), so reply() does not
    raise MessageTooLarge; BrokerLink.send drops it as "too_large" (a reply wants no reply, so no bounce).
    The client waits its whole timeout and reports 504 "may or may not have been applied"."""
    s = cluster.admin
    obj = configmap("long-label")
    obj["metadata"]["labels"] = {"a": "x" * 600_000}
    started = time.monotonic()
    code, message = _code(s, s.api.create(obj))
    assert code == 422, (code, message[:200], round(time.monotonic() - started, 1))


# --- BUG: a store member restart resets the watch caches of quiet resources (410 to every watcher) ------

def test_a_store_member_restart_does_not_end_client_watches(tmp_path):
    """BUG (store watch resume point ignores progress notices): StoreClient resumes a watch from
    ``w.revision + 1`` where w.revision is the last *event* seen, or the boot-time start_revision for a
    resource with no events since. The new on_progress hook does not advance it. Once the API server's
    periodic compaction has passed that point, the resume is refused ("compacted"), on_end fires, the
    cache is refilled and every client watch of that resource gets ERROR 410 — for one store member
    restart, on every quiet resource (storageclasses, persistentvolumes, cronjobs, ...)."""
    c = ApiCluster(tmp_path, apiserver={"compaction_interval_s": 1.0}).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        # Move the store's revision on, and let two compaction ticks compact past the boot revision.
        for i in range(5):
            s.run(s.api.create(configmap(f"tick-{i}")))
        time.sleep(3)
        s.run(s.api.create(configmap("tick-last")))
        time.sleep(2.5)
        w = c.session()
        ended: list[tuple[str, dict]] = []
        quiet = ["storageclasses", "persistentvolumes", "cronjobs", "statefulsets", "daemonsets", "jobs",
                 "endpointslices", "leases", "secrets", "serviceaccounts", "persistentvolumeclaims", "replicasets"]
        for resource in quiet:
            rv = s.run(s.api.list(resource))["metadata"]["resourceVersion"]
            w.api.watch(resource, resource_version=rv,
                        on_event=lambda t, o, r=resource: ended.append((r, o)) if t == "ERROR" else None)
        w.wait_for(lambda: False, 1.0)
        # One store member goes down and comes back: each watch on it resumes on another member.
        c.kill("store-0")
        w.wait_for(lambda: False, 8.0)
        c.start("store-0")
        w.wait_for(lambda: False, 3.0)
        assert not ended, [(r, o.get("code"), o.get("message")) for r, o in ended]
    finally:
        c.close()
