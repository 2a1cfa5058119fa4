"""Regression tests for the bugs a review of the API server found, one test per bug.

Each test's docstring says what went wrong before the fix. Real-process tests
use tests.api_cluster; in-process tests drive ApiServer with an in-memory store.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from actors.apiserver.client import ApiError
from tests.api_cluster import ApiCluster
from tests.helpers import metric, wait_until


def configmap(name: str, ns: str = "default", **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data or {"k": "v"}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("review")).start_all()
    c.admin = c.session()  # the default deadlines: a loaded machine must not turn a 400 into a 504
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
    """Was a bug (handler exceptions): each of these requests is answered 500 "Internal error occurred:
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
    """Was a bug (peer frame limit): the 422 Status repeats the bad value (message and details.causes), so it is
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
    """Was a bug (store watch resume point ignores progress notices): StoreClient resumes a watch from
    ``w.revision + 1`` where w.revision is the last *event* seen, or the boot-time start_revision for a
    resource with no events since. The new on_progress hook does not advance it. Once the API server's
    periodic compaction has passed that point, the resume is refused ("compacted"), on_end fires, the
    cache is refilled and every client watch of that resource gets ERROR 410 — for one store member
    restart, on every quiet resource (storageclasses, persistentvolumes, cronjobs, ...)."""
    c = ApiCluster(tmp_path, apiserver={"compaction_interval_s": 1.0}).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        # Move the store's revision on, and wait until compaction has passed the boot revision.
        for i in range(5):
            s.run(s.api.create(configmap(f"tick-{i}")))
        last = int(s.run(s.api.create(configmap("tick-last")))["metadata"]["resourceVersion"])
        from kubesim.store import session_for

        with session_for(c.cfg) as store:
            wait_until(lambda: store.run(store.client.status("store-1")).compact_revision >= last, 20,
                       "compaction past the last write", step=lambda: s.poll(0.05))
        w = c.session()
        ended: list[tuple[str, dict]] = []
        quiet = ["storageclasses", "persistentvolumes", "cronjobs", "statefulsets", "daemonsets", "jobs",
                 "endpointslices", "leases", "secrets", "serviceaccounts", "persistentvolumeclaims", "replicasets"]
        for resource in quiet:
            rv = s.run(s.api.list(resource))["metadata"]["resourceVersion"]
            w.api.watch(resource, resource_version=rv,
                        on_event=lambda t, o, r=resource: ended.append((r, o)) if t == "ERROR" else None)
        wait_until(lambda: sum(metric(c.metrics(), "kubesim_apiserver_registered_watchers", resource=r)
                               for r in quiet) >= len(quiet), 10, "the watches registered",
                   step=lambda: w.poll(0.05))
        # One store member goes down and comes back: each watch on it resumes on another member.
        c.kill("store-0")
        w.wait_for(lambda: False, 8.0)
        c.start("store-0")
        w.wait_for(lambda: False, 3.0)
        assert not ended, [(r, o.get("code"), o.get("message")) for r, o in ended]
    finally:
        c.close()


# =====================================================================================================
# In-process: ApiServer on a Runtime with a ManualClock and an in-memory store (no sockets).
# =====================================================================================================

from actors.apiserver.authn import DEFAULT_USERS, Authenticator
from actors.apiserver.rbac import Authorizer, default_policy
from actors.apiserver.server import ApiServer, ApiServerOptions
from actors.messages import ApiRequest, ApiWatch, ApiWatchEvents
from actors.store.client import StoreError
from actors.store.mvcc import MVCC, Compacted, Event, FutureRevision
from bus.clock import ManualClock
from bus.codec import Header
from bus.runtime import Envelope, Future, Runtime, Task
from bus.settings import BusSettings


class FakeStoreWatch:
    def __init__(self, store, key, range_end, start, on_events, on_end, on_progress):
        self.store, self.key, self.range_end = store, key, range_end
        self.on_events, self.on_end, self.on_progress = on_events, on_end, on_progress
        self.revision = start - 1
        self.ended = False


class FakeStore:
    """StoreClient's surface over one MVCC. Watch deliveries are queued until pump(); calls can be held."""

    def __init__(self) -> None:
        self.mvcc = MVCC()
        self.watches: list[FakeStoreWatch] = []
        self.pending: list[tuple[FakeStoreWatch, list, int]] = []
        self.held: list[Future] | None = None
        self.fail_txn: list[Exception] = []

    def _gate(self) -> Future:
        f = Future()
        if self.held is None:
            f.set_result(None)
        else:
            self.held.append(f)
        return f

    def release(self) -> None:
        held, self.held = self.held or [], None
        for f in held:
            f.set_result(None)

    async def get(self, key, range_end=b"", *, revision=0, limit=0, keys_only=False, count_only=False,
                  serializable=False):
        await self._gate()
        try:
            body = self.mvcc.range(key, range_end, revision, limit, keys_only, count_only)
        except Compacted as exc:
            raise StoreError("compacted", str(exc)) from None
        except FutureRevision as exc:
            raise StoreError("future_revision", str(exc)) from None
        return dict(body, kvs=list(body["kvs"]))

    async def txn(self, compare, success, failure=None):
        if self.fail_txn:
            raise self.fail_txn.pop(0)
        return self.write({"op": "txn", "compare": compare, "success": success, "failure": failure or []})

    def write(self, op: dict) -> dict:
        resp, events = self.mvcc.apply(op)
        assert "error" not in resp, resp
        for w in self.watches:
            mine = [e for e in events if not w.ended and w.key <= e.kv.key < w.range_end]
            if mine:
                self.pending.append((w, mine, self.mvcc.revision))
        return resp

    async def compact(self, revision):
        return self.write({"op": "compact", "revision": revision})

    def watch(self, key, range_end=b"", *, start_revision=0, prev_kv=False, on_events, on_end=None,
              on_progress=None):
        w = FakeStoreWatch(self, key, range_end, start_revision, on_events, on_end, on_progress)
        self.watches.append(w)
        # As a member does: the backlog, or an empty first message saying where the watch stands.
        self.pending.append((w, self.mvcc.events(start_revision, key, range_end), self.mvcc.revision))
        return w

    def pump(self) -> None:
        while self.pending:
            w, events, revision = self.pending.pop(0)  # what the member vouched for when it sent them
            if w.ended:
                continue
            if events:
                w.on_events([Event(e.type, e.kv, e.prev_kv) for e in events], revision)
            elif w.on_progress:
                w.on_progress(revision)

    def progress(self) -> None:
        for w in self.watches:
            if not w.ended and w.on_progress:
                w.on_progress(self.mvcc.revision)


