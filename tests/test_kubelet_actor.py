"""The kubelet actor (actors.kubelet.kubelet) in one process on a manual clock, no sockets.

The kubelet runs on a bus Runtime that is never started (local delivery
only), beside an in-memory API (:class:`FakeApi`: ApiClient's surface over a
dict, with resourceVersions, 409 on a stale update, status subresources,
graceful pod deletion and watches, so the real Informer runs on it) and a
runtime actor. The runtime actor is a small one written here against the
contract the kubelet codes to (:class:`FakeRuntime`, around the real
ContainerRuntime core); the tests marked ``both`` also run against
``actors.runtime.server.RuntimeServer``. Time only moves when a test moves
it. Also here: the actor's small pure helpers.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from actors.apiserver.status import ApiError
from actors.kubelet import kubelet as kubelet_module
from actors.kubelet.kubelet import (
    IMAGE_LIST_S,
    RELIST_S,
    Kubelet,
    KubeletMetrics,
    exec_probe_outcome,
    http_probe_outcome,
    identity_matches,
    node_images,
    restart_floor,
    runtime_fingerprint,
    tcp_probe_outcome,
)
from actors.kubelet.node import NodeConfig
from actors.kubelet.probes import HttpGetTarget, Result
from actors.messages import (
    CriEvents,
    CriRequest,
    CriResponse,
    HttpGet,
    HttpResponse,
    KubeletRestart,
    KubeletRestarted,
    TcpConnect,
    TcpResult,
)
from actors.runtime import cri
from actors.runtime.cri import CriError, EventType
from actors.runtime.runtime import ContainerRuntime
from actors.runtime.wire import parse_args, to_wire
from bus.clock import ManualClock
from bus.codec import Header
from bus.messages import Error
from bus.runtime import Actor, Envelope, Runtime, Timer, handles
from bus.settings import BusSettings

NODE = "node-1"
CIDR = "10.244.1.0/24"

# --- pure helpers --------------------------------------------------------------------------------------------


def test_probe_outcomes_are_worded_as_the_prober_words_them():
    t = HttpGetTarget("http", "10.244.1.2", 8080, "/healthz")
    assert http_probe_outcome(t, HttpResponse(True, 200, "ok")) == (Result.SUCCESS, "ok")
    assert http_probe_outcome(t, HttpResponse(True, 399)) == (Result.SUCCESS, "")
    assert http_probe_outcome(t, HttpResponse(True, 500)) == (Result.FAILURE,
                                                              "HTTP probe failed with statuscode: 500")
    assert http_probe_outcome(t, HttpResponse(False)) == (
        Result.FAILURE, 'Get "http://10.244.1.2:8080/healthz": dial tcp 10.244.1.2:8080: connect: connection refused')
    assert tcp_probe_outcome("10.244.1.2", 6379, TcpResult(False)) == (
        Result.FAILURE, "dial tcp 10.244.1.2:6379: connect: connection refused")
    assert exec_probe_outcome({"exit_code": 0, "stdout": "PONG"}) == (Result.SUCCESS, "PONG")
    assert exec_probe_outcome({"exit_code": 1, "stderr": "cat: no such file"}) == (Result.FAILURE, "cat: no such file")


def test_node_images_largest_first_with_a_digest_name():
    images = [{"id": "sha256:aa", "repo_tags": ["docker.io/library/busybox:1.36"], "size_bytes": 10},
              {"id": "sha256:bb", "repo_tags": ["docker.io/library/nginx:1.25"], "size_bytes": 70}]
    assert node_images(images) == [
        {"names": ["docker.io/library/nginx@sha256:bb", "docker.io/library/nginx:1.25"], "sizeBytes": 70},
        {"names": ["docker.io/library/busybox@sha256:aa", "docker.io/library/busybox:1.36"], "sizeBytes": 10}]


def test_restart_floor_continues_the_api_restart_count():
    pod = {"status": {"containerStatuses": [{"name": "web", "restartCount": 3, "containerID": "containerd://x"},
                                            {"name": "side", "restartCount": 0}]}}
    assert restart_floor(pod, "web") == 4
    assert restart_floor(pod, "side") == 0, "never ran: a first instance"
    lost = {"status": {"containerStatuses": [{"name": "web", "restartCount": 4}]}}
    assert restart_floor(lost, "web") == 4, "the status counts the lost instance already"
    assert restart_floor({}, "web") == 0


def test_runtime_fingerprint_ignores_order():
    a = cri.PodSandboxStatus("s", cri.PodSandboxMetadata("p", "n", "u"), cri.SandboxState.READY, 1.0)
    assert runtime_fingerprint([a], []) == runtime_fingerprint([a], ())
    assert runtime_fingerprint([a], []) != runtime_fingerprint([], [])


# --- an in-memory API ----------------------------------------------------------------------------------------

_RESOURCES = {"Node": "nodes", "Pod": "pods", "Lease": "leases", "Event": "events", "ConfigMap": "configmaps",
              "Secret": "secrets", "PersistentVolumeClaim": "persistentvolumeclaims"}
_CLUSTER_SCOPED = {"nodes"}


def _field(obj: dict, path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


class _FakeWatch:
    def __init__(self, api: FakeApi, resource: str, namespace: str, field_selector: str, on_event) -> None:
        self.api, self.resource, self.namespace, self.on_event = api, resource, namespace, on_event
        self.selector = tuple(field_selector.split("=", 1)) if field_selector else None
        self.stopped = False

    def matches(self, obj: dict) -> bool:
        if self.namespace and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return self.selector is None or str(_field(obj, self.selector[0]) or "") == self.selector[1]

    def stop(self) -> None:
        self.stopped = True


class FakeApi(Actor):
    """ApiClient's surface over a dict; watches deliver on the next turn of the loop."""

    def __init__(self, name: str, store: dict | None = None, state: dict | None = None) -> None:
        super().__init__(name)
        self.store: dict[tuple[str, str, str], dict] = store if store is not None else {}
        self.state = state if state is not None else {"rv": 100, "uids": 0}
        self.watches: list[_FakeWatch] = []
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, ApiError] = {}

    # helpers for tests
    def obj(self, resource: str, name: str, namespace: str = "") -> dict | None:
        return self.store.get((resource, namespace, name))

    def events(self, reason: str | None = None) -> list[dict]:
        return [o for (r, _, _), o in self.store.items() if r == "events" and (reason is None or o["reason"] == reason)]

    def put(self, obj: dict) -> dict:
        """Create or replace ``obj`` as an administrator would (a controller, a user)."""
        resource = _RESOURCES[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        ns = "" if resource in _CLUSTER_SCOPED else meta.setdefault("namespace", "default")
        key = (resource, ns, meta["name"])
        old = self.store.get(key)
        if old is None:
            self.state["uids"] += 1
            meta.setdefault("uid", f"uid-{self.state['uids']}")
            meta.setdefault("creationTimestamp", "2025-06-15T00:00:00Z")
        self._store(key, obj, "ADDED" if old is None else "MODIFIED")
        return obj

    def _store(self, key: tuple[str, str, str], obj: dict, typ: str) -> dict:
        self.state["rv"] += 1
        obj["metadata"]["resourceVersion"] = str(self.state["rv"])
        self.store[key] = obj
        self._notify(key[0], typ, obj)
        return copy.deepcopy(obj)

    def _notify(self, resource: str, typ: str, obj: dict) -> None:
        for w in self.watches:
            if w.resource == resource and not w.stopped and w.matches(obj):
                self.runtime.call_soon(w.on_event, typ, copy.deepcopy(obj))

    def _key(self, resource: str, name: str, namespace: str) -> tuple[str, str, str]:
        return resource, "" if resource in _CLUSTER_SCOPED else (namespace or "default"), name

    def _check(self, verb: str, resource: str) -> None:
        self.calls.append((verb, resource))
        err = self.fail.get(f"{verb} {resource}")
        if err is not None:
            raise err

    # ApiClient's surface
    async def get(self, resource: str, name: str, namespace: str = "", *, subresource: str = "") -> dict:
        self._check("get", resource)
        obj = self.store.get(self._key(resource, name, namespace))
        if obj is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        return copy.deepcopy(obj)

    async def list(self, resource: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
                   limit: int = 500, resource_version: str = "") -> dict:
        self._check("list", resource)
        probe = _FakeWatch(self, resource, namespace, field_selector, None)
        items = [copy.deepcopy(o) for (r, _, _), o in self.store.items() if r == resource and probe.matches(o)]
        return {"items": items, "metadata": {"resourceVersion": str(self.state["rv"])}}

    def watch(self, resource: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
              resource_version: str = "", on_event, bookmarks: bool = False) -> _FakeWatch:
        w = _FakeWatch(self, resource, namespace, field_selector, on_event)
        self.watches.append(w)
        return w

    async def create(self, obj: dict, namespace: str = "") -> dict:
        resource = _RESOURCES[obj["kind"]]
        self._check("create", resource)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = self._key(resource, meta["name"], namespace or meta.get("namespace", ""))
        if key in self.store:
            raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
        if resource not in _CLUSTER_SCOPED:
            meta["namespace"] = key[1]
        self.state["uids"] += 1
        meta["uid"] = f"uid-{self.state['uids']}"
        return self._store(key, obj, "ADDED")

    async def update(self, obj: dict, *, subresource: str = "") -> dict:
        resource = _RESOURCES[obj["kind"]]
        self._check("update" + ("/" + subresource if subresource else ""), resource)
        meta = obj["metadata"]
        key = self._key(resource, meta["name"], meta.get("namespace", ""))
        old = self.store.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{resource} "{meta["name"]}" not found')
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified; please apply your changes to the latest "
                                            "version and try again")
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = copy.deepcopy(obj.get("status") or {})
        else:
            new = copy.deepcopy(obj)
            new["metadata"]["uid"] = old["metadata"]["uid"]
        return self._store(key, new, "MODIFIED")

    async def update_status(self, obj: dict) -> dict:
        return await self.update(obj, subresource="status")

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *, patch_type: str = "strategic",
                    subresource: str = "") -> dict:
        self._check("patch" + ("/" + subresource if subresource else ""), resource)
        key = self._key(resource, name, namespace)
        old = self.store.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        new = copy.deepcopy(old)
        if subresource == "status":
            patch = {"status": patch.get("status")}
        _merge(new, patch)
        return self._store(key, new, "MODIFIED")

    async def delete(self, resource: str, name: str, namespace: str = "", *, propagation: str = "",
                     grace_period_s: int | None = None) -> dict:
        self._check("delete", resource)
        key = self._key(resource, name, namespace)
        old = self.store.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        if resource == "pods" and grace_period_s != 0 and (old.get("spec") or {}).get("nodeName"):
            grace = grace_period_s if grace_period_s is not None else \
                (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            new = copy.deepcopy(old)
            new["metadata"].setdefault("deletionTimestamp", "2025-06-15T00:00:00Z")
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            return self._store(key, new, "MODIFIED")
        del self.store[key]
        self.state["rv"] += 1
        self._notify(resource, "DELETED", old)
        return {"kind": "Status", "status": "Success"}


def _merge(into: dict, patch: dict) -> None:
    for k, v in patch.items():
        if v is None:
            into.pop(k, None)
        elif isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


# --- a runtime actor, as the contract says -------------------------------------------------------------------

_TIMED = {"PullImage", "StartContainer", "StopContainer"}


class FakeRuntime(Actor):
    """``<node>.runtime``: the CRI over ContainerRuntime; slow calls answered when done; events to the kubelet."""

    def __init__(self, node: str, core: ContainerRuntime | None = None) -> None:
        super().__init__(f"{node}.runtime")
        self.core = core or ContainerRuntime(random.Random(7))
        self.kubelet = f"{node}.kubelet"
        self.calls: list[str] = []
        self._timer: Timer | None = None

    def _call(self, method: str, a: dict, now: float) -> Any:
        c = self.core
        table = {
            "RunPodSandbox": lambda: c.run_pod_sandbox(a["config"], now),
            "StopPodSandbox": lambda: c.stop_pod_sandbox(a["pod_sandbox_id"], now),
            "RemovePodSandbox": lambda: c.remove_pod_sandbox(a["pod_sandbox_id"], now),
            "ListPodSandbox": lambda: c.list_pod_sandboxes(a.get("state"), a.get("labels")),
            "CreateContainer": lambda: c.create_container(a["pod_sandbox_id"], a["config"], now),
            "StartContainer": lambda: c.start_container(a["container_id"], now),
            "StopContainer": lambda: c.stop_container(a["container_id"], a["timeout"], now),
            "RemoveContainer": lambda: c.remove_container(a["container_id"], now),
            "ListContainers": lambda: c.list_containers(a.get("pod_sandbox_id"), a.get("state"), a.get("labels"),
                                                        now=now),
            "ExecSync": lambda: c.exec_sync(a["container_id"], a["cmd"], now, a.get("timeout")),
            "PullImage": lambda: c.pull_image(a["image"], now),
            "ImageStatus": lambda: c.image_status(a["image"], now),
            "ListImages": lambda: c.list_images(now),
        }
        return table[method]()

    @handles(CriRequest)
    def on_cri(self, msg: CriRequest, env: Envelope) -> None:
        now = self.clock.wall()
        self.calls.append(msg.method)
        try:
            args = parse_args(msg.method, msg.args)
            result = self._call(msg.method, args, now)
        except CriError as exc:
            self.reply(env, Error(exc.code, exc.message))
            self._after(now)
            return
        if msg.method in _TIMED:
            done_at = float(result)
            answer: Any = None
            if msg.method == "PullImage":
                answer = self.core.image_status(args["image"], done_at).id

            def reply() -> None:
                self._after(self.clock.wall())
                self.reply(env, CriResponse(answer))
            self.call_later(max(0.0, done_at - now), reply)
        else:
            self.reply(env, CriResponse(to_wire(result)))
        self._after(now)

    @handles(HttpGet)
    def on_http(self, msg: HttpGet, env: Envelope) -> None:
        answer = self.core.http_get(msg.ip, msg.port, msg.path, self.clock.wall())
        self.reply(env, HttpResponse(False) if answer is None else HttpResponse(True, answer[0], answer[1]))

    @handles(TcpConnect)
    def on_tcp(self, msg: TcpConnect, env: Envelope) -> None:
        self.reply(env, TcpResult(self.core.tcp_connect(msg.ip, msg.port, self.clock.wall())))

    def _after(self, now: float) -> None:
        found = [e for e in self.core.advance(now) if e.type != EventType.CONTAINER_LOGGED]
        if found:
            self.send(self.kubelet, CriEvents(tuple(to_wire(e) for e in found)))
        if self._timer is not None:
            self._timer.cancel()
        due = self.core.next_event_at()
        self._timer = None if due is None else self.call_later(max(0.0, due - now), lambda: self._after(self.clock.wall()))


def real_runtime(node: str, core: ContainerRuntime | None = None) -> Actor:
    server = pytest.importorskip("actors.runtime.server")
    actor = server.RuntimeServer(node, seed=7, metrics=server.RuntimeMetrics(CollectorRegistry()))
    if core is not None:
        actor.core = core
    return actor


# --- the world ---------------------------------------------------------------------------------------------------


class World:
    """One node process (API client, runtime, kubelet) on a manual clock, never started: local delivery only."""

    def __init__(self, make_runtime=FakeRuntime, *, clock: ManualClock | None = None, api: FakeApi | None = None,
                 core: ContainerRuntime | None = None, seed: int = 1) -> None:
        self.clock = clock or ManualClock(start=1000.0, wall_start=1_750_000_000.0)
        self.rt = Runtime(NODE, BusSettings(), self.clock, seed=seed)
        self.api = self.rt.add(FakeApi(f"{NODE}.api", api.store if api else None, api.state if api else None))
        self.runtime = self.rt.add(make_runtime(NODE, core) if core is not None else make_runtime(NODE))
        self.registry = CollectorRegistry()
        self.kubelet = self.rt.add(Kubelet(NodeConfig(NODE, "10.0.0.11", zone="zone-a", boot_id="boot-1"),
                                           self.api, metrics=KubeletMetrics(self.registry), seed=seed))

    def start(self) -> World:
        for actor in (self.api, self.runtime, self.kubelet):
            actor.on_start()
        self.settle()
        return self

    def settle(self) -> None:
        for _ in range(10_000):
            if not (self.rt._ready or self.rt._local):
                return
            self.rt.run_once(0.0)
        raise AssertionError("the loop did not settle")

    def advance(self, seconds: float, step: float = 0.25) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end - 1e-9:
            self.clock.advance(min(step, end - self.clock.monotonic()))
            self.rt._run_timers()
            self.settle()

    def wait_for(self, condition, timeout_s: float = 30.0, step: float = 0.25):
        end = self.clock.monotonic() + timeout_s
        while True:
            self.settle()
            value = condition()
            if value:
                return value
            if self.clock.monotonic() >= end:
                raise AssertionError(f"condition not met within {timeout_s} s")
            self.advance(step, step)

    def close(self) -> None:
        self.rt._ctx.term()

    # cluster-side helpers
    def assign_cidr(self, cidr: str = CIDR) -> None:
        node = copy.deepcopy(self.api.obj("nodes", NODE))
        node["spec"]["podCIDR"] = cidr
        node["spec"]["podCIDRs"] = [cidr]
        self.api.put(node)

    def pod(self, name: str = "web-0") -> dict | None:
        return self.api.obj("pods", name, "default")

    def status(self, name: str = "web-0") -> dict:
        return (self.pod(name) or {}).get("status") or {}

    def container_status(self, name: str = "web-0", container: str = "web") -> dict:
        return next((c for c in self.status(name).get("containerStatuses") or [] if c["name"] == container), {})

    def metric(self, name: str, **labels) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def make_pod(name: str = "web-0", *containers: dict, node: str = NODE, **spec: Any) -> dict:
    containers = containers or ({"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "containers": list(containers), **spec},
            "status": {"phase": "Pending"}}


@pytest.fixture(params=["fake", "real"])
def make_runtime(request):
    return FakeRuntime if request.param == "fake" else real_runtime


@pytest.fixture
def world():
    w = World().start()
    yield w
    w.close()


def ready(world: World, name: str = "web-0") -> bool:
    conditions = {c["type"]: c["status"] for c in world.status(name).get("conditions") or []}
    return world.status(name).get("phase") == "Running" and conditions.get("Ready") == "True"


# --- the node ------------------------------------------------------------------------------------------------


def test_the_node_is_registered_and_its_lease_renewed(world):
    node = world.api.obj("nodes", NODE)
    assert node is not None
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    lease = world.api.obj("leases", NODE, "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    first = lease["spec"]["renewTime"]
    world.advance(10.0)
    lease = world.api.obj("leases", NODE, "kube-node-lease")
    assert lease["spec"]["renewTime"] > first
    assert world.metric("kubesim_kubelet_lease_renewals_total", result="success") >= 2


def test_a_conflicting_lease_write_is_read_again_and_renewed(world):
    lease = copy.deepcopy(world.api.obj("leases", NODE, "kube-node-lease"))
    world.api.put(lease)  # someone else wrote it: the kubelet's copy is stale
    world.advance(10.0)
    assert world.metric("kubesim_kubelet_lease_renewals_total", result="conflict") == 1
    assert world.metric("kubesim_kubelet_lease_renewals_total", result="error") == 0
    assert world.api.obj("leases", NODE, "kube-node-lease")["spec"]["renewTime"] > lease["spec"]["renewTime"]


def test_node_status_is_posted_again_when_someone_else_changed_it(world):
    world.advance(STATUS := 11.0)
    posts = world.metric("kubesim_kubelet_node_status_posts_total", result="ok")
    world.advance(STATUS)
    assert world.metric("kubesim_kubelet_node_status_posts_total", result="ok") == posts, "nothing changed"
    node = copy.deepcopy(world.api.obj("nodes", NODE))
    for c in node["status"]["conditions"]:
        c["status"] = "Unknown"  # what the node lifecycle controller writes when the lease runs out
    world.api.put(node)
    world.advance(STATUS)
    node = world.api.obj("nodes", NODE)
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    assert node["status"]["images"], "the node reports its images"


def test_an_unchanged_node_status_is_not_computed_again_every_tick(world, monkeypatch):
    """Nothing it is made of changed and no report is due: the status loop has nothing to do (thousands of
    hollow kubelets tick every 10 s). The image list, read again every IMAGE_LIST_S, counts as a change."""
    computed = []
    real = kubelet_module.node_status
    monkeypatch.setattr(kubelet_module, "node_status", lambda *a, **kw: computed.append(1) or real(*a, **kw))
    world.advance(11.0)
    before = len(computed)
    world.advance(IMAGE_LIST_S * 3)  # nine status ticks
    assert len(computed) - before <= 4, f"{len(computed) - before} computations in nine quiet ticks"
    node = copy.deepcopy(world.api.obj("nodes", NODE))
    for c in node["status"]["conditions"]:
        c["status"] = "Unknown"
    world.api.put(node)  # a change from elsewhere is still seen at the next tick
    world.advance(11.0)
    conditions = {c["type"]: c["status"] for c in world.api.obj("nodes", NODE)["status"]["conditions"]}
    assert conditions["Ready"] == "True"


def test_an_existing_node_is_updated_not_created():
    w = World()
    w.api.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"custom": "1"}},
               "spec": {"podCIDR": CIDR}, "status": {}})
    uid = w.api.obj("nodes", NODE)["metadata"]["uid"]
    w.start()
    node = w.api.obj("nodes", NODE)
    assert node["metadata"]["uid"] == uid
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE and node["metadata"]["labels"]["custom"] == "1"
    assert node["status"]["nodeInfo"]["bootID"] == "boot-1"
    w.close()


