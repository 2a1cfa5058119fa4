"""The API server as real processes: three store members, the apiserver, clients on the bus.

What must hold in a running control plane, not in a model of one: optimistic
concurrency, watches that stay ordered and gap-free across a kill -9 of the
API server, 410 Gone for a resourceVersion the cache no longer holds, a slow
watcher cut off while a fast one keeps up, informers catching up after a
restart, and bad input refused with nothing written.
"""

from __future__ import annotations

import json

import pytest
import zmq

from actors.apiserver.client import ApiError, Informer
from bus.codec import seal
from tests.api_cluster import ApiCluster
from tests.helpers import metric, wait_until


def configmap(name: str, ns: str = "default", **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data or {"k": "v"}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("api"), apiserver={"watcher_buffer": 50, "watch_window": 4}).start_all()
    c.admin = c.session()
    c.wait_ready(c.admin)
    yield c
    c.close()


def test_two_updates_from_the_same_resource_version_one_wins_one_conflicts(cluster):
    a, b = cluster.admin, cluster.session()
    created = a.run(a.api.create(configmap("race")))
    outcomes = []

    async def update(session, value):
        obj = dict(created, data={"k": value})
        try:
            await session.api.update(obj)
            outcomes.append("ok")
        except ApiError as exc:
            outcomes.append(exc.code)

    # Both in flight at once, each from its own client process-like session.
    a.api.spawn(update(a, "from-a"))
    b.api.spawn(update(b, "from-b"))
    assert wait_until(lambda: len(outcomes) == 2 or (a.poll(0.01), b.poll(0.01)) and False, 10)
    assert sorted(outcomes, key=str) == [409, "ok"]
    final = a.run(a.api.get("configmaps", "race", "default"))
    assert final["data"]["k"] in ("from-a", "from-b")
    assert int(final["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_a_watch_from_a_resource_version_older_than_the_cache_gets_410(tmp_path):
    c = ApiCluster(tmp_path, apiserver={"watch_cache_size": 100}).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        first = s.run(s.api.create(configmap("first")))
        for i in range(120):
            s.api.spawn(s.api.create(configmap(f"fill-{i}")))
        # Until the watch cache (what resourceVersion=0 lists from) has them all.
        wait_until(lambda: len(s.run(s.api.list("configmaps", "default", resource_version="0"))["items"]) >= 121,
                   30, step=lambda: s.poll(0.01))
        events = []
        s.api.watch("configmaps", "default", resource_version=first["metadata"]["resourceVersion"],
                    on_event=lambda t, o: events.append((t, o)))
        assert s.wait_for(lambda: events, 10)
        typ, status = events[0]
        assert typ == "ERROR" and status["code"] == 410 and status["reason"] == "Expired"
        assert "too old resource version" in status["message"]
        # An informer that starts from a list is not affected: it lists, then watches from there.
        inf = Informer(s.api, "configmaps", "default")
        inf.start()
        assert s.wait_for(lambda: len(inf.store) >= 121, 10)
    finally:
        c.close()


def test_a_slow_watcher_is_cut_off_while_a_fast_one_keeps_up(cluster):
    fast_s, slow_s = cluster.session(), cluster.session()
    ns = "slow-test"
    cluster.admin.run(cluster.admin.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    start = cluster.admin.run(cluster.admin.api.list("configmaps", ns))["metadata"]["resourceVersion"]
    fast, slow = [], []
    fast_w = fast_s.api.watch("configmaps", ns, resource_version=start, on_event=lambda t, o: fast.append((t, o)))
    slow_w = slow_s.api.watch("configmaps", ns, resource_version=start, on_event=lambda t, o: slow.append((t, o)))
    # Both watches registered with the server; from then on the slow client stops reading.
    before = metric(cluster.metrics(), "kubesim_apiserver_registered_watchers", resource="configmaps")
    wait_until(lambda: metric(cluster.metrics(), "kubesim_apiserver_registered_watchers",
                              resource="configmaps") >= before + 2, 10,
               step=lambda: (fast_s.poll(0.01), slow_s.poll(0.01)))
    n = 200
    writer = cluster.admin

    async def write_one_by_one():
        # One by one, so events reach watchers in many messages: the slow watcher's
        # unacknowledged window (4 messages here) fills and its queue passes the bound (50).
        for i in range(n):
            await writer.api.create(configmap(f"cm-{i}", ns))

    writer.api.spawn(write_one_by_one())
    assert wait_until(lambda: len(fast) >= n, 30, step=lambda: (writer.poll(0.005), fast_s.poll(0.005)))
    rvs = [int(o["metadata"]["resourceVersion"]) for _, o in fast]
    assert [t for t, _ in fast] == ["ADDED"] * n and rvs == sorted(rvs) and len(set(rvs)) == n
    assert fast_w.gaps == 0 and fast_w.restarts == 0
    # The slow client wakes up: it was cut off, so it watches again from what it had and still gets everything.
    assert slow_s.wait_for(lambda: len(slow) >= n, 30)
    assert slow_w.gaps + slow_w.restarts >= 1  # cut off (and, unpolled, maybe forgotten by the broker)
    assert [int(o["metadata"]["resourceVersion"]) for _, o in slow] == rvs
    assert metric(cluster.metrics(), "kubesim_apiserver_terminated_watchers_total", resource="configmaps") >= 1


def test_label_and_field_selectors_on_list_and_watch(cluster):
    s = cluster.admin
    ns = "select"
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        obj = configmap(name, ns)
        obj["metadata"]["labels"] = {"tier": tier}
        s.run(s.api.create(obj))
    names = [o["metadata"]["name"] for o in s.run(s.api.list("configmaps", ns, label_selector="tier in (web)"))["items"]]
    assert names == ["a", "c"]
    names = [o["metadata"]["name"] for o in s.run(s.api.list("configmaps", ns, field_selector="metadata.name!=a",
                                                            label_selector="tier=web"))["items"]]
    assert names == ["c"]
    seen = []
    s.api.watch("configmaps", ns, label_selector="tier=web", on_event=lambda t, o: seen.append((t, o["metadata"]["name"])))
    assert s.wait_for(lambda: len(seen) >= 2, 10)
    # b modified into the selector: ADDED for this watcher; a modified out of it: DELETED.
    s.run(s.api.patch("configmaps", "b", {"metadata": {"labels": {"tier": "web"}}}, ns, patch_type="merge"))
    s.run(s.api.patch("configmaps", "a", {"metadata": {"labels": {"tier": "db"}}}, ns, patch_type="merge"))
    assert s.wait_for(lambda: len(seen) >= 4, 10)
    assert sorted(seen[:2]) == [("ADDED", "a"), ("ADDED", "c")]
    assert seen[2:] == [("ADDED", "b"), ("DELETED", "a")]
    with pytest.raises(ApiError) as err:
        s.run(s.api.list("configmaps", ns, field_selector="spec.nodeName=x"))
    assert err.value.code == 400 and "spec.nodeName" in err.value.message


def test_pagination_returns_every_object_once_at_one_resource_version(cluster):
    s = cluster.admin
    ns = "pages"
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    for i in range(23):
        s.api.spawn(s.api.create(configmap(f"p-{i:02d}", ns)))
    wait_until(lambda: len(s.run(s.api.list("configmaps", ns))["items"]) == 23, 20)
    first = s.run(s.api.call("list", "configmaps", ns, options={"limit": 10}))
    assert len(first["items"]) == 10 and first["metadata"]["continue"]
    # A write between pages does not show in the later pages: they read at the first page's revision.
    s.run(s.api.create(configmap("p-99", ns)))
    second = s.run(s.api.call("list", "configmaps", ns, options={"limit": 100, "continue": first["metadata"]["continue"]}))
    names = [o["metadata"]["name"] for o in first["items"] + second["items"]]
    assert names == [f"p-{i:02d}" for i in range(23)]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as err:
        s.run(s.api.call("list", "configmaps", ns, options={"continue": "garbage!"}))
    assert err.value.code == 400


def test_authorization_by_bus_identity(cluster):
    admin = cluster.admin
    for node in ("node-1", "node-2"):
        admin.run(admin.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p2", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "node-2"}}
    admin.run(admin.api.create(pod))
    kubelet = cluster.session(name="node-1")
    scheduler = cluster.session(name="scheduler")
    stranger = cluster.session(name="intruder")

    def refused(session, coro) -> ApiError:
        with pytest.raises(ApiError) as err:
            session.run(coro)
        return err.value

    err = refused(stranger, stranger.api.list("pods"))
    assert err.code == 401
    err = refused(scheduler, scheduler.api.delete("nodes", "node-1"))
    assert err.code == 403 and 'User "system:kube-scheduler" cannot delete resource "nodes"' in err.message
    err = refused(kubelet, kubelet.api.patch("nodes", "node-2", {"metadata": {"labels": {"x": "y"}}},
                                             patch_type="merge"))
    assert err.code == 403 and "node-2" in err.message
    err = refused(kubelet, kubelet.api.patch("pods", "p2", {"status": {"phase": "Running"}}, "default",
                                             patch_type="merge", subresource="status"))
    assert err.code == 403
    # What each may do, it can.
    kubelet.run(kubelet.api.patch("nodes", "node-1", {"status": {"conditions": [
        {"type": "Ready", "status": "True"}]}}, patch_type="merge", subresource="status"))
    pending = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p3", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    admin.run(admin.api.create(pending))
    scheduler.run(scheduler.api.bind("default", "p3", "node-1"))
    bound = admin.run(admin.api.get("pods", "p3", "default"))
    assert bound["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= bound["status"]["conditions"][0].items()
    err = refused(scheduler, scheduler.api.bind("default", "p3", "node-2"))
    assert err.code == 409
    kubelet.run(kubelet.api.patch("pods", "p3", {"status": {"phase": "Running"}}, "default", patch_type="merge",
                                  subresource="status"))


def test_impersonation_acts_as_the_user_asked_for_once_rbac_allows_it(cluster):
    # How one hollow-nodes process speaks for many kubelets: each request impersonates its node's user.
    admin = cluster.admin
    for node in ("imp-1", "imp-2"):
        admin.run(admin.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
    as_node = cluster.session(name="admin")
    as_node.api.impersonate = {"user": "system:node:imp-1", "groups": ["system:nodes"]}
    as_node.run(as_node.api.patch("nodes", "imp-1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                                  patch_type="merge", subresource="status"))
    with pytest.raises(ApiError) as err:  # node restriction applies to the impersonated node
        as_node.run(as_node.api.patch("nodes", "imp-2", {"metadata": {"labels": {"x": "y"}}}, patch_type="merge"))
    assert err.value.code == 403 and "imp-2" in err.value.message
    seen: list[tuple[str, dict]] = []
    as_node.api.watch("nodes", field_selector="metadata.name=imp-1", on_event=lambda t, o: seen.append((t, o)))
    wait_until(lambda: any(t == "ADDED" and o["metadata"]["name"] == "imp-1" for t, o in seen), 10,
               "the impersonated watch's first event", step=lambda: as_node.poll(0.05))

    scheduler = cluster.session(name="scheduler")
    scheduler.api.impersonate = {"user": "system:node:imp-1", "groups": ["system:nodes"]}
    with pytest.raises(ApiError) as err:
        scheduler.run(scheduler.api.get("nodes", "imp-1"))
    assert err.value.code == 403
    assert err.value.message == ('users "system:node:imp-1" is forbidden: User "system:kube-scheduler" cannot '
                                 'impersonate resource "users" in API group "" at the cluster scope')
    for bad, text in (({"groups": ["system:nodes"]}, "without impersonating a user"),
                      ({"user": "x", "groups": "system:nodes"}, "must be a list"),
                      ({"user": "x", "uid": "1"}, '"user" and optionally "groups"')):
        as_node.api.impersonate = bad
        with pytest.raises(ApiError) as err:
            as_node.run(as_node.api.get("nodes", "imp-1"))
        assert err.value.code == 400 and text in err.value.message, err.value.message


def test_pod_logs_are_asked_of_the_pods_kubelet(cluster):
    # The kubelet side is tested with the node process; here, what the API server does before and without it.
    admin = cluster.admin
    admin.run(admin.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely", "namespace": "default"},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
    with pytest.raises(ApiError) as err:
        admin.run(admin.api.logs("default", "lonely"))
    assert err.value.code == 400 and 'container "c" in pod "lonely" is waiting to start' in err.value.message
    admin.run(admin.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "namespace": "default"},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "node-gone"}}))
    with pytest.raises(ApiError) as err:
        admin.run(admin.api.logs("default", "orphan", tail_lines=5))
    assert err.value.code == 502 and "from node node-gone: the kubelet did not answer" in err.value.message
    with pytest.raises(ApiError) as err:
        admin.run(admin.api.call("get", "pods", "default", "orphan", subresource="log", options={"tailLines": "x"}))
    assert err.value.code == 400 and "tailLines must be int" in err.value.message


def test_a_claim_without_a_class_gets_the_default_one(cluster):
    admin = cluster.admin
    admin.run(admin.api.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                "metadata": {"name": "everyday", "annotations": {
                                    "storageclass.kubernetes.io/is-default-class": "true"}},
                                "provisioner": "kubesim.io/hostpath"}))

    def claim(name: str, **spec) -> dict:
        return admin.run(admin.api.create({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}))

    # Admission reads the classes from the API server's cache, which follows the store a moment behind.
    def cached() -> bool:
        try:
            admin.run(admin.api.call("get", "storageclasses", name="everyday", options={"resourceVersion": "0"}))
            return True
        except ApiError:
            return False

    wait_until(cached, 10, "the class in the API server's cache")
    assert claim("plain")["spec"]["storageClassName"] == "everyday"
    assert claim("classless", storageClassName="")["spec"]["storageClassName"] == ""
    admin.run(admin.api.delete("storageclasses", "everyday"))


def test_bad_input_is_refused_and_nothing_is_written(cluster):
    s = cluster.admin
    cases = [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nope"}, "spec": {"containers": [{"name": "c"}]}},
         422, "spec.containers[0].image: Required value"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Not_DNS"},
          "spec": {"containers": [{"name": "c", "image": "x"}]}}, 422, "metadata.name: Invalid value"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lbl", "labels": {"a": "-bad-"}}},
         422, "metadata.labels: Invalid value"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x" * 1_000_000}},
         413, "Request entity too large"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "missing-ns", "namespace": "nowhere"}},
         404, 'namespaces "nowhere" not found'),
    ]
    for obj, code, text in cases:
        with pytest.raises(ApiError) as err:
            s.run(s.api.create(obj))
        assert err.value.code == code and text in err.value.message, (obj["metadata"]["name"], err.value)
        ns = obj["metadata"].get("namespace", "default")
        with pytest.raises(ApiError) as gone:
            s.run(s.api.get(f"{obj['kind'].lower()}s", obj["metadata"]["name"], ns))
        assert gone.value.code == 404
    with pytest.raises(ApiError) as err:
        s.run(s.api.call("create", "foos", "default", body={"apiVersion": "v1", "kind": "Foo"}))
    assert err.value.code == 404
    with pytest.raises(ApiError) as err:
        s.run(s.api.call("create", "configmaps", "default", body={"apiVersion": "v9", "kind": "Widget"}))
    assert err.value.code == 400 and 'no matches for kind "Widget" in version "v9"' in err.value.message
    with pytest.raises(ApiError) as err:
        s.run(s.api.call("frobnicate", "configmaps", "default"))
    assert err.value.code == 405
    with pytest.raises(ApiError) as err:
        s.run(s.api.call("create", "configmaps", "default", body=["not", "an", "object"]))
    assert err.value.code == 400
    # Garbage frames straight at the broker: refused, counted, and the API server carries on.
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{cluster.cfg.bus.port}")
    for frames in ([seal(b"apiserver", b"\xc1garbage", b"\x00")], [b"apiserver"], [seal(b"broker", b"x" * 100, b"y")]):
        sock.send_multipart(frames)
    sock.close()
    assert cluster.procs["apiserver"].poll() is None
    assert s.run(s.api.get("namespaces", "default"))["metadata"]["name"] == "default"
    assert metric(cluster.metrics(), "kubesim_apiserver_rejected_requests_total", reason="Invalid") >= 3


