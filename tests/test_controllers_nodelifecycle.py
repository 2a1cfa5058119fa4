"""The node lifecycle controller, driven synchronously over hand-filled caches with explicit times.

A :class:`FakeApi` records every call and answers at once; what it wrote
reaches the caches only when a test calls :meth:`World.deliver` (the
informer), so a test can also look at the controller before its writes come
back. ``World.now`` is the controller's own clock; ``World.wall`` only
stamps what is written.
"""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.nodelifecycle import (
    EVICTION_RATE,
    FULL,
    NORMAL,
    NOT_READY,
    PARTIAL,
    UNREACHABLE,
    Disruption,
    NodeLifecycleController,
    TaintQueue,
    compute_zone_state,
    matching_tolerations,
    min_toleration_s,
    zone_label,
    zone_of,
)
from actors.leaderelection import micro_time
from actors.ratelimit import TokenBucket

T0 = 1_750_000_000.0
"""Wall-clock seconds at the start of every test."""
START = 1_000.0
"""The controller's clock at the start of every test."""

DEFAULT_TOLERATIONS = [
    {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]
"""What DefaultTolerationSeconds admission gives every pod."""


# --- fixtures ------------------------------------------------------------------------------------

def make_node(name: str, *, ready: str | None = "True", heartbeat: float = T0 - 5, taints: list | None = None,
              rv: str = "1", zone: str | None = None, labels: dict | None = None, unschedulable: bool = False,
              pressure: dict | None = None) -> dict:
    meta: dict = {"name": name, "uid": f"uid-{name}", "resourceVersion": rv,
                  "creationTimestamp": rfc3339(T0 - 86400), "labels": dict(labels or {})}
    if zone is not None:
        meta["labels"]["topology.kubernetes.io/zone"] = zone
    conditions = []
    if ready is not None:
        for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
            status = ready if type_ == "Ready" else (pressure or {}).get(type_, "False")
            conditions.append({"type": type_, "status": status, "reason": "KubeletReady",
                               "message": "kubelet is posting ready status", "lastHeartbeatTime": rfc3339(heartbeat),
                               "lastTransitionTime": rfc3339(T0 - 3600)})
    spec: dict = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec, "status": {"conditions": conditions}}


def make_lease(name: str, renew_wall: float, rv: str = "1") -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease", "resourceVersion": rv},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_time(renew_wall)}}


def make_pod(name: str, node: str, *, tolerations: list | None = None, ready: str | None = "True",
             deleting: bool = False) -> dict:
    meta: dict = {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0)
    conditions = [] if ready is None else [{"type": "Ready", "status": ready,
                                            "lastTransitionTime": rfc3339(T0 - 600)}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "tolerations": DEFAULT_TOLERATIONS if tolerations is None else tolerations,
                     "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running", "conditions": conditions}}


def taint(key: str, effect: str, added: float = T0 - 100) -> dict:
    return {"key": key, "effect": effect, "timeAdded": rfc3339(added)}


UNREACHABLE_TAINTS = [taint(UNREACHABLE, "NoSchedule"), taint(UNREACHABLE, "NoExecute")]


