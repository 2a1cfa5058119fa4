"""kube-proxy's rule computation (actors/proxy/rules.py), driven with hand-made Services and EndpointSlices.

Each test builds a node's table as its kube-proxy would, then checks the rules
it holds (:func:`render`) or what they do to new connections (:func:`pick`),
with a seeded ``random.Random`` and time as plain seconds (the manual clock).
The cases follow kube-proxy's own tests (``pkg/proxy/iptables/proxier_test.go``:
TestOverallIPTablesRules, the traffic-policy and terminating-endpoint tables).
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from actors.controllers.endpoints import plan_endpoint_slices
from actors.proxy.rules import (
    DEFAULT_AFFINITY_TIMEOUT_S,
    DNAT,
    DROP,
    KUBE_EXTERNAL_SERVICES,
    KUBE_NODEPORTS,
    KUBE_SERVICES,
    NO_RULE,
    RECENT_LIST_MAX,
    REJECT,
    AffinityState,
    build_table,
    diff,
    endpoint_chain_name,
    external_chain_name,
    local_chain_name,
    pick,
    render,
    rule_counts,
    service_chain_name,
)

NODE = "node-1"
NODE_IP = "192.168.0.11"
CIDR = "10.244.0.0/16"
OUTSIDE = "203.0.113.99"
"""A client outside the cluster (neither a node nor a pod)."""
POD_CLIENT = "10.244.9.9"


def svc(name: str, cluster_ip: str = "10.96.0.20", ports: list[dict] | None = None, *, ns: str = "demo",
        type: str = "ClusterIP", lb_ips: tuple[str, ...] = (), **spec) -> dict:
    """A Service as the API server stores it (defaults filled in)."""
    ports = ports if ports is not None else [port("http", 80)]
    out = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"},
           "spec": {"type": type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports,
                    "sessionAffinity": "None", **spec},
           "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in lb_ips]}}}
    return out


def port(name: str, number: int, *, node_port: int | None = None, protocol: str = "TCP") -> dict:
    out = {"name": name, "port": number, "protocol": protocol, "targetPort": number + 8000}
    if node_port:
        out["nodePort"] = node_port
    return out


def ep(ip: str, node: str = "node-2", *, ready: bool = True, serving: bool | None = None,
       terminating: bool = False, pod: str | None = None) -> dict:
    """A slice endpoint as kubesim's EndpointSlice controller writes it."""
    return {"addresses": [ip],
            "conditions": {"ready": ready, "serving": ready if serving is None else serving,
                           "terminating": terminating},
            "nodeName": node,
            "targetRef": {"kind": "Pod", "namespace": "demo", "name": pod or "pod-" + ip.rsplit(".", 1)[1],
                          "uid": "u"}}


def eps(service: str, endpoints: list[dict], ports: list[tuple[str, int]] | None = None, *, ns: str = "demo",
        name: str | None = None, protocol: str = "TCP") -> dict:
    ports = ports if ports is not None else [("http", 8080)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": protocol} for n, p in ports]}


def table(services, slices, *, node: str = NODE, node_ips=(NODE_IP,), cidr: str | None = CIDR):
    return build_table(services, slices, node_name=node, node_ips=node_ips, cluster_cidr=cidr)


def connect(t, ip, dst_port, *, client=POD_CLIENT, affinity=None, now=0.0, rng=None, protocol="TCP"):
    return pick(t, ip, dst_port, protocol, client, affinity or AffinityState(), now, rng or random.Random(1))


def svc_chain_rules(text: str, chain: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"-A {chain} ") and "-> " in line]


# --- chain names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, protocol, expected", [
    # What a real cluster's iptables-save shows for kubeadm's API and DNS Services.
    ("default/kubernetes:https", "TCP", "KUBE-SVC-NPX46M4PTMTKRN6Y"),
    ("kube-system/kube-dns:dns", "UDP", "KUBE-SVC-TCOU7JCQXEZGVUNU"),
    ("kube-system/kube-dns:dns-tcp", "TCP", "KUBE-SVC-ERIFXISQEP7F7OF4"),
    ("kube-system/kube-dns:metrics", "TCP", "KUBE-SVC-JD5MR3NA4I4DYORP"),
    # kube-proxy's TestOverallIPTablesRules.
    ("ns1/svc1:p80", "tcp", "KUBE-SVC-XPGD46QRK7WJZT7O"),
    ("ns2/svc2:p80", "tcp", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"),
])
def test_service_chain_names_are_kubernetes_hashes(name, protocol, expected):
    assert service_chain_name(name, protocol) == expected
    suffix = expected.removeprefix("KUBE-SVC-")
    assert local_chain_name(name, protocol) == "KUBE-SVL-" + suffix
    assert external_chain_name(name, protocol) == "KUBE-EXT-" + suffix


