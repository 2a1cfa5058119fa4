"""PodTopologySpread (actors.scheduler.plugins.topology) spreads pods as Kubernetes 1.32 does.

Tables of named cases. Each builds a small cluster — nodes in zones, each
holding some pods labelled ``app=web`` — runs PreFilter over all nodes and
Filter on each, and compares which nodes are refused and why. The skew
arithmetic is written in the case ids and comments: ``skew = matching pods
in the node's domain + (1 if the pod matches its own selector) - global
minimum``, refused when greater than maxSkew. Scoring cases spell out
``count * ln(domains + 2) + maxSkew - 1`` and the reversal
``100 * (max + min - score) // max``.
"""

from __future__ import annotations

import math

import pytest

from actors.scheduler.framework import Code, CycleState, NodeInfo
from actors.scheduler.plugins.topology import (
    ERR_CONSTRAINTS_NOT_MATCH,
    ERR_NODE_LABEL_NOT_MATCH,
    INVALID_SCORE,
    NAME,
    filter,
    normalize_score,
    pre_filter,
    pre_score,
    score,
)

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
WEB = {"matchLabels": {"app": "web"}}


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


# --- Builders ------------------------------------------------------------------------

def mkpod(name="incoming", labels=None, namespace="default", constraints=(), **spec):
    return {"metadata": {"name": name, "namespace": namespace,
                         "labels": {"app": "web"} if labels is None else labels},
            "spec": {"topologySpreadConstraints": list(constraints), **spec}}


def web_pods(node: str, n: int, namespace="default", **labels):
    return [mkpod(f"{node}-web-{i}", {"app": "web", **labels}, namespace) for i in range(n)]


def mknode(name: str, zone: str | None = None, taints=(), **labels):
    all_labels = {HOST: name, **labels}
    if zone is not None:
        all_labels[ZONE] = zone
    return {"metadata": {"name": name, "labels": all_labels}, "spec": {"taints": list(taints)}}


def cluster(*rows) -> list[NodeInfo]:
    """Rows of (node name, zone or None, number of app=web pods)."""
    return [NodeInfo(mknode(name, zone), web_pods(name, n)) for name, zone, n in rows]


def spread(max_skew=1, key=ZONE, when="DoNotSchedule", selector=WEB, **extra):
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": selector, **extra}


def verdicts(pod, nodes) -> dict[str, str]:
    """Each node: "ok", or "<code>: <reason>" — what Filter says after PreFilter."""
    state = CycleState()
    assert pre_filter(pod, nodes, state) is None
    out = {}
    for info in nodes:
        status = filter(pod, info, state)
        if status is None:
            out[info.name] = "ok"
        else:
            assert status.plugin == NAME
            out[info.name] = f"{status.code}: {'; '.join(status.reasons)}"
    return out


OK = "ok"
SKEW = f"{Code.UNSCHEDULABLE}: {ERR_CONSTRAINTS_NOT_MATCH}"
NO_KEY = f"{Code.UNSCHEDULABLE_AND_UNRESOLVABLE}: {ERR_NODE_LABEL_NOT_MATCH}"

TWO_ZONES = (("a1", "a", 2), ("b1", "b", 0))


# --- Filter: the skew arithmetic ----------------------------------------------------------

