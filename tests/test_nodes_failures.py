"""Worker nodes failing, as real processes: a node killed outright, and a kubelet restarted alone.

The control plane (store members, API server, scheduler, controller manager)
and three ``node`` processes (kubelet, container runtime and kube-proxy each,
in three zones), all on 127.0.0.1, at ``cluster.time_scale`` 20 so that
Kubernetes' timers pass quickly in real time: the node monitor's 50 s grace
period takes 2.5 s, the 300 s ``tolerationSeconds`` that the API server's
DefaultTolerationSeconds admission gives every pod take 15 s.

- kill -9 of a node process: its Node turns Unknown with the unreachable
  taints, its pods are marked not ready, then evicted (deleted by the taint
  manager once their toleration runs out — and left Terminating, since no
  kubelet is there to confirm) and replaced on the surviving nodes.
- ``kubesim node restart-kubelet NODE``: the kubelet alone restarts in its
  node's process; the runtime's containers keep running (same container,
  restart count, IP) and the fresh kubelet adopts them and carries on.

Timings are asserted only as generous bounds.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.api_cluster import ApiCluster
from tests.helpers import (
    condition,
    container_identity,
    ready,
    running_and_ready,
    wait_until,
)

pytestmark = pytest.mark.integration

TIME_SCALE = 20.0
"""Cluster seconds per real second."""
GRACE_S = 50.0
"""kube-controller-manager's --node-monitor-grace-period (cluster seconds)."""
TOLERATION_S = 300.0
"""DefaultTolerationSeconds: how long a pod tolerates its node being unreachable (cluster seconds)."""
NODES = ("node-1", "node-2", "node-3")
UNREACHABLE = "node.kubernetes.io/unreachable"
# Leader election as test_nodes_processes has it in real seconds (3 s lease, renewed within 2 s, every 0.5 s),
# written in cluster seconds.
LEASE = {"lease_duration_s": 3.0 * TIME_SCALE, "renew_deadline_s": 2.0 * TIME_SCALE, "retry_period_s": 0.5 * TIME_SCALE}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = {name: {"component": "node", "args": {"zone": f"zone-{zone}", "cloud_provider_external": False}}
             for name, zone in zip(NODES, "abc")}
    c = ApiCluster(tmp_path_factory.mktemp("failures"), time_scale=TIME_SCALE,
                   # A bus request's deadline is in cluster seconds too: keep it 2 s of real time.
                   bus={"request_timeout_s": 2.0 * TIME_SCALE},
                   extra={"controller-manager": {"component": "controller-manager", "args": LEASE},
                          "scheduler": {"component": "scheduler", "args": LEASE}, **nodes}).start_all()
    try:
        # On the cluster's clock, as the CLI is; its API deadlines then in cluster seconds: 1 s and 30 s real.
        c.admin = c.session(timeout_s=1.0 * TIME_SCALE, deadline_s=30.0 * TIME_SCALE)
        c.wait_ready(c.admin)
        yield c
    finally:
        c.close()


def wait_nodes_ready(cluster: ApiCluster, names=NODES) -> None:
    s = cluster.admin

    def all_ready() -> bool:
        nodes = {n["metadata"]["name"]: n for n in s.run(s.api.list("nodes"))["items"]}
        return all(n in nodes and ready(nodes[n]) and nodes[n]["spec"].get("podCIDR") for n in names)

    wait_until(all_ready, 60, f"{', '.join(names)} Ready with podCIDRs", step=lambda: s.poll(0.1))