@pytest.mark.parametrize("name, endpoint, expected", [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("ns3/svc3:p80", "10.180.0.3:80", "KUBE-SEP-OYPFS5VJICHGATKP"),
])
def test_endpoint_chain_names_are_kubernetes_hashes(name, endpoint, expected):
    assert endpoint_chain_name(name, "TCP", endpoint) == expected


def test_a_table_names_its_chains_from_the_service_port_and_endpoint():
    t = table([svc("svc1", "172.30.0.41", [port("p80", 80)], ns="ns1")],
              [eps("svc1", [ep("10.180.0.1")], [("p80", 80)], ns="ns1")])
    (sp,) = t.services
    assert (sp.name, sp.svc_chain, sp.endpoints[0].chain) == (
        "ns1/svc1:p80", "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ")
    unnamed = table([svc("web", ports=[{"port": 80, "protocol": "TCP", "targetPort": 8080}])],
                    [eps("web", [ep("10.244.1.5")], [("", 8080)])])
    assert unnamed.services[0].name == "demo/web"  # ServicePortName.String() leaves out an empty port name
    assert unnamed.services[0].svc_chain == service_chain_name("demo/web", "TCP")


# --- the balancing chain ------------------------------------------------------------------------

@pytest.mark.parametrize("n, probabilities", [
    (1, [None]),
    (2, ["0.5000000000", None]),
    (3, ["0.3333333333", "0.5000000000", None]),
    (4, ["0.2500000000", "0.3333333333", "0.5000000000", None]),
])
def test_the_service_chain_matches_1_in_n_then_1_in_n_minus_1(n, probabilities):
    t = table([svc("web")], [eps("web", [ep(f"10.244.1.{i}") for i in range(1, n + 1)])])
    rules = svc_chain_rules(render(t), t.services[0].svc_chain)
    got = [r.split("--probability ")[1].split()[0] if "--probability" in r else None for r in rules]
    assert got == probabilities
    assert [r.split(" -j ")[-1] for r in rules] == [e.chain for e in t.services[0].cluster_endpoints]


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_pick_spreads_connections_evenly_over_three_endpoints(seed):
    t = table([svc("web")], [eps("web", [ep("10.244.1.5"), ep("10.244.2.5"), ep("10.244.3.5")])])
    rng = random.Random(seed)
    draws = 9000
    counts = Counter(connect(t, "10.96.0.20", 80, rng=rng).ip for _ in range(draws))
    assert set(counts) == {"10.244.1.5", "10.244.2.5", "10.244.3.5"}
    for ip, count in counts.items():
        assert abs(count / draws - 1 / 3) < 0.03, (seed, counts)


def test_pick_follows_the_chains_and_dnats_to_the_target_port():
    t = table([svc("web")], [eps("web", [ep("10.244.1.5", pod="web-a")])])
    v = connect(t, "10.96.0.20", 80)
    sp = t.services[0]
    assert (v.action, v.ip, v.port, v.pod, v.node) == (DNAT, "10.244.1.5", 8080, "web-a", "node-2")
    assert v.chains == (KUBE_SERVICES, sp.svc_chain, sp.endpoints[0].chain)
    assert v.service == "demo/web:http" and v.ok
    assert connect(t, "10.96.0.20", 80, rng=random.Random(99)).ip == "10.244.1.5"  # one endpoint: no dice


def test_the_same_seed_gives_the_same_choices():
    t = table([svc("web")], [eps("web", [ep(f"10.244.1.{i}") for i in range(1, 6)])])
    runs = [[connect(t, "10.96.0.20", 80, rng=rng).ip for _ in range(50)]
            for rng in (random.Random(5), random.Random(5))]
    assert runs[0] == runs[1]


# --- which endpoints count ------------------------------------------------------------------------