class FakeApi:
    """Records calls and answers at once; the results wait in ``pending`` for :meth:`World.deliver`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple] = []
        self.pending: list[tuple[str, dict]] = []
        self.errors: dict[tuple[str, str], ApiError] = {}
        self._rv = 100

    def _check(self, verb: str, name: str) -> None:
        if (verb, name) in self.errors:
            raise self.errors[(verb, name)]

    def _bump(self, obj: dict) -> dict:
        self._rv += 1
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}

    async def update_status(self, obj: dict) -> dict:
        name = obj["metadata"]["name"]
        self.calls.append(("update_status", obj["kind"], name, obj["status"]))
        self._check("update_status", name)
        out = self._bump(obj)
        self.pending.append(("PUT", out))
        return out

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic", subresource: str = "") -> dict:
        self.calls.append(("patch", resource, name, patch, patch_type, subresource))
        self._check("patch", name)
        if resource == "nodes":
            base = self.world.nodes.get(name)
            spec = {k: v for k, v in base["spec"].items() if k != "taints"}
            if patch["spec"]["taints"]:
                spec["taints"] = patch["spec"]["taints"]
            out = self._bump({**base, "spec": spec})
        else:
            base = self.world.pods.get(name, namespace)
            added = {c["type"]: c for c in patch["status"]["conditions"]}
            kept = [c for c in base["status"]["conditions"] if c["type"] not in added]
            out = self._bump({**base, "status": {**base["status"], "conditions": kept + list(added.values())}})
        self.pending.append(("PUT", out))
        return out

    async def delete(self, resource: str, name: str, namespace: str = "") -> dict:
        self.calls.append(("delete", resource, f"{namespace}/{name}"))
        self._check("delete", name)
        self.pending.append(("DELETE", self.world.pods.get(name, namespace)))
        return {}

    def verbs(self) -> list[str]:
        return [c[0] for c in self.calls]

    def deleted(self) -> list[str]:
        return [c[2] for c in self.calls if c[0] == "delete"]

    def node_statuses(self) -> list[tuple[str, dict]]:
        return [(c[2], c[3]) for c in self.calls if c[0] == "update_status" and c[1] == "Node"]

    def taint_patches(self) -> list[tuple[str, dict]]:
        return [(c[2], c[3]) for c in self.calls if c[0] == "patch" and c[1] == "nodes"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], type_, reason, message))

    def reasons(self) -> list[str]:
        return [e[2] for e in self.events]


class World:
    """A controller, its caches, a fake API and recorder, and the time.

    Unless ``neighbour=False``, the cluster also has a node ``ok`` that stays
    Ready (and is never synced): without it a single node going down would
    be every node down, when the controller stops all NoExecute tainting.
    """

    def __init__(self, nodes: list[dict], pods: list[dict] = (), leases: list[dict] = (), *,
                 neighbour: bool = True, **kwargs) -> None:
        self.nlc = NodeLifecycleController(**kwargs)
        self.nodes = DictStore([*nodes, make_node("ok")] if neighbour else nodes)
        self.pods = DictStore(pods)
        self.leases = DictStore(leases)
        self.api = FakeApi(self)
        self.recorder = FakeRecorder()
        self.now = START
        self.wall = T0

    def at(self, seconds: float) -> None:
        """Both clocks ``seconds`` after the test's start."""
        self.now, self.wall = START + seconds, T0 + seconds

    def sync(self, name: str = "n1"):
        ctx = Context(caches={"nodes": self.nodes, "leases": self.leases, "pods": self.pods}, api=self.api,
                      recorder=self.recorder, now=self.now, wall=self.wall)
        return run_sync(self.nlc.sync(name, ctx))

    def deliver(self) -> None:
        """The informer: what the API wrote reaches the caches."""
        for verb, obj in self.api.pending:
            store = self.nodes if obj["kind"] == "Node" else self.pods
            if verb == "DELETE":
                store.remove(obj)
            else:
                store.put(obj)
        self.api.pending.clear()

    def clear(self) -> None:
        self.api.calls.clear()
        self.recorder.events.clear()

    def renew(self, name: str = "n1") -> None:
        """The kubelet renews its Lease (renewTime on the node's clock: here, skewed an hour back)."""
        old = self.leases.get(name, "kube-node-lease")
        rv = str(int(old["metadata"]["resourceVersion"]) + 1) if old else "1"
        self.leases.put(make_lease(name, self.wall - 3600, rv))

    def post_status(self, name: str = "n1", ready: str = "True") -> None:
        """The kubelet posts its status: a new heartbeat, and Ready as it sees it."""
        node = self.nodes.get(name)
        fresh = make_node(name, ready=ready, heartbeat=self.wall, taints=node["spec"].get("taints"),
                          rv=str(int(node["metadata"]["resourceVersion"]) + 1))
        self.nodes.put(fresh)

    def taints(self, name: str = "n1") -> list[tuple[str, str]]:
        return sorted((t["key"], t["effect"]) for t in self.nodes.get(name)["spec"].get("taints") or [])

    def ready(self, name: str = "n1") -> str:
        return next(c["status"] for c in self.nodes.get(name)["status"]["conditions"] if c["type"] == "Ready")

    def go_unknown(self, *names: str, at: float = 50.0) -> None:
        """Let ``names`` go quiet from the start, pass the grace period, and deliver the Unknown status."""
        for name in names:
            self.at(0)
            self.sync(name)
        self.at(at)
        for name in names:
            self.sync(name)
        self.deliver()


# --- the pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("tolerations", "taints", "tolerated", "seconds"), [
    pytest.param([], [taint(UNREACHABLE, "NoExecute")], False, None, id="none-tolerated"),
    pytest.param(DEFAULT_TOLERATIONS, [taint(UNREACHABLE, "NoExecute")], True, 300.0, id="default-300"),
    pytest.param([{"operator": "Exists"}], [taint(UNREACHABLE, "NoExecute")], True, None, id="forever"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}],
                 [taint(UNREACHABLE, "NoExecute")], True, 0.0, id="zero"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -5}],
                 [taint(UNREACHABLE, "NoExecute")], True, 0.0, id="negative-is-zero"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 60},
                  {"key": "x", "operator": "Exists"}],
                 [taint(UNREACHABLE, "NoExecute"), {"key": "x", "effect": "NoExecute"}], True, 60.0,
                 id="least-of-the-used"),
    pytest.param(DEFAULT_TOLERATIONS, [taint(UNREACHABLE, "NoExecute"), {"key": "x", "effect": "NoExecute"}],
                 False, None, id="one-untolerated"),
])
def test_matching_tolerations_and_the_time_they_give(tolerations, taints, tolerated, seconds):
    all_tolerated, used = matching_tolerations(taints, tolerations)
    assert all_tolerated is tolerated
    if tolerated:
        assert min_toleration_s(used) == seconds