# --- pods --------------------------------------------------------------------------------------------------------


def test_a_pod_waits_for_the_pod_cidr_then_runs_and_is_ready(make_runtime):
    w = World(make_runtime).start()
    probe = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}
    w.api.put(make_pod("web-0", {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                                 "readinessProbe": probe}))
    w.advance(3.0)
    assert w.container_status()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert w.status()["phase"] == "Pending"
    assert not w.kubelet.running_pods(), "no sandbox without a pod IP"
    w.assign_cidr()
    w.wait_for(lambda: ready(w))
    status = w.status()
    assert status["podIP"] == "10.244.1.2" and status["hostIP"] == "10.0.0.11"
    assert w.container_status()["ready"] is True and w.container_status()["restartCount"] == 0
    reasons = [e["reason"] for e in w.api.events()]
    for reason in ("Pulling", "Pulled", "Created", "Started"):
        assert reason in reasons, reasons
    started = w.api.events("Started")[0]
    assert started["message"] == "Started container web"
    assert started["involvedObject"]["fieldPath"] == "spec.containers{web}"
    assert started["source"] == {"component": "kubelet", "host": NODE}
    pulled = w.api.events("Pulled")[0]["message"]
    assert pulled.startswith('Successfully pulled image "nginx:1.25" in ') and "Image size: " in pulled
    assert w.metric("kubesim_kubelet_running_pods") == 1
    assert w.metric("kubesim_kubelet_running_containers", container_state="running") == 1
    assert w.metric("kubesim_kubelet_probe_total", probe_type="Readiness", result="successful") >= 1
    assert w.metric("kubesim_kubelet_pod_start_duration_seconds_count") == 1
    w.close()