@pytest.mark.parametrize("case, endpoints, used", [
    ("all ready", [ep("10.244.1.1"), ep("10.244.1.2")], ["10.244.1.1", "10.244.1.2"]),
    ("not ready is left out", [ep("10.244.1.1"), ep("10.244.1.2", ready=False)], ["10.244.1.1"]),
    ("ready wins over serving-terminating",
     [ep("10.244.1.1"), ep("10.244.1.2", ready=False, serving=True, terminating=True)], ["10.244.1.1"]),
    ("none ready: serving-terminating ones take over",
     [ep("10.244.1.1", ready=False, serving=False),
      ep("10.244.1.2", ready=False, serving=True, terminating=True),
      ep("10.244.1.3", ready=False, serving=True, terminating=True)], ["10.244.1.2", "10.244.1.3"]),
    ("terminating and not serving is never used",
     [ep("10.244.1.1", ready=False, serving=False, terminating=True)], []),
    ("unset conditions mean ready", [{"addresses": ["10.244.1.1"]}], ["10.244.1.1"]),
])
def test_which_endpoints_a_service_uses(case, endpoints, used):
    t = table([svc("web")], [eps("web", endpoints)])
    sp = t.services[0]
    assert [e.ip for e in sp.cluster_endpoints] == used, case
    v = connect(t, "10.96.0.20", 80)
    if used:
        assert v.action == DNAT and v.ip in used
    else:
        assert (v.action, v.reason) == (REJECT, "demo/web:http has no endpoints")


def test_a_pod_ip_listed_twice_prefers_the_running_pod():
    # The pod network reused a terminating pod's IP: the new pod's entry wins whichever slice lists it first.
    old = ep("10.244.1.1", ready=False, serving=True, terminating=True, pod="old")
    new = ep("10.244.1.1", pod="new")
    for order in ([old, new], [new, old]):
        t = table([svc("web")], [eps("web", [e], name=f"web-{i}") for i, e in enumerate(order)])
        assert [(e.pod, e.ready) for e in t.services[0].endpoints] == [("new", True)]


def test_endpoints_come_from_every_slice_of_the_service_and_no_other():
    t = table([svc("web"), svc("api", "10.96.0.21")],
              [eps("web", [ep("10.244.1.1")], name="web-1"), eps("web", [ep("10.244.1.2")], name="web-2"),
               eps("api", [ep("10.244.1.3")]), eps("web", [ep("10.244.1.4")], ns="other")])
    assert [e.ip for e in t.service_port("demo/web:http").endpoints] == ["10.244.1.1", "10.244.1.2"]
    assert [e.ip for e in t.service_port("demo/api:http").endpoints] == ["10.244.1.3"]


def test_two_ports_are_matched_to_slice_ports_by_name():
    service = svc("web", ports=[port("http", 80), port("metrics", 9100)])
    t = table([service], [eps("web", [ep("10.244.1.5")], [("metrics", 9090), ("http", 8080)])])
    assert [(sp.name, sp.endpoints[0].port) for sp in t.services] == [
        ("demo/web:http", 8080), ("demo/web:metrics", 9090)]
    assert connect(t, "10.96.0.20", 80).port == 8080
    assert connect(t, "10.96.0.20", 9100).port == 9090
    assert t.services[0].svc_chain != t.services[1].svc_chain
    assert connect(t, "10.96.0.20", 443).action == NO_RULE  # a port the Service does not have


def test_protocols_are_kept_apart():
    service = svc("dns", "10.96.0.10", [port("dns", 53, protocol="UDP"), port("dns-tcp", 53)])
    slices = [eps("dns", [ep("10.244.1.5")], [("dns", 53)], protocol="UDP", name="dns-u"),
              eps("dns", [ep("10.244.1.5")], [("dns-tcp", 53)], name="dns-t")]
    t = table([service], slices)
    assert connect(t, "10.96.0.10", 53, protocol="udp").service == "demo/dns:dns"
    assert connect(t, "10.96.0.10", 53, protocol="TCP").service == "demo/dns:dns-tcp"
    assert "-m udp -p udp -d 10.96.0.10 --dport 53" in render(t)


@pytest.mark.parametrize("case, service", [
    ("headless", svc("db", "None")),
    ("ExternalName", {"metadata": {"name": "ext", "namespace": "demo"},
                      "spec": {"type": "ExternalName", "externalName": "example.com"}}),
    ("no cluster IP yet", svc("new", "")),
])
def test_services_kube_proxy_leaves_alone(case, service):
    t = table([service], [eps(service["metadata"]["name"], [ep("10.244.1.5")])])
    assert t.services == (), case
    assert connect(t, "10.244.1.5", 8080).action == NO_RULE


