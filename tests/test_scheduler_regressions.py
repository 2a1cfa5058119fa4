"""Review of the batch plugins, the chunked filter loop and the in-place cache: regressions and edge cases."""

from __future__ import annotations

import random

from actors.scheduler.algorithm import Algorithm, Diagnosis, Profile
from actors.scheduler.cache import SchedulerCache
from actors.scheduler.framework import CycleState, Status
from actors.scheduler.plugins.node import FILTERS
from actors.scheduler.plugins.scores import (
    balanced_allocation,
    balanced_allocation_many,
)
from actors.scheduler.resources import new_node_info


def _node(name: str, allocatable: dict, spec: dict | None = None, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec or {},
            "status": {"allocatable": allocatable}}


def _pod(name: str, requests: dict | None = None, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": "u-" + name},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": requests or {}}}], **spec}}


def test_balanced_allocation_converts_to_float_before_dividing_like_go():
    # Go: float64(requested) / float64(allocatable). Above 2**53 the int64 -> float64 conversion rounds
    # first; Python's exact int / int does not, and here that moves the score across an integer:
    # float(10808639105689191) / float(10 * 2**50) gives (1 - m/2) * 100 = 51.99.. -> 51; exactly, 52.
    info = new_node_info(_node("big", {"cpu": "4", "memory": "10Pi", "pods": "110"}))
    pod = _pod("p", {"cpu": "0", "memory": "10808639105689191"})
    assert balanced_allocation_many(pod, [info], CycleState()) == [51]
    assert balanced_allocation(pod, info, CycleState()) == 51


def test_chunked_filter_wraps_the_ring_drops_refusals_after_the_cut_and_survives_an_empty_chunk():
    # 300 nodes at 10 %: 100 wanted. From 280 (after two laps), the first chunk (64 nodes, wrapping past
    # the end) is refused whole by A (an empty list); B refuses the next 40, so the second chunk gives 60
    # and the third (64 nodes for the 40 still needed) ends the search at ring[203]. ring[205], refused
    # in that chunk, would not have been judged one node at a time: not evaluated, not diagnosed.
    infos = [new_node_info(_node(f"n{i:03d}", {"pods": "10"})) for i in range(300)]
    ring = infos[280:] + infos[:280]
    by_a = {info.name for info in ring[:64]}
    by_b = {info.name for info in ring[64:104]} | {ring[205].name}

    def a(pod, info, state):
        return Status.unresolvable("A", "a") if info.name in by_a else None

    def b(pod, info, state):
        return Status.unresolvable("", "b") if info.name in by_b else None

    algorithm = Algorithm(Profile(filters=(("A", a), ("B", b)), percentage_of_nodes_to_score=10), random.Random(0))
    algorithm.next_start = 280 + 2 * 300
    diagnosis = Diagnosis()
    feasible, evaluated = algorithm._filter({}, infos, CycleState(), diagnosis, algorithm._filters)
    assert [i.name for i in feasible] == [i.name for i in ring[104:204]]
    assert evaluated == 204 and algorithm.next_start == (280 + 204) % 300
    assert set(diagnosis.statuses) == {i.name for i in ring[:104]}
    assert {name: s.plugin for name, s in diagnosis.statuses.items()} == {
        i.name: "A" if k < 64 else "B" for k, i in enumerate(ring[:104])}


def test_node_update_in_place_refreshes_everything_read_from_the_node():
    cache = SchedulerCache()
    cache.set_node(_node("a", {"cpu": "1", "memory": "1Gi", "pods": "10"}))
    cache.set_pod(dict(_pod("p", {"cpu": "500m"}), spec=dict(_pod("p", {"cpu": "500m"})["spec"], nodeName="a")))
    listed = cache.node_infos()
    info = listed[0]
    cache.set_node(_node("a", {"cpu": "4", "memory": "8Gi", "pods": "10"}, labels={"zone": "z"},
                         spec={"unschedulable": True, "taints": [
                             {"key": "k", "effect": "NoSchedule"}, {"key": "s", "effect": "PreferNoSchedule"}]}))
    assert cache.node_infos() is listed and listed[0] is info
    assert info.allocatable.milli_cpu == 4000 and info.requested.milli_cpu == 500 and len(info.pods) == 1
    assert info.unschedulable and info.labels == {"zone": "z"}
    assert [t["key"] for t in info.hard_taints] == ["k"] and [t["key"] for t in info.soft_taints] == ["s"]
    pod = _pod("q", {"cpu": "3"})
    for name, check, many in FILTERS:
        passed, refused = many(pod, [info], CycleState())
        assert (not passed) == (check(pod, info, CycleState()) is not None), name
    assert [name for name, check, _ in FILTERS if check(pod, info, CycleState()) is not None] == [
        "NodeUnschedulable", "TaintToleration"]


def test_affinity_set_follows_orphaned_assumed_and_forgotten_pods():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}]}}
    cache = SchedulerCache()
    bound = _pod("b", affinity=anti, nodeName="gone")
    cache.set_pod(bound)  # its node is not known yet: an orphan
    assert cache.have_pods_with_affinity()
    cache.set_node(_node("gone", {"pods": "10"}))
    assert cache.nodes["gone"].pods_with_affinity
    cache.remove_node("gone")
    cache.remove_pod(bound)
    assert not cache.have_pods_with_affinity()
    cache.set_node(_node("n", {"pods": "10"}))
    assumed = _pod("a", affinity=anti)
    cache.assume(assumed, "n")
    assert cache.have_pods_with_affinity() and cache.nodes["n"].pods_with_affinity
    cache.forget(assumed)
    assert not cache.have_pods_with_affinity() and not cache.nodes["n"].pods_with_affinity