class Harness:
    def __init__(self, store: FakeStore | None = None, **options) -> None:
        self.clock = ManualClock()
        self.rt = Runtime("apiserver-proc", BusSettings(), self.clock, seed=1)
        self.store = store or FakeStore()
        opts = ApiServerOptions(seed=1, **options)
        from prometheus_client import CollectorRegistry

        from actors.apiserver.metrics import ApiServerMetrics
        self.server = ApiServer("apiserver", self.store, opts, Authenticator(DEFAULT_USERS),
                                Authorizer(*default_policy()), ApiServerMetrics(CollectorRegistry()))
        self.rt.add(self.server)
        self.sent: list[tuple[str, object]] = []
        self.replies: list[object] = []
        self.server.send = lambda dst, msg: self.sent.append((dst, msg))
        self.server.reply = lambda env, msg: self.replies.append(msg)
        self._ids = 0

    def run(self, seconds: float = 0.0) -> None:
        for _ in range(200):
            self.store.pump()
            while self.rt._ready:
                fn, args = self.rt._ready.popleft()
                self.rt._guarded(fn, args)
            if not self.store.pending and not self.rt._ready:
                break
        if seconds:
            self.clock.advance(seconds)
            self.rt._run_timers()
            self.run()

    def start(self) -> None:
        self.server.on_start()
        self.run(0.01)

    def env(self, identity: str = "admin", sender: str = "client") -> Envelope:
        self._ids += 1
        return Envelope("apiserver", identity, Header("x", self._ids, 0, True, sender, "00-" + "1" * 32 + "-" +
                                                       "2" * 16 + "-01", 0.0))

    def request(self, verb, resource, namespace="", name="", *, body=None, options=None, identity="admin"):
        before = len(self.replies)
        Task(self.rt, self.server.on_request(ApiRequest(verb, resource, namespace, name, "", body, options),
                                             self.env(identity)), None, "req")
        self.run()
        return self.replies[before] if len(self.replies) > before else None

    def watch_events(self, watch_id: str) -> list[ApiWatchEvents]:
        return [m for d, m in self.sent if isinstance(m, ApiWatchEvents) and m.watch_id == watch_id]


