"""The kube-proxy actor in one process on a manual clock: rule syncs bounded by min_sync_s, what changed
counted, and connections carried to pods served by a real runtime actor (actors/runtime/server.py) of
another node — load-balanced, with ClientIP affinity, refused, rejected, dropped, routed or lost."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from actors.messages import (
    CriEvents,
    CriRequest,
    ProxyConnect,
    ProxyGetRules,
    ProxyReply,
    ProxyRules,
)
from actors.proxy.proxy import (
    PodRoute,
    Proxy,
    ProxyMetrics,
    connect_problem,
    internal_ips,
    pod_routes,
)
from actors.runtime import cri
from actors.runtime.server import RuntimeMetrics, RuntimeServer
from actors.runtime.wire import to_wire
from bus.clock import ManualClock
from bus.runtime import Actor, Future, RemoteError, Runtime, handles
from bus.settings import BusSettings
from tests.helpers import advance, pump

T0 = 1_767_225_600.0
NODE_IP = "192.168.0.11"
PODS = {"web-a": "10.244.2.5", "web-b": "10.244.2.6"}


def service(name: str = "web", *, cluster_ip: str = "10.96.0.20", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "demo", "resourceVersion": "1"},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                     "sessionAffinity": "None", **spec}}


def endpoint_slice(name: str, service_name: str, rows: list[tuple[str, str, str]], port: int = 8080) -> dict:
    """One ready endpoint per (pod, ip, node)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": "demo", "resourceVersion": "1",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": "demo", "name": pod}}
                          for pod, ip, node in rows]}


class Sink(Actor):
    """node-2's kubelet, which the runtime feeds events to; nobody reads them here."""

    @handles(CriEvents)
    def on_events(self, msg: CriEvents, env) -> None:
        pass


class World:
    """node-1's kube-proxy and node-2's runtime in one process without sockets, pumped by hand.

    The proxy's informers are shared stand-ins whose stores the test fills, as a hollow-nodes process would
    share real ones; ``changed()`` is what an informer event does.
    """

    def __init__(self, min_sync_s: float = 1.0) -> None:
        self.clock = ManualClock(wall_start=T0)
        self.rt = Runtime("node-1", BusSettings(), self.clock, seed=1)
        self.registry = CollectorRegistry()
        self.services: dict[str, dict] = {}
        self.slices: dict[str, dict] = {}
        synced = Future()
        synced.set_result(None)
        self.informers = {"services": SimpleNamespace(store=self.services, synced=synced),
                          "endpointslices": SimpleNamespace(store=self.slices, synced=synced)}
        self.proxy = self.rt.add(Proxy("node-1", None, node_ips=(NODE_IP,), min_sync_s=min_sync_s, seed=3,
                                       metrics=ProxyMetrics(self.registry), informers=self.informers))
        self.runtime = self.rt.add(RuntimeServer("node-2", seed=7, metrics=RuntimeMetrics(CollectorRegistry())))
        self.rt.add(Sink("node-2.kubelet"))
        self.caller = self.rt.add(Actor("node-1.caller"))

    def pump(self) -> None:
        pump(self.rt)

    def advance(self, seconds: float) -> None:
        advance(self.rt, self.clock, seconds)

    def changed(self) -> None:
        self.proxy.changed()
        self.advance(0)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def cri(self, method: str, **args):
        future = self.caller.request("node-2.runtime", CriRequest(method, to_wire(args)), timeout_s=600)
        self.pump()
        for _ in range(200):
            if future.done():
                return future.result().result
            self.advance(0.5)
        raise AssertionError(f"{method} did not finish")

    def run_pod(self, pod: str, ip: str, image: str = "kubesim/server:1") -> None:
        self.cri("PullImage", image=image)
        sandbox = self.cri("RunPodSandbox", config=cri.PodSandboxConfig(
            cri.PodSandboxMetadata(pod, "demo", f"uid-{pod}"), hostname=pod, pod_ip=ip))
        cid = self.cri("CreateContainer", pod_sandbox_id=sandbox,
                       config=cri.ContainerConfig(cri.ContainerMetadata("app"), image))
        self.cri("StartContainer", container_id=cid)

    def connect(self, ip: str, port: int, client_ip: str = "", path: str = "/") -> ProxyReply:
        future = self.caller.request("node-1.proxy", ProxyConnect(ip, port, "TCP", path, client_ip), timeout_s=60)
        self.pump()
        for _ in range(10):
            if future.done():
                return future.result()
            self.advance(0.5)
        raise AssertionError("the proxy did not answer")


@pytest.fixture
def world():
    w = World()
    yield w
    w.rt._ctx.term()