# --- addresses: cluster IP, node ports, load balancers, external IPs -----------------------------

def test_node_ports_answer_on_each_node_ip_only():
    service = svc("web", type="NodePort", ports=[port("http", 80, node_port=30080)])
    t = table([service], [eps("web", [ep("10.244.1.5")])], node_ips=(NODE_IP, "10.0.0.11"))
    for ip in (NODE_IP, "10.0.0.11"):
        v = connect(t, ip, 30080, client=OUTSIDE)
        assert v.action == DNAT and v.chains[:3] == (KUBE_SERVICES, KUBE_NODEPORTS, t.services[0].ext_chain)
    assert connect(t, "192.168.0.12", 30080, client=OUTSIDE).action == NO_RULE  # another node's address
    assert connect(t, "10.96.0.20", 30080).action == NO_RULE  # a node port is not a cluster IP port
    text = render(t)
    for ip in (NODE_IP, "10.0.0.11"):
        assert f"NOTE: this must be the last rule in this chain\" -d {ip} -j KUBE-NODEPORTS" in text
    assert f"-A KUBE-NODEPORTS -m comment --comment demo/web:http -m tcp -p tcp --dport 30080 " \
           f"-j {t.services[0].ext_chain}" in text


def test_load_balancer_and_external_ips_reach_the_service():
    service = svc("web", type="LoadBalancer", ports=[port("http", 80, node_port=30080)],
                  lb_ips=("198.51.100.7",), externalIPs=["198.51.100.8"])
    service["status"]["loadBalancer"]["ingress"].append({"ip": "198.51.100.9", "ipMode": "Proxy"})
    t = table([service], [eps("web", [ep("10.244.1.5")])])
    sp = t.services[0]
    assert (sp.load_balancer_ips, sp.external_ips) == (("198.51.100.7",), ("198.51.100.8",))
    for ip in ("198.51.100.7", "198.51.100.8"):
        v = connect(t, ip, 80, client=OUTSIDE)
        assert (v.action, v.ip, v.chains[1]) == (DNAT, "10.244.1.5", sp.ext_chain)
    # An ingress in Proxy mode is the load balancer's to forward (to a node port); kube-proxy makes no rule.
    assert connect(t, "198.51.100.9", 80, client=OUTSIDE).action == NO_RULE
    text = render(t)
    assert f'"demo/web:http loadbalancer IP" -m tcp -p tcp -d 198.51.100.7 --dport 80 -j {sp.ext_chain}' in text
    assert f'"demo/web:http external IP" -m tcp -p tcp -d 198.51.100.8 --dport 80 -j {sp.ext_chain}' in text


def test_a_service_with_no_endpoints_rejects_on_every_address():
    service = svc("web", type="LoadBalancer", ports=[port("http", 80, node_port=30080)],
                  lb_ips=("198.51.100.7",), externalIPs=["198.51.100.8"])
    t = table([service], [eps("web", [])])
    for ip, dst_port, chain in (("10.96.0.20", 80, KUBE_SERVICES), (NODE_IP, 30080, KUBE_EXTERNAL_SERVICES),
                                ("198.51.100.7", 80, KUBE_EXTERNAL_SERVICES),
                                ("198.51.100.8", 80, KUBE_EXTERNAL_SERVICES)):
        v = connect(t, ip, dst_port, client=OUTSIDE)
        assert (v.action, v.reason, v.chains[-1], v.endpoint) == (
            REJECT, "demo/web:http has no endpoints", chain, None)
    text = render(t)
    assert ('-A KUBE-SERVICES -m comment --comment "demo/web:http has no endpoints" -m tcp -p tcp '
            "-d 10.96.0.20 --dport 80 -j REJECT") in text
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "demo/web:http has no endpoints" '
            "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT") in text
    assert "KUBE-SVC-" not in text and "KUBE-EXT-" not in text  # no NAT chains at all


def test_an_address_that_is_no_service_has_no_rule():
    t = table([svc("web")], [eps("web", [ep("10.244.1.5")])])
    v = connect(t, "10.96.0.99", 80)
    assert (v.action, v.service, v.endpoint, v.ok) == (NO_RULE, "", None, False)
    assert connect(t, "not-an-ip", 80).action == NO_RULE


