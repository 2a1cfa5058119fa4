"""The cloud controller manager as a real process: load balancer IPs, provider IDs, terminated instances."""

from __future__ import annotations

import pytest

from actors.apiserver.client import ApiError
from tests.api_cluster import ApiCluster
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def test_load_balancers_provider_ids_and_terminated_instances(tmp_path):
    c = ApiCluster(tmp_path, extra={"cloud-controller-manager": {
        "component": "cloud-controller-manager",
        "args": {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5,
                 "load_balancer_pool": "172.18.255.0/29"}}}).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        s.run(s.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-9"},
                            "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized",
                                                 "value": "true", "effect": "NoSchedule"}]}}))
        wait_until(lambda: s.run(s.api.get("nodes", "node-9"))["spec"].get("providerID") == "kubesim://test/node-9",
                   20, "a provider ID", step=lambda: s.poll(0.05))
        assert not s.run(s.api.get("nodes", "node-9"))["spec"].get("taints")
        wait_until(lambda: [a["type"] for a in s.run(s.api.get("nodes", "node-9"))["status"].get("addresses") or []]
                   == ["InternalIP", "Hostname"], 20, "the node's addresses", step=lambda: s.poll(0.05))

        for name in ("lb-1", "lb-2"):
            s.run(s.api.create({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": name, "namespace": "default"},
                                "spec": {"type": "LoadBalancer", "selector": {"app": name},
                                         "ports": [{"port": 80}]}}))

        def ingress(name: str) -> str:
            svc = s.run(s.api.get("services", name, "default"))
            items = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            return items[0]["ip"] if items else ""

        wait_until(lambda: ingress("lb-1") and ingress("lb-2"), 20, "ingress IPs", step=lambda: s.poll(0.05))
        assert ingress("lb-1") != ingress("lb-2")
        assert all(ip.startswith("172.18.255.") for ip in (ingress("lb-1"), ingress("lb-2")))
        out = c.cli("get", "svc", "lb-1")
        assert ingress("lb-1") in out.stdout, out.stdout

        out = c.cli("cloud", "terminate", "node-9")
        assert out.returncode == 0 and "terminated" in out.stdout, out.stderr

        def node_gone() -> bool:
            try:
                s.run(s.api.get("nodes", "node-9"))
                return False
            except ApiError as exc:
                return exc.code == 404

        wait_until(node_gone, 20, "the node to be deleted", step=lambda: s.poll(0.05))
    finally:
        c.close()