def _cm_put(store: FakeStore, name: str, ns: str = "default") -> int:
    obj = configmap(name, ns)
    resp = store.write({"op": "put", "key": f"/registry/configmaps/{ns}/{name}".encode(),
                        "value": json.dumps(obj).encode()})
    return resp["revision"]


def test_a_watch_started_while_the_cache_refills_misses_no_event():
    """Was a bug (server.py:_fill on_end / _start_watch): after the store watch ends, c.ready stays done, so a
    client watch started before the refill completes is served from the dead cache (min_rv = its old
    revision). The refill then lists at a newer revision (head, when head-window is compacted — the
    normal case in a quiet cluster) without producing events, so writes made in between never reach
    that watcher, and bookmarks then move its resourceVersion past them."""
    h = Harness()
    h.start()
    assert h.server.ready.done()
    _cm_put(h.store, "before")
    h.run()
    cache_watch = next(w for w in h.store.watches if w.key == b"/registry/configmaps/")
    # The store watch ends (e.g. compacted); the refill's first store call is slow.
    h.store.held = []
    cache_watch.ended = True
    cache_watch.on_end("compacted: mvcc: required revision has been compacted")
    h.run()
    # A client watch arrives meanwhile: it is accepted.
    h.server.on_watch(ApiWatch("w1", "configmaps", "default", "", "", ""), h.env())
    h.run()
    first = h.watch_events("w1")
    if first and first[0].closed is not None:
        return  # refused while the cache is not ready: fine
    gap_rv = _cm_put(h.store, "during-refill")
    h.store.write({"op": "compact", "revision": h.store.mvcc.revision})
    h.store.release()
    h.run()
    _cm_put(h.store, "after")
    h.run(h.server.options.bookmark_interval_s + 1)  # and a bookmark
    names = [o["metadata"]["name"] for m in h.watch_events("w1") for _, o in m.events]
    closed = [m.closed for m in h.watch_events("w1") if m.closed]
    assert "during-refill" in names or closed, (names, gap_rv)


def test_a_watch_started_while_the_cache_refills_gets_each_event_once():
    """Was a bug (same window, common case): the gap-joined watch from rv=X is sent (X, R0] from the dead cache;
    the refill then resets the cache to head-window (not compacted) and replays from there, and
    _on_store_events pushes every replayed event with rv > w.min_rv (= X) again: duplicates."""
    h = Harness()
    h.start()
    rv0 = h.store.mvcc.revision
    _cm_put(h.store, "a")
    _cm_put(h.store, "b")
    h.run()
    cache_watch = next(w for w in h.store.watches if w.key == b"/registry/configmaps/")
    h.store.held = []
    cache_watch.ended = True
    cache_watch.on_end("compacted: mvcc: required revision has been compacted")
    h.run()
    h.server.on_watch(ApiWatch("w2", "configmaps", "default", "", "", str(rv0)), h.env())
    h.run()
    first = h.watch_events("w2")
    if first and first[0].closed is not None:
        return  # refused while the cache is not ready: fine
    h.store.release()
    h.run()
    h.run(6.0)
    names = [o["metadata"]["name"] for m in h.watch_events("w2") for _, o in m.events]
    assert names == ["a", "b"], names


