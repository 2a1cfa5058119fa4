"""The cloud controller manager's controllers, with hand-filled caches and a fake API that records calls."""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.status import ApiError
from actors.cloud.controllers import (
    INVENTORY_NAME,
    INVENTORY_NAMESPACE,
    UNINITIALIZED_TAINT,
    CloudNode,
    CloudNodeLifecycle,
    ServiceLoadBalancer,
)
from actors.controllers.base import Context, DictStore, key_of, run_sync


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.fail: ApiError | None = None

    async def patch(self, resource, name, patch, namespace="", *, patch_type="strategic", subresource=""):
        self.calls.append(("patch", resource, name, copy.deepcopy(patch), patch_type, subresource))
        if self.fail is not None:
            raise self.fail
        return {}

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        self.calls.append(("delete", resource, name))
        if self.fail is not None:
            raise self.fail
        return {}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj, type_, reason, message):
        self.seen.append((type_, reason, message))


class World:
    def __init__(self, controller, **objects: list[dict]) -> None:
        self.controller = controller
        self.caches = {r: DictStore() for r in controller.watches}
        self.api = FakeApi()
        self.events = Events()
        for resource, objs in objects.items():
            for obj in objs:
                self.put(resource, obj, "ADDED")

    def put(self, resource: str, obj: dict, event: str = "MODIFIED") -> None:
        self.caches[resource].put(obj)
        observe = getattr(self.controller, "observe", None)
        if observe is not None:
            observe(resource, event, obj, 0.0)

    def remove(self, resource: str, obj: dict) -> None:
        self.caches[resource].remove(obj)
        observe = getattr(self.controller, "observe", None)
        if observe is not None:
            observe(resource, "DELETED", obj, 0.0)

    def sync(self, key: str):
        ctx = Context(self.caches, self.api, self.events, now=0.0, wall=1_800_000_000.0)
        return run_sync(self.controller.sync(key, ctx))

    def ingress_patches(self) -> list[tuple[str, list | None]]:
        return [(c[2], c[3]["status"]["loadBalancer"]["ingress"]) for c in self.api.calls
                if c[0] == "patch" and c[1] == "services"]


# --- load balancers ---------------------------------------------------------------------------------------

def service(name: str, *, type_: str = "LoadBalancer", ips: list[str] = (), **spec) -> dict:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
           "spec": {"type": type_, "ports": [{"port": 80}], **spec}}
    if ips:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ips]}}
    return svc


def test_each_load_balancer_gets_its_own_ip_from_the_pool_through_the_status_subresource():
    w = World(ServiceLoadBalancer("172.18.255.0/29"), services=[service("a"), service("b")])
    w.sync("default/a")
    w.sync("default/b")
    assert w.api.calls == [
        ("patch", "services", "a", {"status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.1", "ipMode": "VIP"}]}}},
         "merge", "status"),
        ("patch", "services", "b", {"status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.2", "ipMode": "VIP"}]}}},
         "merge", "status")]
    assert w.events.seen[:2] == [("Normal", "EnsuringLoadBalancer", "Ensuring load balancer"),
                                 ("Normal", "EnsuredLoadBalancer", "Ensured load balancer")]


def test_a_service_that_has_its_ip_is_left_alone_and_its_ip_is_not_handed_out_again():
    w = World(ServiceLoadBalancer("172.18.255.0/29"), services=[service("a", ips=["172.18.255.1"]), service("b")])
    w.sync("default/a")
    w.sync("default/b")
    assert w.ingress_patches() == [("b", [{"ip": "172.18.255.2", "ipMode": "VIP"}])]


def test_a_deleted_service_gives_its_ip_back_to_the_pool():
    w = World(ServiceLoadBalancer("172.18.255.0/30"), services=[service("a", ips=["172.18.255.1"]),
                                                                  service("b", ips=["172.18.255.2"]), service("c")])
    # A /30 has two hosts, both taken: c waits, and says why.
    assert w.sync("default/c") == 30.0
    assert w.events.seen == [("Warning", "SyncLoadBalancerFailed",
                              "Error syncing load balancer: no free address in 172.18.255.0/30")]
    assert w.ingress_patches() == []
    w.remove("services", service("a", ips=["172.18.255.1"]))
    w.sync("default/a")  # gone from the cache: nothing to write
    w.sync("default/c")
    assert w.ingress_patches() == [("c", [{"ip": "172.18.255.1", "ipMode": "VIP"}])]