FILTER = table(
    ("a=2 b=0 maxSkew 1: a 2+1-0=3>1 refused, b 0+1-0=1 ok",
     [spread(1)], TWO_ZONES, {"a1": SKEW, "b1": OK}),
    ("a=2 b=0 maxSkew 3: a 2+1-0=3<=3 ok",
     [spread(3)], TWO_ZONES, {"a1": OK, "b1": OK}),
    ("a=1 b=1 maxSkew 1: both 1+1-1=1 ok",
     [spread(1)], (("a1", "a", 1), ("b1", "b", 1)), {"a1": OK, "b1": OK}),
    ("zone counts sum its nodes: a=1+1 b=1, a 2+1-1=2>1 refused",
     [spread(1)], (("a1", "a", 1), ("a2", "a", 1), ("b1", "b", 1)),
     {"a1": SKEW, "a2": SKEW, "b1": OK}),
    ("an empty zone is the minimum: a=1 b=1 c=0, a and b 1+1-0=2>1",
     [spread(1)], (("a1", "a", 1), ("b1", "b", 1), ("c1", "c", 0)),
     {"a1": SKEW, "b1": SKEW, "c1": OK}),
    ("node without the zone label: unresolvable, and its pods not counted",
     [spread(1)], (("a1", "a", 0), ("b1", "b", 0), ("x1", None, 9)),
     {"a1": OK, "b1": OK, "x1": NO_KEY}),
    ("hostname: n1=1 n2=0 maxSkew 1, n1 1+1-0=2>1",
     [spread(1, HOST)], (("n1", None, 1), ("n2", None, 0)), {"n1": SKEW, "n2": OK}),
    ("two constraints both must hold: zone ok everywhere, host refuses a1 (1+1-0=2>1)",
     [spread(2), spread(1, HOST)], (("a1", "a", 1), ("a2", "a", 0), ("b1", "b", 0)),
     {"a1": SKEW, "a2": OK, "b1": OK}),
    ("a node missing any constraint's key is skipped for all of them",
     [spread(1), spread(1, HOST)], (("a1", "a", 1), ("h1", None, 0)),
     {"a1": OK, "h1": NO_KEY}),
    ("minDomains 3 with 2 zones: global minimum 0, a=1 b=1 both 1+1-0=2>1",
     [spread(1, minDomains=3)], (("a1", "a", 1), ("b1", "b", 1)), {"a1": SKEW, "b1": SKEW}),
    ("minDomains 2 with 2 zones: global minimum 1, both 1+1-1=1 ok",
     [spread(1, minDomains=2)], (("a1", "a", 1), ("b1", "b", 1)), {"a1": OK, "b1": OK}),
    ("ScheduleAnyway constraints never filter",
     [spread(1, when="ScheduleAnyway")], TWO_ZONES, {"a1": OK, "b1": OK}),
    ("no constraints: every node passes", [], TWO_ZONES, {"a1": OK, "b1": OK}),
)


@pytest.mark.parametrize("constraints, rows, expected", **FILTER)
def test_filter(constraints, rows, expected):
    assert verdicts(mkpod(constraints=constraints), cluster(*rows)) == expected


def test_pod_not_matching_its_own_selector_adds_nothing_to_the_skew():
    # app=api spreading app=web pods: a 2+0-0=2 <= 2 passes; had it matched, 3 > 2.
    nodes = cluster(("a1", "a", 2), ("b1", "b", 0))
    pod = mkpod(labels={"app": "api"}, constraints=[spread(2)])
    assert verdicts(pod, nodes) == {"a1": OK, "b1": OK}
    assert verdicts(mkpod(constraints=[spread(2)]), nodes) == {"a1": SKEW, "b1": OK}


# --- Filter: which pods and nodes count --------------------------------------------------

def test_only_pods_in_the_pods_namespace_count():
    # a holds 2 web pods of another namespace: a 0+1-0=1 ok.
    nodes = [NodeInfo(mknode("a1", "a"), web_pods("a1", 2, namespace="other")),
             NodeInfo(mknode("b1", "b"), [])]
    assert verdicts(mkpod(constraints=[spread(1)]), nodes) == {"a1": OK, "b1": OK}


def test_terminating_pods_do_not_count():
    leaving = web_pods("a1", 2)
    for p in leaving:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    nodes = [NodeInfo(mknode("a1", "a"), leaving), NodeInfo(mknode("b1", "b"), [])]
    assert verdicts(mkpod(constraints=[spread(1)]), nodes) == {"a1": OK, "b1": OK}


def test_match_label_keys_narrow_to_the_pods_own_revision():
    # Only pods of the same hash count: zone a has 2 web pods of hash 1 and 1 of hash 2.
    nodes = [NodeInfo(mknode("a1", "a"), web_pods("a1", 2, hash="1") + web_pods("x", 1, hash="2")),
             NodeInfo(mknode("b1", "b"), [])]
    pod = mkpod(labels={"app": "web", "hash": "2"},
                constraints=[spread(2, matchLabelKeys=["hash"])])
    assert verdicts(pod, nodes) == {"a1": OK, "b1": OK}  # 1+1-0=2 <= 2
    pod["spec"]["topologySpreadConstraints"] = [spread(2)]
    assert verdicts(pod, nodes) == {"a1": SKEW, "b1": OK}  # 3+1-0=4 > 2


