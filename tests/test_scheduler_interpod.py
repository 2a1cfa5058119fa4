"""InterPodAffinity (actors.scheduler.plugins.interpod) places pods as Kubernetes 1.32 does.

Tables of named cases over a small cluster: nodes ``a1``, ``a2`` in zone a,
``b1`` in zone b, and ``x1`` with no zone label, each holding a few
existing pods. PreFilter runs over all nodes, Filter on each; the cases
compare which nodes are refused and why. Scoring cases write the weight
sums per domain and the min-max normalization
``int(100 * (score - min) / (max - min))``.
"""

from __future__ import annotations

import pytest

from actors.scheduler.framework import Code, CycleState, NodeInfo
from actors.scheduler.plugins.interpod import (
    ERR_AFFINITY_RULES,
    ERR_ANTI_AFFINITY_RULES,
    ERR_EXISTING_ANTI_AFFINITY_RULES,
    NAME,
    NAMESPACE_LABELS_KEY,
    filter,
    normalize_score,
    pre_filter,
    pre_score,
    score,
)
from actors.scheduler.resources import new_node_info

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


# --- Builders ------------------------------------------------------------------------

def mkpod(name="incoming", namespace="default", affinity=None, **labels):
    pod = {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}
    if affinity:
        pod["spec"]["affinity"] = affinity
    return pod


def term(key=ZONE, namespaces=None, namespace_selector=None, **match):
    t = {"labelSelector": {"matchLabels": match}, "topologyKey": key}
    if namespaces is not None:
        t["namespaces"] = namespaces
    if namespace_selector is not None:
        t["namespaceSelector"] = namespace_selector
    return t


def required(kind, *terms):
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def preferred(kind, *weighted):
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "podAffinityTerm": t} for w, t in weighted]}}


def both(*sections):
    out = {}
    for s in sections:
        out.update(s)
    return out


def mknode(name, zone=None):
    labels = {HOST: name}
    if zone:
        labels[ZONE] = zone
    return {"metadata": {"name": name, "labels": labels}}


def cluster(pods_by_node: dict[str, list]) -> list[NodeInfo]:
    """a1, a2 (zone a), b1 (zone b), x1 (no zone), with the given pods."""
    zones = {"a1": "a", "a2": "a", "b1": "b", "x1": None}
    # Built as the scheduler's cache builds them, so the per-node affinity lists are kept.
    return [new_node_info(mknode(n, z), pods_by_node.get(n, [])) for n, z in zones.items()]


def verdicts(pod, nodes, namespace_labels=None) -> dict[str, str]:
    state = CycleState()
    assert pre_filter(pod, nodes, state, namespace_labels or {}) is None
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
AFF = f"{Code.UNSCHEDULABLE_AND_UNRESOLVABLE}: {ERR_AFFINITY_RULES}"
ANTI = f"{Code.UNSCHEDULABLE}: {ERR_ANTI_AFFINITY_RULES}"
EXISTING = f"{Code.UNSCHEDULABLE}: {ERR_EXISTING_ANTI_AFFINITY_RULES}"

DB_IN_A2 = {"a2": [mkpod("db-0", app="db")]}


# --- Filter --------------------------------------------------------------------------