def test_a_killed_node_goes_unknown_and_its_pods_are_evicted_and_replaced(cluster):
    s = cluster.admin
    wait_nodes_ready(cluster)
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "evict"}}))
    s.run(s.api.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "evict"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                    "whenUnsatisfiable": "ScheduleAnyway",
                                                    "labelSelector": {"matchLabels": {"app": "web"}}}],
                     "containers": [{"name": "server", "image": "kubesim/server",
                                     "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}))

    def pods() -> list[dict]:
        return s.run(s.api.list("pods", "evict", label_selector="app=web"))["items"]

    def node(name: str) -> dict:
        return s.run(s.api.get("nodes", name))

    wait_until(lambda: len(pods()) == 6 and all(running_and_ready(p) for p in pods()), 60,
               "six Running and Ready pods", step=lambda: s.poll(0.1))
    placed: dict[str, list[str]] = {}
    for p in pods():
        placed.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    assert len(placed) >= 2, placed
    # node-1 stays up (the kubelet restart test uses it); the victim is the other node with the most pods.
    victim = max((n for n in placed if n != "node-1"), key=lambda n: len(placed[n]))
    doomed = set(placed[victim])
    tolerations = s.run(s.api.get("pods", min(doomed), "evict"))["spec"]["tolerations"]
    assert {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300} in tolerations, tolerations

    killed = time.monotonic()
    cluster.kill(victim)

    # 1. The node monitor's grace period passes with no lease renewal: Ready Unknown, tainted unreachable.
    def unreachable() -> bool:
        n = node(victim)
        cond = condition(n, "Ready")
        taints = {(t["key"], t["effect"]) for t in n["spec"].get("taints") or []}
        return cond.get("status") == "Unknown" and cond.get("reason") == "NodeStatusUnknown" and \
            {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")} <= taints

    wait_until(unreachable, 30, f"{victim} Ready=Unknown with the unreachable taints", step=lambda: s.poll(0.05))
    went_unknown = time.monotonic()
    # The controller waits the grace period from the last renewal it saw (renewals come every 10 s).
    assert (GRACE_S - 10) / TIME_SCALE * 0.5 <= went_unknown - killed <= 20, went_unknown - killed
    assert condition(node(victim), "Ready")["message"] == "Kubelet stopped posting node status."

    # 2. Its pods are marked not ready, and still tolerate the taint: nobody deletes them yet.
    def on_victim() -> dict[str, dict]:
        return {p["metadata"]["name"]: p for p in pods() if p["metadata"]["name"] in doomed}

    wait_until(lambda: all(condition(p, "Ready").get("status") == "False" for p in on_victim().values()), 20,
               f"the pods on {victim} marked not ready", step=lambda: s.poll(0.05))
    assert set(on_victim()) == doomed
    assert not any(p["metadata"].get("deletionTimestamp") for p in on_victim().values()), \
        "evicted before the toleration ran out"

    # 3. The toleration runs out: the taint manager deletes them. No kubelet confirms, so they stay Terminating.
    wait_until(lambda: all(p["metadata"].get("deletionTimestamp") for p in on_victim().values()), 60,
               f"the pods on {victim} evicted", step=lambda: s.poll(0.1))
    evicted = time.monotonic()
    assert TOLERATION_S / TIME_SCALE * 0.5 <= evicted - went_unknown <= 45, evicted - went_unknown
    for p in on_victim().values():
        assert condition(p, "DisruptionTarget").get("reason") == "DeletionByTaintManager", p["status"]

    # 4. The ReplicaSet replaces them on the surviving nodes: the Deployment is back to six Ready pods.
    def recovered() -> bool:
        live = [p for p in pods() if not p["metadata"].get("deletionTimestamp")]
        status = s.run(s.api.get("deployments", "web", "evict")).get("status") or {}
        return len(live) == 6 and all(running_and_ready(p) and p["spec"]["nodeName"] != victim for p in live) and \
            status.get("readyReplicas") == 6 and status.get("availableReplicas") == 6

    wait_until(recovered, 45, "six Ready pods on the surviving nodes", step=lambda: s.poll(0.1))
    assert set(on_victim()) == doomed, "the evicted pods stay Terminating: no kubelet confirms their end"
    events = s.run(s.api.list("events", "evict"))["items"]
    assert {e["involvedObject"]["name"] for e in events if e["reason"] == "TaintManagerEviction"} >= doomed


def test_restarting_only_the_kubelet_keeps_its_containers_running_and_it_resyncs(cluster):
    s = cluster.admin
    wait_nodes_ready(cluster, ("node-1",))
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "resync"}}))

    def make(name: str) -> None:
        s.run(s.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "resync"},
                            "spec": {"nodeSelector": {"kubernetes.io/hostname": "node-1"},
                                     "containers": [{"name": "server", "image": "kubesim/server",
                                                     "ports": [{"containerPort": 8080}]}]}}))

    def pod(name: str) -> dict | None:
        items = s.run(s.api.list("pods", "resync"))["items"]
        return next((p for p in items if p["metadata"]["name"] == name), None)

    for name in ("a", "b"):
        make(name)
    wait_until(lambda: all((p := pod(n)) and running_and_ready(p) for n in ("a", "b")), 60,
               "two Running and Ready pods on node-1", step=lambda: s.poll(0.1))
    before = {n: container_identity(pod(n)) for n in ("a", "b")}
    assert all(restarts == 0 and ip and running for _, restarts, ip, running in before.values()), before

    log = cluster.tmp / "node-1.log"
    seen = log.stat().st_size

    def logged_since() -> str:
        with log.open("rb") as f:
            f.seek(seen)
            return f.read().decode(errors="replace")

    out = cluster.cli("node", "restart-kubelet", "node-1")
    assert out.returncode == 0, (out.stdout, out.stderr)
    answer = json.loads(out.stdout)
    assert answer["node"] == "node-1" and answer["kubelet"] == "restarted" and answer["pods"] >= 2, answer
    # The fresh kubelet registers again (its Node exists: it posts a status) and lists its pods.
    wait_until(lambda: "node registered" in logged_since(), 20, "the fresh kubelet to register",
               step=lambda: s.poll(0.1))
    assert "kubelet restarting" in logged_since()

    # It re-syncs: for a while (a full resync period and more of cluster time) the same containers keep running.
    settle_until = time.monotonic() + 90 / TIME_SCALE
    while time.monotonic() < settle_until:
        s.poll(0.1)
        for n in ("a", "b"):
            p = pod(n)
            assert p is not None and running_and_ready(p), p
            assert container_identity(p) == before[n], (n, container_identity(p), before[n])

    # And it keeps working: a new pod on node-1 starts; deleting a pod completes (the kubelet confirms it).
    make("c")
    wait_until(lambda: (p := pod("c")) and running_and_ready(p), 30, "a new pod Running on node-1",
               step=lambda: s.poll(0.1))
    assert pod("c")["status"]["podIP"] not in {ip for _, _, ip, _ in before.values()}
    s.run(s.api.delete("pods", "a", "resync"))
    wait_until(lambda: pod("a") is None, 30, "the deleted pod gone", step=lambda: s.poll(0.1))
    assert container_identity(pod("b")) == before["b"]
    assert ready(s.run(s.api.get("nodes", "node-1"))), "its lease and status go on"