def test_graceful_deletion_kills_removes_and_deletes(make_runtime):
    w = World(make_runtime).start()
    w.assign_cidr()
    w.api.put(make_pod())
    w.wait_for(lambda: ready(w))
    w.kubelet.spawn(w.api.delete("pods", "web-0", "default"))  # graceful: a deletionTimestamp, 30 s
    w.wait_for(lambda: w.pod() is None)
    killing = w.api.events("Killing")
    assert killing and killing[0]["message"] == "Stopping container web"
    core = w.runtime.core
    assert core.list_pod_sandboxes() == [] and core.list_containers() == []
    assert w.kubelet.ips.in_use() == 0
    w.settle()
    assert not w.kubelet.workers
    w.close()


def test_a_crashing_container_backs_off(world):
    world.assign_cidr()
    world.api.put(make_pod("web-0", {"name": "web", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}))
    cs = world.wait_for(lambda: (c := world.container_status()).get("state", {}).get("waiting", {}).get("reason")
                        == "CrashLoopBackOff" and c)
    assert cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=web pod=web-0_default(")
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    backoff = world.api.events("BackOff")
    assert backoff and backoff[0]["message"].startswith("Back-off restarting failed container web in pod web-0_default(")
    restarts = cs["restartCount"]
    world.wait_for(lambda: world.container_status()["restartCount"] > restarts, timeout_s=15.0)
    later = world.wait_for(lambda: "20s" in (world.container_status().get("state", {}).get("waiting", {})
                                                .get("message", "")), timeout_s=15.0)
    assert later


def test_each_restart_of_a_container_is_counted_once(world):
    world.assign_cidr()
    world.api.put(make_pod("web-0", {"name": "web", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}))
    world.wait_for(lambda: world.api.events("Started"))
    assert world.metric("kubesim_kubelet_container_restarts_total") == 0, "the first start is no restart"
    # Restarts come 10 s, then 20 s after a crash; the third waits 40 s, so the count is still 2 when seen.
    world.wait_for(lambda: world.container_status().get("restartCount", 0) >= 2, timeout_s=60.0)
    assert world.container_status()["restartCount"] == 2
    assert world.metric("kubesim_kubelet_container_restarts_total") == 2


def test_a_missing_image_is_err_image_pull_then_image_pull_back_off(world):
    world.assign_cidr()
    world.api.put(make_pod("web-0", {"name": "web", "image": "nginx:doesnotexist"}))
    waiting = world.wait_for(lambda: world.container_status().get("state", {}).get("waiting", {}).get("reason")
                             == "ErrImagePull" and world.container_status()["state"]["waiting"])
    assert waiting["message"].startswith("rpc error: code = NotFound desc = failed to pull and unpack image")
    world.wait_for(lambda: world.container_status()["state"]["waiting"]["reason"] == "ImagePullBackOff")
    assert world.container_status()["state"]["waiting"]["message"] == 'Back-off pulling image "nginx:doesnotexist"'
    failed = [e["message"] for e in world.api.events("Failed")]
    assert any(m.startswith('Failed to pull image "nginx:doesnotexist": rpc error') for m in failed)
    assert "Error: ErrImagePull" in failed


def test_a_missing_configmap_key_is_a_config_error_until_it_appears(world):
    world.assign_cidr()
    env = [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}}]
    world.api.put(make_pod("web-0", {"name": "web", "image": "nginx:1.25", "env": env}))
    waiting = world.wait_for(lambda: world.container_status().get("state", {}).get("waiting", {}).get("reason")
                             == "CreateContainerConfigError" and world.container_status()["state"]["waiting"])
    assert waiting["message"] == 'configmap "cfg" not found'
    assert 'Error: configmap "cfg" not found' in [e["message"] for e in world.api.events("Failed")]
    world.api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
                   "data": {"greeting": "hi"}})
    world.wait_for(lambda: ready(world), timeout_s=20.0)
    (container,) = world.runtime.core.list_containers()
    assert world.runtime.core._containers[container.id].config.env == {"GREETING": "hi"}


