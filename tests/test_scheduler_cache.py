"""Assume then bind: the cache counts a chosen pod at once, confirms it when bound, forgets it on failure."""

from __future__ import annotations

from actors.scheduler.cache import SchedulerCache


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110") -> dict:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}}


def pod(name: str, cpu: str = "1", node_name: str = "", phase: str = "Pending") -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}, "spec": spec,
            "status": {"phase": phase}}


def cpu_on(cache: SchedulerCache, name: str) -> int:
    return cache.nodes[name].requested.milli_cpu


def test_an_assumed_pod_counts_at_once_and_is_confirmed_by_its_binding():
    cache = SchedulerCache()
    cache.set_node(node("a"))
    p = pod("web-1")
    cache.assume(p, "a")
    assert cpu_on(cache, "a") == 1000 and cache.assumed == {"default/web-1": "a"}
    cache.set_pod(p)  # the watch is behind our binding: still pending there
    assert cpu_on(cache, "a") == 1000 and "default/web-1" in cache.assumed
    cache.set_pod(pod("web-1", node_name="a"))  # the binding came back
    assert cpu_on(cache, "a") == 1000 and cache.assumed == {}


def test_a_failed_binding_is_forgotten_and_frees_the_room():
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.assume(pod("web-1"), "a")
    cache.forget(pod("web-1"))
    assert cpu_on(cache, "a") == 0 and cache.assumed == {}


def test_bound_pods_count_and_finished_or_deleted_ones_do_not():
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.set_pod(pod("x", "2", "a"))
    cache.set_pod(pod("y", "1", "a"))
    assert cpu_on(cache, "a") == 3000
    cache.set_pod(pod("x", "2", "a", phase="Succeeded"))
    assert cpu_on(cache, "a") == 1000
    cache.remove_pod(pod("y", "1", "a"))
    assert cpu_on(cache, "a") == 0


def test_a_pod_bound_to_a_node_not_seen_yet_counts_when_the_node_arrives():
    cache = SchedulerCache()
    cache.set_pod(pod("early", "1", "b"))
    cache.set_node(node("b"))
    assert cpu_on(cache, "b") == 1000
    cache.set_node(node("b", cpu="8"))  # a node update keeps its pods
    assert cpu_on(cache, "b") == 1000 and cache.nodes["b"].allocatable.milli_cpu == 8000


def test_a_pod_bound_elsewhere_than_assumed_moves_there():
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.set_node(node("b"))
    cache.assume(pod("p"), "a")
    cache.set_pod(pod("p", node_name="b"))  # someone else bound it (another scheduler)
    assert cpu_on(cache, "a") == 0 and cpu_on(cache, "b") == 1000 and cache.assumed == {}