FILTER = table(
    # Required affinity.
    ("affinity: db in zone a, so only zone a; x1 lacks the key",
     mkpod(affinity=required("podAffinity", term(app="db")), app="web"), DB_IN_A2,
     {"a1": OK, "a2": OK, "b1": AFF, "x1": AFF}),
    ("affinity by hostname: only the db's own node",
     mkpod(affinity=required("podAffinity", term(HOST, app="db")), app="web"), DB_IN_A2,
     {"a1": AFF, "a2": OK, "b1": AFF, "x1": AFF}),
    ("affinity: a pod must match every term to count; cache (app=db only) does not",
     mkpod(affinity=required("podAffinity", term(app="db"), term(tier="be")), app="web"),
     {"a2": [mkpod("cache", app="db")], "b1": [mkpod("db", app="db", tier="be")]},
     {"a1": AFF, "a2": AFF, "b1": OK, "x1": AFF}),
    ("affinity: no match anywhere and the pod does not match itself: nowhere",
     mkpod(affinity=required("podAffinity", term(app="db")), app="web"), {},
     {"a1": AFF, "a2": AFF, "b1": AFF, "x1": AFF}),
    ("self-affinity, first of its kind: anywhere with the key",
     mkpod(affinity=required("podAffinity", term(app="web")), app="web"), {},
     {"a1": OK, "a2": OK, "b1": OK, "x1": AFF}),
    ("self-affinity once one exists: only its zone",
     mkpod(affinity=required("podAffinity", term(app="web")), app="web"),
     {"b1": [mkpod("web-0", app="web")]},
     {"a1": AFF, "a2": AFF, "b1": OK, "x1": AFF}),
    ("affinity: pods in other namespaces do not count by default",
     mkpod(affinity=required("podAffinity", term(app="db")), app="web"),
     {"a2": [mkpod("db-0", namespace="other", app="db")]},
     {"a1": AFF, "a2": AFF, "b1": AFF, "x1": AFF}),
    ("affinity: namespaces lists where to look",
     mkpod(affinity=required("podAffinity", term(namespaces=["other"], app="db")), app="web"),
     {"a2": [mkpod("db-0", namespace="other", app="db")]},
     {"a1": OK, "a2": OK, "b1": AFF, "x1": AFF}),
    ("affinity: an empty namespaceSelector means every namespace",
     mkpod(affinity=required("podAffinity", term(namespace_selector={}, app="db")), app="web"),
     {"b1": [mkpod("db-0", namespace="anywhere", app="db")]},
     {"a1": AFF, "a2": AFF, "b1": OK, "x1": AFF}),
    # Required anti-affinity.
    ("anti-affinity by hostname: not next to a web pod",
     mkpod(affinity=required("podAntiAffinity", term(HOST, app="web")), app="web"),
     {"a1": [mkpod("web-0", app="web")]},
     {"a1": ANTI, "a2": OK, "b1": OK, "x1": OK}),
    ("anti-affinity by zone: the whole zone; x1 has no zone, so no conflict",
     mkpod(affinity=required("podAntiAffinity", term(app="web")), app="web"),
     {"a1": [mkpod("web-0", app="web")]},
     {"a1": ANTI, "a2": ANTI, "b1": OK, "x1": OK}),
    # Existing pods' anti-affinity (symmetry).
    ("existing pod refuses web neighbours on its host",
     mkpod(app="web"),
     {"b1": [mkpod("loner", affinity=required("podAntiAffinity", term(HOST, app="web")))]},
     {"a1": OK, "a2": OK, "b1": EXISTING, "x1": OK}),
    ("existing pod's anti-affinity does not name this pod",
     mkpod(app="api"),
     {"b1": [mkpod("loner", affinity=required("podAntiAffinity", term(HOST, app="web")))]},
     {"a1": OK, "a2": OK, "b1": OK, "x1": OK}),
    ("existing pod's anti-affinity looks only in its own namespace",
     mkpod(namespace="other", app="web"),
     {"b1": [mkpod("loner", affinity=required("podAntiAffinity", term(HOST, app="web")))]},
     {"a1": OK, "a2": OK, "b1": OK, "x1": OK}),
    # Order: affinity is checked first, then the pod's anti-affinity, then existing pods'.
    ("a node breaking several rules reports the affinity one",
     mkpod(affinity=both(required("podAffinity", term(HOST, app="db")),
                         required("podAntiAffinity", term(HOST, app="web"))), app="web"),
     {"a1": [mkpod("web-0", app="web")], "a2": [mkpod("db-0", app="db")]},
     {"a1": AFF, "a2": OK, "b1": AFF, "x1": AFF}),
    ("anti-affinity is reported before existing pods' anti-affinity",
     mkpod(affinity=required("podAntiAffinity", term(HOST, app="web")), app="web"),
     {"a1": [mkpod("web-0", app="web",
                   affinity=required("podAntiAffinity", term(HOST, app="web")))]},
     {"a1": ANTI, "a2": OK, "b1": OK, "x1": OK}),
)


@pytest.mark.parametrize("pod, pods, expected", **FILTER)
def test_filter(pod, pods, expected):
    assert verdicts(pod, cluster(pods)) == expected


NS_LABELS = {"default": {"team": "web"}, "data": {"team": "db"}, "other": {"team": "x"}}

NAMESPACE_SELECTORS = table(
    ("the pod's selector picks namespaces by label: db in 'data' counts",
     mkpod(affinity=required("podAffinity", term(
         namespace_selector={"matchLabels": {"team": "db"}}, app="db")), app="web"),
     {"b1": [mkpod("db-0", namespace="data", app="db")]},
     {"a1": AFF, "a2": AFF, "b1": OK, "x1": AFF}),
    ("the pod's selector excludes 'other': its db does not count",
     mkpod(affinity=required("podAffinity", term(
         namespace_selector={"matchLabels": {"team": "db"}}, app="db")), app="web"),
     {"b1": [mkpod("db-0", namespace="other", app="db")]},
     {"a1": AFF, "a2": AFF, "b1": AFF, "x1": AFF}),
    ("namespaces and namespaceSelector add up",
     mkpod(affinity=required("podAffinity", term(
         namespaces=["other"], namespace_selector={"matchLabels": {"team": "db"}}, app="db")),
         app="web"),
     {"a1": [mkpod("db-0", namespace="other", app="db")],
      "b1": [mkpod("db-1", namespace="data", app="db")]},
     {"a1": OK, "a2": OK, "b1": OK, "x1": AFF}),
    ("an existing pod's selector is matched against the incoming pod's namespace labels",
     mkpod(namespace="default", app="web"),
     {"a1": [mkpod("loner", namespace="data", affinity=required("podAntiAffinity", term(
         HOST, namespace_selector={"matchLabels": {"team": "web"}}, app="web")))]},
     {"a1": EXISTING, "a2": OK, "b1": OK, "x1": OK}),
)


