"""The DNS add-on as a real process: ``kubesim dig`` answers from Services and EndpointSlices, and follows changes."""

from __future__ import annotations

import pytest

from tests.api_cluster import ApiCluster
from tests.helpers import free_port, metric, scrape, wait_until

pytestmark = pytest.mark.integration


def service(name: str, ns: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}


def endpoint_slice(name: str, ns: str, service_name: str, rows: list[tuple[str, str]]) -> dict:
    """A slice with one ready endpoint per (ip, hostname) row, as the EndpointSlice controller writes them."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "hostname": host, "conditions": {"ready": True}} for ip, host in rows]}


def test_dig_resolves_services_headless_pods_and_srv_and_follows_deletions(tmp_path):
    metrics_port = free_port()
    c = ApiCluster(tmp_path, extra={"dns": {"component": "dns", "metrics_port": metrics_port}}).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}))
        web = s.run(s.api.create(service("web", "demo", selector={"app": "web"})))
        s.run(s.api.create(service("db", "demo", clusterIP="None", selector={"app": "db"})))
        s.run(s.api.create(endpoint_slice("db-abc", "demo", "db", [("10.244.1.5", "db-0"), ("10.244.2.7", "db-1")])))

        def dig(*args: str):
            return c.cli("dig", *args)

        # The DNS server comes up after the API server: wait until it has synced and sees the Service.
        wait_until(lambda: dig("web", "-n", "demo").returncode == 0, 30, "the cluster DNS to answer for web")
        out = dig("web", "-n", "demo")
        assert "status: NOERROR" in out.stdout
        assert f"web.demo.svc.cluster.local.\t30\tIN\tA\t{web['spec']['clusterIP']}" in out.stdout, out.stdout
        # From another namespace the short name is not found, the qualified one is.
        assert dig("web", "-n", "default").returncode == 1
        assert dig("web.demo", "-n", "default").returncode == 0
        # A headless Service answers with its ready endpoints; each has a name of its own.
        out = dig("db.demo.svc.cluster.local")
        assert {"10.244.1.5", "10.244.2.7"} <= set(out.stdout.split()), out.stdout
        assert "10.244.2.7" in dig("db-1.db", "-n", "demo").stdout
        # A named port has an SRV record.
        out = dig("_http._tcp.web.demo.svc.cluster.local", "SRV")
        assert out.returncode == 0 and "web.demo.svc.cluster.local." in out.stdout, out.stdout

        nx = dig("nosuch", "-n", "demo")
        assert nx.returncode == 1 and "status: NXDOMAIN" in nx.stdout
        bad = dig("web", "MX", "-n", "demo")
        assert bad.returncode == 2 and "unsupported query type 'MX'" in bad.stderr, bad.stderr

        s.run(s.api.delete("services", "web", "demo"))
        wait_until(lambda: "NXDOMAIN" in dig("web", "-n", "demo").stdout, 30, "web to be gone from the DNS")
        assert metric(scrape(metrics_port), "kubesim_dns_responses_total", rcode="NXDOMAIN") >= 2
        assert metric(scrape(metrics_port), "kubesim_dns_responses_total", rcode="FORMERR") == 1
    finally:
        c.close()
