"""Worker nodes as real processes: pods run, get IPs and Ready, answer through kube-proxy, and write logs.

The control plane (store members, API server, scheduler, controller manager,
DNS) and two ``node`` processes (kubelet, container runtime and kube-proxy
each), all on 127.0.0.1. Nodes register themselves; the controller manager
gives them podCIDRs; pods of a Deployment are scheduled, started by the
kubelets and reported Running and Ready with IPs from their node's range.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.api_cluster import ApiCluster
from tests.helpers import kubesim_out, wait_until

pytestmark = pytest.mark.integration

FAST_LEASE = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("nodes"), extra={
        "controller-manager": {"component": "controller-manager", "args": FAST_LEASE},
        "scheduler": {"component": "scheduler", "args": FAST_LEASE},
        "dns": {"component": "dns"},
        "node-1": {"component": "node", "args": {"zone": "zone-a", "cloud_provider_external": False}},
        "node-2": {"component": "node", "args": {"zone": "zone-b", "cloud_provider_external": False}},
    }).start_all()
    try:
        c.admin = c.session()
        c.wait_ready(c.admin)
        yield c
    finally:
        c.close()


def ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def test_nodes_register_ready_with_pod_cidrs_and_leases(cluster):
    s = cluster.admin

    def nodes() -> list[dict]:
        return s.run(s.api.list("nodes"))["items"]

    wait_until(lambda: len(nodes()) == 2 and all(ready(n) and n["spec"].get("podCIDR") for n in nodes()), 60,
               "two Ready nodes with podCIDRs", step=lambda: s.poll(0.1))
    by_name = {n["metadata"]["name"]: n for n in nodes()}
    assert by_name["node-1"]["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"
    assert by_name["node-2"]["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    lease = s.run(s.api.get("leases", "node-1", "kube-node-lease"))
    assert lease["spec"]["holderIdentity"] == "node-1"


def test_a_deployment_runs_ready_pods_that_answer_through_kube_proxy_and_write_logs(cluster):
    s = cluster.admin
    wait_until(lambda: all(ready(n) and n["spec"].get("podCIDR") for n in s.run(s.api.list("nodes"))["items"]), 60,
               "Ready nodes", step=lambda: s.poll(0.1))
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
    s.run(s.api.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                     "name": "server", "image": "kubesim/server", "ports": [{"name": "http", "containerPort": 8080}],
                     "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}))
    s.run(s.api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}))

    def pods() -> list[dict]:
        return s.run(s.api.list("pods", "shop", label_selector="app=web"))["items"]

    wait_until(lambda: len(pods()) == 4 and all(p["status"].get("phase") == "Running" and ready(p) for p in pods()),
               90, "four Running and Ready pods", step=lambda: s.poll(0.1))
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
             for n in s.run(s.api.list("nodes"))["items"]}
    placed = [(p["spec"]["nodeName"], p["status"]["podIP"]) for p in pods()]
    assert {node for node, _ in placed} == {"node-1", "node-2"}, placed
    assert all(ipaddress.ip_address(ip) in cidrs[node] for node, ip in placed), (placed, cidrs)
    assert len({ip for _, ip in placed}) == 4, "pod IPs are unique"

    # kubesim curl: through the DNS and node-1's kube-proxy; the answers come from more than one pod.
    def answered_by() -> set[str]:
        out = cluster.cli("curl", "web", "-n", "shop", "--node", "node-1", "--count", "20")
        return {p["metadata"]["name"] for p in pods() if p["metadata"]["name"] in out.stdout} if out.returncode == 0 \
            else set()

    wait_until(lambda: len(answered_by()) >= 2, 60, "answers from at least two pods", step=lambda: s.poll(0.1))

    # kubesim logs: the API server asks the pod's kubelet, which reads the runtime's log.
    name = pods()[0]["metadata"]["name"]
    out = cluster.cli("logs", name, "-n", "shop")
    assert out.returncode == 0 and out.stdout.strip(), (out.stdout, out.stderr)
    out = cluster.cli("logs", name, "-n", "shop", "--previous")
    assert out.returncode == 1 and 'previous terminated container "server"' in out.stderr, out.stderr


def test_a_crashing_pod_backs_off_and_a_job_completes(cluster):
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher", "namespace": "default"},
                        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                 "command": ["sh", "-c", "echo starting; exit 3"]}]}}))
    s.run(s.api.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
                        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                            "name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "echo done"]}]}}}}))

    def crasher() -> dict:
        return s.run(s.api.get("pods", "crasher", "default"))

    def backing_off() -> bool:
        statuses = crasher()["status"].get("containerStatuses") or []
        return bool(statuses) and statuses[0].get("restartCount", 0) >= 1 and \
            ((statuses[0]["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff")

    wait_until(backing_off, 90, "CrashLoopBackOff after a restart", step=lambda: s.poll(0.1))
    last = crasher()["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    # Repeated events are counted on one Event (as client-go's recorder does), not written again.
    mine = [e for e in s.run(s.api.list("events", "default"))["items"]
            if e["involvedObject"].get("name") == "crasher"]
    for reason in ("Created", "Started"):
        same = [e for e in mine if e["reason"] == reason]
        assert len(same) == 1 and same[0]["count"] >= 2, (reason, [(e["message"], e["count"]) for e in same])
    wait_until(lambda: any(c.get("type") == "Complete" and c.get("status") == "True"
                           for c in (s.run(s.api.get("jobs", "once", "default")).get("status") or {})
                           .get("conditions") or []), 90, "the Job to complete", step=lambda: s.poll(0.1))


def test_kubesim_trace_follows_a_new_pod_through_the_components_in_causal_order(cluster):
    """Created (API server, store), bound (scheduler), started (kubelet -> runtime), reported (status write)."""
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "traced", "namespace": "default"},
                        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}))
    wait_until(lambda: (s.run(s.api.get("pods", "traced", "default")).get("status") or {}).get("phase") == "Running",
               60, "the traced pod Running", step=lambda: s.poll(0.1))
    out = kubesim_out("--config", str(cluster.config), "trace", "pod/traced", "-n", "default", timeout_s=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.startswith("+")]

    def first(pred, after: int = -1) -> int:
        found = [i for i, r in enumerate(rows) if pred(r) and i > after]
        assert found, f"no such step in:\n{out.stdout}"
        return found[0]

    created = first(lambda r: r[1] == "apiserver" and r[3] == "<-" and r[5:7] == ["create", "pods"])
    stored = first(lambda r: r[1].startswith("store-") and r[3] == "<-" and r[5] == "txn")
    bound = first(lambda r: r[1] == "scheduler" and r[3] == "->" and r[5:7] == ["create", "pods/binding"])
    started = first(lambda r: r[2].endswith(".runtime") and r[3] == "<-" and r[4].endswith(".kubelet")
                    and r[5:7] == ["CRI", "StartContainer"])
    # The kubelet writes the status as the pod goes (ContainerCreating first): one write comes after the start.
    first(lambda r: r[2].endswith(".api") and r[5:7] == ["update", "pods/status"] and r[3] == "->", after=started)
    assert created < stored < bound < started, out.stdout
