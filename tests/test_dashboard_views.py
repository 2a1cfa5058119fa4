"""What the dashboard draws (actors.dashboard.views) and how its HTTP side refuses what it must.

The views are pure: Kubernetes-shaped objects in, the page's shapes out —
a node's status as kubectl prints it (Unknown is NotReady), a pod's STATUS
column, a Service's endpoints from its EndpointSlices with their readiness,
the newest events first, leader/standby from the Leases, and the cut-off for
clusters of thousands of nodes. The server part checks, without a cluster,
that a request from another Host or Origin is refused, that POST bodies must
be JSON objects with typed fields, and that static names cannot leave the
static directory.
"""

from __future__ import annotations

import pytest

from actors.apiserver.httpserver import HttpRequest
from actors.dashboard import views
from actors.dashboard.server import STATIC_DIR, BadRequest, Dashboard

NOW = 1_767_225_700.0
CREATED = "2026-01-01T00:00:00Z"  # NOW - 100 s


def node(name, ready="True", unschedulable=False, zone="zone-a", taints=()):
    return {"metadata": {"name": name, "labels": {views.ZONE_LABEL: zone}, "creationTimestamp": CREATED},
            "spec": {"unschedulable": unschedulable, "podCIDR": "10.244.1.0/24", "taints": list(taints)},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}


def pod(name, node_name="node-1", phase="Running", ready=True, ns="demo", restarts=0, owner="web-1"):
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": CREATED,
                         "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "controller": True}]},
            "spec": {"nodeName": node_name, "containers": [{"name": "c"}]},
            "status": {"phase": phase, "podIP": "10.244.1.5",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts,
                                              "state": {"running": {}} if phase == "Running" else {}}]}}