def test_a_patch_is_checked_against_the_stored_object_not_a_stale_cached_copy():
    """Was a bug (server.py:_modify, 8e08b70): the first attempt starts from the watch cache's copy and only a
    st.ApiError makes it re-read the store. A PatchError (raised by the patch functions, answered 400/422)
    on the stale copy is answered as is. A client that has just added a label (write acknowledged, cache a
    watch event behind — e.g. its store watch is on a follower) and then JSON-patches it away gets
    an error instead of success. Kubernetes' GuaranteedUpdate retries any error with a fresh object."""
    h = Harness()
    h.start()
    created = h.request("create", "configmaps", "default", body=configmap("p"))
    assert created.code == 201, created
    # The label is added and acknowledged; the cache has not seen that event yet.
    obj = dict(created.body)
    obj["metadata"] = dict(obj["metadata"], labels={"x": "1"})
    obj["metadata"].pop("resourceVersion")
    h.store.write({"op": "put", "key": b"/registry/configmaps/default/p", "value": json.dumps(obj).encode()})
    before = len(h.replies)
    Task(h.rt, h.server.on_request(ApiRequest("patch", "configmaps", "default", "p", "", [
        {"op": "remove", "path": "/metadata/labels/x"}], {"patchType": "json"}), h.env()), None, "req")
    while h.rt._ready:  # no pump: the cache stays one event behind
        fn, args = h.rt._ready.popleft()
        h.rt._guarded(fn, args)
    reply = h.replies[before]
    assert reply.code == 200, reply.body.get("message")


def test_a_json_patch_right_after_a_write_sees_that_write(cluster):
    """Was a bug (server.py:_modify, as above) in real processes: add a label, then JSON-patch it away at once.
    Observed: the second call fails ~98 times in 100 with "remove: no member 'k<i>'"."""
    s = cluster.admin
    s.run(s.api.create(configmap("ryw")))
    failures = []
    for i in range(20):
        s.run(s.api.patch("configmaps", "ryw", {"metadata": {"labels": {f"k{i}": "v"}}}, "default",
                          patch_type="merge"))
        code, message = _code(s, s.api.patch("configmaps", "ryw", [{"op": "remove", "path": f"/metadata/labels/k{i}"}],
                                             "default", patch_type="json"))
        if code != 200:
            failures.append((code, message))
    assert not failures, failures[:3]


def test_a_selector_watch_gets_a_large_object_leaving_its_selector(cluster):
    """Was a bug (watchcache.py:filtered, line ~171): the DELETED event sent when an object is modified out of a
    watch's selector carries ev.prev (the old, large content) but is sized with ev.size (the new, small
    one). Outbox.take() then packs it with other events into one message past the peer frame limit;
    BrokerLink.send drops it ("too_large", silently: not a request). The client sees a gap, resumes from
    its last resourceVersion, the same batch is built again: the watch never gets past it."""
    s = cluster.admin
    ns = "review-big"
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    big = configmap("big", ns, k="x" * 900_000)
    big["metadata"]["labels"] = {"sel": "yes"}
    created = s.run(s.api.create(big))
    start = created["metadata"]["resourceVersion"]
    for i in range(4):
        cm = configmap(f"mid-{i}", ns, k="y" * 110_000)
        cm["metadata"]["labels"] = {"sel": "yes"}
        s.run(s.api.create(cm))
    s.run(s.api.call("update", "configmaps", ns, "big", body=dict(
        created, metadata={k: v for k, v in created["metadata"].items() if k != "labels"}, data={"k": "small"})))
    w = cluster.session()
    seen = []
    watch = w.api.watch("configmaps", ns, label_selector="sel=yes", resource_version=start,
                        on_event=lambda t, o: seen.append((t, o["metadata"]["name"])))
    w.wait_for(lambda: len(seen) >= 5, 15)
    assert seen == [("ADDED", f"mid-{i}") for i in range(4)] + [("DELETED", "big")], (seen, watch.gaps)


def test_deletecollection_deletes_every_matching_object(cluster):
    """Was a bug (server.py:_delete_collection): it deletes what one _list call returns, and _list stops at
    max_response_bytes with a continue token that is ignored: `kubectl delete cm --all` on more than
    ~0.9 MB of objects deletes only the first page and answers as if done."""
    s = cluster.admin
    ns = "review-dc"
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    for i in range(14):
        s.run(s.api.create(configmap(f"cm-{i:02d}", ns, k="z" * 100_000)))
    s.run(s.api.call("deletecollection", "configmaps", ns))
    left = [o["metadata"]["name"] for o in s.run(s.api.list("configmaps", ns))["items"]]
    assert left == [], left


