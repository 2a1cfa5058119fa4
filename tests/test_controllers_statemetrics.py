"""The cluster-state gauges: the pure counting over hand-made objects, and who exports them.

The counting functions take plain lists of Kubernetes-shaped dicts. The
export is driven through a real :class:`ControllerManager` on a manual clock
with hand-filled caches standing in for its informers (no runtime, no API):
only a leader with listed caches exports, and only the kube-controller-manager.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from actors.controllers.base import Controller, DictStore
from actors.controllers.manager import ControllerManager, WorkQueueMetrics
from actors.controllers.statemetrics import (
    RESOURCES,
    claims_by_phase,
    cluster_state,
    container_restarts,
    deployment_replicas,
    nodes_by_condition,
    pods_by_phase,
)
from bus.clock import ManualClock
from bus.runtime import Future


def pod(name: str, ns: str = "default", *, phase: str | None = "Running", node: str | None = "n1",
        restarts: tuple[int, ...] = ()) -> dict:
    status: dict = {"containerStatuses": [{"name": f"c{i}", "restartCount": r} for i, r in enumerate(restarts)]}
    if phase is not None:
        status["phase"] = phase
    spec: dict = {"containers": [{"name": "c0", "image": "nginx"}]}
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec,
            "status": status}


def node(name: str, **conditions: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conditions.items()]}}


def deployment(name: str, ns: str = "default", *, replicas: int | None = None, available: int | None = None) -> dict:
    spec = {} if replicas is None else {"replicas": replicas}
    status = {} if available is None else {"availableReplicas": available}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": spec, "status": status}


def claim(name: str, ns: str = "default", phase: str | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {}, "status": {} if phase is None else {"phase": phase}}


# --- the pure core ----------------------------------------------------------------------------------------

def test_pods_count_by_namespace_phase_and_node_pending_and_unscheduled_when_absent():
    pods = [pod("a"), pod("b"), pod("c", node="n2"), pod("d", "kube-system"),
            pod("e", phase=None, node=None), pod("f", phase="Succeeded")]
    assert pods_by_phase(pods) == {
        ("default", "Running", "n1"): 2,
        ("default", "Running", "n2"): 1,
        ("kube-system", "Running", "n1"): 1,
        ("default", "Pending", ""): 1,
        ("default", "Succeeded", "n1"): 1,
    }


def test_nodes_count_by_condition_zero_filled_and_no_ready_condition_is_ready_unknown():
    nodes = [node("a", Ready="True", MemoryPressure="False"),
             node("b", Ready="False", MemoryPressure="True"),
             node("c", Ready="True", NetworkUnavailable="False"),
             node("fresh")]  # never posted status
    counts = nodes_by_condition(nodes)
    assert {k: v for k, v in counts.items() if k[0] == "Ready"} == {
        ("Ready", "True"): 2, ("Ready", "False"): 1, ("Ready", "Unknown"): 1}
    assert {k: v for k, v in counts.items() if k[0] == "MemoryPressure"} == {
        ("MemoryPressure", "True"): 1, ("MemoryPressure", "False"): 1, ("MemoryPressure", "Unknown"): 0}
    # Only the node that reports it is counted for a condition.
    assert sum(v for k, v in counts.items() if k[0] == "NetworkUnavailable") == 1
    assert {c for c, _ in counts} == {"Ready", "MemoryPressure", "NetworkUnavailable"}


def test_without_nodes_ready_is_still_exported_as_zeros():
    assert nodes_by_condition([]) == {("Ready", "True"): 0, ("Ready", "False"): 0, ("Ready", "Unknown"): 0}


def test_deployments_desired_defaults_to_one_and_available_to_zero():
    spec, available = deployment_replicas([deployment("web", replicas=3, available=2), deployment("api"),
                                           deployment("idle", "batch", replicas=0, available=0)])
    assert spec == {("default", "web"): 3, ("default", "api"): 1, ("batch", "idle"): 0}
    assert available == {("default", "web"): 2, ("default", "api"): 0, ("batch", "idle"): 0}


def test_claims_count_by_namespace_and_phase_pending_when_absent():
    claims = [claim("a", phase="Bound"), claim("b", phase="Bound"), claim("c"), claim("d", "db", "Lost")]
    assert claims_by_phase(claims) == {("default", "Bound"): 2, ("default", "Pending"): 1, ("db", "Lost"): 1}


def test_restarts_are_summed_over_containers_and_pods_per_namespace_zero_included():
    pods = [pod("a", restarts=(2, 3)), pod("b", restarts=(1,)), pod("c", "quiet", restarts=(0,)),
            pod("d", "fresh", phase=None, node=None)]
    assert container_restarts(pods) == {("default",): 6, ("quiet",): 0, ("fresh",): 0}


def test_malformed_counts_count_zero_rather_than_failing_the_scrape():
    bad = pod("a")
    bad["status"]["containerStatuses"] = [{"name": "c", "restartCount": "many"}, "junk"]
    assert container_restarts([bad]) == {("default",): 0}
    text = deployment("web")
    text["spec"]["replicas"] = "3"
    assert deployment_replicas([text])[0] == {("default", "web"): 0}


def test_cluster_state_names_every_family_with_its_labels():
    families = cluster_state([pod("a")], [node("n1", Ready="True")], [deployment("web")], [claim("c")])
    assert [(f.name, f.labels) for f in families] == [
        ("kubesim_kube_pods", ("namespace", "phase", "node")),
        ("kubesim_kube_nodes", ("condition", "status")),
        ("kubesim_kube_deployment_spec_replicas", ("namespace", "deployment")),
        ("kubesim_kube_deployment_status_replicas_available", ("namespace", "deployment")),
        ("kubesim_kube_persistentvolumeclaims", ("namespace", "phase")),
        ("kubesim_kube_pod_container_restarts", ("namespace",)),
    ]


# --- who exports them ---------------------------------------------------------------------------------------

class Watching(Controller):
    name = "watching"
    watches = ("pods",)

    async def sync(self, key, ctx):
        return None


class Cache(DictStore):
    """An informer as the collector sees it: a list of objects and whether the first list is done."""

    def __init__(self, objects=(), *, synced: bool = True) -> None:
        super().__init__(objects)
        self.synced = Future()
        if synced:
            self.synced.set_result(None)


def manager(clock: ManualClock, registry: CollectorRegistry, **kw) -> ControllerManager:
    mgr = ControllerManager("cm.controllers", api=None, controllers=[Watching()], identity="cm-a",
                            metrics=WorkQueueMetrics(registry), seed=1, **kw)
    mgr.runtime = SimpleNamespace(clock=clock)
    return mgr


def lead(mgr: ControllerManager, now: float) -> None:
    mgr.elector.written({"spec": {"holderIdentity": "cm-a"}}, now)


def fill(mgr: ControllerManager, *, synced: bool = True) -> None:
    mgr.informers.update({
        "pods": Cache([pod("a", restarts=(1,)), pod("b", node="n2", restarts=(2,)), pod("p", phase=None, node=None)],
                      synced=synced),
        "nodes": Cache([node("n1", Ready="True"), node("n2", Ready="Unknown")]),
        "deployments": Cache([deployment("web", replicas=3, available=2)]),
        "persistentvolumeclaims": Cache([claim("data", phase="Bound")]),
    })


@pytest.fixture
def world():
    clock = ManualClock(start=100.0)
    registry = CollectorRegistry()
    mgr = manager(clock, registry)
    fill(mgr)
    return SimpleNamespace(clock=clock, registry=registry, mgr=mgr,
                           value=lambda name, **labels: registry.get_sample_value(name, labels))


def test_the_leader_exports_the_cluster_state_from_its_caches(world):
    lead(world.mgr, world.clock.monotonic())
    v = world.value
    assert v("kubesim_kube_pods", namespace="default", phase="Running", node="n1") == 1
    assert v("kubesim_kube_pods", namespace="default", phase="Running", node="n2") == 1
    assert v("kubesim_kube_pods", namespace="default", phase="Pending", node="") == 1
    assert v("kubesim_kube_nodes", condition="Ready", status="True") == 1
    assert v("kubesim_kube_nodes", condition="Ready", status="Unknown") == 1
    assert v("kubesim_kube_nodes", condition="Ready", status="False") == 0
    assert v("kubesim_kube_deployment_spec_replicas", namespace="default", deployment="web") == 3
    assert v("kubesim_kube_deployment_status_replicas_available", namespace="default", deployment="web") == 2
    assert v("kubesim_kube_persistentvolumeclaims", namespace="default", phase="Bound") == 1
    assert v("kubesim_kube_pod_container_restarts", namespace="default") == 3


def test_a_scrape_sees_the_cache_as_it_is_now(world):
    lead(world.mgr, world.clock.monotonic())
    world.mgr.informers["pods"].put(pod("c", restarts=(4,)))
    assert world.value("kubesim_kube_pod_container_restarts", namespace="default") == 7
    assert world.value("kubesim_kube_pods", namespace="default", phase="Running", node="n1") == 2


def test_a_standby_exports_none_of_the_names(world):
    world.mgr.elector.written({"spec": {"holderIdentity": "cm-b"}}, world.clock.monotonic())
    names = {m.name for m in world.registry.collect()}
    assert not {n for n in names if n.startswith("kubesim_kube_")}
    assert "kubesim_workqueue_depth" in names, "the manager's own metrics are still there"


def test_a_leader_whose_lease_ran_out_stops_exporting(world):
    lead(world.mgr, world.clock.monotonic())
    assert world.value("kubesim_kube_nodes", condition="Ready", status="True") == 1
    world.clock.advance(world.mgr.elector.renew_deadline_s)
    assert world.value("kubesim_kube_nodes", condition="Ready", status="True") is None


def test_a_leader_still_listing_exports_nothing_rather_than_a_partial_count():
    clock, registry = ManualClock(start=100.0), CollectorRegistry()
    mgr = manager(clock, registry)
    fill(mgr, synced=False)
    lead(mgr, clock.monotonic())
    assert registry.get_sample_value("kubesim_kube_nodes", {"condition": "Ready", "status": "True"}) is None
    mgr.informers["pods"].synced.set_result(None)
    assert registry.get_sample_value("kubesim_kube_nodes", {"condition": "Ready", "status": "True"}) == 1


def test_the_cloud_controller_manager_never_exports_them():
    clock, registry = ManualClock(start=100.0), CollectorRegistry()
    mgr = manager(clock, registry, lease_name="cloud-controller-manager")
    fill(mgr)
    lead(mgr, clock.monotonic())
    assert registry.get_sample_value("kubesim_kube_nodes", {"condition": "Ready", "status": "True"}) is None


@pytest.mark.parametrize(("lease_name", "wanted"), [
    pytest.param("kube-controller-manager", {"pods", *RESOURCES}, id="kube-controller-manager"),
    pytest.param("cloud-controller-manager", {"pods"}, id="cloud-controller-manager"),
])
def test_informers_are_added_for_the_kinds_no_controller_watches_only_where_exported(lease_name, wanted):
    clock = ManualClock(start=100.0)
    mgr = ControllerManager("cm.controllers", api=SimpleNamespace(spawn=lambda coro: coro.close()),
                            controllers=[Watching()], identity="cm-a", lease_name=lease_name,
                            metrics=WorkQueueMetrics(CollectorRegistry()), seed=1)
    mgr.runtime = SimpleNamespace(clock=clock, call_every=lambda *a: None, call_soon=lambda *a: None)
    mgr.on_start()
    assert set(mgr.informers) == wanted
