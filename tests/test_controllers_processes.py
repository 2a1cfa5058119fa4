"""The controller manager as a real process, with the scheduler, against a real control plane."""

from __future__ import annotations

import pytest

from actors.apiserver.client import ApiError
from tests.api_cluster import ApiCluster
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

FAST_LEASE = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}


def gone(s, resource: str, name: str, ns: str = "") -> bool:
    try:
        s.run(s.api.get(resource, name, ns))
        return False
    except ApiError as exc:
        return exc.code == 404


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("controllers"), extra={
        "controller-manager": {"component": "controller-manager", "args": FAST_LEASE},
        "scheduler": {"component": "scheduler", "args": FAST_LEASE},
    }).start_all()
    try:
        c.admin = c.session()
        c.wait_ready(c.admin)
        yield c
    finally:
        c.close()


def test_a_deleted_namespace_is_emptied_and_then_goes(cluster):
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}))
    s.run(s.api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "doomed"}}))
    s.run(s.api.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "doomed"}}))
    s.run(s.api.delete("namespaces", "doomed"))
    wait_until(lambda: gone(s, "namespaces", "doomed"), 30, "the namespace to be deleted", step=lambda: s.poll(0.05))
    assert gone(s, "configmaps", "c", "doomed") and gone(s, "secrets", "s", "doomed")


def test_a_pod_whose_owner_does_not_exist_is_collected(cluster):
    s = cluster.admin
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "orphaned", "namespace": "default",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "never-was",
                             "uid": "00000000-0000-0000-0000-000000000000", "controller": True}]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    s.run(s.api.create(pod))
    wait_until(lambda: gone(s, "pods", "orphaned", "default"), 30, "the orphan to be collected",
               step=lambda: s.poll(0.05))


def test_a_replicaset_gets_its_pods_scheduled_and_deleting_it_collects_them(cluster):
    s = cluster.admin
    for n in ("node-1", "node-2"):
        s.run(s.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx",
                                                         "resources": {"requests": {"cpu": "1"}}}]}}}}
    s.run(s.api.create(rs))

    def pods() -> list[dict]:
        return s.run(s.api.list("pods", "default", label_selector="app=web"))["items"]

    wait_until(lambda: len(pods()) == 3 and all(p["spec"].get("nodeName") for p in pods()), 30,
               "3 pods created and bound", step=lambda: s.poll(0.05))
    assert all(p["metadata"]["name"].startswith("web-") for p in pods())
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods())
    # Scale down to 1: two pods go (deletion with grace: bound pods wait for their kubelet's final delete,
    # so they show a deletionTimestamp).
    s.run(s.api.patch("replicasets", "web", {"spec": {"replicas": 1}}, "default", patch_type="merge"))
    wait_until(lambda: sum(1 for p in pods() if not p["metadata"].get("deletionTimestamp")) == 1, 30,
               "scaled down to 1", step=lambda: s.poll(0.05))
    # Deleting the ReplicaSet (background): the garbage collector deletes its remaining pod.
    s.run(s.api.delete("replicasets", "web", "default"))
    wait_until(lambda: all(p["metadata"].get("deletionTimestamp") for p in pods()), 30,
               "its pods collected", step=lambda: s.poll(0.05))