def test_an_update_without_the_allocated_values_keeps_them(cluster):
    """Was a bug (server.py:_allocate / Kubernetes' patchAllocatedValues): an update (kubectl replace) whose spec
    leaves out spec.clusterIP is refused 422 "field is immutable", and one that leaves out a port's
    nodePort is given a *new* random nodePort (the old one released). Kubernetes copies both from the
    stored Service when the update leaves them empty."""
    s = cluster.admin
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": "default"},
           "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}}
    created = s.run(s.api.create(svc))
    node_port = created["spec"]["ports"][0]["nodePort"]
    replaced = dict(svc, spec=dict(svc["spec"], clusterIP=created["spec"]["clusterIP"]))
    after = s.run(s.api.update(replaced))
    assert after["spec"]["ports"][0]["nodePort"] == node_port
    code, message = _code(s, s.api.update(svc))  # no clusterIP either
    assert code == 200, message


@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("review-rbac"), apiserver={
        "users": {"admin": "admin", "kubesim-cli-*": "admin", "alice": "alice", "bob": "bob", "carol": "carol"},
        "rbac": [
            # alice may list configmaps but not watch them.
            {"name": "lister", "users": ["alice"], "namespace": "default",
             "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}]},
            # bob may only write pod status (as a status reporter would), and delete... pods/status.
            {"name": "status-writer", "users": ["bob"], "namespace": "default",
             "rules": [{"verbs": ["create", "update", "patch", "delete"], "apiGroups": [""],
                        "resources": ["pods/status"]}]},
            # carol may read and delete the configmap called "public", nothing else.
            {"name": "one-configmap", "users": ["carol"], "namespace": "default",
             "rules": [{"verbs": ["get", "list", "deletecollection"], "apiGroups": [""], "resources": ["configmaps"],
                        "resourceNames": ["public"]}]},
        ]}).start_all()
    c.admin = c.session()
    c.wait_ready(c.admin)
    yield c
    c.close()


def test_an_informer_that_may_not_watch_backs_off(rbac_cluster):
    """Was a bug (client.py:Informer._on_event): any ERROR (403 here, not just 410) relists at once, and the
    relist succeeds, so list -> watch -> 403 -> list ... runs as fast as the loop goes: every turn a
    full list from the store. client-go's reflector backs off."""
    from actors.apiserver.client import Informer
    alice = rbac_cluster.session(name="alice")
    inf = Informer(alice.api, "configmaps", "default")
    inf.start()
    alice.wait_for(lambda: False, 2.0)
    inf.stop()
    assert inf.relists < 10, f"{inf.relists} relists in 2 s"


def test_a_subresource_grant_does_not_allow_writing_the_object(rbac_cluster):
    """Was a bug (server.py:_serve): create/delete are dispatched without looking at the subresource (only
    'binding' is special-cased), so a user granted create/delete on pods/status only can create and
    delete whole pods ("create pods/status" with a Pod body makes the Pod; "delete pods/status" deletes
    it). Kubernetes answers 405 MethodNotAllowed for verbs a subresource does not serve."""
    bob = rbac_cluster.session(name="bob")
    admin = rbac_cluster.admin
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "by-bob", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    code, _ = _code(bob, bob.api.call("create", "pods", "default", "by-bob", subresource="status", body=pod))
    created = _code(admin, admin.api.get("pods", "by-bob", "default"))[0] == 200
    admin.run(admin.api.create(dict(pod, metadata={"name": "victim", "namespace": "default"})))
    code2, _ = _code(bob, bob.api.call("delete", "pods", "default", "victim", subresource="status"))
    still_there = _code(admin, admin.api.get("pods", "victim", "default"))[0] == 200
    assert not created and still_there, (code, code2)


def test_concurrent_service_creates_all_succeed(cluster):
    """Was a bug (server.py:_create/_allocate): every Service write rewrites both range keys and compares their
    mod revisions, so concurrent Service creates (and any Service update, even of a label) conflict on
    them; _create gives up after 8 tries with 500 "too many conflicts". Kubernetes serializes allocation
    without failing the request."""
    s = cluster.admin
    outcomes: list = []

    async def make(i):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"conc-{i}", "namespace": "default"},
               "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
        try:
            await s.api.create(svc)
            outcomes.append(201)
        except ApiError as exc:
            outcomes.append((exc.code, exc.message[:80]))

    for i in range(60):
        s.api.spawn(make(i))
    s.wait_for(lambda: len(outcomes) == 60, 60)
    failed = [o for o in outcomes if o != 201]
    assert not failed, failed[:3]