def test_a_service_no_longer_a_load_balancer_loses_its_ingress_and_the_ip_is_free_again():
    w = World(ServiceLoadBalancer("172.18.255.0/30"), services=[service("a", ips=["172.18.255.1"]),
                                                                  service("b", ips=["172.18.255.2"])])
    w.put("services", service("a", type_="ClusterIP", ips=["172.18.255.1"]))
    w.sync("default/a")
    assert w.ingress_patches() == [("a", None)]
    assert w.events.seen == [("Normal", "DeletedLoadBalancer", "Deleted load balancer")]
    w.put("services", service("c"), "ADDED")
    w.sync("default/c")
    assert w.ingress_patches()[-1] == ("c", [{"ip": "172.18.255.1", "ipMode": "VIP"}])


def test_a_failed_write_does_not_leak_the_ip():
    w = World(ServiceLoadBalancer("172.18.255.0/30"), services=[service("a")])
    w.api.fail = ApiError(500, "InternalError", "etcd is sad")
    with pytest.raises(ApiError):
        w.sync("default/a")
    w.api.fail = None
    w.sync("default/a")
    assert w.ingress_patches()[-1] == ("a", [{"ip": "172.18.255.1", "ipMode": "VIP"}])


def test_a_service_with_a_load_balancer_class_is_another_implementations():
    w = World(ServiceLoadBalancer(), services=[service("a", loadBalancerClass="example.com/lb"),
                                               service("b", loadBalancerClass="example.com/lb", ips=["10.0.0.9"])])
    w.sync("default/a")
    w.sync("default/b")
    assert w.api.calls == [] and w.events.seen == []


# --- node initialization ----------------------------------------------------------------------------------

def node(name: str, *, taints: list | None = None, provider_id: str = "", addresses: list | None = None,
         ready: str | None = None) -> dict:
    spec: dict = {}
    if taints is not None:
        spec["taints"] = taints
    if provider_id:
        spec["providerID"] = provider_id
    status: dict = {}
    if addresses is not None:
        status["addresses"] = addresses
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec,
            "status": status}


UNINITIALIZED = {"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}


def test_a_registering_node_gets_its_provider_id_addresses_and_loses_the_uninitialized_taint():
    other = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    w = World(CloudNode("prod", "172.18.0.0/24"), nodes=[node("n1", taints=[UNINITIALIZED, other])])
    w.sync("n1")
    assert w.api.calls == [
        ("patch", "nodes", "n1", {"spec": {"providerID": "kubesim://prod/n1", "taints": [other]}}, "merge", ""),
        ("patch", "nodes", "n1", {"status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.1"},
                                                           {"type": "Hostname", "address": "n1"}]}},
         "merge", "status")]


def test_every_node_gets_its_own_address_and_keeps_it():
    w = World(CloudNode("prod", "172.18.0.0/24"), nodes=[node("n1"), node("n2")])
    w.sync("n1")
    w.sync("n2")
    w.sync("n1")  # the cache has not seen the first write yet: the same address again
    ips = [c[3]["status"]["addresses"][0]["address"] for c in w.api.calls if c[5] == "status"]
    assert ips == ["172.18.0.1", "172.18.0.2", "172.18.0.1"]


def test_an_initialized_node_is_left_alone():
    addresses = [{"type": "InternalIP", "address": "172.18.0.7"}, {"type": "Hostname", "address": "n1"}]
    w = World(CloudNode("prod", "172.18.0.0/24"), nodes=[node("n1", provider_id="kubesim://prod/n1",
                                                              addresses=addresses)])
    w.sync("n1")
    assert w.api.calls == []