def test_volumes_wait_for_their_configmap_and_bound_claim(world):
    world.assign_cidr()
    volumes = [{"name": "cfg", "configMap": {"name": "site"}},
               {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}}]
    container = {"name": "web", "image": "nginx:1.25",
                 "volumeMounts": [{"name": "cfg", "mountPath": "/usr/share/nginx/html"},
                                  {"name": "data", "mountPath": "/data"}]}
    world.api.put(make_pod("web-0", container, volumes=volumes))
    world.wait_for(lambda: world.api.events("FailedMount"))
    messages = {e["message"] for e in world.api.events("FailedMount")}
    assert 'MountVolume.SetUp failed for volume "cfg" : configmap "site" not found' in messages
    assert world.container_status()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert world.runtime.core.list_pod_sandboxes() == []
    world.api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site", "namespace": "default"},
                   "data": {"index.html": "hi"}})
    world.api.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data-0", "namespace": "default"}, "spec": {}, "status": {"phase": "Pending"}})
    world.advance(5.0)
    assert any("PVC is not bound" in e["message"] for e in world.api.events("FailedMount"))
    assert world.runtime.core.list_pod_sandboxes() == []
    claim = copy.deepcopy(world.api.obj("persistentvolumeclaims", "data-0", "default"))
    claim["spec"]["volumeName"] = "pv-7"
    claim["status"]["phase"] = "Bound"
    world.api.put(claim)
    world.wait_for(lambda: ready(world), timeout_s=30.0)
    (c,) = world.runtime.core.list_containers()
    mounts = world.runtime.core._containers[c.id].config.mounts
    assert {m["container_path"]: m["host_path"].rsplit("/", 2)[-2] for m in mounts} == {
        "/usr/share/nginx/html": "kubernetes.io~configmap", "/data": "pv-7"}


