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


# =====================================================================================================
# In-process: ApiServer on a Runtime with a ManualClock and an in-memory store (no sockets).
# =====================================================================================================

from actors.apiserver.authn import DEFAULT_USERS, Authenticator  # noqa: E402
from actors.apiserver.rbac import Authorizer, default_policy  # noqa: E402
from actors.apiserver.server import ApiServer, ApiServerOptions  # noqa: E402
from actors.messages import ApiRequest, ApiWatch, ApiWatchEvents  # noqa: E402
from actors.store.client import Indeterminate, StoreError  # noqa: E402
from actors.store.mvcc import MVCC, Compacted, Event, FutureRevision  # noqa: E402
from bus.clock import ManualClock  # noqa: E402
from bus.codec import Header  # noqa: E402
from bus.runtime import Envelope, Future, Runtime  # noqa: E402
from bus.settings import BusSettings  # noqa: E402


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
        self.pending: list[tuple[FakeStoreWatch, list]] = []
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
                self.pending.append((w, mine))
        return resp

    async def compact(self, revision):
        return self.write({"op": "compact", "revision": revision})

    def watch(self, key, range_end=b"", *, start_revision=0, prev_kv=False, on_events, on_end=None,
              on_progress=None):
        w = FakeStoreWatch(self, key, range_end, start_revision, on_events, on_end, on_progress)
        self.watches.append(w)
        backlog = self.mvcc.events(start_revision, key, range_end)
        if backlog:
            self.pending.append((w, backlog))
        return w

    def pump(self) -> None:
        while self.pending:
            w, events = self.pending.pop(0)
            if not w.ended:
                w.on_events([Event(e.type, e.kv, e.prev_kv) for e in events], self.mvcc.revision)

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
        self.server.rt_task = self.server.on_request(ApiRequest(verb, resource, namespace, name, "", body, options),
                                                     self.env(identity))
        from bus.runtime import Task
        Task(self.rt, self.server.rt_task, None, "req")
        self.run()
        return self.replies[before] if len(self.replies) > before else None

    def watch_events(self, watch_id: str) -> list[ApiWatchEvents]:
        return [m for d, m in self.sent if isinstance(m, ApiWatchEvents) and m.watch_id == watch_id]


def _cm_put(store: FakeStore, name: str, ns: str = "default") -> int:
    obj = configmap(name, ns)
    resp = store.write({"op": "put", "key": f"/registry/configmaps/{ns}/{name}".encode(),
                        "value": json.dumps(obj).encode()})
    return resp["revision"]


def test_boot_survives_a_store_timeout_while_creating_the_system_objects():
    """BUG (server.py:_boot/_bootstrap_objects): _create goes through _timed, which turns Indeterminate /
    StoreUnavailable into st.ApiError (504/503). _boot only catches the store's own exceptions, so the
    ApiError kills the boot task: ``ready`` is never set and every request awaits it forever (the
    process stays up, so its supervisor never restarts it)."""
    h = Harness()
    h.store.fail_txn.append(Indeterminate("txn sent to store-0; no answer"))
    h.start()
    h.run(1.0)
    h.run(1.0)
    assert h.server.ready.done(), "the API server never becomes ready"
    reply = h.request("get", "namespaces", name="default")
    assert reply is not None and reply.code == 200


def test_boot_retry_does_not_start_a_second_store_watch_per_resource():
    """BUG (server.py:_boot): when a later _fill or the bootstrap fails, the loop starts over and calls
    _fill again for caches that already have a running store watch: a second store watch per resource
    (never cancelled), both feeding one cache. After reset() the old watch's next event or progress
    notice moves cache.revision past the new watch's replay, which apply() then drops as duplicate."""
    store = FakeStore()
    h = Harness(store)
    calls = {"n": 0}
    real_get = store.get

    async def flaky_get(key, range_end=b"", **kw):
        calls["n"] += 1
        if calls["n"] == 7:  # somewhere in the middle of the first boot's fills
            from actors.store.client import StoreUnavailable
            raise StoreUnavailable("no leader")
        return await real_get(key, range_end, **kw)

    store.get = flaky_get
    h.start()
    h.run(1.0)
    assert h.server.ready.done()
    prefixes = [w.key for w in store.watches if not w.ended]
    dup = sorted({p.decode() for p in prefixes if prefixes.count(p) > 1})
    assert not dup, f"two live store watches for {dup}"


def test_a_watch_started_while_the_cache_refills_misses_no_event():
    """BUG (server.py:_fill on_end / _start_watch): after the store watch ends, c.ready stays done, so a
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
    h.run(6.0)  # and a bookmark
    names = [o["metadata"]["name"] for m in h.watch_events("w1") for _, o in m.events]
    closed = [m.closed for m in h.watch_events("w1") if m.closed]
    assert "during-refill" in names or closed, (names, gap_rv)
