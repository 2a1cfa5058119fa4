"""The EndpointSlice and Endpoints controllers, with hand-filled caches and a fake API that records calls.

Each test drives ``sync`` directly (:func:`run_sync`); :meth:`Cluster.settle`
plays the informers, copying what the fake API wrote back into the caches, so
a second sync sees its own writes as the real controller would.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.endpoints import (
    HEADLESS_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OVER_CAPACITY_ANNOTATION,
    SERVICE_NAME_LABEL,
    STALE_RETRY_S,
    ZONE_LABEL,
    EndpointsController,
    EndpointSliceController,
    truncate_subsets,
)

RESOURCES = {"EndpointSlice": "endpointslices", "Endpoints": "endpoints"}
SVC_LABELS = {SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: MANAGED_BY, "team": "a"}


class FakeApi:
    """Records every write; each succeeds at once (name, uid, resourceVersion filled in) unless ``fail`` says."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.written: list[tuple[str, str, dict]] = []
        """("put" | "remove", resource, object) for :meth:`Cluster.settle`."""
        self.fail: dict[str, ApiError] = {}
        self._rv = 1000
        self._names = 0

    def _stamp(self, obj: dict) -> dict:
        out = copy.deepcopy(obj)
        meta = out["metadata"]
        if not meta.get("name"):
            self._names += 1
            meta["name"] = f"{meta['generateName']}{self._names:05d}"  # the server's five random characters
        meta.setdefault("uid", f"uid-{meta['name']}")
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        return out

    async def create(self, obj, namespace=""):
        self.calls.append(("create", copy.deepcopy(obj)))
        if "create" in self.fail:
            raise self.fail["create"]
        out = self._stamp(obj)
        self.written.append(("put", RESOURCES[obj["kind"]], out))
        return out

    async def update(self, obj, *, subresource=""):
        self.calls.append(("update", copy.deepcopy(obj)))
        if "update" in self.fail:
            raise self.fail["update"]
        out = self._stamp(obj)
        self.written.append(("put", RESOURCES[obj["kind"]], out))
        return out

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        self.calls.append(("delete", resource, namespace, name))
        if "delete" in self.fail:
            raise self.fail["delete"]
        self.written.append(("remove", resource, {"metadata": {"name": name, "namespace": namespace}}))


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def event(self, obj, type_, reason, message):
        self.seen.append((type_, reason, message))


class Cluster:
    """One controller, its caches, the fake API and the events."""

    def __init__(self, controller, *, services=(), pods=(), slices=(), endpoints=(), nodes=()) -> None:
        self.ctl = controller
        self.caches = {r: DictStore() for r in ("services", "pods", "endpointslices", "endpoints", "nodes")}
        self.api = FakeApi()
        self.events = Events()
        self.now = 0.0
        for resource, objs in (("services", services), ("pods", pods), ("endpointslices", slices),
                               ("endpoints", endpoints), ("nodes", nodes)):
            for obj in objs:
                self.put(resource, obj)

    def put(self, resource: str, obj: dict) -> None:
        event = "MODIFIED" if self.caches[resource].get(obj["metadata"]["name"],
                                                        obj["metadata"].get("namespace", "")) else "ADDED"
        self.caches[resource].put(obj)
        self.ctl.observe(resource, event, obj, self.now)

    def remove(self, resource: str, obj: dict) -> None:
        self.caches[resource].remove(obj)
        self.ctl.observe(resource, "DELETED", obj, self.now)

    def sync(self, key: str = "default/web") -> list[tuple]:
        """The calls one sync made (its return value is kept in ``self.result``)."""
        start = len(self.api.calls)
        ctx = Context(self.caches, self.api, self.events, self.now, 1_000_000.0)
        self.result = run_sync(self.ctl.sync(key, ctx))
        return self.api.calls[start:]

    def settle(self) -> None:
        """The informers catch up with every write."""
        for verb, resource, obj in self.api.written:
            if verb == "put":
                self.put(resource, obj)
            else:
                self.remove(resource, obj)
        self.api.written.clear()

    def slices(self) -> list[dict]:
        return sorted(self.caches["endpointslices"].list(), key=lambda s: s["metadata"]["name"])