ZONE_C_EXCLUDED = {"nodeSelector": {"disk": "ssd"}}


def policy_cluster():
    """a=1 and b=1 on ssd nodes; c is an empty zone on an hdd node with a NoSchedule taint."""
    taint = {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
    return [NodeInfo(mknode("a1", "a", disk="ssd"), web_pods("a1", 1)),
            NodeInfo(mknode("b1", "b", disk="ssd"), web_pods("b1", 1)),
            NodeInfo(mknode("c1", "c", taints=[taint], disk="hdd"), [])]


POLICIES = table(
    ("affinity Honor (default): c outside the nodeSelector, minimum 1, a 1+1-1=1 ok",
     {}, ZONE_C_EXCLUDED, {"a1": OK, "b1": OK, "c1": OK}),
    ("affinity Ignore: c counts, minimum 0, a 1+1-0=2>1",
     {"nodeAffinityPolicy": "Ignore"}, ZONE_C_EXCLUDED, {"a1": SKEW, "b1": SKEW, "c1": OK}),
    ("affinity Honor with required node affinity: c excluded",
     {}, {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [
             {"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}},
     {"a1": OK, "b1": OK, "c1": OK}),
    ("taints Ignore (default): tainted c counts, minimum 0",
     {}, {}, {"a1": SKEW, "b1": SKEW, "c1": OK}),
    ("taints Honor: untolerated c excluded, minimum 1",
     {"nodeTaintsPolicy": "Honor"}, {}, {"a1": OK, "b1": OK, "c1": OK}),
    ("taints Honor but tolerated: c counts, minimum 0",
     {"nodeTaintsPolicy": "Honor"},
     {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
     {"a1": SKEW, "b1": SKEW, "c1": OK}),
)


@pytest.mark.parametrize("policy, spec, expected", **POLICIES)
def test_node_inclusion_policies(policy, spec, expected):
    pod = mkpod(constraints=[spread(1, **policy)], **spec)
    assert verdicts(pod, policy_cluster()) == expected


def test_malformed_selector_is_an_error_at_prefilter():
    pod = mkpod(constraints=[spread(1, selector={"matchLabels": {"-bad": "x"}})])
    status = pre_filter(pod, cluster(*TWO_ZONES), CycleState())
    assert status is not None and status.code == Code.ERROR


# --- A placement scenario -------------------------------------------------------------------

def test_replicas_alternate_between_zones():
    # Six replicas, maxSkew 1, each going to the first feasible node in name order.
    # After a1 (a=1,b=0): a 1+1-0=2>1, so the next must go to b; then they alternate.
    nodes = cluster(("a1", "a", 0), ("a2", "a", 0), ("b1", "b", 0))
    placed = []
    for i in range(6):
        pod = mkpod(f"web-{i}", constraints=[spread(1)])
        state = CycleState()
        pre_filter(pod, nodes, state)
        target = next(info for info in nodes if filter(pod, info, state) is None)
        target.pods.append(pod)
        placed.append(target.name)
    assert placed == ["a1", "b1", "a1", "b1", "a1", "b1"]


# --- Scoring ----------------------------------------------------------------------------------

def scores(pod, filtered, all_nodes=None) -> tuple[dict[str, int], dict[str, int]]:
    """(raw, normalized) scores of the filtered nodes."""
    state = CycleState()
    assert pre_score(pod, filtered, state, all_nodes=all_nodes) is None
    raw = {info.name: score(pod, info, state) for info in filtered}
    return raw, normalize_score(raw)


LN5 = math.log(3 + 2)  # three zones
LN4 = math.log(2 + 2)  # two zones, or two hosts

SCORES = table(
    # zones a=2 (over a1, a2), b=1, c=0; weight ln(3+2)=1.609.
    # raw a = round(2*1.609+0) = 3, b = round(1.609) = 2, c = 0.
    # normalized 100*(3+0-s)//3: a 0, b 33, c 100.
    ("three zones, maxSkew 1",
     1, ZONE, (("a1", "a", 2), ("a2", "a", 0), ("b1", "b", 1), ("c1", "c", 0)),
     {"a1": 3, "a2": 3, "b1": 2, "c1": 0}, {"a1": 0, "a2": 0, "b1": 33, "c1": 100}),
    # maxSkew 3 adds 2: raw a round(5.22)=5, b round(3.61)=4, c 2; 100*(5+2-s)//5: 40, 60, 100.
    ("maxSkew 3 waters the differences down",
     3, ZONE, (("a1", "a", 2), ("a2", "a", 0), ("b1", "b", 1), ("c1", "c", 0)),
     {"a1": 5, "a2": 5, "b1": 4, "c1": 2}, {"a1": 40, "a2": 40, "b1": 60, "c1": 100}),
    # No matching pods anywhere: every raw score 0, so all get 100.
    ("nothing to spread from", 1, ZONE, (("a1", "a", 0), ("b1", "b", 0)),
     {"a1": 0, "b1": 0}, {"a1": 100, "b1": 100}),
    # Hostname: counted per node at Score, weight ln(2 nodes + 2)=1.386.
    # n1 round(3*1.386)=4, n2 round(1.386)=1; 100*(4+1-s)//4: n1 25, n2 100.
    ("hostname", 1, HOST, (("n1", None, 3), ("n2", None, 1)),
     {"n1": 4, "n2": 1}, {"n1": 25, "n2": 100}),
    # A node without the key is not scored: raw INVALID_SCORE, normalized 0, and left out
    # of min and max: a round(1*ln(1 zone+2))=1, b... only a is counted: 100*(1+1-1)//1.
    ("node missing the key is ignored", 1, ZONE, (("a1", "a", 1), ("x1", None, 0)),
     {"a1": 1, "x1": INVALID_SCORE}, {"a1": 100, "x1": 0}),
)


@pytest.mark.parametrize("max_skew, key, rows, raw, normalized", **SCORES)
def test_score(max_skew, key, rows, raw, normalized):
    pod = mkpod(constraints=[spread(max_skew, key, when="ScheduleAnyway")])
    assert scores(pod, cluster(*rows)) == (raw, normalized)


def test_score_weights_are_the_log_of_domain_counts_plus_two():
    # Sanity of the arithmetic the table relies on.
    assert round(2 * LN5) == 3 and round(LN5) == 2
    assert round(3 * LN4) == 4 and round(LN4) == 1


def test_counts_come_from_all_nodes_but_domains_from_feasible_ones():
    # a2 is infeasible but its 3 pods are in zone a; zone c has no feasible node.
    all_nodes = cluster(("a1", "a", 0), ("a2", "a", 3), ("b1", "b", 1), ("c1", "c", 0))
    filtered = [all_nodes[0], all_nodes[2]]
    # Two feasible domains: weight ln(4)=1.386. a round(3*1.386)=4, b round(1.386)=1.
    # 100*(4+1-s)//4: a 25, b 100.
    raw, normalized = scores(mkpod(constraints=[spread(1, when="ScheduleAnyway")]),
                             filtered, all_nodes)
    assert (raw, normalized) == ({"a1": 4, "b1": 1}, {"a1": 25, "b1": 100})


def test_prescore_defaults_to_the_nodes_prefilter_saw():
    all_nodes = cluster(("a1", "a", 0), ("a2", "a", 3), ("b1", "b", 1))
    pod = mkpod(constraints=[spread(1, when="ScheduleAnyway")])
    state = CycleState()
    pre_filter(pod, all_nodes, state)
    pre_score(pod, [all_nodes[0], all_nodes[2]], state)
    assert score(pod, all_nodes[0], state) == 4  # a: the 3 pods on infeasible a2 count


def test_no_soft_constraints_scores_nothing():
    nodes = cluster(*TWO_ZONES)
    raw, normalized = scores(mkpod(constraints=[spread(1)]), nodes)
    assert raw == {"a1": INVALID_SCORE, "b1": INVALID_SCORE}
    assert normalized == {"a1": 0, "b1": 0}