def test_kill_9_of_the_api_server_loses_nothing_and_watches_resume_in_order(tmp_path):
    c = ApiCluster(tmp_path).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        w_s = c.session()
        start = s.run(s.api.list("configmaps", "default"))["metadata"]["resourceVersion"]
        seen: list[tuple[str, str, int]] = []
        watch = w_s.api.watch("configmaps", "default", resource_version=start,
                              on_event=lambda t, o: seen.append((t, o["metadata"]["name"],
                                                                 int(o["metadata"]["resourceVersion"]))))
        informed = Informer(w_s.api, "configmaps", "default")
        informed.start()
        acked: dict[str, int] = {}
        for i in range(30):
            obj = s.run(s.api.create(configmap(f"before-{i}")))
            acked[obj["metadata"]["name"]] = int(obj["metadata"]["resourceVersion"])
        assert w_s.wait_for(lambda: len(seen) >= 30, 15)
        c.kill("apiserver")
        w_s.poll(0.2)
        c.start("apiserver")
        c.wait_ready(s, 30)
        for i in range(30):
            obj = s.run(s.api.create(configmap(f"after-{i}")))
            acked[obj["metadata"]["name"]] = int(obj["metadata"]["resourceVersion"])
        assert w_s.wait_for(lambda: len(seen) >= 60, 30), (len(seen), c.log_tail("apiserver"))
        # Ordered, gap-free: exactly the acknowledged writes, in resourceVersion order, each once.
        assert [(n, rv) for _, n, rv in seen] == sorted(acked.items(), key=lambda kv: kv[1])
        assert all(t == "ADDED" for t, _, _ in seen)
        assert watch.gaps + watch.restarts >= 1  # it did have to resume
        # Nothing lost in the store, and the informer caught up with all of it.
        listed = s.run(s.api.list("configmaps", "default"))["items"]
        assert {o["metadata"]["name"] for o in listed} == set(acked)
        assert w_s.wait_for(lambda: len(informed.store) == 60, 20)
        assert {o["metadata"]["name"] for o in informed.list()} == set(acked)
    finally:
        c.close()