# --- objects ----------------------------------------------------------------------------------------

def service(name="web", selector=None, *, ports=None, ns="default", labels=None, **spec) -> dict:
    spec = {"selector": {"app": name} if selector is None else selector, "clusterIP": "10.96.0.10",
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
            if ports is None else ports, **spec}
    if not spec["selector"]:
        del spec["selector"]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-svc-{name}", "resourceVersion": "1",
                         "labels": {"team": "a"} if labels is None else labels},
            "spec": spec}


def pod(name, ip="", *, ready=True, labels=None, http=8080, node="node-1", phase="Running", deleting=False,
        ns="default", rv="1") -> dict:
    meta = {"name": name, "namespace": ns, "uid": f"uid-{name}", "resourceVersion": rv,
            "labels": {"app": "web"} if labels is None else labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ports = [{"name": "http", "containerPort": http, "protocol": "TCP"}] if http else []
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx", "ports": ports}]},
            "status": status}


def endpoint(p: dict, *, ready=True, serving=None, terminating=False, zone=None) -> dict:
    out = {"addresses": [p["status"]["podIP"]],
           "conditions": {"ready": ready, "serving": ready if serving is None else serving,
                          "terminating": terminating},
           "nodeName": p["spec"]["nodeName"],
           "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"],
                         "uid": p["metadata"]["uid"]}}
    if zone:
        out["zone"] = zone
    return out


def address(p: dict) -> dict:
    return {"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"],
                          "uid": p["metadata"]["uid"]}}


HTTP_8080 = [{"name": "http", "port": 8080, "protocol": "TCP"}]
OWNER = {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "uid-svc-web", "controller": True,
         "blockOwnerDeletion": True}


def slices_cluster(*pods, **kw) -> Cluster:
    kw.setdefault("services", [service()])
    return Cluster(EndpointSliceController(), pods=pods, **kw)


def endpoints_cluster(*pods, **kw) -> Cluster:
    kw.setdefault("services", [service()])
    return Cluster(EndpointsController(), pods=pods, **kw)


# --- EndpointSlices ---------------------------------------------------------------------------------------

def test_ready_and_not_ready_pods_share_one_slice():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)
    c = slices_cluster(a, b)
    calls = c.sync()
    assert calls == [("create", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "default", "labels": SVC_LABELS, "ownerReferences": [OWNER]},
        "addressType": "IPv4", "ports": HTTP_8080,
        "endpoints": [endpoint(a), endpoint(b, ready=False)]})]
    assert c.result is None and c.events.seen == []


def test_pods_without_an_ip_finished_or_not_selected_are_left_out():
    good = pod("good", "10.0.0.1")
    c = slices_cluster(good, pod("no-ip"), pod("done", "10.0.0.2", phase="Succeeded"),
                       pod("failed", "10.0.0.3", phase="Failed"), pod("other", "10.0.0.4", labels={"app": "db"}),
                       pod("elsewhere", "10.0.0.5", ns="other"))
    (verb, obj), = c.sync()
    assert verb == "create" and obj["endpoints"] == [endpoint(good)]