def test_the_token_bucket_starts_full_and_refills_at_its_rate():
    bucket = TokenBucket(0.1, 1, now=0.0)
    assert bucket.try_accept(0.0) and not bucket.try_accept(0.0)
    assert bucket.wait_s(4.0) == pytest.approx(6.0)
    assert not bucket.try_accept(9.99)
    assert bucket.try_accept(10.0)
    never = TokenBucket(0.0, 1, now=0.0)
    assert not never.try_accept(1e9) and math.isinf(never.wait_s(0.0))


def test_the_taint_queue_serves_the_head_first_one_per_token():
    q = TaintQueue(0.1, now=0.0)
    for name in ("a", "b", "c"):
        assert q.add(name)
    assert not q.add("a"), "a node waits once"
    assert q.take("b", 0.0) == pytest.approx(10.0), "b is not at the head: it waits though a token is there"
    assert q.take("a", 0.0) is None
    q.done("a")
    assert q.take("b", 0.0) == pytest.approx(10.0) and q.take("c", 0.0) == pytest.approx(20.0)
    assert q.take("b", 10.0) is None
    q.done("b")
    assert not q.add("a"), "tainted: not queued again until removed"
    q.remove("a")
    assert q.add("a") and q.waiting() == ["c", "a"]


def test_swapping_the_rate_keeps_an_empty_bucket_empty():
    q = TaintQueue(0.1, now=0.0)
    q.add("a")
    assert q.take("a", 0.0) is None
    q.swap_rate(0.0, 1.0)
    assert math.isinf(q.bucket.wait_s(1.0))
    q.swap_rate(0.1, 2.0)
    assert q.bucket.wait_s(2.0) == pytest.approx(10.0), "drained: the next token comes a full period later"


@pytest.mark.parametrize(("statuses", "state"), [
    pytest.param(["True", "True", "False"], NORMAL, id="one-down"),
    pytest.param(["True", "False", "False"], NORMAL, id="two-down-is-never-partial"),
    pytest.param(["True", "False", "False", "Unknown"], PARTIAL, id="three-of-four"),
    pytest.param(["True"] * 3 + ["False"] * 3, NORMAL, id="half-is-below-55%"),
    pytest.param(["Unknown", None], FULL, id="none-ready"),
    pytest.param(["True"] * 9 + ["False"] * 11, PARTIAL, id="55%"),
])
def test_zone_states(statuses, state):
    assert compute_zone_state(statuses, 0.55)[1] == state


def test_a_partially_disrupted_zone_slows_down_if_large_and_stops_if_small():
    d = Disruption(eviction_rate=0.1, secondary_eviction_rate=0.01, large_cluster_threshold=50,
                   unhealthy_zone_threshold=0.55)
    healthy = {"big": ["True"] * 60, "small": ["True"] * 10}
    assert d.update(healthy).rates == {"big": 0.1, "small": 0.1}
    assert d.update(healthy).rates == {}, "nothing changed"
    change = d.update({"big": ["True"] * 20 + ["Unknown"] * 40, "small": ["True"] * 4 + ["Unknown"] * 6})
    assert change.rates == {"big": 0.01, "small": 0.0}
    assert d.update({"big": ["Unknown"] * 60, "small": ["True"] * 10}).rates == {"big": 0.1, "small": 0.1}, \
        "a fully disrupted zone evicts at the normal rate while others are up"


def test_every_zone_down_stops_tainting_and_coming_back_restores_the_rates():
    d = Disruption(eviction_rate=0.1, secondary_eviction_rate=0.01, large_cluster_threshold=50,
                   unhealthy_zone_threshold=0.55)
    d.update({"a": ["True", "True"], "b": ["True"]})
    change = d.update({"a": ["Unknown", "False"], "b": [None]})
    assert change.rates == {"a": 0.0, "b": 0.0} and d.master and not change.exited
    back = d.update({"a": ["True", "False"], "b": ["Unknown"]})
    assert back.exited and not d.master
    assert back.rates == {"a": 0.1, "b": 0.1}


def test_zones_come_from_the_zone_and_region_labels():
    assert zone_of(make_node("n")) == ""
    assert zone_of(make_node("n", zone="z1")) == ":\x00:z1"
    assert zone_of(make_node("n", labels={"topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z"})) \
        == "r:\x00:z"


# --- events into keys --------------------------------------------------------------------------------

def test_nodes_leases_and_pods_map_to_the_node():
    nlc = NodeLifecycleController()
    assert list(nlc.keys("nodes", make_node("n1"))) == ["n1"]
    assert list(nlc.keys("leases", make_lease("n1", T0))) == ["n1"]
    other = make_lease("kube-controller-manager", T0)
    other["metadata"]["namespace"] = "kube-system"
    assert list(nlc.keys("leases", other)) == []
    assert list(nlc.keys("pods", make_pod("web-1", "n2"))) == ["n2"]
    assert list(nlc.keys("pods", make_pod("web-1", ""))) == []


