"""The scheduling cycle with stand-in plugins: filtering order, how many nodes, scoring, the failure text."""

from __future__ import annotations

import random

import pytest

from actors.scheduler.algorithm import (
    Algorithm,
    FitError,
    Profile,
    ScorePlugin,
    num_feasible_nodes_to_find,
)
from actors.scheduler.framework import NodeInfo, Status


def nodes(*names: str, **labels: dict) -> list[NodeInfo]:
    return [NodeInfo({"metadata": {"name": n, "labels": labels.get(n, {})}}) for n in names]


POD = {"metadata": {"name": "p", "namespace": "default"}, "spec": {}}


def refuse(reason_by_node: dict[str, str], plugin: str = "Stand-in"):
    def check(pod, info, state):
        reason = reason_by_node.get(info.name)
        return Status.unschedulable(plugin, reason) if reason else None
    return check


@pytest.mark.parametrize(("num_nodes", "percentage", "expected"), [
    pytest.param(50, 0, 50, id="below-100-all"),
    pytest.param(100, 0, 100, id="100-adaptive-50pct-but-at-least-100"),
    pytest.param(1000, 0, 420, id="1000-adaptive-50-8=42pct"),
    pytest.param(5000, 0, 500, id="5000-adaptive-50-40=10pct"),
    pytest.param(6000, 0, 300, id="6000-adaptive-50-48=2pct-raised-to-5pct"),
    pytest.param(10000, 0, 500, id="10000-floor-5pct"),
    pytest.param(1000, 30, 300, id="configured-30pct"),
    pytest.param(1000, 5, 100, id="configured-5pct-at-least-100"),
])
def test_num_feasible_nodes_to_find(num_nodes, percentage, expected):
    # Adaptive: 50 - nodes/125 percent, at least 5 %; the result at least 100 nodes.
    assert num_feasible_nodes_to_find(num_nodes, percentage) == expected


def test_the_failure_message_counts_each_reason_and_sorts_them():
    algo = Algorithm(Profile(filters=(("NodeResourcesFit", refuse({
        "a": "Insufficient cpu", "b": "Insufficient cpu", "c": "Insufficient memory"}, "NodeResourcesFit")),)),
        random.Random(0))
    with pytest.raises(FitError) as err:
        algo.schedule(POD, nodes("a", "b", "c"))
    assert str(err.value) == "0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."
    assert err.value.diagnosis.plugins == {"NodeResourcesFit"}


def test_the_issue_example_three_nodes_short_of_cpu():
    algo = Algorithm(Profile(filters=(("NodeResourcesFit", refuse(dict.fromkeys("abc", "Insufficient cpu"))),)),
                     random.Random(0))
    with pytest.raises(FitError, match=r"^0/3 nodes are available: 3 Insufficient cpu\.$"):
        algo.schedule(POD, nodes("a", "b", "c"))


def test_the_first_refusing_filter_names_the_reason():
    first = refuse({"a": "node(s) were unschedulable"}, "NodeUnschedulable")
    second = refuse({"a": "Insufficient cpu", "b": "Insufficient cpu"}, "NodeResourcesFit")
    algo = Algorithm(Profile(filters=(("NodeUnschedulable", first), ("NodeResourcesFit", second))),
                     random.Random(0))
    with pytest.raises(FitError) as err:
        algo.schedule(POD, nodes("a", "b"))
    assert str(err.value) == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable."