def test_an_address_the_node_reports_is_kept_and_never_given_to_another():
    w = World(CloudNode("prod", "172.18.0.0/30"),
              nodes=[node("n1", provider_id="x", addresses=[{"type": "InternalIP", "address": "172.18.0.1"}]),
                     node("n2", provider_id="y")])
    w.sync("n1")
    w.sync("n2")
    assert [(c[2], c[3]["status"]["addresses"]) for c in w.api.calls] == [
        ("n1", [{"type": "InternalIP", "address": "172.18.0.1"}, {"type": "Hostname", "address": "n1"}]),
        ("n2", [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "n2"}])]


def test_a_deleted_nodes_address_goes_back_to_the_network():
    w = World(CloudNode("prod", "172.18.0.0/30"), nodes=[node("n1", provider_id="x"), node("n2", provider_id="y")])
    w.sync("n1")
    w.sync("n2")
    n1 = node("n1", provider_id="x", addresses=[{"type": "InternalIP", "address": "172.18.0.1"}])
    w.put("nodes", n1)
    w.remove("nodes", n1)
    w.put("nodes", node("n3", provider_id="z"), "ADDED")
    assert w.sync("n3") is None
    assert w.api.calls[-1][3]["status"]["addresses"][0] == {"type": "InternalIP", "address": "172.18.0.1"}


def test_no_free_address_is_an_event_and_a_retry():
    w = World(CloudNode("prod", "172.18.0.0/30"), nodes=[node("n1", provider_id="x"), node("n2", provider_id="y"),
                                                          node("n3", provider_id="z")])
    w.sync("n1")
    w.sync("n2")
    assert w.sync("n3") == 30.0
    assert w.events.seen == [("Warning", "AddressesUnavailable",
                              "Error getting node addresses: no free address in 172.18.0.0/30")]


# --- terminated instances ---------------------------------------------------------------------------------

def inventory(**states: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": INVENTORY_NAME, "namespace": INVENTORY_NAMESPACE}, "data": states}


@pytest.mark.parametrize(("ready", "deleted"), [
    pytest.param(None, True, id="no-ready-condition-counts-as-unknown"),
    pytest.param("Unknown", True, id="unknown"),
    pytest.param("False", True, id="not-ready"),
    pytest.param("True", False, id="ready-is-left-until-it-is-not"),
])
def test_a_terminated_instances_node_is_deleted_once_it_is_not_ready(ready, deleted):
    w = World(CloudNodeLifecycle(), nodes=[node("n1", ready=ready)], configmaps=[inventory(n1="terminated")])
    w.sync("n1")
    assert w.api.calls == ([("delete", "nodes", "n1")] if deleted else [])
    if deleted:
        assert w.events.seen == [("Normal", "DeletingNode",
                                  "Deleting node n1 because it does not exist in the cloud provider")]


def test_a_ready_terminated_node_is_deleted_when_it_goes_unknown():
    w = World(CloudNodeLifecycle(), nodes=[node("n1", ready="True")], configmaps=[inventory(n1="terminated")])
    w.sync("n1")
    unknown = node("n1", ready="Unknown")
    assert list(w.controller.keys("nodes", unknown)) == ["n1"]
    w.put("nodes", unknown)
    w.sync("n1")
    assert w.api.calls == [("delete", "nodes", "n1")]


def test_running_instances_and_other_configmaps_are_not_its_concern():
    w = World(CloudNodeLifecycle(), nodes=[node("n1"), node("n2")],
              configmaps=[inventory(n1="running", n2="terminated")])
    w.sync("n1")
    assert w.api.calls == []
    ctl = w.controller
    assert list(ctl.keys("configmaps", inventory(n1="running", n2="terminated"))) == ["n2"]
    other = inventory(n1="terminated")
    other["metadata"]["name"] = "something-else"
    assert list(ctl.keys("configmaps", other)) == []
    assert list(ctl.keys("nodes", node("n1"))) == [key_of(node("n1"))]


def test_a_node_already_gone_is_no_failure():
    w = World(CloudNodeLifecycle(), nodes=[node("n1")], configmaps=[inventory(n1="terminated")])
    w.api.fail = ApiError(404, "NotFound", 'nodes "n1" not found')
    w.sync("n1")
    w.api.fail = ApiError(500, "InternalError", "etcd is sad")
    with pytest.raises(ApiError):
        w.sync("n1")
