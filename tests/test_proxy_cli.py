"""``kubesim curl``'s pure parts: what a TARGET means, which port a Service gives, how answers are printed."""

from __future__ import annotations

import pytest

from actors.messages import ProxyReply
from kubesim.proxycli import (
    Target,
    TargetError,
    describe,
    parse_target,
    port_for,
    service_of,
    tally,
)


@pytest.mark.parametrize("text, target", [
    ("web", Target("web")),
    ("web.demo", Target("web.demo")),
    ("web.demo:8080", Target("web.demo", port=8080)),
    ("Web.Demo:http", Target("web.demo", port_name="http")),
    ("web.demo.svc.cluster.local.", Target("web.demo.svc.cluster.local.")),
    ("web.demo/healthz", Target("web.demo", path="/healthz")),
    ("http://web.demo:80/a/b?c=1", Target("web.demo", port=80, path="/a/b?c=1")),
    ("10.96.0.10:53", Target("10.96.0.10", port=53)),
    ("10.96.0.10", Target("10.96.0.10")),
    ("[fd00::a]:8080", Target("fd00::a", port=8080)),
    ("fd00:0::a", Target("fd00::a")),
    (" web ", Target("web")),
])
def test_targets(text, target):
    assert parse_target(text) == target
    assert parse_target(text).is_ip == (":" in target.host or target.host[0].isdigit())


@pytest.mark.parametrize("text, error", [
    ("", "no service or address"),
    (":80", "no service or address before the port"),
    ("web:", "no port after ':'"),
    ("web:0", "port 0 is not between 1 and 65535"),
    ("web:70000", "port 70000 is not between 1 and 65535"),
    ("web:a_b", "'a_b' is neither a port number nor a port name"),
    ("web:-http", "is neither a port number nor a port name"),
    ("web_1", "'web_1' is neither an IP address nor a DNS name"),
    ("-web", "is neither an IP address nor a DNS name"),
    ("web..demo", "is neither an IP address nor a DNS name"),
    ("10.96.0.300", "'10.96.0.300' is not an IP address"),
    ("10.96.0.10:dns", "a named port needs a Service name, not an address"),
    ("fd00::a:b:80x", "write an IPv6 address with a port as [ADDRESS]:PORT"),
    ("[fd00::a", "an IPv6 address is written [ADDRESS]:PORT"),
    ("[nope]:80", "'nope' is not an IPv6 address"),
    ("https://web", "only http:// is spoken"),
])
def test_bad_targets(text, error):
    with pytest.raises(TargetError) as e:
        parse_target(text)
    assert error in str(e.value)


def test_the_service_a_dns_answer_names():
    assert service_of("web.demo.svc.cluster.local.") == ("demo", "web")
    assert service_of("db-0.db.demo.svc.cluster.local.") == ("demo", "db"), "a headless Service's pod"
    assert service_of("web.demo.svc.example.org") == ("demo", "web")
    assert service_of("10-244-1-5.demo.pod.cluster.local.") is None
    assert service_of("example.com.") is None


def svc(ports: list[dict], cluster_ip: str = "10.96.0.20") -> dict:
    return {"metadata": {"name": "web", "namespace": "demo"}, "spec": {"clusterIP": cluster_ip, "ports": ports}}


def test_the_port_is_the_one_asked_for_else_the_services_first():
    ports = [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090, "targetPort": 9090}]
    assert port_for(svc(ports), Target("web")) == 80
    assert port_for(svc(ports), Target("web", port=1234)) == 1234
    assert port_for(svc(ports), Target("web", port_name="metrics")) == 9090
    # Behind a headless Service the DNS gives a pod: its targetPort is where it listens.
    assert port_for(svc(ports, "None"), Target("db")) == 8080
    with pytest.raises(TargetError, match="no port named 'grpc' \\(named: http, metrics\\)"):
        port_for(svc(ports), Target("web", port_name="grpc"))
    with pytest.raises(TargetError, match="Service demo/web has no ports"):
        port_for(svc([]), Target("web"))


def answered(pod: str, ip: str, body: str = "hello") -> ProxyReply:
    return ProxyReply("DNAT", f"demo/web:http -> {ip}:8080", "demo/web:http", ip, 8080, pod, "node-2", True, 200,
                      body, "", ("KUBE-SERVICES", "KUBE-SVC-X", "KUBE-SEP-Y"))


def test_an_answer_says_which_pod_gave_it():
    reply = answered("web-a", "10.244.1.5", "hello from web-a (container app)\n")
    assert describe(reply) == "HTTP 200 from web-a (10.244.1.5:8080 on node-2): hello from web-a (container app)"
    assert describe(reply, verbose=True).splitlines()[:2] == [
        "* DNAT: demo/web:http -> 10.244.1.5:8080", "* chains: KUBE-SERVICES -> KUBE-SVC-X -> KUBE-SEP-Y"]
    refused = ProxyReply("REJECT", "demo/web:http has no endpoints", "demo/web:http",
                         error="Failed to connect to 10.96.0.20 port 80: Connection refused")
    assert describe(refused) == "curl: Failed to connect to 10.96.0.20 port 80: Connection refused"


def test_a_tally_counts_connections_per_pod_and_failures():
    replies = [answered("web-a", "10.244.1.5")] * 3 + [answered("web-b", "10.244.2.5")] + [
        ProxyReply("DNAT", "r", error="Failed to connect to 10.244.3.5 port 8080: Connection refused")]
    assert tally(replies).splitlines() == [
        "--- 5 connections: 4 answered by 2 pod(s), 1 failed",
        "3  web-a  (10.244.1.5:8080 on node-2)",
        "1  web-b  (10.244.2.5:8080 on node-2)",
        "1  failed: Failed to connect to 10.244.3.5 port 8080: Connection refused",
    ]