# --- health -------------------------------------------------------------------------------------------

def test_the_grace_period_runs_from_the_last_observed_renewal_49_9_s_is_not_50_s():
    w = World([make_node("n1")], leases=[make_lease("n1", T0 - 3600)])
    assert w.sync() == pytest.approx(50.0), "look again when the grace period would run out"
    assert w.recorder.events == [("n1", "Normal", "RegisteredNode", "Registered Node n1 in Controller")]
    w.at(30)
    w.renew()  # the renewTime is an hour behind our clock: only that it changed matters
    assert w.sync() == pytest.approx(50.0)
    w.at(79.9)
    assert w.sync() == pytest.approx(0.1)
    assert w.api.calls == []
    w.at(80)
    w.clear()
    w.sync()
    [(_, status)] = w.api.node_statuses()
    by_type = {c["type"]: c for c in status["conditions"]}
    assert set(by_type) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    for c in by_type.values():
        assert (c["status"], c["reason"], c["message"]) == \
            ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert c["lastTransitionTime"] == rfc3339(T0 + 80)
        assert c["lastHeartbeatTime"] == rfc3339(T0 - 5), "the heartbeat stays the kubelet's"
    assert w.recorder.events == [("n1", "Normal", "NodeNotReady", "Node n1 status is now: NodeNotReady")]


def test_a_lease_that_stops_changing_counts_as_silence_even_with_a_renew_time_in_the_future():
    w = World([make_node("n1")], leases=[make_lease("n1", T0 + 86400)])
    w.sync()
    w.at(49.9)
    w.sync()
    assert w.api.calls == []
    w.at(50)
    w.sync()
    assert len(w.api.node_statuses()) == 1


def test_a_new_ready_heartbeat_also_restarts_the_clock_but_an_unchanged_one_does_not():
    w = World([make_node("n1")])
    w.sync()
    w.at(40)
    w.post_status()
    w.sync()
    w.at(60)
    w.nodes.put({**w.nodes.get("n1"), "metadata": {**w.nodes.get("n1")["metadata"], "resourceVersion": "9"}})
    w.sync()  # a resync with the same heartbeat
    assert w.api.calls == []
    w.at(89.9)
    w.sync()
    assert w.api.calls == []
    w.at(90)
    w.sync()
    assert len(w.api.node_statuses()) == 1


def test_a_node_that_never_posted_status_gets_the_startup_grace_and_never_updated_conditions():
    w = World([make_node("n1", ready=None)])
    assert w.sync() == pytest.approx(60.0)
    w.at(59.9)
    w.sync()
    assert w.api.calls == []
    w.at(60)
    w.sync()
    [(_, status)] = w.api.node_statuses()
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready == {"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                     "message": "Kubelet never posted node status.", "lastHeartbeatTime": rfc3339(T0 - 86400),
                     "lastTransitionTime": rfc3339(T0 + 60)}
    assert "NodeNotReady" not in w.recorder.reasons(), "it never was ready"
    w.deliver()
    w.clear()
    w.at(61)
    w.sync()
    assert w.api.node_statuses() == [], "already Unknown, and our own write is no heartbeat"
    assert ("n1", {"metadata": {"resourceVersion": "101"},
                   "spec": {"taints": [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": rfc3339(T0 + 61)},
                                       {"key": UNREACHABLE, "effect": "NoExecute",
                                        "timeAdded": rfc3339(T0 + 61)}]}}) in w.api.taint_patches()


def test_a_node_already_unknown_is_not_written_again():
    w = World([make_node("n1", ready="Unknown", taints=UNREACHABLE_TAINTS)])
    w.sync()
    w.at(100)
    w.clear()
    assert w.sync() == pytest.approx(5.0), "an unhealthy node is looked at every monitor period"
    assert w.api.calls == []


def test_the_controller_does_not_write_a_node_again_before_its_write_comes_back():
    w = World([make_node("n1")])
    w.sync()
    w.at(50)
    w.sync()
    w.at(51)
    assert w.sync() == pytest.approx(5.0)
    assert w.api.verbs() == ["update_status"], "no second status write and no taints from a stale node"
    w.deliver()
    w.sync()
    assert w.api.verbs() == ["update_status", "patch"]


def test_a_conflicting_status_write_fails_the_sync():
    w = World([make_node("n1")])
    w.sync()
    w.api.errors[("update_status", "n1")] = ApiError(409, "Conflict", "the object has been modified")
    w.at(50)
    with pytest.raises(ApiError):
        w.sync()
    del w.api.errors[("update_status", "n1")]
    w.sync()
    assert len(w.api.node_statuses()) == 2, "retried from the cache"


# --- taints -----------------------------------------------------------------------------------------