def test_the_first_sync_is_at_once_and_later_ones_at_most_every_min_sync_s(world):
    w = world
    w.services["demo/web"] = service()
    w.changed()
    assert w.proxy.table is not None and w.metric("kubesim_proxy_sync_total") == 1
    assert w.metric("kubesim_proxy_service_ports") == 1 and w.metric("kubesim_proxy_endpoints") == 0

    # Three changes within a second: one sync, when a second has passed since the last.
    for i in range(3):
        w.slices[f"demo/web-{i}"] = endpoint_slice(f"web-{i}", "web", [(f"web-{i}", f"10.244.2.{10 + i}", "node-2")])
        w.changed()
        w.advance(0.2)
    assert w.metric("kubesim_proxy_sync_total") == 1, "still within min_sync_s of the first sync"
    w.advance(0.5)
    assert w.metric("kubesim_proxy_sync_total") == 2
    assert w.metric("kubesim_proxy_endpoints") == 3
    assert w.metric("kubesim_proxy_endpoint_changes_total") == 1, "one service port's endpoints changed"
    assert w.metric("kubesim_proxy_rules", table="nat") > 0
    # Nothing changed: no sync at all.
    w.advance(5)
    assert w.metric("kubesim_proxy_sync_total") == 2
    # A change long after the last sync is synced at once.
    del w.slices["demo/web-0"]
    w.changed()
    assert w.metric("kubesim_proxy_sync_total") == 3 and w.metric("kubesim_proxy_endpoints") == 2


def test_gauges_shared_by_two_proxies_hold_their_sum(world):
    w = world
    other = w.rt.add(Proxy("node-3", None, node_ips=("192.168.0.13",), metrics=w.proxy.metrics,
                           informers=w.informers))
    w.services["demo/web"] = service()
    w.slices["demo/web-1"] = endpoint_slice("web-1", "web", [("web-a", PODS["web-a"], "node-2")])
    w.changed()
    other.changed()
    w.advance(0)
    assert w.metric("kubesim_proxy_endpoints") == 2 and w.metric("kubesim_proxy_sync_total") == 2
    other.on_stop()
    assert w.metric("kubesim_proxy_endpoints") == 1


def test_rules_are_refused_before_the_first_sync_then_rendered(world):
    w = world
    future = w.caller.request("node-1.proxy", ProxyGetRules())
    w.pump()
    with pytest.raises(RemoteError, match="has not synced"):
        future.result()
    w.services["demo/web"] = service()
    w.changed()
    future = w.caller.request("node-1.proxy", ProxyGetRules())
    w.pump()
    rules = future.result()
    assert isinstance(rules, ProxyRules) and rules.services == 1 and rules.endpoints == 0
    assert "# kube-proxy (iptables mode) rules of node node-1" in rules.text
    assert '"demo/web:http has no endpoints"' in rules.text and "-j REJECT" in rules.text


def test_connections_are_balanced_over_the_pods_and_answered_by_them(world):
    w = world
    for pod, ip in PODS.items():
        w.run_pod(pod, ip)
    w.services["demo/web"] = service()
    w.slices["demo/web-1"] = endpoint_slice("web-1", "web", [(p, ip, "node-2") for p, ip in PODS.items()])
    w.changed()
    replies = [w.connect("10.96.0.20", 80) for _ in range(40)]
    assert all(r.action == "DNAT" and r.connected and r.status == 200 for r in replies), replies[0]
    by_pod = Counter(r.pod for r in replies)
    assert set(by_pod) == set(PODS) and min(by_pod.values()) >= 10, by_pod
    r = replies[0]
    assert r.body.startswith(f"hello from {r.pod}"), r.body
    assert (r.endpoint_ip, r.endpoint_port, r.node) == (PODS[r.pod], 8080, "node-2")
    assert r.chains[0] == "KUBE-SERVICES" and r.chains[1].startswith("KUBE-SVC-") and r.chains[2].startswith(
        "KUBE-SEP-")
    assert w.metric("kubesim_proxy_connections_total", action="DNAT") == 40


def test_client_ip_affinity_sticks_to_one_pod_per_client(world):
    w = world
    for pod, ip in PODS.items():
        w.run_pod(pod, ip)
    w.services["demo/web"] = service(sessionAffinity="ClientIP")
    w.slices["demo/web-1"] = endpoint_slice("web-1", "web", [(p, ip, "node-2") for p, ip in PODS.items()])
    w.changed()
    for client in ("10.244.7.1", "10.244.7.2", "10.244.7.3"):
        assert len({w.connect("10.96.0.20", 80, client).pod for _ in range(8)}) == 1
    # The node's own connections (no client_ip) stick too: they come from the node's IP.
    assert len({w.connect("10.96.0.20", 80).pod for _ in range(8)}) == 1