# --- traffic policies ----------------------------------------------------------------------------

def test_internal_traffic_policy_local_uses_only_this_nodes_endpoints():
    service = svc("web", internalTrafficPolicy="Local")
    slices = [eps("web", [ep("10.244.1.5", NODE), ep("10.244.2.5", "node-2"), ep("10.244.1.6", NODE)])]
    t = table([service], slices)
    sp = t.services[0]
    rng = random.Random(3)
    picked = {connect(t, "10.96.0.20", 80, rng=rng).ip for _ in range(200)}
    assert picked == {"10.244.1.5", "10.244.1.6"}
    assert connect(t, "10.96.0.20", 80).chains[1] == sp.svl_chain
    elsewhere = table([service], slices, node="node-3")
    v = connect(elsewhere, "10.96.0.20", 80)
    assert (v.action, v.reason) == (DROP, "demo/web:http has no local endpoints")
    assert "-j DROP" in render(elsewhere) and "KUBE-SVL-" not in render(elsewhere)


def test_internal_local_falls_back_to_this_nodes_serving_terminating_endpoints():
    service = svc("web", internalTrafficPolicy="Local")
    t = table([service], [eps("web", [ep("10.244.1.5", NODE, ready=False, serving=True, terminating=True),
                                      ep("10.244.2.5", "node-2")])])
    assert [e.ip for e in t.services[0].local_endpoints] == ["10.244.1.5"]
    assert connect(t, "10.96.0.20", 80).ip == "10.244.1.5"


def _local_lb():
    return svc("web", type="LoadBalancer", ports=[port("http", 80, node_port=30080)], lb_ips=("198.51.100.7",),
               externalTrafficPolicy="Local")


@pytest.mark.parametrize("dst, dst_port", [(NODE_IP, 30080), ("198.51.100.7", 80)])
def test_external_traffic_policy_local_keeps_outside_traffic_on_this_node(dst, dst_port):
    slices = [eps("web", [ep("10.244.1.5", NODE), ep("10.244.2.5", "node-2"), ep("10.244.2.6", "node-2")])]
    t = table([_local_lb()], slices)
    sp = t.services[0]
    rng = random.Random(4)
    verdicts = [connect(t, dst, dst_port, client=OUTSIDE, rng=rng) for _ in range(100)]
    assert {v.ip for v in verdicts} == {"10.244.1.5"}
    assert verdicts[0].chains[-3:] == (sp.ext_chain, sp.svl_chain, sp.endpoints[0].chain)
    # Cluster-IP traffic keeps the Cluster policy: every endpoint.
    assert {connect(t, "10.96.0.20", 80, rng=rng).ip for _ in range(200)} == {
        "10.244.1.5", "10.244.2.5", "10.244.2.6"}


@pytest.mark.parametrize("dst, dst_port", [(NODE_IP, 30080), ("198.51.100.7", 80)])
def test_external_traffic_policy_local_drops_outside_traffic_where_no_endpoint_runs(dst, dst_port):
    t = table([_local_lb()], [eps("web", [ep("10.244.2.5", "node-2")])])
    v = connect(t, dst, dst_port, client=OUTSIDE)
    assert (v.action, v.reason, v.chains[-1]) == (
        DROP, "demo/web:http has no local endpoints", KUBE_EXTERNAL_SERVICES)
    # Traffic from a pod or from the node itself short-circuits to the cluster-wide chain, as if it had gone
    # out to the load balancer and come back to a node with an endpoint.
    for client in (POD_CLIENT, NODE_IP):
        v = connect(t, dst, dst_port, client=client)
        assert (v.action, v.ip, v.chains[-2]) == (DNAT, "10.244.2.5", t.services[0].svc_chain), client
    # Without a known pod network only the node itself short-circuits.
    no_cidr = table([_local_lb()], [eps("web", [ep("10.244.2.5", "node-2")])], cidr=None)
    assert connect(no_cidr, dst, dst_port, client=POD_CLIENT).action == DROP
    assert connect(no_cidr, dst, dst_port, client=NODE_IP).action == DNAT


# --- session affinity -----------------------------------------------------------------------------

def _sticky(timeout_s: int | None = 600):
    config = {"clientIP": {"timeoutSeconds": timeout_s}} if timeout_s else {}
    return svc("web", sessionAffinity="ClientIP", sessionAffinityConfig=config)