def test_a_named_target_port_resolved_differently_makes_separate_slices():
    a, b, d = pod("a", "10.0.0.1", http=8080), pod("b", "10.0.0.2", http=9090), pod("d", "10.0.0.3", http=8080)
    c = slices_cluster(a, b, d)
    calls = c.sync()
    assert [v for v, _ in calls] == ["create", "create"]
    by_port = {obj["ports"][0]["port"]: obj for _, obj in calls}
    assert by_port[8080]["endpoints"] == [endpoint(a), endpoint(d)]
    assert by_port[9090]["endpoints"] == [endpoint(b)]
    assert by_port[9090]["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]
    c.settle()
    assert c.sync() == []


def test_numeric_target_ports_and_names_a_pod_lacks():
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                         {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"},
                         {"name": "dns", "port": 53, "targetPort": "http", "protocol": "UDP"}])
    full, bare = pod("full", "10.0.0.1"), pod("bare", "10.0.0.2", http=0)
    calls = slices_cluster(full, bare, services=[svc]).sync()
    ports = sorted((tuple(sorted(p["port"] for p in obj["ports"])), obj["endpoints"][0]["targetRef"]["name"])
                   for _, obj in calls)
    # "http" resolves only on `full`, and only for TCP: the UDP port finds no UDP container port.
    assert ports == [((8080, 9100), "full"), ((9100,), "bare")]


def test_a_pod_leaving_the_selector_is_removed_from_its_slice():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2")
    c = slices_cluster(a, b)
    c.sync()
    c.settle()
    moved = copy.deepcopy(b)
    moved["metadata"]["labels"] = {"app": "other"}
    # The manager asks for the old and the new pod: the old labels still reach the Service.
    assert list(c.ctl.keys("pods", b)) == ["default/web"]
    assert list(c.ctl.keys("pods", moved)) == []
    c.put("pods", moved)
    (verb, obj), = c.sync()
    assert verb == "update" and obj["metadata"]["name"] == "web-00001"
    assert obj["metadata"]["resourceVersion"] == c.slices()[0]["metadata"]["resourceVersion"]
    assert obj["endpoints"] == [endpoint(a)]


def test_a_terminating_pod_stays_listed_serving_but_not_ready():
    going = pod("going", "10.0.0.1", deleting=True)
    (_, obj), = slices_cluster(going).sync()
    assert obj["endpoints"] == [endpoint(going, ready=False, serving=True, terminating=True)]


def test_publish_not_ready_addresses_makes_every_endpoint_ready():
    slow = pod("slow", "10.0.0.1", ready=False)
    (_, obj), = slices_cluster(slow, services=[service(publishNotReadyAddresses=True)]).sync()
    assert obj["endpoints"][0]["conditions"] == {"ready": True, "serving": False, "terminating": False}


def test_nothing_is_written_when_nothing_changed():
    a = pod("a", "10.0.0.1")
    c = slices_cluster(a, pod("b", "10.0.0.2", ready=False))
    assert len(c.sync()) == 1
    c.settle()
    assert c.sync() == []
    # A pod change that does not touch its endpoint (an annotation: a new resourceVersion) writes nothing.
    touched = copy.deepcopy(a)
    touched["metadata"].update(resourceVersion="2", annotations={"note": "x"})
    c.put("pods", touched)
    assert c.sync() == []


def test_a_readiness_change_rewrites_the_slice_in_place():
    b = pod("b", "10.0.0.2", ready=False)
    c = slices_cluster(pod("a", "10.0.0.1"), b)
    c.sync()
    c.settle()
    c.put("pods", pod("b", "10.0.0.2", ready=True, rv="2"))
    (verb, obj), = c.sync()
    assert verb == "update" and obj["metadata"]["name"] == "web-00001"
    assert [e["conditions"]["ready"] for e in obj["endpoints"]] == [True, True]


def test_more_than_100_endpoints_spread_over_several_slices():
    pods = [pod(f"p{i:03d}", f"10.0.{i // 200}.{i % 200 + 1}") for i in range(250)]
    c = slices_cluster(*pods)
    calls = c.sync()
    assert [(v, len(o["endpoints"])) for v, o in calls] == [("create", 100), ("create", 100), ("create", 50)]
    listed = [e["targetRef"]["name"] for _, o in calls for e in o["endpoints"]]
    assert sorted(listed) == [p["metadata"]["name"] for p in pods]
    c.settle()
    assert c.sync() == []
    # One more pod goes into the slice with room for it: one update, no new slice.
    c.put("pods", pod("p250", "10.0.9.1"))
    (verb, obj), = c.sync()
    assert verb == "update" and len(obj["endpoints"]) == 51
    assert obj["metadata"]["name"] == "web-00003"