@pytest.mark.parametrize("pod, pods, expected", **NAMESPACE_SELECTORS)
def test_namespace_selector(pod, pods, expected):
    assert verdicts(pod, cluster(pods), NS_LABELS) == expected


def test_namespace_labels_may_come_from_the_cycle_state():
    pod = mkpod(affinity=required("podAffinity", term(
        namespace_selector={"matchLabels": {"team": "db"}}, app="db")), app="web")
    nodes = cluster({"b1": [mkpod("db-0", namespace="data", app="db")]})
    state = CycleState({NAMESPACE_LABELS_KEY: NS_LABELS})
    assert pre_filter(pod, nodes, state) is None
    assert [i.name for i in nodes if filter(pod, i, state) is None] == ["b1"]


def test_match_label_keys_and_mismatch_label_keys():
    # Affinity to pods of the same tenant; anti-affinity by host to other tenants' pods.
    aff = required("podAffinity", {**term(app="web"), "matchLabelKeys": ["tenant"]})
    anti = required("podAntiAffinity", {**term(HOST), "mismatchLabelKeys": ["tenant"]})
    pod = mkpod(affinity=both(aff, anti), app="web", tenant="t1")
    pods = {"a1": [mkpod("w1", app="web", tenant="t1"), mkpod("w2", app="web", tenant="t2")],
            "a2": [mkpod("w3", app="web", tenant="t1")],
            "b1": [mkpod("w4", app="web", tenant="t2")]}
    # Zone a holds t1 pods, b only t2: b fails affinity. a1 also holds a t2 pod: anti-affinity.
    assert verdicts(pod, cluster(pods)) == {"a1": ANTI, "a2": OK, "b1": AFF, "x1": AFF}


def test_malformed_selector_is_an_error_at_prefilter():
    bad = {"labelSelector": {"matchLabels": {"-x": "y"}}, "topologyKey": ZONE}
    status = pre_filter(mkpod(affinity=required("podAffinity", bad)), cluster({}), CycleState(), {})
    assert status is not None and status.code == Code.ERROR


def test_replicas_with_hostname_anti_affinity_take_one_node_each():
    # Four replicas that refuse each other per host, each to the first feasible node:
    # one per node, and the fifth finds none.
    nodes = cluster({})
    placed = []
    for i in range(5):
        pod = mkpod(f"web-{i}", affinity=required("podAntiAffinity", term(HOST, app="web")),
                    app="web")
        state = CycleState()
        pre_filter(pod, nodes, state, {})
        target = next((n for n in nodes if filter(pod, n, state) is None), None)
        placed.append(target.name if target else None)
        if target:
            target.pods.append(pod)
    assert placed == ["a1", "a2", "b1", "x1", None]


# --- Scoring ---------------------------------------------------------------------------

def scores(pod, nodes, hard_weight=1) -> tuple[dict[str, int], dict[str, int]]:
    state = CycleState()
    assert pre_score(pod, nodes, state, namespace_labels={},
                     hard_pod_affinity_weight=hard_weight) is None
    raw = {info.name: score(pod, info, state) for info in nodes}
    return raw, normalize_score(raw)


