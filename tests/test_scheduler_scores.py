"""The score plugins (actors.scheduler.plugins.scores) rank nodes by Kubernetes' formulas.

Each expected number is written as the arithmetic Kubernetes 1.32 documents
and performs (integer division where Go divides integers), so a reader can
check it by hand: LeastAllocated ``(allocatable - requested) * 100 //
allocatable`` averaged over cpu and memory; BalancedAllocation ``int((1 -
|f_cpu - f_mem| / 2) * 100)``; NodeAffinity and TaintToleration through
DefaultNormalizeScore; then the default weights. The placement scenarios
at the end add the plugins up and name the node the real scheduler picks.
"""

from __future__ import annotations

import pytest

from actors.scheduler.framework import CycleState
from actors.scheduler.plugins.node import FILTERS
from actors.scheduler.plugins.scores import (
    DEFAULT_WEIGHTS,
    SCORES,
    balanced_allocation,
    least_allocated,
    node_affinity_score,
    normalize,
    plugin_scores,
    score_nodes,
    taint_toleration_score,
    weighted_total,
)
from actors.scheduler.resources import new_node_info

Mi = 1024**2
Gi = 1024**3


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


def make_pod(cpu: str | None = None, memory: str | None = None, *, name: str = "incoming",
             tolerations: list | None = None, preferred: list | None = None) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    spec: dict = {"containers": [container]}
    if tolerations:
        spec["tolerations"] = tolerations
    if preferred:
        spec["affinity"] = {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": preferred}}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", *, labels: dict | None = None,
              taints: list | None = None) -> dict:
    allocatable = {"pods": "110"}
    if cpu:
        allocatable["cpu"] = cpu
    if memory:
        allocatable["memory"] = memory
    return {"kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}, "status": {"allocatable": allocatable}}


def used(*requests: tuple[str | None, str | None]) -> list[dict]:
    """Pods already on a node, one per (cpu, memory) pair."""
    return [make_pod(cpu, mem, name=f"used-{i}") for i, (cpu, mem) in enumerate(requests)]


def prefer(weight: int, key: str, *values: str) -> dict:
    return {"weight": weight,
            "preference": {"matchExpressions": [{"key": key, "operator": "In",
                                                 "values": list(values)}]}}


def score(fn, pod, node, existing=()):
    return fn(pod, new_node_info(node, existing), CycleState())


# --- normalize (DefaultNormalizeScore) ---------------------------------------------------

NORMALIZE = table(
    ("the largest becomes 100", {"a": 10, "b": 5, "c": 0}, False,
     {"a": 100, "b": 100 * 5 // 10, "c": 0}),
    ("integer division", {"a": 3, "b": 1}, False, {"a": 100, "b": 100 * 1 // 3}),
    ("reversed: the smallest becomes 100", {"a": 3, "b": 1, "c": 0}, True,
     {"a": 100 - 100, "b": 100 - 100 * 1 // 3, "c": 100}),
    ("all zero stays zero", {"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
    ("all zero reversed: all 100", {"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
    ("no nodes", {}, False, {}),
)


@pytest.mark.parametrize("scores, reverse, expected", **NORMALIZE)
def test_normalize(scores, reverse, expected):
    assert normalize(scores, reverse) == expected


# --- LeastAllocated ----------------------------------------------------------------------

LEAST_ALLOCATED = table(
    # cpu (4000-1000)*100//4000 = 75, memory (8Gi-2Gi)*100//8Gi = 75.
    ("an empty node", make_node("a"), [], make_pod("1", "2Gi"), (75 + 75) // 2),
    # Existing pods: cpu 1000m, memory 1Gi; with the pod 1100m and 1280Mi.
    ("a used node",
     make_node("a"), used(("1", "1Gi")), make_pod("100m", "256Mi"),
     ((4000 - 1100) * 100 // 4000 + (8192 - 1280) * 100 // 8192) // 2),
    # A pod without requests counts as 100m / 200Mi, on the node and incoming.
    ("best-effort pods count as 100m and 200Mi",
     make_node("a"), used((None, None)), make_pod(),
     ((4000 - 200) * 100 // 4000 + (8192 - 400) * 100 // 8192) // 2),
    ("more than allocatable scores 0 for that resource",
     make_node("a"), [], make_pod("5", "4Gi"), (0 + (8192 - 4096) * 100 // 8192) // 2),
    ("a resource the node does not report is left out",
     make_node("a", memory=""), [], make_pod("1", "1Gi"), (4000 - 1000) * 100 // 4000),
    ("a node reporting nothing scores 0", make_node("a", cpu="", memory=""), [],
     make_pod("1", "1Gi"), 0),
)


@pytest.mark.parametrize("node, existing, pod, expected", **LEAST_ALLOCATED)
def test_least_allocated(node, existing, pod, expected):
    assert score(least_allocated, pod, node, existing) == expected


# --- BalancedAllocation ------------------------------------------------------------------

BALANCED = table(
    ("equal fractions score 100", make_node("a"), [], make_pod("1", "2Gi"), 100),
    # fractions 2000/4000 = .5 and 1Gi/8Gi = .125: std = .375 / 2 = .1875.
    ("unequal fractions", make_node("a"), [], make_pod("2", "1Gi"), int((1 - 0.1875) * 100)),
    # Existing 1 CPU / 1Gi, pod 100m / 256Mi: 1100/4000 = .275, 1280/8192 = .15625.
    ("existing pods count", make_node("a"), used(("1", "1Gi")), make_pod("100m", "256Mi"),
     int((1 - abs(0.275 - 0.15625) / 2) * 100)),
    # Unlike LeastAllocated, the plain requests: best-effort pods add nothing.
    ("best-effort pods do not count", make_node("a"), used((None, None), (None, None)),
     make_pod("1", "2Gi"), 100),
    # cpu 8/4 is capped at 1; memory 4Gi/8Gi = .5: std = .25.
    ("a fraction is capped at 1", make_node("a"), [], make_pod("8", "4Gi"),
     int((1 - 0.25) * 100)),
    ("one resource reported: no deviation", make_node("a", memory=""), [],
     make_pod("3", "1Gi"), 100),
)


@pytest.mark.parametrize("node, existing, pod, expected", **BALANCED)
def test_balanced_allocation(node, existing, pod, expected):
    assert score(balanced_allocation, pod, node, existing) == expected


# --- NodeAffinity and TaintToleration raw scores ----------------------------------------

SSD_ZONE_A = make_node("a", labels={"zone": "a", "disk": "ssd"})

NODE_AFFINITY = table(
    ("no preferences", make_pod(), 0),
    ("one matching term", make_pod(preferred=[prefer(5, "zone", "a")]), 5),
    ("matching weights add up",
     make_pod(preferred=[prefer(5, "zone", "a"), prefer(20, "disk", "ssd"),
                         prefer(40, "disk", "hdd")]), 5 + 20),
    ("a zero weight is skipped", make_pod(preferred=[prefer(0, "zone", "a")]), 0),
    ("an empty preference matches nothing",
     make_pod(preferred=[{"weight": 7, "preference": {}}]), 0),
    ("a malformed preference scores nothing",
     make_pod(preferred=[{"weight": 7, "preference": {"matchExpressions": [
         {"key": "zone", "operator": "In"}]}}]), 0),
)


@pytest.mark.parametrize("pod, expected", **NODE_AFFINITY)
def test_node_affinity_score(pod, expected):
    assert score(node_affinity_score, pod, SSD_ZONE_A) == expected


def taint(key: str, effect: str, value: str = "") -> dict:
    return {"key": key, "value": value, "effect": effect}


TAINT_SCORES = table(
    ("no taints", [], [], 0),
    ("each untolerated PreferNoSchedule taint counts",
     [taint("a", "PreferNoSchedule"), taint("b", "PreferNoSchedule")], [], 2),
    ("NoSchedule and NoExecute are the filter's business",
     [taint("a", "NoSchedule"), taint("b", "NoExecute")], [], 0),
    ("a tolerated taint does not count",
     [taint("a", "PreferNoSchedule"), taint("b", "PreferNoSchedule")],
     [{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}], 1),
    ("a toleration without effect covers PreferNoSchedule",
     [taint("a", "PreferNoSchedule", "x")], [{"key": "a", "value": "x"}], 0),
    ("a NoSchedule toleration does not",
     [taint("a", "PreferNoSchedule")], [{"key": "a", "operator": "Exists",
                                         "effect": "NoSchedule"}], 1),
)


@pytest.mark.parametrize("taints, tolerations, expected", **TAINT_SCORES)
def test_taint_toleration_score(taints, tolerations, expected):
    assert score(taint_toleration_score, make_pod(tolerations=tolerations),
                 make_node("a", taints=taints)) == expected


# --- Weights ------------------------------------------------------------------------


def test_default_weights_are_kubernetes():
    assert dict(DEFAULT_WEIGHTS) == {
        "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1, "NodeAffinity": 2,
        "TaintToleration": 3, "PodTopologySpread": 2, "InterPodAffinity": 2, "ImageLocality": 1}


def test_every_implemented_score_plugin_has_a_weight():
    assert {p.name for p in SCORES} <= set(DEFAULT_WEIGHTS)


def test_weighted_total():
    scores = {"TaintToleration": {"a": 100, "b": 0}, "NodeAffinity": {"a": 0, "b": 100},
              "NodeResourcesFit": {"a": 50, "b": 60}}
    assert weighted_total(scores) == {"a": 3 * 100 + 2 * 0 + 1 * 50, "b": 3 * 0 + 2 * 100 + 60}


# --- Placement scenarios ----------------------------------------------------------
# Every node: 4 CPU (4000m), 8Gi (8192Mi), 110 pods. Unless a scenario says
# otherwise the pod tolerates nothing and no node is tainted, so TaintToleration
# gives every node 100 (x3 = 300) and NodeAffinity every node 0.

LIGHT = used(("1", "1Gi"))   # node A's pods
HEAVY = used(("3", "1Gi"))   # node B's pods
SMALL_POD = make_pod("100m", "256Mi")

# LeastAllocated: A cpu (4000-1100)*100//4000 = 72, memory (8192-1280)*100//8192 = 84;
#                 B cpu (4000-3100)*100//4000 = 22, memory 84.
LA_LIGHT = ((4000 - 1100) * 100 // 4000 + (8192 - 1280) * 100 // 8192) // 2   # 78
LA_HEAVY = ((4000 - 3100) * 100 // 4000 + (8192 - 1280) * 100 // 8192) // 2   # 53
# BalancedAllocation: A |1100/4000 - 1280/8192| / 2 = .059375; B |.775 - .15625| / 2.
BA_LIGHT = int((1 - abs(1100 / 4000 - 1280 / 8192) / 2) * 100)                # 94
BA_HEAVY = int((1 - abs(3100 / 4000 - 1280 / 8192) / 2) * 100)                # 69


def schedule(pod: dict, nodes: list[tuple[dict, list[dict]]]) -> tuple[str, dict[str, int]]:
    """Filter, score, pick: the node kube-scheduler would bind ``pod`` to, and the totals."""
    state = CycleState()
    infos = [new_node_info(node, pods) for node, pods in nodes]
    feasible = [i for i in infos if all(fn(pod, i, state) is None for _, fn, _ in FILTERS)]
    totals = score_nodes(pod, feasible, state)
    best = max(totals.values())
    winners = [name for name, total in totals.items() if total == best]
    assert len(winners) == 1, f"a tie would be broken at random: {totals}"
    return winners[0], totals


SCENARIOS = table(
    ("LeastAllocated prefers the emptier node",
     SMALL_POD, [(make_node("A"), LIGHT), (make_node("B"), HEAVY)],
     "A", {"A": 300 + 0 + LA_LIGHT + BA_LIGHT, "B": 300 + 0 + LA_HEAVY + BA_HEAVY}),  # 472, 422
    # B matches the only preferred term: NodeAffinity B = 100, A = 0, weight 2.
    ("a preferred zone outweighs a lighter load",
     make_pod("100m", "256Mi", preferred=[prefer(10, "zone", "b")]),
     [(make_node("A", labels={"zone": "a"}), LIGHT),
      (make_node("B", labels={"zone": "b"}), HEAVY)],
     "B", {"A": 300 + 2 * 0 + LA_LIGHT + BA_LIGHT,
           "B": 300 + 2 * 100 + LA_HEAVY + BA_HEAVY}),  # 472, 622
    # A's PreferNoSchedule taint: raw counts A 1, B 0; reversed: A 100 - 100 = 0, B 100.
    ("a PreferNoSchedule taint steers the pod away",
     SMALL_POD,
     [(make_node("A", taints=[taint("spot", "PreferNoSchedule")]), LIGHT),
      (make_node("B"), HEAVY)],
     "B", {"A": 3 * 0 + LA_LIGHT + BA_LIGHT, "B": 3 * 100 + LA_HEAVY + BA_HEAVY}),  # 172, 422
    ("tolerating the taint brings the pod back",
     make_pod("100m", "256Mi", tolerations=[{"key": "spot", "operator": "Exists"}]),
     [(make_node("A", taints=[taint("spot", "PreferNoSchedule")]), LIGHT),
      (make_node("B"), HEAVY)],
     "A", {"A": 300 + LA_LIGHT + BA_LIGHT, "B": 300 + LA_HEAVY + BA_HEAVY}),
    # Pod 1 CPU / 2Gi. A holds 1 CPU / 2Gi, B holds 2 CPU and (explicitly) no memory.
    # LeastAllocated ties: A (50 + 50) // 2, B ((4000-3000)*100//4000 + (8192-2048)*100//8192) // 2
    # = (25 + 75) // 2 = 50. BalancedAllocation: A .5/.5 -> 100, B .75/.25 -> 75.
    ("BalancedAllocation breaks a LeastAllocated tie",
     make_pod("1", "2Gi"),
     [(make_node("A"), used(("1", "2Gi"))), (make_node("B"), used(("2", "0")))],
     "A", {"A": 300 + (50 + 50) // 2 + 100,
           "B": 300 + (25 + 75) // 2 + int((1 - abs(0.75 - 0.25) / 2) * 100)}),  # 450, 425
    # A holds ten best-effort pods (non-zero 10 x 100m, 10 x 200Mi), B one 500m/1Gi pod.
    # LeastAllocated A: ((4000-1500)*100//4000 + (8192-3024)*100//8192) // 2 = (62 + 63) // 2;
    # B: ((4000-1000)*100//4000 + (8192-2048)*100//8192) // 2 = 75.
    # BalancedAllocation ignores best-effort pods: A .125/.125, B .25/.25, both 100.
    ("best-effort pods still make a node look busy",
     make_pod("500m", "1Gi"),
     [(make_node("A"), used(*[(None, None)] * 10)), (make_node("B"), used(("500m", "1Gi")))],
     "B", {"A": 300 + (62 + 63) // 2 + 100, "B": 300 + 75 + 100}),  # 462, 475
    # The best-scoring node is useless if a filter rejects it: A is tainted
    # NoSchedule, B lacks cpu, so C wins though it is the busiest that fits.
    ("filters come before scores",
     make_pod("1500m", "256Mi"),
     [(make_node("A", taints=[taint("dedicated", "NoSchedule", "db")]), []),
      (make_node("B"), used(("3", "1Gi"))),
      (make_node("C"), used(("2", "1Gi")))],
     "C", {"C": 300 + ((4000 - 3500) * 100 // 4000 + (8192 - 1280) * 100 // 8192) // 2
           + int((1 - abs(3500 / 4000 - 1280 / 8192) / 2) * 100)}),  # 300 + 48 + 64
)


@pytest.mark.parametrize("pod, nodes, winner, totals", **SCENARIOS)
def test_placement(pod, nodes, winner, totals):
    assert schedule(pod, nodes) == (winner, totals)


def test_plugin_scores_are_normalized_per_plugin():
    pod = make_pod("100m", "256Mi", preferred=[prefer(10, "zone", "b"), prefer(30, "disk", "ssd")])
    infos = [new_node_info(make_node("A", labels={"zone": "b"}), LIGHT),
             new_node_info(make_node("B", labels={"zone": "b", "disk": "ssd"}), HEAVY)]
    scores = plugin_scores(pod, infos, CycleState())
    # NodeAffinity raw A 10, B 10 + 30 = 40: A 100 * 10 // 40 = 25, B 100.
    assert scores == {
        "TaintToleration": {"A": 100, "B": 100},
        "NodeAffinity": {"A": 100 * 10 // 40, "B": 100},
        "NodeResourcesFit": {"A": LA_LIGHT, "B": LA_HEAVY},
        "NodeResourcesBalancedAllocation": {"A": BA_LIGHT, "B": BA_HEAVY},
    }
