"""The batch forms of the plugins, and the algorithm's chunked filtering, agree with one node at a time.

A plugin's per-node check is its definition; its batch form is a faster way
to get the same answers for a list of nodes. These tests draw seeded random
clusters and pods — cordoned nodes, taints of every effect, tolerations,
selectors, nodes without some resources, full nodes, extended resources —
and compare the two forms answer for answer, and the algorithm's chunked
filter loop with the plain loop it replaces.
"""

from __future__ import annotations

import random

import pytest

from actors.scheduler.algorithm import (
    Algorithm,
    Diagnosis,
    Profile,
    num_feasible_nodes_to_find,
)
from actors.scheduler.framework import CycleState, NodeInfo, judge_each
from actors.scheduler.plugins.node import FILTERS
from actors.scheduler.plugins.scores import SCORES
from actors.scheduler.resources import new_node_info

KEYS = ("dedicated", "gpu", "zone")
EFFECTS = ("NoSchedule", "NoExecute", "PreferNoSchedule")


def random_requests(rng: random.Random) -> dict:
    requests = {}
    if rng.random() < 0.8:
        requests["cpu"] = rng.choice(["0", "100m", "250m", "1", "3", "40"])
    if rng.random() < 0.8:
        requests["memory"] = rng.choice(["0", "64Mi", "1Gi", "6Gi", "300Gi"])
    if rng.random() < 0.2:
        requests["ephemeral-storage"] = rng.choice(["1Gi", "50Gi"])
    if rng.random() < 0.05:
        requests["example.com/gpu"] = "1"
    return requests


def random_pod(rng: random.Random, i: int) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "x", "resources": {"requests": random_requests(rng)}}]}
    if rng.random() < 0.3:
        spec["tolerations"] = [
            {"key": rng.choice(KEYS), "operator": rng.choice(["Exists", "Equal"]), "value": rng.choice(["a", "b"]),
             "effect": rng.choice(EFFECTS + ("",))} for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.2:
        spec["nodeSelector"] = {"zone": rng.choice(["a", "b"])}
    if rng.random() < 0.1:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": [rng.choice(["a", "b", "c"])]}]}]}}}
    if rng.random() < 0.05:
        spec["nodeName"] = f"n{rng.randrange(40)}"
    return {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"u{i}"}, "spec": spec}


def random_node(rng: random.Random, i: int) -> NodeInfo:
    allocatable = {"pods": str(rng.choice([1, 3, 110]))}
    if rng.random() < 0.9:
        allocatable["cpu"] = rng.choice(["2", "4", "32"])
    if rng.random() < 0.9:
        allocatable["memory"] = rng.choice(["4Gi", "16Gi", "256Gi"])
    if rng.random() < 0.5:
        allocatable["ephemeral-storage"] = "100Gi"
    if rng.random() < 0.1:
        allocatable["example.com/gpu"] = "2"
    spec: dict = {}
    if rng.random() < 0.1:
        spec["unschedulable"] = True
    if rng.random() < 0.3:
        spec["taints"] = [{"key": rng.choice(KEYS), "value": rng.choice(["a", "b"]), "effect": rng.choice(EFFECTS)}
                          for _ in range(rng.randint(1, 2))]
    node = {"metadata": {"name": f"n{i}", "labels": {"zone": rng.choice(["a", "b", "c"])}}, "spec": spec,
            "status": {"allocatable": allocatable}}
    pods = [random_pod(rng, 1000 * i + k) for k in range(rng.randint(0, 3))]
    return new_node_info(node, pods)


def cluster(seed: int, n: int = 40) -> tuple[random.Random, list[NodeInfo]]:
    rng = random.Random(seed)
    return rng, [random_node(rng, i) for i in range(n)]


@pytest.mark.parametrize("seed", range(10))
def test_batch_filters_agree_with_per_node_checks(seed):
    rng, infos = cluster(seed)
    for i in range(30):
        pod = random_pod(rng, i)
        for name, check, many in FILTERS:
            passed, refused = many(pod, infos, CycleState())
            expected_passed, expected_refused = judge_each(check, pod, infos, CycleState())
            assert [n.name for n in passed] == [n.name for n in expected_passed], (seed, name, pod)
            assert refused == expected_refused, (seed, name, pod)


@pytest.mark.parametrize("seed", range(10))
def test_batch_scores_agree_with_per_node_scores(seed):
    rng, infos = cluster(seed)
    for i in range(30):
        pod = random_pod(rng, i)
        for plugin in SCORES:
            if plugin.many is None:
                continue
            assert plugin.many(pod, infos, CycleState()) == [plugin.score(pod, info, CycleState())
                                                            for info in infos], (seed, plugin.name, pod)


def plain_filter(pod, nodes, start, wanted):
    """The loop the chunked one replaces: node by node from ``start``, every filter in order, until ``wanted``."""
    feasible, statuses, evaluated = [], {}, 0
    for k in range(len(nodes)):
        info = nodes[(start + k) % len(nodes)]
        evaluated += 1
        for name, check, _ in FILTERS:
            status = check(pod, info, CycleState())
            if status is not None:
                statuses[info.name] = status
                break
        else:
            feasible.append(info.name)
            if len(feasible) >= wanted:
                break
    return feasible, statuses, (start + evaluated) % len(nodes)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("batched", [True, False], ids=["batch forms", "per-node checks"])
def test_chunked_filtering_judges_exactly_the_nodes_a_plain_loop_would(seed, batched):
    # 300 nodes at 20 %: 100 wanted, so the search stops part-way round and the next one starts there.
    rng, nodes = cluster(seed, n=300)
    filters = FILTERS if batched else tuple((name, check) for name, check, _ in FILTERS)
    algorithm = Algorithm(Profile(filters=filters, percentage_of_nodes_to_score=20), random.Random(seed))
    wanted = num_feasible_nodes_to_find(len(nodes), 20)
    assert wanted == 100
    for i in range(15):
        pod = random_pod(rng, i)
        start = algorithm.next_start
        diagnosis = Diagnosis()
        feasible, evaluated = algorithm._filter(pod, nodes, CycleState(), diagnosis,
                                                [(name, many) for name, many in algorithm._filters])
        expected, statuses, next_start = plain_filter(pod, nodes, start, wanted)
        assert [n.name for n in feasible] == expected, (seed, pod)
        assert diagnosis.statuses == statuses, (seed, pod)
        assert algorithm.next_start == next_start
        assert evaluated == (next_start - start) % len(nodes) or evaluated == len(nodes)