def test_weighted_normalized_scores_pick_the_node():
    # Plugin X (weight 1) prefers c; plugin Y (weight 3) prefers b. Normalized to 0..100:
    #   X: a 0, b 50, c 100   -> x1
    #   Y: a 0, b 100, c 50   -> x3
    # Totals: a 0, b 50 + 300 = 350, c 100 + 150 = 250 -> b.
    x = {"a": 0, "b": 1, "c": 2}
    y = {"a": 0, "b": 2, "c": 1}

    def normalize(scores):
        top = max(scores.values())
        return {k: v * 100 // top for k, v in scores.items()}

    profile = Profile(scores=(
        ScorePlugin("X", lambda pod, info, state: x[info.name], 1, normalize),
        ScorePlugin("Y", lambda pod, info, state: y[info.name], 3, normalize),
    ))
    result = Algorithm(profile, random.Random(0)).schedule(POD, nodes("a", "b", "c"))
    assert result.node == "b" and result.scores == {"a": 0, "b": 350, "c": 250}


def test_ties_are_broken_by_the_seeded_generator_among_the_best():
    profile = Profile(scores=(ScorePlugin("Flat", lambda pod, info, state: 7, 1),))
    picks = {Algorithm(profile, random.Random(seed)).schedule(POD, nodes("a", "b", "c")).node for seed in range(20)}
    assert picks == {"a", "b", "c"}


def test_filtering_starts_where_the_last_cycle_stopped_and_stops_when_enough_passed():
    seen: list[str] = []

    def record(pod, info, state):
        seen.append(info.name)
        return None

    many = nodes(*(f"n{i:03d}" for i in range(200)))
    algo = Algorithm(Profile(filters=(("Record", record),), percentage_of_nodes_to_score=50), random.Random(0))
    first = algo.schedule(POD, many)
    assert first.evaluated == 100 and seen[0] == "n000" and seen[-1] == "n099"
    seen.clear()
    algo.schedule(POD, many)
    assert seen[0] == "n100", "round robin: the next cycle starts after the last node examined"


def test_a_pre_filter_refusal_explains_itself_for_every_node():
    def pre(pod, infos, state):
        return Status.unresolvable("VolumeBinding", 'persistentvolumeclaim "data" not found')

    algo = Algorithm(Profile(pre_filters=(("VolumeBinding", pre),)), random.Random(0))
    with pytest.raises(FitError, match=r'^0/2 nodes are available: persistentvolumeclaim "data" not found\.$'):
        algo.schedule(POD, nodes("a", "b"))


def test_no_nodes_at_all():
    with pytest.raises(FitError, match=r"^0/0 nodes are available: \.$"):
        Algorithm(Profile(), random.Random(0)).schedule(POD, [])


def test_a_skipped_plugin_runs_neither_its_filter_nor_its_score():
    from actors.scheduler.algorithm import SKIP

    refuse_all = refuse({"a": "nope", "b": "nope"}, "Picky")
    calls: list[str] = []

    def score(pod, info, state):
        calls.append(info.name)
        return 1

    profile = Profile(pre_filters=(("Picky", lambda pod, nodes, state: SKIP),),
                      filters=(("Picky", refuse_all),),
                      pre_scores=(("Picky", lambda pod, nodes, state: SKIP),),
                      scores=(ScorePlugin("Picky", score, 1),))
    result = Algorithm(profile, random.Random(0)).schedule(POD, nodes("a", "b"))
    assert result.node in ("a", "b") and calls == []


def test_the_default_profile_spreads_by_zone_and_skips_what_a_pod_does_not_use():
    from actors.scheduler.resources import new_node_info
    from actors.scheduler.scheduler import default_profile

    def node(name, zone):
        return {"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone,
                                                      "kubernetes.io/hostname": name}},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}

    def web(name, node_name=""):
        return {"metadata": {"name": name, "namespace": "default", "uid": name, "labels": {"app": "web"}},
                "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}],
                         "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                        "whenUnsatisfiable": "DoNotSchedule",
                                                        "labelSelector": {"matchLabels": {"app": "web"}}}]}}

    # Zone a holds 2 web pods, zone b none: with maxSkew 1, a third pod in a would make skew 3 - 0 = 3 > 1.
    infos = [new_node_info(node("a1", "a"), [web("w1", "a1"), web("w2", "a1")]), new_node_info(node("b1", "b"))]
    algo = Algorithm(default_profile(), random.Random(0))
    assert algo.schedule(web("w3"), infos).node == "b1"
    plain = {"metadata": {"name": "p", "namespace": "default", "uid": "p"},
             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    # Without constraints or claims or affinity, those plugins are skipped; the emptier node wins.
    assert algo.schedule(plain, infos).node == "b1"