def test_an_unreachable_node_is_tainted_unreachable_no_schedule_and_no_execute():
    w = World([make_node("n1", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])])
    w.go_unknown("n1")
    w.clear()
    w.at(51)
    w.sync()
    [(_, patch)] = w.api.taint_patches()
    assert patch == {"metadata": {"resourceVersion": "101"}, "spec": {"taints": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": rfc3339(T0 + 51)},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": rfc3339(T0 + 51)}]}}
    w.deliver()
    assert w.taints() == [("dedicated", "NoSchedule"), (UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]


def test_a_node_whose_kubelet_reports_not_ready_is_tainted_not_ready_and_its_pods_are_left_alone():
    w = World([make_node("n1", ready="False")], [make_pod("web-1", "n1")])
    w.sync()
    assert [(n, p["spec"]["taints"]) for n, p in w.api.taint_patches()] == [("n1", [
        {"key": NOT_READY, "effect": "NoSchedule", "timeAdded": rfc3339(T0)},
        {"key": NOT_READY, "effect": "NoExecute", "timeAdded": rfc3339(T0)}])]
    assert [c for c in w.api.calls if c[0] == "update_status"] == [], "a live kubelet looks after its pods"
    assert "NodeNotReady" not in w.recorder.reasons()


def test_a_node_healthy_again_loses_the_controllers_taints_and_keeps_the_others():
    w = World([make_node("n1", taints=[*UNREACHABLE_TAINTS, {"key": "dedicated", "effect": "NoSchedule"}])])
    w.sync()
    assert w.api.taint_patches() == [("n1", {"metadata": {"resourceVersion": "1"},
                                             "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]}})]


def test_recovery_after_going_unknown_removes_both_taints():
    w = World([make_node("n1")], leases=[make_lease("n1", T0)])
    w.go_unknown("n1")
    w.at(51)
    w.sync()
    w.deliver()
    assert w.taints() == [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    w.at(70)
    w.renew()
    w.post_status()
    w.clear()
    w.sync()
    w.deliver()
    assert w.taints() == [] and w.ready() == "True"


def test_unreachable_turning_not_ready_swaps_the_no_execute_taint_at_once_without_a_token():
    nodes = [make_node("n1", ready="False", taints=UNREACHABLE_TAINTS), make_node("n2", ready="False"),
             *(make_node(f"ok{i}") for i in range(3))]
    w = World(nodes)
    w.sync("n2")  # n2 takes the only token
    w.clear()
    w.sync("n1")
    [(_, patch)] = w.api.taint_patches()
    assert sorted((t["key"], t["effect"]) for t in patch["spec"]["taints"]) == \
        [(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")]


@pytest.mark.parametrize(("condition", "key"), [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
])
def test_pressure_conditions_bring_their_no_schedule_taints(condition, key):
    w = World([make_node("n1", pressure={condition: "True"})])
    w.sync()
    assert w.api.taint_patches()[0][1]["spec"]["taints"] == [
        {"key": key, "effect": "NoSchedule", "timeAdded": rfc3339(T0)}]


def test_a_cordoned_node_gets_the_unschedulable_taint():
    w = World([make_node("n1", unschedulable=True)])
    w.sync()
    assert w.api.taint_patches()[0][1]["spec"]["taints"] == [
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": rfc3339(T0)}]


# --- pods marked NotReady --------------------------------------------------------------------------

def test_pods_on_a_node_gone_unknown_are_marked_not_ready_once():
    pods = [make_pod("web-1", "n1"), make_pod("web-2", "n1", ready="False"), make_pod("web-3", "n2"),
            make_pod("job-1", "n1", ready=None)]
    w = World([make_node("n1"), make_node("n2")], pods, leases=[make_lease("n2", T0)])
    w.sync()
    w.at(50)
    w.sync()
    pod_writes = [c for c in w.api.calls if c[0] == "update_status" and c[1] == "Pod"]
    assert [(c[2], c[3]["conditions"]) for c in pod_writes] == [
        ("web-1", [{"type": "Ready", "status": "False", "lastTransitionTime": rfc3339(T0 + 50)}])]
    assert ("web-1", "Warning", "NodeNotReady", "Node is not ready") in w.recorder.events
    w.deliver()
    w.clear()
    w.at(55)
    w.sync()
    assert [c for c in w.api.calls if c[1] == "Pod"] == [], "marked already"


def test_a_pod_bound_to_an_unknown_node_later_is_marked_too():
    w = World([make_node("n1")])
    w.go_unknown("n1")
    w.at(51)
    w.sync()
    w.clear()
    w.pods.put(make_pod("late", "n1"))
    w.at(52)
    w.sync()
    assert [(c[1], c[2]) for c in w.api.calls if c[0] == "update_status"] == [("Pod", "late")]


def test_a_failed_pod_update_is_retried_on_the_next_sync():
    w = World([make_node("n1")], [make_pod("web-1", "n1"), make_pod("web-2", "n1")])
    w.api.errors[("update_status", "web-1")] = ApiError(500, "InternalError", "etcd is sad")
    w.sync()
    w.at(50)
    with pytest.raises(ApiError):
        w.sync()
    w.deliver()
    del w.api.errors[("update_status", "web-1")]
    w.clear()
    w.at(51)
    w.sync()
    assert [c[2] for c in w.api.calls if c[0] == "update_status"] == ["web-1"]


# --- eviction -------------------------------------------------------------------------------------

def eviction_world(pods: list[dict]) -> World:
    """n1 already carries the unreachable taints (added long ago: only when we first see it counts)."""
    return World([make_node("n1", ready="Unknown", taints=UNREACHABLE_TAINTS)], pods)


def test_from_the_last_renewal_unknown_at_50_s_tainted_and_pods_not_ready_then_evicted_at_350_s():
    w = World([make_node("n1")], [make_pod("web-1", "n1")], leases=[make_lease("n1", T0)])
    assert w.sync() == pytest.approx(50.0)  # the lease was last seen changing now; then the kubelet dies
    w.at(49.9)
    w.sync()
    assert w.api.calls == []
    w.at(50)  # the grace period (50 s) has run out: Ready=Unknown, and the pod is not ready any more
    w.sync()
    assert [(c[1], c[2]) for c in w.api.calls if c[0] == "update_status"] == [("Node", "n1"), ("Pod", "web-1")]
    w.deliver()
    w.clear()
    w.sync()  # the status came back: the unreachable taints, the NoExecute one with a token from the full bucket
    w.deliver()
    assert w.ready() == "Unknown"
    assert w.taints() == [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    assert w.pods.get("web-1", "default")["status"]["conditions"][0]["status"] == "False"
    w.sync()  # the taint is seen: the pod tolerates it for the default 300 s
    assert w.nlc.evictor.scheduled("default/web-1") == pytest.approx(START + 350)
    w.at(349.9)
    w.clear()
    assert w.sync() == pytest.approx(0.1)
    assert w.api.deleted() == []
    w.at(350)
    w.sync()
    assert w.api.deleted() == ["default/web-1"]


def test_tolerating_for_300_s_is_deleted_300_s_after_the_controller_noticed():
    w = eviction_world([make_pod("web-1", "n1")])
    assert w.sync() == pytest.approx(5.0), "the monitor period comes first"
    assert w.nlc.evictor.scheduled("default/web-1") == pytest.approx(START + 300)
    w.at(299.9)
    w.sync()
    assert w.api.deleted() == []
    w.at(300)
    w.clear()
    w.sync()
    assert w.api.calls == [
        ("patch", "pods", "web-1", {"status": {"conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
             "message": "Taint manager: deleting due to NoExecute taint",
             "lastTransitionTime": rfc3339(T0 + 300)}]}}, "strategic", "status"),
        ("delete", "pods", "default/web-1")]
    assert w.recorder.events == [("web-1", "Normal", "TaintManagerEviction", "Marking for deletion Pod default/web-1")]
    w.clear()
    w.at(301)
    w.sync()
    assert w.api.deleted() == [], "not deleted twice while the cache still shows it"


def test_the_wait_left_is_returned_for_the_earliest_toleration():
    pods = [make_pod("web-1", "n1"),
            make_pod("web-2", "n1", tolerations=[{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                                  "tolerationSeconds": 120}])]
    w = eviction_world(pods)
    w.sync()
    w.at(100)
    assert w.sync() == pytest.approx(5.0)
    w.at(118)
    assert w.sync() == pytest.approx(2.0)
    w.at(120)
    assert w.sync() == pytest.approx(5.0)
    assert w.api.deleted() == ["default/web-2"]


@pytest.mark.parametrize(("tolerations", "deleted_at_once"), [
    pytest.param([], True, id="untolerated"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}], True,
                 id="toleration-seconds-0"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], False, id="forever"),
    pytest.param([{"operator": "Exists"}], False, id="tolerates-everything"),
])
def test_untolerated_and_zero_go_at_once_forever_stays(tolerations, deleted_at_once):
    w = eviction_world([make_pod("web-1", "n1", tolerations=tolerations)])
    w.sync()
    assert w.api.deleted() == (["default/web-1"] if deleted_at_once else [])
    w.at(86400)
    w.sync()
    assert w.api.deleted() == (["default/web-1"] if deleted_at_once else [])


def test_a_pod_already_terminating_is_not_deleted_again():
    w = eviction_world([make_pod("web-1", "n1", tolerations=[], deleting=True)])
    w.sync()
    assert w.api.deleted() == []


def test_the_taint_going_away_cancels_the_deletion():
    w = World([make_node("n1", ready="Unknown", taints=UNREACHABLE_TAINTS)], [make_pod("web-1", "n1")])
    w.sync()
    w.at(100)
    w.post_status()  # the kubelet is back
    w.sync()
    w.deliver()
    w.clear()
    w.at(101)
    w.sync()
    assert w.recorder.events == [("web-1", "Normal", "TaintManagerEviction", "Cancelling deletion of Pod default/web-1")]
    w.at(400)
    w.sync()
    assert w.api.deleted() == []


def test_a_pod_deleted_meanwhile_has_its_deletion_cancelled():
    w = eviction_world([make_pod("web-1", "n1")])
    w.sync()
    w.pods.remove(make_pod("web-1", "n1"))
    w.at(10)
    w.sync()
    assert ("web-1", "Normal", "TaintManagerEviction", "Cancelling deletion of Pod default/web-1") in w.recorder.events
    assert w.nlc.evictor.scheduled("default/web-1") is None


def test_a_failed_delete_is_retried():
    w = eviction_world([make_pod("web-1", "n1", tolerations=[])])
    w.api.errors[("delete", "web-1")] = ApiError(500, "InternalError", "etcd is sad")
    with pytest.raises(ApiError):
        w.sync()
    del w.api.errors[("delete", "web-1")]
    w.deliver()  # the DisruptionTarget condition came back
    w.clear()
    w.at(1)
    w.sync()
    assert w.api.verbs() == ["delete"], "the condition is there already"


def test_a_pod_gone_before_its_deletion_is_no_failure():
    w = eviction_world([make_pod("web-1", "n1", tolerations=[])])
    w.api.errors[("patch", "web-1")] = ApiError(404, "NotFound", 'pods "web-1" not found')
    w.sync()
    assert w.api.deleted() == []


# --- the eviction rate ------------------------------------------------------------------------------

def test_two_nodes_down_the_second_ones_pods_wait_for_a_token():
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    pods = [make_pod("on-a", "a", tolerations=[]), make_pod("on-b", "b", tolerations=[])]
    w = World(nodes, pods, neighbour=False)  # c stays up: two of three down is a normal zone
    w.go_unknown("a", "b")
    w.at(51)
    w.sync("a")
    assert ("a", NOT_READY) not in w.taints("a")
    assert w.sync("b") == pytest.approx(5.0), "the next token is 10 s away; the monitor period comes first"
    assert [(n, sorted((t["key"], t["effect"]) for t in p["spec"]["taints"])) for n, p in w.api.taint_patches()
            if n in "ab"][-2:] == [
        ("a", [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]),
        ("b", [(UNREACHABLE, "NoSchedule")])]
    w.deliver()
    w.clear()
    w.at(52)
    w.sync("a")
    w.sync("b")
    assert w.api.deleted() == ["default/on-a"], "b's pods are not evicted yet"
    w.at(60.9)
    w.sync("b")
    assert w.api.taint_patches() == []
    w.at(61)
    w.sync("b")
    assert [p["spec"]["taints"][-1]["key"] for _, p in w.api.taint_patches()] == [UNREACHABLE]
    w.deliver()
    w.sync("b")
    assert w.api.deleted() == ["default/on-a", "default/on-b"]


def test_every_node_down_means_no_no_execute_taint_and_the_old_ones_come_off():
    nodes = [make_node("a", ready="Unknown", taints=UNREACHABLE_TAINTS), make_node("b", ready="Unknown")]
    w = World(nodes, [make_pod("on-a", "a", tolerations=[])], neighbour=False)
    w.sync("a")
    w.sync("b")
    assert w.nlc.disruption.master
    assert [(n, sorted((t["key"], t["effect"]) for t in p["spec"]["taints"])) for n, p in w.api.taint_patches()] \
        == [("a", [(UNREACHABLE, "NoSchedule")]), ("b", [(UNREACHABLE, "NoSchedule")])]
    assert w.api.deleted() == ["default/on-a"], "the taint was still on a when it was looked at"


def test_coming_back_from_every_node_down_gives_every_node_a_fresh_grace_period():
    w = World([make_node("a"), make_node("b")], neighbour=False)
    w.go_unknown("a", "b")
    w.at(51)
    w.sync("a")
    w.sync("b")
    w.deliver()
    assert w.nlc.disruption.master
    w.at(100)
    w.post_status("a")
    w.sync("a")  # a is back: every node's clock restarts now
    assert not w.nlc.disruption.master
    w.deliver()
    # b shows Ready again but with the heartbeat last seen: no news from its kubelet, only the fresh start.
    w.nodes.put(make_node("b", ready="True", heartbeat=T0 - 5, rv="50"))
    w.clear()
    w.at(149.9)
    w.sync("b")
    assert w.api.node_statuses() == []
    w.at(150)
    w.sync("b")
    assert len(w.api.node_statuses()) == 1


def test_a_node_excluded_from_disruption_checks_does_not_count():
    nodes = [make_node("a", ready="Unknown"), make_node("b", ready="Unknown"),
             make_node("c", labels={"node.kubernetes.io/exclude-disruption": ""})]
    w = World(nodes, neighbour=False)
    w.sync("a")
    assert w.nlc.disruption.master, "the only counted nodes are both down"


def test_a_deleted_node_is_forgotten():
    w = World([make_node("n1", ready="False")], [make_pod("web-1", "n1")])
    w.sync()
    assert "n1" in w.nlc.queues[""]
    w.nodes.remove(make_node("n1"))
    w.clear()
    assert w.sync() is None
    assert w.recorder.events == [("n1", "Normal", "RemovingNode", "Removing Node n1 from Controller")]
    assert "n1" not in w.nlc.queues[""] and w.api.calls == []


def test_defaults_are_kubernetes_1_32s():
    nlc = NodeLifecycleController()
    assert (nlc.health.grace_period_s, nlc.health.startup_grace_period_s, nlc.monitor_period_s) == (50.0, 60.0, 5.0)
    assert nlc.eviction_rate == EVICTION_RATE == 0.1
    assert nlc.disruption.secondary_eviction_rate == 0.01


class CountingStore(DictStore):
    """A cache that counts the whole-cache reads a sync makes."""

    def __init__(self, objects) -> None:
        super().__init__(objects)
        self.lists = 0

    def list(self) -> list[dict]:
        self.lists += 1
        return super().list()


def test_a_thousand_lease_renewals_read_the_whole_node_cache_once_a_monitor_period_not_once_each():
    # Each renewal syncs its node; the zones are counted from every node only once per monitor period (5 s).
    names = [f"n{i}" for i in range(1000)]
    w = World([make_node(n) for n in names], [make_pod(f"p{i}", f"n{i % 1000}") for i in range(2000)],
              [make_lease(n, T0) for n in names], neighbour=False)
    w.nodes = CountingStore(w.nodes.objects)
    w.pods = CountingStore(w.pods.objects)
    for i, n in enumerate(names):
        w.at(i * 0.004)  # 1,000 syncs within 4 s
        w.sync(n)
    assert w.nodes.lists == 1
    assert w.pods.lists == 0, "a node's pods come from the index, not a scan of every pod"
    w.at(5.0)
    w.sync("n1")
    assert w.nodes.lists == 2
    assert w.api.calls == [], "all healthy: nothing to write"


def test_zone_counts_follow_each_synced_verdict_between_full_counts():
    # Three of four nodes in one zone stop renewing; once their syncs say Unknown the zone is partially disrupted
    # without waiting for the next full count.
    names = ["a", "b", "c", "d"]
    w = World([make_node(n, heartbeat=T0) for n in names], leases=[make_lease(n, T0) for n in names],
              neighbour=False, large_cluster_threshold=2)
    for n in names:
        w.sync(n)
    w.at(51)
    w.renew("d")
    for n in ("a", "b", "c"):
        w.sync(n)
    assert w.nlc.disruption.states == {"": "PartialDisruption"}


# --- metrics -----------------------------------------------------------------------------------------

def evictions(w: World) -> dict[str, float]:
    """``kubesim_node_collector_evictions_total`` by zone, as a scrape of the controller finds it."""
    registry = CollectorRegistry()
    registry.register(w.nlc)
    return {s.labels["zone"]: s.value for m in registry.collect() for s in m.samples
            if s.name == "kubesim_node_collector_evictions_total"}


def test_zone_labels_are_readable():
    assert zone_label(zone_of(make_node("n"))) == ""
    assert zone_label(zone_of(make_node("n", zone="z1"))) == "z1"
    assert zone_label(zone_of(make_node("n", labels={"topology.kubernetes.io/region": "r",
                                                     "topology.kubernetes.io/zone": "z"}))) == "r:z"


def test_each_pod_deleted_counts_one_eviction_in_its_nodes_zone():
    pods = [make_pod("web-1", "n1", tolerations=[]), make_pod("web-2", "n1", tolerations=[]),
            make_pod("db-1", "n1")]  # db-1 tolerates the taint for 300 s
    w = World([make_node("n1", ready="Unknown", taints=UNREACHABLE_TAINTS, zone="z1")], pods)
    assert evictions(w) == {}, "no zone seen yet"
    w.sync()
    assert sorted(w.api.deleted()) == ["default/web-1", "default/web-2"]
    # The neighbour "ok" has no zone: its zone is there, at 0, before any eviction in it.
    assert evictions(w) == {"z1": 2, "": 0}
    w.deliver()
    w.at(300)
    w.sync()
    assert w.api.deleted()[-1] == "default/db-1"
    assert evictions(w) == {"z1": 3, "": 0}


def test_a_failed_or_needless_deletion_is_no_eviction():
    w = eviction_world([make_pod("web-1", "n1", tolerations=[]), make_pod("web-2", "n1", tolerations=[])])
    w.api.errors[("delete", "web-1")] = ApiError(500, "InternalError", "etcd is sad")
    w.api.errors[("delete", "web-2")] = ApiError(404, "NotFound", 'pods "web-2" not found')  # someone was first
    with pytest.raises(ApiError):
        w.sync()
    assert evictions(w) == {"": 0}
    del w.api.errors[("delete", "web-1")]
    w.deliver()
    w.at(1)
    w.sync()  # the retry deletes web-1
    assert evictions(w) == {"": 1}