def test_the_limit_per_slice_is_a_setting():
    c = Cluster(EndpointSliceController(max_endpoints_per_slice=2), services=[service()],
                pods=[pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(5)])
    assert [len(o["endpoints"]) for _, o in c.sync()] == [2, 2, 1]


def test_the_last_pod_gone_leaves_an_empty_placeholder_slice():
    a = pod("a", "10.0.0.1")
    c = slices_cluster(a)
    c.sync()
    c.settle()
    c.remove("pods", a)
    (verb, obj), = c.sync()
    # The slice to delete is reused for the placeholder: one update, not a delete and a create.
    assert verb == "update" and obj["metadata"]["name"] == "web-00001"
    assert obj["endpoints"] == [] and obj["ports"] == []
    c.settle()
    assert c.sync() == []


def test_a_service_with_no_pods_gets_a_placeholder():
    (verb, obj), = slices_cluster().sync()
    assert verb == "create" and obj["endpoints"] == [] and obj["ports"] == []
    assert obj["metadata"]["labels"] == SVC_LABELS


def test_services_without_a_selector_are_left_alone():
    hand_made = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": "web-manual", "namespace": "default", "resourceVersion": "5",
                              "labels": SVC_LABELS}, "addressType": "IPv4", "endpoints": [], "ports": []}
    c = slices_cluster(pod("a", "10.0.0.1"), services=[service(selector={})], slices=[hand_made])
    assert c.sync() == []
    ext = service(type="ExternalName", externalName="example.com")
    assert slices_cluster(pod("a", "10.0.0.1"), services=[ext]).sync() == []


def test_a_deleted_service_leaves_its_slices_to_the_garbage_collector():
    c = slices_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.remove("services", c.caches["services"].get("web", "default"))
    assert c.sync() == [] and c.result is None


def test_a_slice_of_an_older_service_of_the_same_name_is_replaced():
    a = pod("a", "10.0.0.1")
    stale = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "web-old", "namespace": "default", "resourceVersion": "5", "labels": SVC_LABELS,
                          "ownerReferences": [{**OWNER, "uid": "uid-of-an-older-web"}]},
             "addressType": "IPv4", "endpoints": [endpoint(a)], "ports": HTTP_8080}
    calls = slices_cluster(a, slices=[stale]).sync()
    assert [c[0] for c in calls] == ["create", "delete"]
    assert calls[0][1]["metadata"]["ownerReferences"] == [OWNER]
    assert calls[1] == ("delete", "endpointslices", "default", "web-old")


def test_changed_service_labels_are_copied_to_its_slices():
    c = slices_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.put("services", service(labels={"team": "b"}))
    (verb, obj), = c.sync()
    assert verb == "update" and obj["metadata"]["labels"]["team"] == "b"


def test_a_headless_service_is_labelled_so():
    (_, obj), = slices_cluster(pod("a", "10.0.0.1"), services=[service(clusterIP="None")]).sync()
    assert obj["metadata"]["labels"][HEADLESS_LABEL] == ""


def test_the_zone_comes_from_the_node_when_known():
    a = pod("a", "10.0.0.1")
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {ZONE_LABEL: "zone-a"}}}
    (_, obj), = slices_cluster(a, nodes=[node]).sync()
    assert obj["endpoints"] == [endpoint(a, zone="zone-a")]


def test_a_sync_waits_until_its_own_writes_are_in_the_cache():
    c = slices_cluster(pod("a", "10.0.0.1"))
    assert len(c.sync()) == 1
    # The informer has not delivered the new slice yet: creating it again would make a duplicate.
    assert c.sync() == [] and c.result == STALE_RETRY_S
    c.settle()
    assert c.sync() == [] and c.result is None