SCORES = table(
    # Preferred affinity weight 10 to db by zone: zone a has 2 db pods: a = 2*10 = 20.
    # min 0, max 20: a 100, the rest 0.
    ("preferred affinity",
     mkpod(affinity=preferred("podAffinity", (10, term(app="db"))), app="web"),
     {"a1": [mkpod("db-0", app="db")], "a2": [mkpod("db-1", app="db")]}, 1,
     {"a1": 20, "a2": 20, "b1": 0, "x1": 0}, {"a1": 100, "a2": 100, "b1": 0, "x1": 0}),
    # Preferred anti-affinity weight 5 by zone: a = -5; min -5, max 0: a 0, others 100.
    ("preferred anti-affinity",
     mkpod(affinity=preferred("podAntiAffinity", (5, term(app="web"))), app="web"),
     {"a1": [mkpod("web-0", app="web")]}, 1,
     {"a1": -5, "a2": -5, "b1": 0, "x1": 0}, {"a1": 0, "a2": 0, "b1": 100, "x1": 100}),
    # Affinity 20 to db by zone (db in a), anti-affinity 5 by host to web (web on a1, b1):
    # a1 20-5=15, a2 20, b1 -5, x1 0. min -5, max 20, range 25:
    # a1 int(100*20/25)=80, a2 100, b1 0, x1 int(100*5/25)=20.
    ("affinity and anti-affinity add up",
     mkpod(affinity=both(preferred("podAffinity", (20, term(app="db"))),
                         preferred("podAntiAffinity", (5, term(HOST, app="web")))), app="web"),
     {"a1": [mkpod("web-0", app="web")], "a2": [mkpod("db-0", app="db")],
      "b1": [mkpod("web-1", app="web")]}, 1,
     {"a1": 15, "a2": 20, "b1": -5, "x1": 0}, {"a1": 80, "a2": 100, "b1": 0, "x1": 20}),
    # An existing pod's *required* affinity to web by zone counts hardPodAffinityWeight (1)
    # for its zone: a 1, others 0 -> a 100.
    ("existing pod's required affinity, hard weight 1",
     mkpod(app="web"),
     {"a1": [mkpod("fan", affinity=required("podAffinity", term(app="web")))]}, 1,
     {"a1": 1, "a2": 1, "b1": 0, "x1": 0}, {"a1": 100, "a2": 100, "b1": 0, "x1": 0}),
    ("existing pod's required affinity, hard weight 0: nothing",
     mkpod(app="web"),
     {"a1": [mkpod("fan", affinity=required("podAffinity", term(app="web")))]}, 0,
     {"a1": 0, "a2": 0, "b1": 0, "x1": 0}, {"a1": 0, "a2": 0, "b1": 0, "x1": 0}),
    # Existing pods' preferences: +7 for zone b (affinity), -3 on host a1 (anti-affinity).
    # min -3, max 7, range 10: a1 0, a2 int(100*3/10)=30, b1 100, x1 30.
    ("existing pods' preferred terms",
     mkpod(app="web"),
     {"b1": [mkpod("fan", affinity=preferred("podAffinity", (7, term(app="web"))))],
      "a1": [mkpod("hater", affinity=preferred("podAntiAffinity", (3, term(HOST, app="web"))))]},
     1, {"a1": -3, "a2": 0, "b1": 7, "x1": 0}, {"a1": 0, "a2": 30, "b1": 100, "x1": 30}),
    # Existing pods' *required* anti-affinity plays no part in scoring.
    ("existing pod's required anti-affinity is not scored",
     mkpod(app="web"),
     {"a1": [mkpod("loner", affinity=required("podAntiAffinity", term(HOST, app="web")))]}, 1,
     {"a1": 0, "a2": 0, "b1": 0, "x1": 0}, {"a1": 0, "a2": 0, "b1": 0, "x1": 0}),
    # Truncation: a 1 (weight 1, db in a), b 3 (weight 3 to cache in b)... min 0, max 3:
    # a int(100*1/3)=33.
    ("normalization truncates",
     mkpod(affinity=preferred("podAffinity", (1, term(app="db")), (3, term(app="cache"))),
           app="web"),
     {"a1": [mkpod("db-0", app="db")], "b1": [mkpod("cache-0", app="cache")]}, 1,
     {"a1": 1, "a2": 1, "b1": 3, "x1": 0}, {"a1": 33, "a2": 33, "b1": 100, "x1": 0}),
)


@pytest.mark.parametrize("pod, pods, hard_weight, raw, normalized", **SCORES)
def test_score(pod, pods, hard_weight, raw, normalized):
    assert scores(pod, cluster(pods), hard_weight) == (raw, normalized)


def test_prescore_sums_over_all_nodes_not_only_feasible_ones():
    # a2 is not feasible, but its db pod still makes zone a attractive for a1.
    nodes = cluster({"a2": [mkpod("db-0", app="db")]})
    pod = mkpod(affinity=preferred("podAffinity", (10, term(app="db"))), app="web")
    feasible = [nodes[0], nodes[2]]
    state = CycleState()
    pre_filter(pod, nodes, state, {})
    pre_score(pod, feasible, state)  # all nodes: the snapshot PreFilter saw
    raw = {n.name: score(pod, n, state) for n in feasible}
    assert raw == {"a1": 10, "b1": 0}
    assert normalize_score(raw) == {"a1": 100, "b1": 0}