THREE = [ep("10.244.1.5"), ep("10.244.2.5"), ep("10.244.3.5")]


def test_client_ip_affinity_sticks_while_the_client_keeps_coming():
    t = table([_sticky(600)], [eps("web", THREE)])
    rng = random.Random(11)
    state = AffinityState()
    first = connect(t, "10.96.0.20", 80, client="10.244.9.1", affinity=state, now=0.0, rng=rng)
    state = first.affinity
    # Each connection refreshes the entry (--set), so the window slides: 599 s gaps never expire it.
    for now in (10.0, 599.0, 1198.0, 1797.0):
        v = connect(t, "10.96.0.20", 80, client="10.244.9.1", affinity=state, now=now, rng=rng)
        assert v.ip == first.ip, now
        assert v.chains[-2:] == (t.services[0].svc_chain, first.endpoint.chain)
        state = v.affinity
    assert state.last_seen_s(first.endpoint.chain, "10.244.9.1") == 1797.0


def test_client_ip_affinity_expires_after_the_timeout():
    t = table([_sticky(600)], [eps("web", THREE)])
    rng = random.Random(12)
    v = connect(t, "10.96.0.20", 80, client="10.244.9.1", now=0.0, rng=rng)
    chain = v.endpoint.chain
    assert v.affinity.matches(chain, "10.244.9.1", 599.9, 600)
    assert not v.affinity.matches(chain, "10.244.9.1", 600.0, 600)  # --seconds: strictly less than
    # After the timeout the entry is reaped and the dice decide again: over many expired returns, all three.
    state, seen = v.affinity, set()
    for k in range(1, 60):
        later = connect(t, "10.96.0.20", 80, client="10.244.9.1", affinity=state, now=600.0 * k, rng=rng)
        seen.add(later.ip)
        state = later.affinity
        assert len(state) == 1  # the old entry was reaped, the new one recorded
    assert seen == {"10.244.1.5", "10.244.2.5", "10.244.3.5"}


def test_each_client_has_its_own_affinity():
    t = table([_sticky(600)], [eps("web", THREE)])
    rng = random.Random(13)
    state = AffinityState()
    chosen = {}
    for i in range(30):
        v = connect(t, "10.96.0.20", 80, client=f"10.244.9.{i}", affinity=state, now=1.0, rng=rng)
        chosen[f"10.244.9.{i}"], state = v.ip, v.affinity
    assert len(set(chosen.values())) == 3
    for client, ip in chosen.items():
        v = connect(t, "10.96.0.20", 80, client=client, affinity=state, now=2.0, rng=rng)
        assert v.ip == ip
        state = v.affinity


def test_affinity_timeout_defaults_to_three_hours_and_shows_in_the_rules():
    t = table([_sticky(None)], [eps("web", THREE)])
    sp = t.services[0]
    assert sp.affinity_timeout_s == DEFAULT_AFFINITY_TIMEOUT_S == 10800
    text = render(t)
    for e in sp.cluster_endpoints:
        assert (f'-A {sp.svc_chain} -m comment --comment "demo/web:http -> {e.address}" -m recent --name {e.chain} '
                f"--rcheck --seconds 10800 --reap -j {e.chain}") in text
        assert (f"-A {e.chain} -m comment --comment demo/web:http -m recent --name {e.chain} --set "
                f"-m tcp -p tcp -j DNAT --to-destination {e.address}") in text


def test_without_affinity_nothing_is_recorded():
    t = table([svc("web")], [eps("web", THREE)])
    v = connect(t, "10.96.0.20", 80, now=5.0)
    assert len(v.affinity) == 0 and "-m recent" not in render(t)


def test_affinity_to_an_endpoint_that_left_moves_on_and_retain_forgets_it():
    t = table([_sticky(600)], [eps("web", THREE)])
    v = connect(t, "10.96.0.20", 80, client="10.244.9.1", now=0.0, rng=random.Random(2))
    remaining = [e for e in THREE if e["addresses"][0] != v.ip]
    t2 = table([_sticky(600)], [eps("web", remaining)])
    v2 = connect(t2, "10.96.0.20", 80, client="10.244.9.1", affinity=v.affinity, now=1.0, rng=random.Random(2))
    assert v2.ip != v.ip
    kept = v2.affinity.retain(t2, now=2.0)
    assert v.endpoint.chain not in kept.lists and len(kept) == 1
    assert len(kept.retain(t2, now=602.0)) == 0  # past the timeout