def test_a_failed_write_publishes_an_event_and_is_retried():
    c = slices_cluster(pod("a", "10.0.0.1"))
    c.api.fail["create"] = ApiError(500, "InternalError", "Internal error occurred: boom")
    with pytest.raises(ApiError):
        c.sync()
    assert c.events.seen == [("Warning", "FailedToUpdateEndpointSlices",
                              "Error updating Endpoint Slices for Service default/web: "
                              "Internal error occurred: boom")]


def test_a_slice_already_deleted_is_not_an_error():
    a = pod("a", "10.0.0.1")
    stale = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "web-old", "namespace": "default", "resourceVersion": "5", "labels": SVC_LABELS,
                          "ownerReferences": [{**OWNER, "uid": "uid-of-an-older-web"}]},
             "addressType": "IPv4", "endpoints": [endpoint(a)], "ports": HTTP_8080}
    c = slices_cluster(a, slices=[stale])
    c.api.fail["delete"] = ApiError(404, "NotFound", 'endpointslices "web-old" not found')
    assert [v for v, *_ in c.sync()] == ["create", "delete"]
    assert c.result is None and c.events.seen == []


def test_a_changed_port_list_reuses_the_slice_it_replaces():
    c = slices_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.put("services", service(ports=[{"name": "web", "port": 80, "targetPort": 8080, "protocol": "TCP"}]))
    (verb, obj), = c.sync()
    assert verb == "update" and obj["metadata"]["name"] == "web-00001"
    assert obj["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]


def test_a_slice_deleted_by_someone_else_is_written_again():
    c = slices_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.remove("endpointslices", c.slices()[0])
    (verb, obj), = c.sync()
    assert verb == "create" and len(obj["endpoints"]) == 1


def test_keys_for_pod_service_and_slice_events():
    ctl = EndpointSliceController()
    for svc in (service("web"), service("api", {"app": "api", "tier": "be"}), service("bare", {}),
                service("web2", {"app": "web"}, ns="other"),
                service("ext", {"app": "web"}, type="ExternalName", externalName="x.example")):
        ctl.observe("services", "ADDED", svc, 0.0)
    assert list(ctl.keys("pods", pod("a"))) == ["default/web"]
    assert list(ctl.keys("pods", pod("a", labels={"app": "api", "tier": "be", "x": "y"}))) == ["default/api"]
    assert list(ctl.keys("pods", pod("a", labels={"app": "api"}))) == []
    assert list(ctl.keys("pods", pod("a", ns="other"))) == ["other/web2"]
    assert list(ctl.keys("services", service("bare", {}))) == ["default/bare"]
    ctl.observe("services", "DELETED", service("web"), 0.0)
    assert list(ctl.keys("pods", pod("a"))) == []
    ours = {"metadata": {"name": "api-x", "namespace": "default",
                         "labels": {SERVICE_NAME_LABEL: "api", MANAGED_BY_LABEL: MANAGED_BY}}}
    theirs = {"metadata": {"name": "api-y", "namespace": "default",
                           "labels": {SERVICE_NAME_LABEL: "api", MANAGED_BY_LABEL: "someone-else"}}}
    assert list(ctl.keys("endpointslices", ours)) == ["default/api"]
    assert list(ctl.keys("endpointslices", theirs)) == []


# --- Endpoints ------------------------------------------------------------------------------------------

def test_endpoints_list_ready_and_not_ready_addresses():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)
    c = endpoints_cluster(a, b)
    assert c.sync() == [("create", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default", "labels": {"team": "a"}},
        "subsets": [{"addresses": [address(a)], "notReadyAddresses": [address(b)], "ports": HTTP_8080}]})]


def test_endpoints_group_addresses_by_the_ports_they_offer():
    a, b, d = pod("a", "10.0.0.1", http=8080), pod("b", "10.0.0.2", http=9090), pod("d", "10.0.0.3", http=8080)
    (_, obj), = endpoints_cluster(a, b, d).sync()
    assert obj["subsets"] == [
        {"addresses": [address(a), address(d)], "ports": HTTP_8080},
        {"addresses": [address(b)], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]},
    ]