def test_a_failing_liveness_probe_restarts_the_container(world):
    world.assign_cidr()
    image = "registry.k8s.io/e2e-test-images/agnhost:2.40"
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2, "failureThreshold": 2}
    world.api.put(make_pod("web-0", {"name": "web", "image": image, "args": ["liveness"],
                                     "ports": [{"containerPort": 8080}], "livenessProbe": probe}))
    world.wait_for(lambda: ready(world))
    world.wait_for(lambda: world.container_status()["restartCount"] >= 1, timeout_s=40.0)
    unhealthy = world.api.events("Unhealthy")
    assert unhealthy and unhealthy[0]["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert any(e["message"] == "Container web failed liveness probe, will be restarted"
               for e in world.api.events("Killing"))
    assert world.metric("kubesim_kubelet_probe_total", probe_type="Liveness", result="failed") >= 2


def test_init_containers_run_in_order_before_the_containers(world):
    world.assign_cidr()
    inits = [{"name": "first", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 1"]},
             {"name": "second", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 1"]}]
    world.api.put(make_pod("web-0", {"name": "web", "image": "nginx:1.25"}, initContainers=inits))
    world.wait_for(lambda: ready(world))
    created = [e["involvedObject"]["fieldPath"] for e in world.api.events("Created")]
    assert created == ["spec.initContainers{first}", "spec.initContainers{second}", "spec.containers{web}"]
    inits_status = world.status()["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in inits_status] == ["Completed", "Completed"]


def test_a_job_pod_completes_and_is_not_restarted(world):
    world.assign_cidr()
    world.api.put(make_pod("job-0", {"name": "work", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 2"]},
                           restartPolicy="Never"))
    world.wait_for(lambda: world.status("job-0").get("phase") == "Succeeded")
    cs = world.container_status("job-0", "work")
    assert cs["state"]["terminated"]["reason"] == "Completed" and cs["restartCount"] == 0
    world.advance(5.0)
    assert len(world.runtime.core.list_containers()) == 1
    assert world.runtime.core.list_pod_sandboxes()[0].state == cri.SandboxState.NOTREADY


# --- restarts and housekeeping ---------------------------------------------------------------------------------


def test_a_kubelet_restart_adopts_the_running_containers():
    first = World().start()
    first.assign_cidr()
    first.api.put(make_pod())
    first.wait_for(lambda: ready(first))
    (before,) = first.runtime.core.list_containers()
    ip = first.status()["podIP"]
    # A new kubelet (and runtime actor) over the same runtime state and API: the kubelet alone restarted.
    second = World(clock=first.clock, api=first.api, core=first.runtime.core, seed=2).start()
    second.advance(3.0)
    (after,) = second.runtime.core.list_containers()
    assert after.id == before.id and after.state == cri.ContainerState.RUNNING
    assert len(second.runtime.core.list_pod_sandboxes()) == 1
    assert second.status()["podIP"] == ip and second.container_status()["restartCount"] == 0
    second.wait_for(lambda: ready(second))
    second.api.put(make_pod("web-1"))
    second.wait_for(lambda: ready(second, "web-1"))
    assert second.status("web-1")["podIP"] != ip, "the adopted pod's IP is held"
    first.close()
    second.close()


def test_identity_matches_names_and_prefixes():
    admins = ("admin", "kubesim-cli-*")
    assert identity_matches("admin", admins) and identity_matches("kubesim-cli-4242", admins)
    assert not identity_matches("node-2", admins) and not identity_matches("administrator", admins)
    assert not identity_matches("kubesim-cl", admins) and not identity_matches("admin", ())


def test_kubelet_restart_in_its_process_adopts_the_running_containers_and_carries_on(world):
    """kubelet.Restart (what `kubesim node restart-kubelet` sends): a fresh kubelet takes the old one's name in the
    same process, over the same runtime actor; the containers keep running, the pod keeps its IP."""
    world.assign_cidr()
    world.api.put(make_pod())
    world.wait_for(lambda: ready(world))
    core = world.runtime.core
    (before,) = core.list_containers()
    ip, old = world.status()["podIP"], world.kubelet
    asker = world.rt.add(Actor(f"{NODE}.asker"))  # its own process: allowed
    answer = asker.request(old.name, KubeletRestart())
    world.settle()
    assert answer.result() == KubeletRestarted(NODE, 1)
    fresh = world.kubelet = world.rt._actors[old.name.encode()]
    assert fresh is not old and old.stopped and not old._tasks and not old.workers
    assert old.metrics.kubelets == [fresh], "the successor reports the metrics"
    world.advance(3.0)
    (after,) = core.list_containers()
    assert after.id == before.id and after.state == cri.ContainerState.RUNNING
    assert len(core.list_pod_sandboxes()) == 1 and fresh.ips is not None and fresh.ips.in_use() == 1
    cs = world.container_status()
    assert world.status()["podIP"] == ip and cs["restartCount"] == 0 and cs["containerID"].endswith(before.id)
    world.wait_for(lambda: ready(world) and fresh.workers)
    world.api.put(make_pod("web-1"))
    world.wait_for(lambda: ready(world, "web-1"))
    assert world.status("web-1")["podIP"] != ip
    fresh.spawn(world.api.delete("pods", "web-0", "default"))
    world.wait_for(lambda: world.pod("web-0") is None, timeout_s=60.0)
    assert [c.id for c in core.list_containers() if c.state == cri.ContainerState.RUNNING] != [before.id]


def test_a_kubelet_restart_mid_sync_leaves_nothing_of_the_old_kubelet_running(world):
    world.assign_cidr()
    world.api.put(make_pod())
    world.wait_for(lambda: "PullImage" in world.runtime.calls)  # the old kubelet's worker waits on the pull
    assert "CreateContainer" not in world.runtime.calls
    old, world.kubelet = world.kubelet, world.kubelet.restart()
    world.wait_for(lambda: ready(world))
    world.advance(15.0)  # long past the old pull's end, its sync's timeouts and the old timers
    assert world.runtime.calls.count("CreateContainer") == 1, "the old worker did not carry on"
    assert len(world.runtime.core.list_containers()) == 1 and len(world.runtime.core.list_pod_sandboxes()) == 1
    assert not old._tasks and ready(world) and world.container_status()["restartCount"] == 0


def test_a_kubelet_restart_stops_the_old_kubelets_tasks_where_they_wait():
    world = World()
    world.api.fail["create nodes"] = ApiError(503, "ServiceUnavailable", "etcdserver: request timed out")
    world.start()
    world.advance(1.0)  # registration fails, and is tried again after a pause
    attempts = world.api.calls.count(("create", "nodes"))
    assert attempts >= 2 and not world.kubelet.registered
    old, world.kubelet = world.kubelet, world.kubelet.restart()
    del world.api.fail["create nodes"]
    world.advance(30.0)
    assert world.api.calls.count(("create", "nodes")) == attempts + 1, "only the fresh kubelet registered"
    assert world.kubelet.registered and not old.registered and old.pods is None
    world.close()


def test_a_kubelet_restart_is_refused_to_all_but_the_admins_and_its_own_process(world):
    replies: list = []
    world.kubelet.reply = lambda env, msg: replies.append(msg)
    header = Header(KubeletRestart.KIND, 1, 0, True, "x.asker", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", 0.0)
    world.kubelet.on_restart(KubeletRestart(), Envelope(world.kubelet.name, "node-2", header))
    assert isinstance(replies[0], Error) and replies[0].code == "forbidden" and not world.kubelet.stopped
    world.kubelet.on_restart(KubeletRestart(), Envelope(world.kubelet.name, "kubesim-cli-42", header))
    assert replies[1] == KubeletRestarted(NODE, 0) and world.kubelet.stopped
    world.settle()  # the fresh kubelet starts


def test_after_a_node_restart_the_pods_are_started_again():
    first = World().start()
    first.assign_cidr()
    first.api.put(make_pod())
    first.wait_for(lambda: ready(first))
    # The whole node process restarts: an empty runtime.
    second = World(clock=first.clock, api=first.api, seed=2).start()
    second.wait_for(lambda: second.runtime.core.list_containers()
                    and second.runtime.core.list_containers()[0].state == cri.ContainerState.RUNNING)
    second.wait_for(lambda: ready(second) and second.container_status()["restartCount"] == 1)
    first.close()
    second.close()


def test_sandboxes_no_pod_owns_are_cleaned_up(world):
    world.assign_cidr()
    world.settle()
    core = world.runtime.core
    stray = cri.PodSandboxConfig(cri.PodSandboxMetadata("gone", "default", "uid-gone"), pod_ip="10.244.1.9")
    core.run_pod_sandbox(stray, world.clock.wall())
    world.advance(RELIST_S + 1)  # the next relist finds it
    assert core.list_pod_sandboxes() == []


def test_a_pod_deleted_outright_is_stopped_and_forgotten(world):
    world.assign_cidr()
    world.api.put(make_pod())
    world.wait_for(lambda: ready(world))
    world.kubelet.spawn(world.api.delete("pods", "web-0", "default", grace_period_s=0))
    world.wait_for(lambda: not world.kubelet.workers)
    assert world.runtime.core.list_pod_sandboxes() == []


def test_a_status_conflict_is_read_again_and_retried(world):
    world.assign_cidr()
    world.api.put(make_pod())
    world.wait_for(lambda: ready(world))
    # Someone else wrote the pod and the kubelet has not heard yet: its copy is stale.
    stored = world.api.store[("pods", "default", "web-0")]
    stored["metadata"]["resourceVersion"] = "9999"
    stored["status"] = {"phase": "Pending"}
    w = next(iter(world.kubelet.workers.values()))
    w.pod = copy.deepcopy(w.pod)
    w.pod["status"] = {"phase": "Pending"}  # what the kubelet believes the API holds: a write is due
    w.last_written = None
    world.kubelet._kick(w)
    world.settle()
    assert world.metric("kubesim_kubelet_pod_status_updates_total", result="conflict") == 1
    assert ready(world)


def test_runtime_events_are_taken_only_from_the_nodes_runtime(world):
    world.assign_cidr()
    world.api.put(make_pod())
    world.wait_for(lambda: ready(world))
    w = next(iter(world.kubelet.workers.values()))
    syncs = w.syncs
    header = Header(CriEvents.KIND, 1, 0, False, "node-2.runtime", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", 0.0)
    world.kubelet.on_cri_events(CriEvents(({"pod_uid": w.uid},)), Envelope(world.kubelet.name, "node-2", header))
    world.settle()
    assert w.syncs == syncs
