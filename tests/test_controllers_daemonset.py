"""The DaemonSet controller, driven synchronously over hand-filled caches (daemon_controller_test.go style).

A :class:`FakeApi` records every call and answers at once; the caches are
:class:`DictStore`s; the informer is played by :meth:`World.deliver`, which
puts the API's answers into the stores and calls ``controller.observe``, and
the scheduler by binding each created pod to the node its affinity names.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.daemonset import (
    REVISION_HASH_LABEL,
    DaemonSetController,
    FailedPodBackoff,
    daemon_pod_tolerations,
    fenceposts,
    node_should_run,
    pin_to_node,
    revision_hash,
    target_node_name,
)
from actors.controllers.podcontrol import is_pod_available

T0 = 1_750_000_000.0
KEY = "default/agent"
UID = "uid-agent"


# --- fixtures ------------------------------------------------------------------------------------

def make_ds(*, image: str = "agent:1", node_selector: dict | None = None, affinity: dict | None = None,
            tolerations: list | None = None, host_network: bool = False, node_name: str | None = None,
            strategy: dict | None = None, min_ready_s: int = 0, generation: int = 1, status: dict | None = None,
            selector: dict | None = None, uid: str = UID, name: str = "agent", deleting: bool = False) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": image}]}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if affinity is not None:
        spec["affinity"] = affinity
    if tolerations is not None:
        spec["tolerations"] = tolerations
    if host_network:
        spec["hostNetwork"] = True
    if node_name is not None:
        spec["nodeName"] = node_name
    meta = {"name": name, "namespace": "default", "uid": uid, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0 - 1)
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
          "spec": {"selector": {"matchLabels": {"app": "agent"}} if selector is None else selector,
                   "minReadySeconds": min_ready_s,
                   "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                   "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}}}
    if status is not None:
        ds["status"] = status
    return ds


def make_node(name: str, *, labels: dict | None = None, taints: list | None = None,
              unschedulable: bool = False) -> dict:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": {}}
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    return node


def owner_ref(ds: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds["metadata"]["name"],
            "uid": ds["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def make_pod(name: str, node: str, ds: dict | None = None, *, hash_: str | None = None, bound: bool = True,
             phase: str = "Running", ready: bool = True, ready_at: float = T0 - 3600, created: float = T0 - 7200,
             deleting: bool = False, labels: dict | None = None) -> dict:
    ds = ds if ds is not None else make_ds()
    meta: dict = {"name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": rfc3339(created),
                  "labels": {"app": "agent", REVISION_HASH_LABEL: hash_ if hash_ is not None else revision_hash(ds)}
                  if labels is None else labels, "ownerReferences": [owner_ref(ds)]}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0)
    spec: dict = {"containers": [{"name": "c", "image": "agent"}],
                  "affinity": pin_to_node(None, node)}
    if bound:
        spec["nodeName"] = node
    cond = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": rfc3339(ready_at)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase, "conditions": [cond]}}


class FakeApi:
    """Records calls (a create as ``("create", <node it is pinned to>)``) and answers at once."""

    def __init__(self, errors: dict[tuple[str, str], ApiError] | None = None) -> None:
        self.calls: list[tuple] = []
        self.created: list[dict] = []
        self.errors = errors or {}
        self.wall = T0
        self._n = 0

    async def create(self, obj: dict) -> dict:
        self._n += 1
        node = target_node_name(obj)
        self.calls.append(("create", node))
        if ("create", node) in self.errors:
            raise self.errors[("create", node)]
        out = copy.deepcopy(obj)
        meta = out["metadata"]
        meta.update(name=f"{meta.pop('generateName')}{self._n:05d}", uid=f"uid-new-{self._n}",
                    creationTimestamp=rfc3339(self.wall))
        self.created.append(out)
        return out

    async def delete(self, resource: str, name: str, namespace: str = "") -> dict:
        self.calls.append(("delete", name))
        if ("delete", name) in self.errors:
            raise self.errors[("delete", name)]
        return {}

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic") -> dict:
        self.calls.append(("patch", name))
        return {}

    async def update_status(self, obj: dict) -> dict:
        self.calls.append(("update_status", obj["status"]))
        return obj

    def writes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("create", "delete")]

    def statuses(self) -> list[dict]:
        return [c[1] for c in self.calls if c[0] == "update_status"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class World:
    """A controller, its caches, a fake API and recorder, and the time."""

    def __init__(self, dss: list[dict], nodes: list[dict], pods: list[dict] = (), **api) -> None:
        self.dc = DaemonSetController()
        self.dss = DictStore(dss)
        self.nodes = DictStore(nodes)
        self.pods = DictStore(pods)
        self.api = FakeApi(**api)
        self.recorder = FakeRecorder()
        self.now = 100.0
        self.wall = T0
        for ds in dss:
            self.dc.observe("daemonsets", "ADDED", ds, self.now)

    def sync(self, key: str = KEY):
        self.api.wall = self.wall
        ctx = Context(caches={"daemonsets": self.dss, "pods": self.pods, "nodes": self.nodes}, api=self.api,
                      recorder=self.recorder, now=self.now, wall=self.wall)
        return run_sync(self.dc.sync(key, ctx))

    def deliver(self) -> None:
        """The informer hears the API's writes: created pods appear (bound, running, not yet ready),
        deleted ones go, the status lands; then the call log starts afresh."""
        for pod in self.api.created:
            pod = copy.deepcopy(pod)
            pod["spec"]["nodeName"] = target_node_name(pod)
            pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
            self.pods.put(pod)
            self.dc.observe("pods", "ADDED", pod, self.now)
        for verb, *args in self.api.calls:
            if verb == "delete":
                gone = self.pods.get(args[0], "default")
                self.pods.remove(gone)
                self.dc.observe("pods", "DELETED", gone, self.now)
            elif verb == "update_status":
                ds = self.dss.get("agent", "default")
                self.dss.put({**ds, "status": args[0]})
        self.api.calls.clear()
        self.api.created.clear()

    def make_ready(self, name: str) -> None:
        pod = copy.deepcopy(self.pods.get(name, "default"))
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self.wall)}]
        self.pods.put(pod)

    def pods_on(self, node: str) -> list[dict]:
        return [p for p in self.pods.list() if target_node_name(p) == node]


NODES = [make_node("n1"), make_node("n2"), make_node("n3")]


# --- which nodes: the eligibility table ----------------------------------------------------------------

def taint(key: str, effect: str, value: str = "") -> dict:
    return {"key": key, "value": value, "effect": effect}


AFFINITY_SSD = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}

ELIGIBILITY = [
    # (id, DaemonSet overrides, node overrides, (should_run, should_continue_running))
    ("plain-node", {}, {}, (True, True)),
    ("node-selector-matches", {"node_selector": {"zone": "a"}}, {"labels": {"zone": "a"}}, (True, True)),
    ("node-selector-misses", {"node_selector": {"zone": "a"}}, {"labels": {"zone": "b"}}, (False, False)),
    ("required-affinity-matches", {"affinity": AFFINITY_SSD}, {"labels": {"disk": "ssd"}}, (True, True)),
    ("required-affinity-misses", {"affinity": AFFINITY_SSD}, {"labels": {"disk": "hdd"}}, (False, False)),
    ("template-names-another-node", {"node_name": "elsewhere"}, {}, (False, False)),
    ("template-names-this-node", {"node_name": "n1"}, {}, (True, True)),
    ("untolerated-noschedule-keeps-but-starts-none", {}, {"taints": [taint("gpu", "NoSchedule")]}, (False, True)),
    ("untolerated-noexecute-evicts", {}, {"taints": [taint("gpu", "NoExecute")]}, (False, False)),
    ("prefer-noschedule-is-no-bar", {}, {"taints": [taint("gpu", "PreferNoSchedule")]}, (True, True)),
    ("tolerated-by-the-template", {"tolerations": [{"key": "gpu", "operator": "Exists"}]},
     {"taints": [taint("gpu", "NoExecute"), taint("gpu", "NoSchedule")]}, (True, True)),
    ("toleration-for-another-value", {"tolerations": [{"key": "gpu", "operator": "Equal", "value": "a"}]},
     {"taints": [taint("gpu", "NoSchedule", "b")]}, (False, True)),
    ("unschedulable-is-no-reason-to-skip", {}, {"unschedulable": True}, (True, True)),
    ("cordon-taint-tolerated-by-default", {},
     {"unschedulable": True, "taints": [taint("node.kubernetes.io/unschedulable", "NoSchedule")]}, (True, True)),
    ("not-ready-tolerated-by-default", {}, {"taints": [taint("node.kubernetes.io/not-ready", "NoExecute")]},
     (True, True)),
    ("unreachable-tolerated-by-default", {}, {"taints": [taint("node.kubernetes.io/unreachable", "NoExecute")]},
     (True, True)),
    ("disk-pressure-tolerated-by-default", {}, {"taints": [taint("node.kubernetes.io/disk-pressure", "NoSchedule")]},
     (True, True)),
    ("network-unavailable-only-for-host-network", {},
     {"taints": [taint("node.kubernetes.io/network-unavailable", "NoSchedule")]}, (False, True)),
    ("network-unavailable-host-network", {"host_network": True},
     {"taints": [taint("node.kubernetes.io/network-unavailable", "NoSchedule")]}, (True, True)),
    ("not-ready-noschedule-is-not-tolerated", {}, {"taints": [taint("node.kubernetes.io/not-ready", "NoSchedule")]},
     (False, True)),
]


@pytest.mark.parametrize(("ds", "node", "expected"), [pytest.param(d, n, e, id=i) for i, d, n, e in ELIGIBILITY])
def test_which_nodes_should_run_a_daemon_pod(ds, node, expected):
    assert node_should_run(make_node("n1", **node), make_ds(**ds)) == expected


def test_default_tolerations_are_added_and_replace_a_timed_one():
    spec = {"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}, {"key": "app", "operator": "Exists"}]}
    assert daemon_pod_tolerations(spec) == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
        {"key": "app", "operator": "Exists"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    ]
    assert spec["tolerations"][0]["tolerationSeconds"] == 300, "the template is not changed"


def test_pinning_replaces_required_terms_and_keeps_the_rest():
    preferred = [{"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}]
    affinity = {"nodeAffinity": {**AFFINITY_SSD["nodeAffinity"], "preferredDuringSchedulingIgnoredDuringExecution":
                                 preferred}, "podAntiAffinity": {"x": 1}}
    pinned = pin_to_node(affinity, "n7")
    assert pinned == {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": preferred}, "podAntiAffinity": {"x": 1}}
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == \
        AFFINITY_SSD["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]


@pytest.mark.parametrize(("pod", "node"), [
    pytest.param({"spec": {"nodeName": "n1", "affinity": pin_to_node(None, "n2")}}, "n1", id="bound-wins"),
    pytest.param({"spec": {"affinity": pin_to_node(None, "n2")}}, "n2", id="pinned"),
    pytest.param({"spec": {}}, None, id="neither"),
    pytest.param({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                "values": ["a", "b"]}]}]}}}}}, None, id="two-names"),
])
def test_target_node_name(pod, node):
    assert target_node_name(pod) == node


@pytest.mark.parametrize(("strategy", "desired", "expected"), [
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}, 5, (0, 1), id="default"),
    pytest.param({"type": "RollingUpdate"}, 5, (0, 1), id="unset-reads-as-the-defaults"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "30%"}}, 5, (0, 2), id="pct-up"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "20%"}}, 7, (2, 0),
                 id="surge-pct-up"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}, 3, (0, 1),
                 id="both-zero-means-one-unavailable"),
    pytest.param({"type": "OnDelete"}, 5, (0, 0), id="on-delete"),
])
def test_fenceposts(strategy, desired, expected):
    assert fenceposts(make_ds(strategy=strategy), desired) == expected


# --- creating one pod per node -------------------------------------------------------------------------

def test_one_pod_per_eligible_node_pinned_by_affinity_and_the_scheduler_binds_it():
    ds = make_ds(node_selector={"role": "worker"})
    nodes = [make_node(n, labels={"role": "worker"}) for n in ("n1", "n3")] + [make_node("n2")]
    w = World([ds], nodes)
    assert w.sync() is None
    assert w.api.writes() == [("create", "n1"), ("create", "n3")]
    pod = w.api.created[0]
    assert pod["metadata"]["ownerReferences"] == [owner_ref(ds)]
    assert pod["metadata"]["labels"] == {"app": "agent", REVISION_HASH_LABEL: revision_hash(ds)}
    assert "nodeName" not in pod["spec"], "the scheduler binds it"
    assert pod["spec"]["affinity"] == pin_to_node(None, "n1")
    assert pod["spec"]["nodeSelector"] == {"role": "worker"}
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
            "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    assert w.recorder.events == [("Normal", "SuccessfulCreate", "Created pod: agent-00001"),
                                 ("Normal", "SuccessfulCreate", "Created pod: agent-00002")]
    assert w.api.statuses() == [{"desiredNumberScheduled": 2, "currentNumberScheduled": 0, "numberMisscheduled": 0,
                                 "numberReady": 0, "numberUnavailable": 2, "observedGeneration": 1}]
    assert w.dc.expectations.get(KEY).add == 2


def test_expectations_hold_the_next_sync_until_the_pods_are_seen():
    w = World([make_ds()], NODES)
    w.sync()
    created = list(w.api.created)
    w.api.calls.clear()
    w.api.created.clear()
    w.sync()
    assert w.api.writes() == [], "the three creates are on their way"
    w.api.calls.clear()
    w.api.created = created
    w.deliver()
    w.sync()
    assert w.api.writes() == []
    status = w.api.statuses()[-1]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberReady"]) == (3, 3, 0)


def test_a_cordoned_node_still_gets_its_daemon():
    w = World([make_ds()], [make_node("n1", unschedulable=True,
                                      taints=[taint("node.kubernetes.io/unschedulable", "NoSchedule")])])
    w.sync()
    assert w.api.writes() == [("create", "n1")]


def test_a_failed_create_lowers_the_expectation_and_is_reported():
    boom = ApiError(500, "InternalError", "etcd is sad")
    w = World([make_ds()], NODES, errors={("create", "n1"): boom})
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value is boom
    assert w.api.writes() == [("create", "n1")], "slow start: the failing first batch stops the rest"
    assert w.recorder.events == [("Warning", "FailedCreate", "Error creating: etcd is sad")]
    assert w.dc.expectations.satisfied(KEY, w.now)
    assert w.api.statuses(), "the status is written before the error is raised"


# --- deleting: ineligible nodes, surplus, finished pods ---------------------------------------------------

def test_pods_on_a_node_no_longer_eligible_are_deleted_and_counted_misscheduled():
    ds = make_ds(node_selector={"role": "worker"})
    nodes = [make_node("n1", labels={"role": "worker"}), make_node("n2", labels={"role": "db"})]
    w = World([ds], nodes, [make_pod("a", "n1", ds), make_pod("b", "n2", ds)])
    w.sync()
    assert w.api.writes() == [("delete", "b")]
    assert w.recorder.events == [("Normal", "SuccessfulDelete", "Deleted pod: b")]
    status = w.api.statuses()[-1]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberMisscheduled"]) == (
        1, 1, 1)
    w.deliver()
    w.sync()
    assert w.api.writes() == []
    assert w.api.statuses()[-1]["numberMisscheduled"] == 0


@pytest.mark.parametrize(("effect", "deleted"), [
    pytest.param("NoSchedule", [], id="noschedule-keeps-the-running-pod"),
    pytest.param("NoExecute", [("delete", "a")], id="noexecute-evicts"),
])
def test_a_newly_tainted_node(effect, deleted):
    ds = make_ds()
    w = World([ds], [make_node("n1", taints=[taint("dedicated", effect)])], [make_pod("a", "n1", ds)])
    w.sync()
    assert w.api.writes() == deleted


def test_a_node_label_change_is_a_key_for_every_daemonset():
    w = World([make_ds(), make_ds(name="logs", uid="uid-logs")], NODES)
    assert list(w.dc.keys("nodes", make_node("n9"))) == ["default/agent", "default/logs"]


def test_surplus_pods_on_a_node_all_but_the_oldest_go():
    ds = make_ds()
    pods = [make_pod("young", "n1", ds, created=T0 - 10), make_pod("old", "n1", ds, created=T0 - 1000),
            make_pod("unbound", "n1", ds, bound=False, created=T0 - 5000)]
    w = World([ds], [make_node("n1")], pods)
    w.sync()
    assert w.api.writes() == [("delete", "young"), ("delete", "unbound")], "bound before unbound, then oldest"


def test_failed_pods_are_deleted_with_backoff_and_succeeded_ones_at_once():
    ds = make_ds()
    pods = [make_pod("f", "n1", ds, phase="Failed"), make_pod("s", "n2", ds, phase="Succeeded")]
    w = World([ds], [make_node("n1"), make_node("n2")], pods)
    w.sync()
    assert w.api.writes() == [("delete", "f"), ("delete", "s")]
    assert w.recorder.events[:2] == [
        ("Warning", "FailedDaemonPod", "Found failed daemon pod default/f on node n1, will try to kill it"),
        ("Normal", "SucceededDaemonPod", "Found succeeded daemon pod default/s on node n2, will try to delete it")]
    w.deliver()
    w.sync()
    assert w.api.writes() == [("create", "n1"), ("create", "n2")], "replacements once the deletes are seen"
    w.deliver()
    # The replacement on n1 fails at once too: within the 1 s backoff it is left alone and looked at again.
    w.now += 0.5
    failed = copy.deepcopy(w.pods_on("n1")[0])
    failed["status"]["phase"] = "Failed"
    w.pods.put(failed)
    assert w.sync() == 1.0
    assert w.api.writes() == []
    w.now += 1.0
    w.sync()
    assert w.api.writes() == [("delete", failed["metadata"]["name"])]


def test_failed_pod_backoff_doubles_and_resets_after_a_long_quiet():
    b = FailedPodBackoff(initial_s=1.0, max_s=8.0)
    slot = (KEY, "n1")
    delays = []
    now = 0.0
    for _ in range(5):
        b.next(slot, now)
        delays.append(b.delay(slot))
        assert b.in_backoff(slot, now + delays[-1] - 0.01) and not b.in_backoff(slot, now + delays[-1])
        now += delays[-1]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    b.next(slot, now + 16.5)
    assert b.delay(slot) == 1.0
    b.forget(KEY)
    assert len(b) == 0


def test_unbound_pods_for_a_vanished_node_are_deleted_bound_ones_are_left_to_pod_gc():
    ds = make_ds()
    pods = [make_pod("stuck", "gone", ds, bound=False), make_pod("bound", "gone2", ds), make_pod("a", "n1", ds)]
    w = World([ds], [make_node("n1")], pods)
    w.sync()
    assert w.api.writes() == [("delete", "stuck")]


def test_a_terminating_pod_holds_its_node_until_it_is_gone():
    ds = make_ds()
    w = World([ds], [make_node("n1")], [make_pod("bye", "n1", ds, deleting=True)])
    w.sync()
    assert w.api.writes() == []


# --- rolling update ---------------------------------------------------------------------------------------

def unavailable_nodes(w: World, ds: dict) -> int:
    """Eligible nodes without an available pod (a terminating pod still counts: it is still serving)."""
    count = 0
    for node in w.nodes.list():
        if node_should_run(node, ds)[0] and not any(is_pod_available(p, 0, w.wall)
                                                      for p in w.pods_on(node["metadata"]["name"])):
            count += 1
    return count


@pytest.mark.parametrize(("max_unavailable", "limit"), [
    pytest.param(1, 1, id="one-at-a-time"),
    pytest.param(2, 2, id="two-at-a-time"),
    pytest.param("40%", 2, id="40pct-of-5-rounds-up-to-2"),
])
def test_rolling_update_never_exceeds_max_unavailable(max_unavailable, limit):
    old = make_ds(image="agent:1")
    nodes = [make_node(f"n{i}") for i in range(1, 6)]
    pods = [make_pod(f"old-{i}", f"n{i}", old) for i in range(1, 6)]
    new = make_ds(image="agent:2", generation=2,
                  strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable}})
    w = World([new], nodes, pods)
    new_hash = revision_hash(new)
    assert new_hash != revision_hash(old)
    deleted_per_sync = []
    for _ in range(40):
        w.sync()
        deleted_per_sync.append(sum(1 for c in w.api.writes() if c[0] == "delete"))
        w.deliver()
        assert unavailable_nodes(w, new) <= limit
        # The kubelet makes one not-ready pod ready per round, lowest node first.
        waiting = sorted((p for p in w.pods.list() if p["status"]["conditions"][0]["status"] != "True"),
                         key=lambda p: target_node_name(p))
        if waiting:
            w.make_ready(waiting[0]["metadata"]["name"])
        elif len(w.pods.list()) == 5 and all(p["metadata"]["labels"][REVISION_HASH_LABEL] == new_hash
                                             for p in w.pods.list()):
            break
    assert sorted(target_node_name(p) for p in w.pods.list()) == [f"n{i}" for i in range(1, 6)]
    assert all(p["metadata"]["labels"][REVISION_HASH_LABEL] == new_hash for p in w.pods.list())
    assert max(deleted_per_sync) == limit
    w.sync()
    assert w.api.writes() == []
    w.deliver()
    assert w.dss.get("agent", "default")["status"] == {"desiredNumberScheduled": 5, "currentNumberScheduled": 5,
                                    "numberMisscheduled": 0, "numberReady": 5, "updatedNumberScheduled": 5,
                                    "numberAvailable": 5, "observedGeneration": 2}


def test_rolling_update_replaces_unavailable_old_pods_first_and_for_free():
    old = make_ds(image="agent:1")
    new = make_ds(image="agent:2")
    pods = [make_pod("ok-1", "n1", old), make_pod("sick", "n2", old, ready=False), make_pod("ok-3", "n3", old)]
    w = World([new], NODES, pods)
    w.sync()
    # n2 is unavailable already, which uses up maxUnavailable=1: only the sick pod goes.
    assert w.api.writes() == [("delete", "sick")]


def test_rolling_update_with_surge_starts_new_pods_beside_the_old_ones():
    old = make_ds(image="agent:1")
    new = make_ds(image="agent:2", strategy={"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    w = World([new], NODES, [make_pod(f"old-{i}", f"n{i}", old) for i in (1, 2, 3)])
    for _ in range(30):
        w.sync()
        w.deliver()
        assert unavailable_nodes(w, new) == 0, "surging never leaves a node without an available pod"
        assert sum(1 for n in ("n1", "n2", "n3") if len(w.pods_on(n)) == 2) <= 1
        waiting = [p for p in w.pods.list() if p["status"]["conditions"][0]["status"] != "True"]
        for p in waiting:
            w.make_ready(p["metadata"]["name"])
        if not waiting and all(p["metadata"]["name"].startswith("agent-") for p in w.pods.list()) \
                and len(w.pods.list()) == 3:
            break
    assert sorted(target_node_name(p) for p in w.pods.list()) == ["n1", "n2", "n3"]
    assert all(p["metadata"]["labels"][REVISION_HASH_LABEL] == revision_hash(new) for p in w.pods.list())


def test_on_delete_leaves_old_pods_alone():
    old = make_ds(image="agent:1")
    new = make_ds(image="agent:2", strategy={"type": "OnDelete"})
    w = World([new], NODES, [make_pod(f"old-{i}", f"n{i}", old) for i in (1, 2, 3)])
    w.sync()
    assert w.api.writes() == []
    assert w.api.statuses()[-1].get("updatedNumberScheduled", 0) == 0


def test_the_revision_hash_is_stable_and_follows_the_template_only():
    assert revision_hash(make_ds()) == revision_hash(make_ds(generation=7, status={"numberReady": 3}))
    assert revision_hash(make_ds()) != revision_hash(make_ds(image="agent:2"))
    assert revision_hash(make_ds()) != revision_hash(make_ds(status={"collisionCount": 1}))


# --- status ------------------------------------------------------------------------------------------------

def test_status_counts_per_node():
    ds = make_ds(min_ready_s=30, node_selector={"role": "worker"}, generation=3)
    worker = {"labels": {"role": "worker"}}
    nodes = [make_node(f"n{i}", **worker) for i in (1, 2, 3, 4)] + [make_node("db")]
    old = make_ds(image="agent:0")
    pods = [make_pod("available", "n1", ds), make_pod("just-ready", "n2", ds, ready_at=T0 - 10),
            make_pod("not-ready", "n3", old, ready=False), make_pod("stray", "db", ds)]
    w = World([ds], nodes, pods)
    w.dc.expectations.expect_creations(KEY, 1, w.now)  # hold manage back: status only
    assert w.sync() == 21.0, "look again when just-ready has been ready 30 s (+1)"
    assert w.api.writes() == []
    assert w.api.statuses() == [{"desiredNumberScheduled": 4, "currentNumberScheduled": 3, "numberMisscheduled": 1,
                                 "numberReady": 2, "updatedNumberScheduled": 2, "numberAvailable": 1,
                                 "numberUnavailable": 3}], "no observedGeneration while expectations are pending"


def test_no_status_write_when_nothing_changed():
    ds = make_ds()
    status = {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": 1,
              "updatedNumberScheduled": 1, "numberAvailable": 1, "observedGeneration": 1}
    w = World([make_ds(status=status)], [make_node("n1")], [make_pod("a", "n1", ds)])
    assert w.sync() is None
    assert w.api.calls == []


# --- the rest: keys, observe, odd DaemonSets ------------------------------------------------------------------

def test_keys_of_pods():
    w = World([make_ds(), make_ds(name="other", uid="uid-other", selector={"matchLabels": {"app": "x"}})], NODES)
    orphan = make_pod("o", "n1")
    orphan["metadata"].pop("ownerReferences")
    assert list(w.dc.keys("pods", make_pod("p", "n1"))) == [KEY]
    assert list(w.dc.keys("pods", orphan)) == [KEY]
    assert list(w.dc.keys("daemonsets", make_ds())) == [KEY]


def test_an_orphan_is_adopted():
    ds = make_ds()
    orphan = make_pod("o", "n1", ds)
    orphan["metadata"].pop("ownerReferences")
    w = World([ds], [make_node("n1")], [orphan])
    w.sync()
    assert w.api.calls[0] == ("patch", "o")
    assert w.api.writes() == []


def test_creations_are_observed_only_for_the_daemonset_with_that_uid():
    w = World([make_ds()], NODES)
    w.sync()
    w.dc.observe("pods", "ADDED", make_pod("x", "n1", make_ds(uid="uid-gone")))
    assert w.dc.expectations.get(KEY).add == 3
    w.dc.observe("pods", "ADDED", w.api.created[0])
    assert w.dc.expectations.get(KEY).add == 2
    w.dc.observe("daemonsets", "DELETED", make_ds())
    assert w.dc.expectations.get(KEY) is None


@pytest.mark.parametrize("ds", [
    pytest.param(make_ds(deleting=True), id="being-deleted"),
    pytest.param(make_ds(selector={"matchExpressions": [{"key": "a", "operator": "Bogus"}]}), id="invalid-selector"),
])
def test_daemonsets_that_are_left_alone(ds):
    w = World([ds], NODES)
    assert w.sync() is None
    assert w.api.calls == [] and w.recorder.events == []


def test_an_empty_selector_is_only_warned_about():
    w = World([make_ds(selector={})], NODES)
    w.sync()
    assert w.api.calls == []
    assert w.recorder.events == [("Warning", "SelectingAll",
                                  "This daemon set is selecting all pods. A non-empty selector is required.")]


def test_a_deleted_daemonset_forgets_its_expectations():
    w = World([make_ds()], NODES)
    w.sync()
    w.dss.remove(make_ds())
    assert w.sync() is None
    assert w.dc.expectations.get(KEY) is None