def test_endpoints_leave_terminating_pods_out_unless_not_ready_ones_are_published():
    a, going = pod("a", "10.0.0.1"), pod("going", "10.0.0.2", deleting=True)
    (_, obj), = endpoints_cluster(a, going).sync()
    assert obj["subsets"] == [{"addresses": [address(a)], "ports": HTTP_8080}]
    (_, obj), = endpoints_cluster(a, going, pod("slow", "10.0.0.3", ready=False),
                                  services=[service(publishNotReadyAddresses=True)]).sync()
    assert [x["targetRef"]["name"] for x in obj["subsets"][0]["addresses"]] == ["a", "going", "slow"]


def test_endpoints_are_written_only_when_they_change():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)
    c = endpoints_cluster(a, b)
    c.sync()
    c.settle()
    assert c.sync() == []
    c.put("pods", pod("b", "10.0.0.2", ready=True, rv="2"))
    (verb, obj), = c.sync()
    assert verb == "update" and obj["metadata"]["resourceVersion"] == "1001"
    assert obj["subsets"] == [{"addresses": [address(a), address(b)], "ports": HTTP_8080}]
    c.settle()
    assert c.sync() == []


def test_endpoints_drop_a_pod_that_left_the_selector():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2")
    c = endpoints_cluster(a, b)
    c.sync()
    c.settle()
    moved = copy.deepcopy(b)
    moved["metadata"]["labels"] = {"app": "other"}
    assert list(c.ctl.keys("pods", b)) == ["default/web"] and list(c.ctl.keys("pods", moved)) == []
    c.put("pods", moved)
    (verb, obj), = c.sync()
    assert verb == "update" and obj["subsets"] == [{"addresses": [address(a)], "ports": HTTP_8080}]