def test_a_deployment_rolls_out_to_the_end_and_its_service_follows_the_new_pods(cluster):
    s = cluster.admin
    for n in ("node-a", "node-b"):
        try:
            s.run(s.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                                "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                                           "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"}}}))
        except ApiError as exc:
            assert exc.reason == "AlreadyExists"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "default"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                                          "ports": [{"name": "http", "containerPort": 80}]}]}}}}
    s.run(s.api.create(dep))
    s.run(s.api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "default"},
                        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]}}))

    def replicasets() -> list[dict]:
        return s.run(s.api.list("replicasets", "default", label_selector="app=api"))["items"]

    wait_until(lambda: len(replicasets()) == 1 and replicasets()[0]["spec"]["replicas"] == 2, 30,
               "the deployment's replica set", step=lambda: s.poll(0.05))
    rs = replicasets()[0]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    wait_until(lambda: len(s.run(s.api.list("pods", "default", label_selector="app=api"))["items"]) == 2, 30,
               "two pods", step=lambda: s.poll(0.05))
    # A new image: a second replica set, revision 2. With no kubelet yet, the test plays the kubelets: every
    # pod bound to a node is reported Running and Ready with an IP, so the rollout can go on to the end.
    s.run(s.api.patch("deployments", "api", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:1.28", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}, "default"))
    wait_until(lambda: len(replicasets()) == 2, 30, "the new replica set", step=lambda: s.poll(0.05))
    revisions = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in replicasets())
    assert revisions == ["1", "2"]

    def play_kubelets() -> None:
        for pod in s.run(s.api.list("pods", "default", label_selector="app=api"))["items"]:
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
            if pod["metadata"].get("deletionTimestamp"):
                finish_deleting(s, pod)
            elif pod["spec"].get("nodeName") and not ready:
                mark_running_and_ready(s, pod)
        s.poll(0.05)

    def rolled_out() -> bool:
        d = s.run(s.api.get("deployments", "api", "default"))
        status = d.get("status") or {}
        old = [r for r in replicasets() if r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"]
        progressing = next((c for c in status.get("conditions") or [] if c["type"] == "Progressing"), {})
        return (status.get("updatedReplicas") == 2 and status.get("availableReplicas") == 2
                and status.get("observedGeneration") == d["metadata"]["generation"]
                and all(r["spec"]["replicas"] == 0 for r in old)
                and progressing.get("reason") == "NewReplicaSetAvailable")  # complete: the old pods are gone too

    wait_until(rolled_out, 60, "the rollout to finish (old replica set at 0, two new pods available)",
               step=play_kubelets)
    conditions = {c["type"]: c for c in s.run(s.api.get("deployments", "api", "default"))["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"

    def slice_endpoints() -> tuple[int, int, set[int]]:
        """All endpoints, the ready ones, and the ports of the slices that have endpoints."""
        items = s.run(s.api.list("endpointslices", "default", label_selector="kubernetes.io/service-name=api"))["items"]
        endpoints = [e for item in items for e in item.get("endpoints") or []]
        ports = {p["port"] for item in items if item.get("endpoints") for p in item.get("ports") or []}
        return len(endpoints), sum(1 for e in endpoints if e["conditions"].get("ready")), ports

    # The old pods stay listed (terminating, not ready) until their kubelet finishes deleting them; then the
    # service's targetPort "http" resolves through the new pods' named port only: 8080, not the old 80.
    wait_until(lambda: slice_endpoints() == (2, 2, {8080}), 30,
               "the two new pods as the slices' only endpoints, ready, on port 8080", step=play_kubelets)


def finish_deleting(s, pod: dict) -> None:
    """What a kubelet does once a deleted pod's containers have stopped: delete it for good (grace 0)."""
    try:
        s.run(s.api.delete("pods", pod["metadata"]["name"], "default", grace_period_s=0))
    except ApiError as exc:
        if exc.code != 404:
            raise


def mark_running_and_ready(s, pod: dict) -> None:
    """What a kubelet reports for a started pod: Running, an IP, every condition True."""
    index = int(pod["metadata"]["name"].rsplit("-", 1)[-1], 36) % 250 + 2
    now = "2026-01-01T00:00:00Z"
    pod["status"] = dict(pod.get("status") or {}, phase="Running", podIP=f"10.244.9.{index}",
                         podIPs=[{"ip": f"10.244.9.{index}"}], hostIP="192.0.2.1", startTime=now, conditions=[
                             {"type": t, "status": "True", "lastTransitionTime": now}
                             for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")])
    try:
        s.run(s.api.update_status(pod))
    except ApiError as exc:
        if exc.code not in (404, 409):  # deleted by the rollout, or changed meanwhile: the next pass retries
            raise


def test_rollout_history_and_undo_through_the_cli(cluster):
    s = cluster.admin
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "roll", "namespace": "default"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "roll"}},
                    "template": {"metadata": {"labels": {"app": "roll"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}}}
    s.run(s.api.create(dep))

    def revisions() -> list[str]:
        rss = s.run(s.api.list("replicasets", "default", label_selector="app=roll"))["items"]
        return sorted(r["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "") for r in rss)

    wait_until(lambda: revisions() == ["1"], 30, "revision 1", step=lambda: s.poll(0.05))
    s.run(s.api.patch("deployments", "roll", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:1.27"}]}}}}, "default"))
    wait_until(lambda: revisions() == ["1", "2"], 30, "revision 2", step=lambda: s.poll(0.05))
    out = cluster.cli("rollout", "history", "deployment/roll")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["deployment.apps/roll ", "REVISION  CHANGE-CAUSE", "1         <none>",
                                       "2         <none>"]
    out = cluster.cli("rollout", "undo", "deployment/roll")
    assert (out.returncode, out.stdout) == (0, "deployment.apps/roll rolled back\n"), out.stderr
    image = s.run(s.api.get("deployments", "roll", "default"))["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.26"
    wait_until(lambda: revisions() == ["2", "3"], 30, "the old replica set is revision 3", step=lambda: s.poll(0.05))
    out = cluster.cli("rollout", "status", "deployment/roll", "--timeout", "1")
    assert out.returncode == 1 and "Waiting for deployment" in out.stdout  # no kubelets: never available


def test_a_claim_is_provisioned_and_bound(cluster):
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                        "metadata": {"name": "fast"}, "provisioner": "kubesim.io/hostpath"}))
    s.run(s.api.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data", "namespace": "default"},
                        "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}}}}))

    def claim() -> dict:
        return s.run(s.api.get("persistentvolumeclaims", "data", "default"))

    wait_until(lambda: (claim().get("status") or {}).get("phase") == "Bound", 30, "the claim bound",
               step=lambda: s.poll(0.05))
    pv = s.run(s.api.get("persistentvolumes", claim()["spec"]["volumeName"]))
    assert pv["spec"]["claimRef"]["name"] == "data" and pv["status"]["phase"] == "Bound"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


def test_a_node_gets_its_pod_cidr(cluster):
    """Node IPAM gives a registering node its pod CIDR at once (the lifecycle controller's 50 s grace period
    is covered by its unit tests with a manual clock)."""
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ipam-1"}}))
    wait_until(lambda: s.run(s.api.get("nodes", "ipam-1")).get("spec", {}).get("podCIDR", "").startswith("10.244."), 30,
               "a pod CIDR", step=lambda: s.poll(0.05))
    node = s.run(s.api.get("nodes", "ipam-1"))
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]
    assert node["spec"]["podCIDR"].endswith("/24")


def test_a_daemonset_puts_one_pod_on_each_node_and_a_statefulset_names_its_pods(cluster):
    s = cluster.admin
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    s.run(s.api.create(ds))
    nodes = {n["metadata"]["name"] for n in s.run(s.api.list("nodes"))["items"]}

    def agent_nodes() -> list[str]:
        """The node each agent pod is pinned to (matchFields metadata.name, as DaemonSets do since 1.12)."""
        pods = s.run(s.api.list("pods", "default", label_selector="app=agent"))["items"]
        pinned = []
        for p in pods:
            terms = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            pinned += [f["values"][0] for t in terms["nodeSelectorTerms"] for f in t.get("matchFields", [])]
        return sorted(pinned)

    wait_until(lambda: agent_nodes() == sorted(nodes), 30, "one agent pod pinned to every node",
               step=lambda: s.poll(0.05))
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
           "spec": {"replicas": 2, "serviceName": "db", "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "c", "image": "postgres"}]}}}}
    s.run(s.api.create(sts))
    wait_until(lambda: sorted(p["metadata"]["name"] for p in s.run(s.api.list(
        "pods", "default", label_selector="app=db"))["items"]) == ["db-0", "db-1"], 30, "db-0 and db-1",
        step=lambda: s.poll(0.05))


def test_a_job_creates_its_pods_and_a_cronjob_is_accepted(cluster):
    s = cluster.admin
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default"},
           "spec": {"completions": 2, "parallelism": 2, "template": {"spec": {
               "restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}}}
    s.run(s.api.create(job))
    wait_until(lambda: len(s.run(s.api.list("pods", "default", label_selector="job-name=pi"))["items"]) == 2, 30,
               "two job pods", step=lambda: s.poll(0.05))
    s.run(s.api.create({"apiVersion": "batch/v1", "kind": "CronJob",
                        "metadata": {"name": "tick", "namespace": "default"},
                        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}))
