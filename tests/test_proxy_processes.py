"""kube-proxy as a real process (component ``kube-proxy``) beside the DNS: ``kubesim proxy rules`` prints the
node's table as it follows Services and EndpointSlices, and ``kubesim curl`` resolves a name, goes through
the node's rules and says why no pod answered — no endpoints, no service there, or the pod's node gone.

No node process runs here, so no pod answers; tests/test_proxy_actor.py has pods answer through a real
runtime actor in one process."""

from __future__ import annotations

import pytest

from actors.proxy.rules import service_chain_name
from tests.api_cluster import ApiCluster
from tests.helpers import free_port, metric, scrape, wait_until

pytestmark = pytest.mark.integration

NODE_IP = "192.168.0.11"


def service(name: str, ns: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                     **spec}}


def endpoint_slice(name: str, ns: str, service_name: str, rows: list[tuple[str, str, str]]) -> dict:
    """One ready endpoint per (pod, ip, node), as the EndpointSlice controller writes them."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": pod}} for pod, ip, node in rows]}


def ready_node(name: str, ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def test_rules_follow_the_cluster_and_curl_says_why_nothing_answered(tmp_path):
    proxy_metrics = free_port()
    c = ApiCluster(tmp_path, extra={
        "dns": {"component": "dns", "metrics_port": free_port()},
        "kube-proxy-node-1": {"component": "kube-proxy", "metrics_port": proxy_metrics,
                              "args": {"node": "node-1", "min_sync_s": 0.2}},
    }).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        node = s.run(s.api.create(ready_node("node-1", NODE_IP)))
        if not (node.get("status") or {}).get("conditions"):
            node["status"] = ready_node("node-1", NODE_IP)["status"]
            s.run(s.api.update_status(node))
        s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}))
        s.run(s.api.create(service("empty", "demo")))
        web = s.run(s.api.create(service("web", "demo", type="NodePort")))
        node_port = web["spec"]["ports"][0]["nodePort"]
        s.run(s.api.create(endpoint_slice("web-abc", "demo", "web", [("web-7d9f-abcde", "10.244.2.5", "node-2")])))

        web_chain = service_chain_name("demo/web:http", "TCP")

        def rules() -> str:
            out = c.cli("proxy", "rules", "node-1")
            return out.stdout if out.returncode == 0 else ""

        # The proxy lists Services and slices, learns node-1's InternalIP from its Node, and syncs.
        wait_until(lambda: web_chain in rules() and f"-d {NODE_IP} -j KUBE-NODEPORTS" in rules(), 30,
                   f"node-1's rules to hold {web_chain} and its NodePorts on {NODE_IP}\n{c.log_tail('kube-proxy-node-1')}")
        text = rules()
        assert text.startswith("# kube-proxy (iptables mode) rules of node node-1\n*filter\n"), text[:200]
        assert "-A KUBE-SEP-" in text and "-j DNAT --to-destination 10.244.2.5:8080" in text
        assert '"demo/empty:http has no endpoints"' in text and "-j REJECT" in text

        # A Service with no endpoints: refused at once. The node is the first Ready one; the name goes
        # through the cluster DNS first (which may still be syncing: then the exit status is 2).
        def curl_empty():
            out = c.cli("curl", "empty", "-n", "demo")
            return out if out.returncode == 1 else None
        out = wait_until(curl_empty, 30, "curl to be refused by node-1's rules")
        assert "Connection refused (demo/empty:http has no endpoints)" in out.stderr, out.stderr

        # An endpoint on a node that is not there: the proxy says so, as a SYN with no route would.
        out = c.cli("curl", "web.demo", "-v")
        assert out.returncode == 1, out
        assert f"* web.demo is demo/web: connecting to {web['spec']['clusterIP']}:80 through node node-1" in out.stdout
        assert "* DNAT: demo/web:http -> 10.244.2.5:8080" in out.stdout and web_chain in out.stdout
        assert "curl: Failed to connect to 10.244.2.5 port 8080: No route to host (node node-2 does not answer)" \
            in out.stderr, out.stderr
        # Through the NodePort on the node's address: KUBE-NODEPORTS, the EXT chain, then the same endpoint.
        out = c.cli("curl", f"{NODE_IP}:{node_port}", "--node", "node-1", "-v", "--count", "2")
        assert out.returncode == 1 and "KUBE-SERVICES -> KUBE-NODEPORTS -> KUBE-EXT-" in out.stdout, out.stdout
        assert "--- 2 connections: 0 answered by 0 pod(s), 2 failed" in out.stdout

        out = c.cli("curl", "10.96.0.99:80", "--node", "node-1")
        assert out.returncode == 1 and "(no service at 10.96.0.99:80/TCP; no pod has it)" in out.stderr, out.stderr
        out = c.cli("curl", "nosuch", "-n", "demo")
        assert out.returncode == 1 and "Could not resolve host: nosuch (NXDOMAIN)" in out.stderr, out.stderr
        out = c.cli("curl", "web.demo:grpc")
        assert out.returncode == 2 and "no port named 'grpc'" in out.stderr, out.stderr
        out = c.cli("curl", "web.demo", "--node", "node-9")
        assert out.returncode == 2 and "no kube-proxy answers for node 'node-9'" in out.stderr, out.stderr
        out = c.cli("proxy", "rules", "node-9")
        assert out.returncode == 2 and "node-9.proxy is not on the bus" in out.stderr, out.stderr
        out = c.cli("curl", "web_1")
        assert out.returncode == 2 and "neither an IP address nor a DNS name" in out.stderr, out.stderr

        # The slice goes: web's rules become a REJECT, and curl is refused.
        s.run(s.api.delete("endpointslices", "web-abc", "demo"))
        wait_until(lambda: '"demo/web:http has no endpoints"' in rules(), 30, "web's endpoints to be gone")
        out = c.cli("curl", "web", "-n", "demo")
        assert out.returncode == 1 and "Connection refused (demo/web:http has no endpoints)" in out.stderr

        scraped = scrape(proxy_metrics)
        assert metric(scraped, "kubesim_proxy_connections_total", action="REJECT") >= 2
        assert metric(scraped, "kubesim_proxy_connections_total", action="DNAT") == 3
        assert metric(scraped, "kubesim_proxy_forward_failures_total", reason="unreachable") == 3
        assert metric(scraped, "kubesim_proxy_sync_total") >= 2
        assert metric(scraped, "kubesim_proxy_service_ports") == 3, "default/kubernetes, demo/empty, demo/web"
        assert metric(scraped, "kubesim_proxy_endpoints") == 0
    finally:
        c.close()