def test_a_recent_list_is_bounded():
    t = table([_sticky(600)], [eps("web", [ep("10.244.1.5")])])
    state = AffinityState()
    for i in range(RECENT_LIST_MAX + 50):
        state = connect(t, "10.96.0.20", 80, client=f"10.1.{i // 250}.{i % 250}", affinity=state,
                        now=float(i)).affinity
    (chain,) = state.lists
    assert len(state.lists[chain]) == RECENT_LIST_MAX
    assert min(state.lists[chain].values()) == 50.0  # the oldest were forgotten first


# --- the rendered table ---------------------------------------------------------------------------

TRANSCRIPT_SERVICES = [
    svc("web", "10.96.0.20"),
    svc("cart", "10.96.0.30", [port("http", 80, node_port=30080)], ns="shop", type="NodePort",
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
    svc("front", "10.96.0.40", [port("https", 443, node_port=30443)], ns="shop", type="LoadBalancer",
        lb_ips=("198.51.100.7",), externalTrafficPolicy="Local"),
    svc("empty", "10.96.0.50"),
]
TRANSCRIPT_SLICES = [
    eps("web", [ep("10.244.1.5", NODE), ep("10.244.2.5", "node-2")]),
    eps("cart", [ep("10.244.2.7", "node-2")], ns="shop"),
    eps("front", [ep("10.244.2.8", "node-2")], [("https", 8443)], ns="shop"),
    eps("empty", []),
]
TRANSCRIPT = Path(__file__).parent / "testdata" / "proxy" / "rules_small.txt"
"""What :func:`render` writes for the two lists above; ``KUBESIM_REWRITE=1`` rewrites it (then read the diff)."""


def test_render_matches_the_transcript():
    # A ClusterIP service with two endpoints, a NodePort one with ClientIP affinity, a Local LoadBalancer with
    # no endpoint on this node (DROP from outside, EXT chain without a KUBE-SVL jump), one with no endpoints.
    t = table(TRANSCRIPT_SERVICES, TRANSCRIPT_SLICES)
    if os.environ.get("KUBESIM_REWRITE"):
        TRANSCRIPT.write_text(render(t))
    assert render(t) == TRANSCRIPT.read_text()
    assert rule_counts(t) == {"filter": 6, "nat": 32}


def _kube_proxy_test_cluster():
    """Services ns1..ns4 and ns6 of kube-proxy's TestOverallIPTablesRules (its node is "test-node")."""
    def slice_(ns, name, endpoints):
        return eps(name, endpoints, [("p80", 80)], ns=ns)

    services = [
        svc("svc1", "172.30.0.41", [port("p80", 80)], ns="ns1"),
        svc("svc2", "172.30.0.42", [port("p80", 80, node_port=3001)], ns="ns2", type="LoadBalancer",
            lb_ips=("1.2.3.4",), externalIPs=["192.168.99.22"], externalTrafficPolicy="Local"),
        svc("svc3", "172.30.0.43", [port("p80", 80, node_port=3003)], ns="ns3", type="NodePort"),
        svc("svc4", "172.30.0.44", [port("p80", 80)], ns="ns4", type="NodePort", externalIPs=["192.168.99.33"]),
        svc("svc6", "172.30.0.46", [port("p80", 80)], ns="ns6"),
    ]
    slices = [slice_("ns1", "svc1", [{"addresses": ["10.180.0.1"]}]),
              slice_("ns2", "svc2", [{"addresses": ["10.180.0.2"]}]),  # no nodeName: not local
              slice_("ns3", "svc3", [{"addresses": ["10.180.0.3"]}]),
              slice_("ns4", "svc4", [{"addresses": ["10.180.0.4"]},
                                     {"addresses": ["10.180.0.5"], "nodeName": "test-node"}])]
    return table(services, slices, node="test-node", node_ips=("192.168.0.2",), cidr="10.0.0.0/8")


def test_rules_and_packet_flows_agree_with_kube_proxys_own_test():
    t = _kube_proxy_test_cluster()
    lines = set(render(t).splitlines())
    for line in [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 '
        "-j KUBE-SVC-XPGD46QRK7WJZT7O",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT "
        "--to-destination 10.180.0.1:80",
        '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 '
        "--dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT",
        "-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT",
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp '
        "-d 1.2.3.4 --dport 80 -j DROP",
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP",
        '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" '
        "-s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT",
        '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" '
        "-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC",
        '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
        '-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 '
        "--dport 80 -j REJECT",
    ]:
        assert line in lines, line
    assert not any("KUBE-SVL-GNZBNJ2PO5MGZ6GT" in line for line in lines)  # Local, and no local endpoint
    # Its packet-flow table: source, destination -> outcome.
    for client, dst, outcome in [
        ("10.0.0.2", "10.0.0.3", NO_RULE),
        ("10.0.0.2", "172.30.0.41", "10.180.0.1"),
        ("192.168.0.2", "192.168.99.22", "10.180.0.2"),  # from the node itself: short-circuited, masqueraded
        ("203.0.113.2", "192.168.99.22", DROP),
        ("10.0.0.2", "172.30.0.46", REJECT),
    ]:
        v = connect(t, dst, 80, client=client)
        assert (v.ip if v.ok else v.action) == outcome, (client, dst)
    assert {connect(t, "172.30.0.44", 80, rng=random.Random(i)).ip for i in range(20)} == {
        "10.180.0.4", "10.180.0.5"}


def test_render_without_node_ips_sends_every_local_address_to_the_node_ports():
    t = table([svc("web")], [eps("web", [ep("10.244.1.5")])], node_ips=())
    assert ('"kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
            "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS") in render(t)


# --- values and differences ---------------------------------------------------------------------------

def test_the_table_is_a_frozen_value():
    t1 = table(TRANSCRIPT_SERVICES, TRANSCRIPT_SLICES)
    t2 = table(list(reversed(TRANSCRIPT_SERVICES)), list(reversed(TRANSCRIPT_SLICES)))
    assert t1 == t2 and hash(t1) == hash(t2)  # input order does not matter
    with pytest.raises(dataclasses.FrozenInstanceError):
        t1.node_name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t1.services[0].port = 81  # type: ignore[misc]
    assert not diff(t1, t2)


def test_diff_names_what_changed():
    before = table([svc("web"), svc("old", "10.96.0.21")],
                   [eps("web", [ep("10.244.1.1"), ep("10.244.1.2"), ep("10.244.1.3")])])
    after = table([svc("web", type="NodePort", ports=[port("http", 80, node_port=30080)]), svc("new", "10.96.0.22")],
                  [eps("web", [ep("10.244.1.1"), ep("10.244.1.2", ready=False), ep("10.244.1.4")])])
    d = diff(before, after)
    assert d.services_added == ("demo/new:http",)
    assert d.services_removed == ("demo/old:http",)
    assert d.services_changed == ("demo/web:http",)
    assert d.endpoints_added == ("demo/web:http -> 10.244.1.4:8080",)
    assert d.endpoints_removed == ("demo/web:http -> 10.244.1.3:8080",)
    assert d.endpoints_changed == ("demo/web:http -> 10.244.1.2:8080",)
    assert (d.service_changes, d.endpoint_changes) == (3, 1)
    assert d


# --- slices as kubesim's EndpointSlice controller writes them ------------------------------------------

def _pod(i: int, node: str, *, ready: bool = True) -> dict:
    return {"metadata": {"name": f"web-{i}", "namespace": "demo", "uid": f"pod-{i}", "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"name": "http",
                                                                               "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": f"10.244.{i // 200}.{i % 200 + 1}",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_tables_read_the_controllers_slices():
    service = svc("web", selector={"app": "web"})
    service["spec"]["ports"] = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]
    pods = [_pod(i, NODE if i % 2 else "node-2", ready=i != 3) for i in range(150)]
    plan = plan_endpoint_slices(service, pods, [])
    slices = [dict(s, metadata=dict(s["metadata"], name=f"web-{n}")) for n, s in enumerate(plan.create)]
    assert len(slices) == 2  # at most 100 endpoints a slice
    t = table([service], slices)
    sp = t.services[0]
    assert len(sp.endpoints) == 150 and len(sp.cluster_endpoints) == 149
    assert {e.port for e in sp.endpoints} == {8080}
    assert sum(e.local for e in sp.endpoints) == 75
    web3 = next(e for e in sp.endpoints if e.pod == "web-3")
    assert (web3.ready, web3.node, web3.local) == (False, NODE, True)
    v = connect(t, "10.96.0.20", 80, rng=random.Random(8))
    assert v.ok and v.pod.startswith("web-") and v.pod != "web-3"