def test_a_node_whose_kubelet_went_silent_is_notready_as_kubectl_says():
    assert views.node_view(node("node-1", ready="Unknown"), [], 0)["status"] == "NotReady"
    assert views.node_view(node("node-1", ready="False"), [], 0)["status"] == "NotReady"
    v = views.node_view(node("node-1", unschedulable=True, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
                        ["node-1"], 3)
    assert (v["status"], v["ready"], v["process"], v["taints"], v["pods_total"], v["zone"]) == \
        ("Ready,SchedulingDisabled", "True", "node-1", ["k=v:NoSchedule"], 3, "zone-a")
    assert views.node_view(node("hollow-node-7"), ["node-1"], 0)["process"] == "", "no process of its own"


def test_a_pod_as_the_page_shows_it():
    v = views.pod_view(pod("web-1", restarts=2), NOW)
    assert v == {"namespace": "demo", "name": "web-1", "node": "node-1", "phase": "Running", "status": "Running",
                 "ready": "1/1", "is_ready": True, "restarts": 2, "ip": "10.244.1.5", "owner": "ReplicaSet/web-1",
                 "age_s": 100.0}
    pending = views.pod_view(pod("web-2", node_name="", phase="Pending", ready=False), NOW)
    assert (pending["node"], pending["is_ready"], pending["status"]) == ("", False, "Pending")


def test_a_service_lists_its_endpoints_by_readiness():
    svc = {"metadata": {"name": "web", "namespace": "demo"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.9",
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
    slices = [{"metadata": {"namespace": "demo", "labels": {"kubernetes.io/service-name": "web"}},
               "endpoints": [{"addresses": ["10.244.1.6"], "conditions": {"ready": False},
                              "targetRef": {"kind": "Pod", "name": "web-2"}},
                             {"addresses": ["10.244.1.5"], "conditions": {"ready": True}, "nodeName": "node-1",
                              "targetRef": {"kind": "Pod", "name": "web-1"}}]}]
    picture = views.cluster_picture(nodes=[], pods=[pod("web-2", node_name="node-2")], deployments=[],
                                    services=[svc], slices=slices, events=[], process_names=[], now=NOW)
    (s,) = picture["services"]
    assert s["ports"] == ["80:30080/TCP"] and s["type"] == "NodePort"
    assert s["endpoints"] == [{"ip": "10.244.1.5", "pod": "web-1", "node": "node-1", "ready": True},
                              {"ip": "10.244.1.6", "pod": "web-2", "node": "node-2", "ready": False}]


def test_the_picture_lists_the_newest_events_first_and_sums_up_a_huge_cluster():
    events = [{"metadata": {"namespace": "demo", "name": f"e{i}"}, "type": "Warning" if i == 3 else "Normal",
               "reason": f"R{i}", "message": "m", "count": 1, "involvedObject": {"kind": "Pod", "name": "web-1"},
               "lastTimestamp": f"2026-01-01T00:00:{i:02d}Z"} for i in range(5)]
    nodes = [node(f"node-{i:04d}") for i in range(views.MAX_NODES + 50)]
    picture = views.cluster_picture(nodes=nodes, pods=[pod("p", node_name="node-0249")], deployments=[],
                                    services=[], slices=[], events=events, process_names=[], now=NOW)
    assert [e["reason"] for e in picture["events"]] == ["R4", "R3", "R2", "R1", "R0"]
    assert len(picture["nodes"]) == views.MAX_NODES and picture["nodes_total"] == views.MAX_NODES + 50
    assert picture["pods"] == [] and picture["pods_total"] == 1, "pods of nodes not listed are only counted"


def test_leader_elected_components_are_leader_or_standby_from_their_lease():
    held = views.leaders([{"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "scheduler-2"}}])
    rows = [{"name": n, "component": c, "state": "running"} for n, c in
            (("scheduler", "scheduler"), ("scheduler-2", "scheduler"), ("dns", "dns"))]
    assert [(v["name"], v["role"]) for v in views.component_views(rows, held)] == \
        [("scheduler", "standby"), ("scheduler-2", "leader"), ("dns", "")]


# --- the HTTP side, without a cluster -----------------------------------------------------------------


def dashboard() -> Dashboard:
    from prometheus_client import CollectorRegistry

    d = Dashboard("dashboard.dashboard", api=None, host="127.0.0.1", port=8080, cluster="c", time_scale=1,
                  processes={}, members={}, broker="apiserver", collector=None, process_rows=list,
                  registry=CollectorRegistry())
    return d


def request(method="GET", path="/api/state", headers=(("host", "127.0.0.1:8080"),), body=b"") -> HttpRequest:
    return HttpRequest(method, path, {}, list(headers), body)


@pytest.mark.parametrize("headers, refused", [
    ((("host", "127.0.0.1:8080"),), ""),
    ((("host", "localhost:8080"), ("origin", "http://localhost:8080")), ""),
    ((("host", "evil.example:8080"),), "Host 'evil.example:8080' is not this dashboard's"),
    ((("host", "127.0.0.1:8080"), ("origin", "http://evil.example")), "Origin 'http://evil.example' is another"),
])
def test_only_the_dashboards_own_page_may_ask(headers, refused):
    got = dashboard()._foreign(request(headers=headers))
    assert got.startswith(refused) if refused else got == ""


@pytest.mark.parametrize("content_type, body, message", [
    ("text/plain", b'{"a": 1}', "the body must be JSON (Content-Type: application/json)"),
    ("application/json", b"{nope", "the body is not JSON"),
    ("application/json", b"[1, 2]", "the body must be a JSON object"),
])
def test_a_post_body_must_be_a_json_object(content_type, body, message):
    with pytest.raises(BadRequest) as e:
        Dashboard._body(request("POST", "/api/scale", (("host", "127.0.0.1:8080"), ("content-type", content_type)),
                                body))
    assert str(e.value).startswith(message)


def test_fields_are_typed_and_named_when_wrong():
    assert Dashboard._field({"replicas": 3}, "replicas", int) == 3
    for body, message in (({"replicas": "3"}, "replicas: expected int, got str"),
                          ({"replicas": True}, "replicas: expected int, got bool"),
                          ({}, "replicas: expected int, got nothing")):
        with pytest.raises(BadRequest) as e:
            Dashboard._field(body, "replicas", int)
        assert str(e.value) == message
    assert Dashboard._field({}, "id", required=False) is None


def test_static_names_stay_in_the_static_directory():
    from actors.dashboard.server import _STATIC_NAME

    assert {p.name for p in STATIC_DIR.iterdir()} >= {"index.html", "app.js", "app.css"}
    for name in ("app.js", "index.html", "app.css"):
        assert _STATIC_NAME.fullmatch(name)
    for name in ("../server.py", "..%2fserver.py", "app.js\n", "a/b.js", ".env", "server.py"):
        assert not _STATIC_NAME.fullmatch(name), name