def test_endpoints_of_a_service_without_a_selector_are_left_alone():
    hand_made = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
                 "subsets": [{"addresses": [{"ip": "192.168.1.1"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]}
    c = endpoints_cluster(pod("a", "10.0.0.1"), services=[service(selector={})], endpoints=[hand_made])
    assert c.sync() == []
    assert list(c.ctl.keys("endpoints", hand_made)) == []


def test_endpoints_go_with_their_service():
    c = endpoints_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.remove("services", c.caches["services"].get("web", "default"))
    assert c.sync() == [("delete", "endpoints", "default", "web")]
    c.settle()
    assert c.sync() == []


def test_endpoints_wait_for_their_own_write():
    c = endpoints_cluster(pod("a", "10.0.0.1"))
    assert len(c.sync()) == 1
    assert c.sync() == [] and c.result == STALE_RETRY_S
    c.settle()
    assert c.sync() == [] and c.result is None


def test_a_failed_endpoints_update_publishes_an_event():
    c = endpoints_cluster(pod("a", "10.0.0.1"))
    c.sync()
    c.settle()
    c.put("pods", pod("b", "10.0.0.2"))
    c.api.fail["update"] = ApiError(409, "Conflict", "the object has been modified")
    with pytest.raises(ApiError):
        c.sync()
    assert c.events.seen == [("Warning", "FailedToUpdateEndpoint",
                              "Failed to update endpoint default/web: the object has been modified")]


def test_a_headless_service_without_ports_lists_addresses_alone():
    a = pod("a", "10.0.0.1")
    (_, obj), = endpoints_cluster(a, services=[service(clusterIP="None", ports=[])]).sync()
    assert obj["subsets"] == [{"addresses": [address(a)]}]
    assert obj["metadata"]["labels"] == {"team": "a", HEADLESS_LABEL: ""}


def test_endpoints_over_capacity_are_truncated_and_annotated():
    pods = [pod(f"p{i:04d}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(1001)]
    (_, obj), = endpoints_cluster(*pods).sync()
    assert len(obj["subsets"][0]["addresses"]) == 1000
    assert obj["metadata"]["annotations"] == {OVER_CAPACITY_ANNOTATION: "truncated"}


def test_truncation_keeps_ready_addresses_first_in_proportion():
    subsets = [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": f"10.0.1.{i}"} for i in range(4)]},
               {"notReadyAddresses": [{"ip": f"10.0.2.{i}"} for i in range(4)]}]
    assert truncate_subsets(subsets, max_addresses=3)
    assert [len(s.get("addresses", [])) for s in subsets] == [1, 0]
    assert [len(s.get("notReadyAddresses", [])) for s in subsets] == [1, 1]
    assert not truncate_subsets(subsets, max_addresses=3)


# --- by seed: random pod churn, then the invariants -------------------------------------------------------

def _expected(pods: dict[str, dict]) -> tuple[dict, set, set]:
    """Pod name -> (port, ready, terminating) for the slices; ready and not-ready names for Endpoints."""
    slices, ready, not_ready = {}, set(), set()
    for name, p in pods.items():
        if p["metadata"]["labels"].get("app") != "web":
            continue
        is_ready = p["status"]["conditions"][0]["status"] == "True"
        deleting = "deletionTimestamp" in p["metadata"]
        slices[name] = (p["spec"]["containers"][0]["ports"][0]["containerPort"], is_ready and not deleting, deleting)
        if not deleting:
            (ready if is_ready else not_ready).add(name)
    return slices, ready, not_ready


@pytest.mark.parametrize("seed", range(12))
def test_random_pod_churn_keeps_slices_and_endpoints_right(seed):
    import random

    rng = random.Random(seed)
    slices = Cluster(EndpointSliceController(max_endpoints_per_slice=3), services=[service()])
    eps = Cluster(EndpointsController(), services=[service()])
    pods: dict[str, dict] = {}
    for step in range(40):
        op = rng.choice(["add", "add", "remove", "ready", "relabel", "delete"])
        name = f"p{rng.randrange(12)}"
        if op == "add" and name not in pods:
            pods[name] = pod(name, f"10.0.0.{int(name[1:]) + 1}", ready=rng.random() < 0.7,
                             http=rng.choice([8080, 9090]))
        elif name in pods and op == "remove":
            gone = pods.pop(name)
            slices.remove("pods", gone)
            eps.remove("pods", gone)
        elif name in pods and op == "ready":
            pods[name]["status"]["conditions"][0]["status"] = rng.choice(["True", "False"])
        elif name in pods and op == "relabel":
            pods[name]["metadata"]["labels"] = {"app": rng.choice(["web", "db"])}
        elif name in pods and op == "delete":
            pods[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        else:
            continue
        for c in (slices, eps):
            if name in pods:
                c.put("pods", copy.deepcopy(pods[name]))
            c.sync()
            c.settle()
            assert c.sync() == [], f"seed {seed} step {step}: a second sync wrote"
        want, ready, not_ready = _expected(pods)
        got = {}
        for s in slices.slices():
            assert len(s["endpoints"]) <= 3, f"seed {seed} step {step}"
            for e in s["endpoints"]:
                assert e["targetRef"]["name"] not in got, f"seed {seed} step {step}: listed twice"
                got[e["targetRef"]["name"]] = (s["ports"][0]["port"], e["conditions"]["ready"],
                                               e["conditions"]["terminating"])
        assert got == want, f"seed {seed} step {step}"
        assert len(slices.slices()) >= 1
        assert all(s["endpoints"] for s in slices.slices()) or len(slices.slices()) == 1, f"seed {seed} step {step}"
        (obj,) = eps.caches["endpoints"].list()
        listed = {k: {a["targetRef"]["name"] for s in obj["subsets"] for a in s.get(k, [])}
                  for k in ("addresses", "notReadyAddresses")}
        assert listed == {"addresses": ready, "notReadyAddresses": not_ready}, f"seed {seed} step {step}"