def test_resource_names_do_not_grant_list_or_deletecollection(rbac_cluster):
    """Was a bug (server.py:_serve + rbac._request_name): a list/deletecollection request carries the caller's
    ApiRequest.name into the Attributes, so a rule limited to resourceNames ["public"] matches a list or
    deletecollection that names "public" — and _list/_delete_collection ignore the name: carol lists (and
    can delete) every configmap of the namespace. Kubernetes: list/deletecollection URLs have no name,
    so a resourceNames rule never grants them (give 'name' no meaning for these verbs, or refuse it)."""
    admin = rbac_cluster.admin
    admin.run(admin.api.create(configmap("public")))
    admin.run(admin.api.create(configmap("private", password="hunter2")))
    carol = rbac_cluster.session(name="carol")
    code, _message = _code(carol, carol.api.call("list", "configmaps", "default", "public"))
    listed = [] if code != 200 else carol.run(carol.api.call("list", "configmaps", "default", "public"))["items"]
    assert "private" not in [o["metadata"]["name"] for o in listed], "carol read configmap 'private'"


def test_a_revision_with_several_changes_reaches_the_cache_whole():
    """Was a bug (watchcache.py:WatchCache.apply, `if rv <= self.revision: continue`): the second and later
    changes of one revision are skipped as "already seen". Any multi-key write under one prefix does it —
    `kubesim store delete --prefix /registry/configmaps/default/` (one revision, N DELETE events): the
    cache (rv=0 lists and gets, every watch) keeps N-1 deleted objects until the next refill."""
    h = Harness()
    h.start()
    for name in ("x1", "x2", "x3"):
        _cm_put(h.store, name)
    h.run()
    h.store.write({"op": "delete", "key": b"/registry/configmaps/default/", "range_end": b"/registry/configmaps/default0"})
    h.run()
    listed = h.request("list", "configmaps", "default", options={"resourceVersion": "0"})
    assert [o["metadata"]["name"] for o in listed.body["items"]] == []


def test_an_unauthenticated_peer_cannot_cancel_another_clients_watch():
    """Was a bug (server.py:on_cancel/on_ack/on_watch renew): watch control messages are keyed by the sender
    *name* in the message header (a claim, not the authenticated identity) and are not authenticated at
    all: any peer — even one whose identity maps to no user (401 for requests) — that names the victim's
    actor and watch id can cancel its watch (or ack for it, or keep a dead one alive)."""
    from actors.messages import ApiCancelWatch
    h = Harness()
    h.start()
    h.server.on_watch(ApiWatch("victim-1", "configmaps", "default", "", "", ""), h.env("admin", "victim.api"))
    assert ("victim.api", "victim-1") in h.server._watchers
    h.server.on_cancel(ApiCancelWatch("victim-1"), h.env("intruder", "victim.api"))
    assert ("victim.api", "victim-1") in h.server._watchers


def test_an_object_within_max_object_bytes_can_be_read_back(cluster):
    """Was a bug (kubesim/apiserver.py options_for + server._encode + unknown fields kept): the object size
    limit is measured on the stored JSON, but the bus frame carries msgpack, where a float costs 9 bytes
    ("0.5," costs 4 in JSON). Unknown fields are kept (Kubernetes drops them), so two patches that each
    fit in a request build an 800 kB (JSON) object of 1.8 MB (msgpack): every answer that carries it is
    dropped by BrokerLink.send as too_large — the second patch gets 504 although it was applied, a GET
    gets no answer until its deadline (503), and every watch that must deliver it stalls forever."""
    s = cluster.admin
    ns = "review-float"
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    s.run(s.api.create(configmap("floats", ns)))
    s.run(s.api.patch("configmaps", "floats", {"foo": [0.5] * 100_000}, ns, patch_type="merge"))
    _code(s, s.api.patch("configmaps", "floats", {"bar": [0.5] * 100_000}, ns, patch_type="merge"))
    code, message = _code(s, s.api.get("configmaps", "floats", ns))
    assert code == 200, (code, message[:120])