def test_the_api_server_answers_with_the_store_down_then_recovers(tmp_path):
    """With no store quorum, writes fail with 503/504 (never a hang or a crash); with it back, they work."""
    c = ApiCluster(tmp_path).start_all()
    try:
        s = c.session(deadline_s=8.0, timeout_s=6.0)
        c.wait_ready(s)
        c.kill("store-1")
        c.kill("store-2")
        with pytest.raises(ApiError) as err:
            s.run(s.api.create(configmap("no-quorum")))
        assert err.value.code in (503, 504)
        assert c.procs["apiserver"].poll() is None
        c.start("store-1")
        c.start("store-2")
        wait_until(lambda: _try_create(s, configmap("quorum-back")), 30, "a write after the store recovers")
    finally:
        c.close()


def _try_create(s, obj) -> bool:
    try:
        s.run(s.api.create(obj))
        return True
    except ApiError as exc:
        return exc.reason == "AlreadyExists"


def test_object_lifecycle_as_kubernetes_has_it(cluster):
    s = cluster.admin
    api = s.api
    ns = "life"
    s.run(api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    # generateName, uid, creationTimestamp, generation, defaults.
    dep = s.run(api.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generateName": "web-", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}))
    name = dep["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9 and dep["metadata"]["uid"]
    assert dep["metadata"]["generation"] == 1 and dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # A status write leaves spec alone; a spec write leaves status alone; only spec bumps generation.
    with_status = dict(dep, status={"replicas": 1, "observedGeneration": 1}, spec=dict(dep["spec"], replicas=7))
    after_status = s.run(api.update_status(with_status))
    assert after_status["spec"]["replicas"] == 1 and after_status["status"]["replicas"] == 1
    assert after_status["metadata"]["generation"] == 1
    scaled = s.run(api.patch("deployments", name, {"spec": {"replicas": 3}, "status": {"replicas": 99}}, ns,
                             patch_type="merge"))
    assert scaled["spec"]["replicas"] == 3 and scaled["status"]["replicas"] == 1
    assert scaled["metadata"]["generation"] == 2
    labelled = s.run(api.patch("deployments", name, {"metadata": {"labels": {"x": "y"}}}, ns, patch_type="merge"))
    assert labelled["metadata"]["generation"] == 2
    scale = s.run(api.get("deployments", name, ns, subresource="scale"))
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"
    # Finalizers hold a deleted object; removing the last one deletes it.
    cm = configmap("held", ns)
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    s.run(api.create(cm))
    held = s.run(api.delete("configmaps", "held", ns))
    assert held["metadata"]["deletionTimestamp"]
    assert s.run(api.get("configmaps", "held", ns))["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiError) as err:
        s.run(api.patch("configmaps", "held", {"metadata": {"finalizers": ["example.com/hold", "other"]}}, ns,
                        patch_type="merge"))
    assert err.value.code == 422
    s.run(api.patch("configmaps", "held", {"metadata": {"finalizers": None}}, ns, patch_type="merge"))
    with pytest.raises(ApiError) as err:
        s.run(api.get("configmaps", "held", ns))
    assert err.value.code == 404
    # A bound pod gets its grace period; an unbound one goes at once.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bound", "namespace": ns},
           "spec": {"nodeName": "node-x", "containers": [{"name": "c", "image": "busybox"}]}}
    created = s.run(api.create(pod))
    assert created["status"]["phase"] == "Pending" and created["status"]["qosClass"] == "BestEffort"
    assert {t["key"] for t in created["spec"]["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                                  "node.kubernetes.io/unreachable"}
    terminating = s.run(api.delete("pods", "bound", ns))
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    s.run(api.delete("pods", "bound", ns, grace_period_s=0))  # what the kubelet does when the pod has stopped
    with pytest.raises(ApiError):
        s.run(api.get("pods", "bound", ns))
    # ClusterIPs are never handed out twice and come back on delete; NodePorts likewise.
    ips = set()
    for i in range(5):
        svc = s.run(api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}", "namespace": ns},
                                "spec": {"type": "NodePort", "ports": [{"port": 80}]}}))
        ips.add(svc["spec"]["clusterIP"])
        assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert len(ips) == 5
    fixed = s.run(api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fixed", "namespace": ns},
                              "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}]}}))
    with pytest.raises(ApiError) as err:
        s.run(api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup", "namespace": ns},
                          "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}]}}))
    assert err.value.code == 422 and "provided IP is already allocated" in err.value.message
    s.run(api.delete("services", fixed["metadata"]["name"], ns))
    again = s.run(api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup", "namespace": ns},
                              "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}]}}))
    assert again["spec"]["clusterIP"] == "10.96.0.50"
    # A terminating namespace refuses new objects; AlreadyExists on a duplicate create.
    with pytest.raises(ApiError) as err:
        s.run(api.create(configmap("s0-again", ns) | {"metadata": {"name": "s0", "namespace": ns}} | {
            "apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}))
    assert err.value.code == 409 and err.value.reason == "AlreadyExists"
    gone = s.run(api.delete("namespaces", ns))
    assert gone["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as err:
        s.run(api.create(configmap("late", ns)))
    assert err.value.code == 403 and "because it is being terminated" in err.value.message


def test_with_curve_the_user_comes_from_the_key_not_the_claimed_name(tmp_path):
    c = ApiCluster(tmp_path, security={"curve": True})
    made = c.cli("keys")
    assert made.returncode == 0, made.stderr
    from bus.transport.curve import generate
    generate(c.cfg.security.keys_dir, ["scheduler"])  # a key the API server maps to system:kube-scheduler
    c.start_all()
    try:
        admin = c.session()  # holds the 'admin' key
        c.wait_ready(admin)
        assert {n["metadata"]["name"] for n in admin.run(admin.api.list("namespaces"))["items"]} >= {"default"}
        # Claims to be a CLI (admin, were names believed), holds the scheduler's key: it is the scheduler.
        posing = c.session(name="kubesim-cli-posing", key_name="scheduler")
        with pytest.raises(ApiError) as err:
            posing.run(posing.api.create(configmap("not-allowed")))
        assert err.value.code == 403 and 'User "system:kube-scheduler"' in err.value.message
        # A key the API server has no user for (a store member's) is refused outright.
        member = c.session(name="kubesim-cli-member", key_name="store-0")
        with pytest.raises(ApiError) as err:
            member.run(member.api.list("pods"))
        assert err.value.code == 401
        out = c.cli("get", "ns")
        assert out.returncode == 0 and "kube-system" in out.stdout, out.stderr
    finally:
        c.close()


def test_a_manifest_applied_with_the_cli_survives_kill_9_of_the_api_server(tmp_path):
    """The issue's end-to-end case: apply, read back, kill -9, restart, nothing lost, informers catch up."""
    from tests.helpers import ROOT

    c = ApiCluster(tmp_path).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        informers = {r: Informer(s.api, r, "demo") for r in ("deployments", "services", "configmaps")}
        for inf in informers.values():
            inf.start()
        out = c.cli("apply", "-f", str(ROOT / "config/examples/web.yaml"))
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["namespace/demo created", "configmap/web-config created",
                                           "deployment.apps/web created", "service/web created"]
        got = c.cli("get", "deploy,svc,cm", "-n", "demo", "-o", "json")
        before = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(got.stdout)["items"]}
        assert set(before) == {("Deployment", "web"), ("Service", "web"), ("ConfigMap", "web-config")}
        assert s.wait_for(lambda: all(inf.store for inf in informers.values()), 10)

        c.kill("apiserver")
        c.start("apiserver")
        c.wait_ready(s, 30)
        got = c.cli("get", "deploy,svc,cm", "-n", "demo", "-o", "json")
        assert got.returncode == 0, got.stderr
        after = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(got.stdout)["items"]}
        assert after == before  # same objects, same uids, same resourceVersions
        assert c.cli("get", "ns", "demo").returncode == 0
        # Changes made after the restart reach the informers that were watching before it.
        assert c.cli("scale", "deployment", "web", "--replicas", "4", "-n", "demo").returncode == 0
        assert s.wait_for(lambda: (informers["deployments"].get("web", "demo") or {}).get("spec", {})
                          .get("replicas") == 4, 30), c.log_tail("apiserver")
        assert {o["metadata"]["uid"] for o in informers["services"].list()} == {before[("Service", "web")]["metadata"]["uid"]}
    finally:
        c.close()