def test_what_a_client_sees_when_no_pod_answers(world):
    w = world
    w.run_pod("web-a", PODS["web-a"])
    w.services["demo/web"] = service()
    w.services["demo/empty"] = service("empty", cluster_ip="10.96.0.30")
    w.services["demo/local"] = service("local", cluster_ip="10.96.0.40", internalTrafficPolicy="Local")
    w.services["demo/gone"] = service("gone", cluster_ip="10.96.0.50")
    w.slices["demo/web-1"] = endpoint_slice("web-1", "web", [("web-a", PODS["web-a"], "node-2")], port=9999)
    w.slices["demo/local-1"] = endpoint_slice("local-1", "local", [("web-a", PODS["web-a"], "node-2")])
    w.slices["demo/gone-1"] = endpoint_slice("gone-1", "gone", [("far", "10.244.3.9", "node-3")])
    w.changed()

    refused = w.connect("10.96.0.20", 80)  # the pod listens on 8080, not 9999
    assert (refused.action, refused.connected) == ("DNAT", False)
    assert refused.error == "Failed to connect to 10.244.2.5 port 9999: Connection refused"

    rejected = w.connect("10.96.0.30", 80)
    assert rejected.action == "REJECT" and not rejected.connected and not rejected.pod
    assert rejected.error == ("Failed to connect to 10.96.0.30 port 80: Connection refused "
                              "(demo/empty:http has no endpoints)")

    dropped = w.connect("10.96.0.40", 80)  # internalTrafficPolicy Local, and no endpoint on node-1
    assert dropped.action == "DROP" and "Connection timed out" in dropped.error

    nothing = w.connect("10.96.0.99", 80)
    assert nothing.action == "NO_RULE" and "no service at 10.96.0.99:80/TCP" in nothing.error

    # No rule, but a pod has that IP: routed to it as it is.
    direct = w.connect(PODS["web-a"], 8080)
    assert (direct.action, direct.connected, direct.pod, direct.node) == ("NO_RULE", True, "web-a", "node-2")
    assert "routed to pod demo/web-a on node-2" in direct.reason

    # node-3 has no runtime here: the request waits for the connect timeout, then gives up.
    lost = w.connect("10.96.0.50", 80)
    assert lost.action == "DNAT" and lost.node == "node-3" and not lost.connected
    assert lost.error == "Failed to connect to 10.244.3.9 port 8080: Connection timed out after 2 s"
    assert w.metric("kubesim_proxy_forward_failures_total", reason="timeout") == 1
    assert w.metric("kubesim_proxy_forward_failures_total", reason="refused") == 1
    assert w.metric("kubesim_proxy_connections_total", action="REJECT") == 1


def test_bad_connects_are_refused_with_the_field_named(world):
    w = world
    w.changed()
    future = w.caller.request("node-1.proxy", ProxyConnect("web", 80))
    w.pump()
    with pytest.raises(RemoteError, match="dst_ip 'web' is not an IP address"):
        future.result()


@pytest.mark.parametrize("msg, problem", [
    (ProxyConnect("10.96.0.1", 80), None),
    (ProxyConnect("fd00::1", 80, "udp", "/x", "10.0.0.1"), None),
    (ProxyConnect("10.96.0.1", 0), "dst_port 0 is not between 1 and 65535"),
    (ProxyConnect("10.96.0.1", 80, "ICMP"), "protocol 'ICMP' is not one of TCP, UDP, SCTP"),
    (ProxyConnect("10.96.0.1", 80, path="x"), "path must start with /"),
    (ProxyConnect("10.96.0.1", 80, client_ip="me"), "client_ip 'me' is not an IP address"),
])
def test_connect_problems(msg, problem):
    found = connect_problem(msg)
    assert found == problem if problem is None else found.startswith(problem)


def test_node_ips_and_pod_routes_come_from_the_api_objects():
    node = {"status": {"addresses": [{"type": "Hostname", "address": "node-1"},
                                     {"type": "InternalIP", "address": "192.168.0.11"},
                                     {"type": "ExternalIP", "address": "203.0.113.1"}]}}
    assert internal_ips(node) == ("192.168.0.11",)
    assert internal_ips(None) == () and internal_ips({"status": {}}) == ()
    unlabelled = endpoint_slice("x", "web", [("stray", "10.244.9.9", "node-9")])
    del unlabelled["metadata"]["labels"]
    routes = pod_routes([endpoint_slice("web-1", "web", [("web-a", "10.244.2.5", "node-2")]),
                         endpoint_slice("db-1", "db", [("db-0", "10.244.3.5", "node-3"), ("x", "10.244.3.6", "")]),
                         unlabelled])
    assert routes == {"10.244.2.5": PodRoute("node-2", "web-a", "demo"),
                      "10.244.3.5": PodRoute("node-3", "db-0", "demo")}
