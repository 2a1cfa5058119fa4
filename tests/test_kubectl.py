"""Real ``kubectl`` (and the official Python client) against a running kubesim, over its HTTPS front.

One default cluster (config/cluster.yaml, free ports, time_scale 10) runs for
the module; ``kubesim kubeconfig`` writes the admin's kubeconfig; every
command is the real ``kubectl`` binary, and every assertion is on what it
printed or on the cluster's state it changed. The tests run in file order and
build on each other (what ``apply`` made, ``rollout`` changes), as a person's
session at a terminal would. Each command and its output is appended to
``transcript.txt`` in the module's temporary directory.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import (
    ROOT,
    default_cluster,
    kubesim,
    kubesim_out,
    stop_all,
    wait_until,
)

pytestmark = pytest.mark.integration

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
NS = "shop"

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubesim.io/behavior: 'serve logEvery=1s'}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{containerPort: 80}]
          resources: {requests: {cpu: 50m, memory: 32Mi}}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"""

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"


class Kubectl:
    """Runs the real kubectl with the cluster's kubeconfig and keeps a transcript."""

    def __init__(self, kubeconfig: Path, cache: Path, transcript: Path) -> None:
        self.env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(cache.parent))
        self.cache = cache
        self.transcript = transcript

    def argv(self, *args: str) -> list[str]:
        return [KUBECTL, "--cache-dir", str(self.cache), *args]

    def run(self, *args: str, ok: bool = True, stdin: str | None = None, timeout_s: float = 60,
            env: dict | None = None, record: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, input=stdin, timeout=timeout_s,
                              env=env or self.env)
        if record:  # polls for a condition are left out of the transcript
            with self.transcript.open("a") as f:
                f.write(f"$ kubectl {' '.join(args)}\n{proc.stdout}{proc.stderr}")
                if proc.returncode:
                    f.write(f"(exit {proc.returncode})\n")
                f.write("\n")
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str, record: bool = True) -> dict:
        return json.loads(self.out(*args, "-o", "json", record=record))

    def poll(self, *args: str) -> str:
        """kubectl's output, not recorded, "" if it failed (for wait_until)."""
        proc = self.run(*args, ok=False, record=False, timeout_s=20)
        return proc.stdout if proc.returncode == 0 else ""

    def note(self, args: tuple[str, ...], printed: str) -> None:
        """Put a streaming command and what it printed meanwhile in the transcript."""
        with self.transcript.open("a") as f:
            f.write(f"$ kubectl {' '.join(args)}   # streaming; what it printed before it was stopped:\n{printed}\n")

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)


def read_until(proc: subprocess.Popen, predicate, timeout_s: float) -> str:
    """What a streaming kubectl printed, up to the first line ``predicate`` holds for (or fail at the deadline).

    Reads the pipe's fd directly: a buffered reader would keep lines that arrived together out of
    ``select``'s sight. Lines after the matching one are kept for the next call.
    """
    fd = proc.stdout.fileno()
    pending = getattr(proc, "_pending", b"")
    seen = ""
    deadline = time.monotonic() + timeout_s
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            text = line.decode(errors="replace") + "\n"
            seen += text
            if predicate(text):
                proc._pending = pending
                return seen
        if time.monotonic() >= deadline:
            break
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
    raise AssertionError(f"kubectl printed no such line in {timeout_s} s; it printed:\n{seen}")


@pytest.fixture(scope="module")
def k(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kubectl")
    config, names = default_cluster(tmp, time_scale=10)
    logs = tmp / "logs"
    logs.mkdir()
    procs = [kubesim("--config", str(config), "run", name, stdout=open(logs / f"{name}.log", "w"),
                     stderr=subprocess.STDOUT) for name in names]
    try:
        made = kubesim_out("--config", str(config), "kubeconfig", "-o", str(tmp / "kubeconfig"))
        assert made.returncode == 0, made.stderr
        kc = Kubectl(tmp / "kubeconfig", tmp / "cache", tmp / "transcript.txt")

        def nodes_ready() -> bool:
            try:
                out = kc.run("get", "nodes", ok=False, timeout_s=10, record=False)
            except subprocess.TimeoutExpired:
                return False
            return out.returncode == 0 and out.stdout.count(" Ready ") == 3
        wait_until(nodes_ready, 120, "three Ready nodes through kubectl")
        yield kc
    finally:
        stop_all(procs)


def test_get_nodes_and_version(k):
    out = k.out("get", "nodes")
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert sorted(line.split()[0] for line in out.splitlines()[1:]) == ["node-1", "node-2", "node-3"]
    version = json.loads(k.out("version", "-o", "json"))
    assert version["serverVersion"]["minor"] == "32"


def test_apply_a_directory_then_a_change_with_diff(k, tmp_path):
    manifests = tmp_path / "shop"
    manifests.mkdir()
    (manifests / "00-namespace.yaml").write_text(NAMESPACE)
    (manifests / "web.yaml").write_text(WEB)
    (manifests / "service.yaml").write_text(SERVICE)
    out = k.out("apply", "-f", str(manifests))
    assert "namespace/shop created" in out
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    k.out("rollout", "status", "deployment/web", "-n", NS, "--timeout=90s", timeout_s=100)

    (manifests / "web.yaml").write_text(WEB.replace("replicas: 2", "replicas: 3"))
    diff = k.run("diff", "-f", str(manifests / "web.yaml"), ok=False)
    assert diff.returncode == 1, diff.stderr  # 1: there are differences
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    out = k.out("apply", "-f", str(manifests))
    assert "deployment.apps/web configured" in out
    assert "service/web unchanged" in out
    doc = yaml.safe_load(k.out("get", "deploy", "web", "-n", NS, "-o", "yaml"))
    assert doc["kind"] == "Deployment" and doc["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in doc["metadata"]["annotations"]
    assert k.run("diff", "-f", str(manifests / "web.yaml"), ok=False).returncode == 0
    # A second container: the patch carries strategic-merge directives ($setElementOrder/containers),
    # which kubectl's default fieldValidation=Strict must not mistake for unknown fields.
    sidecar = "\n        - {name: sidecar, image: busybox:1.37, command: [sleep, infinity]}\n"
    (manifests / "web.yaml").write_text(WEB.replace("replicas: 2", "replicas: 3").rstrip("\n") + sidecar)
    assert "deployment.apps/web configured" in k.out("apply", "-f", str(manifests / "web.yaml"))
    (manifests / "web.yaml").write_text(WEB.replace("replicas: 2", "replicas: 3"))
    assert "deployment.apps/web configured" in k.out("apply", "-f", str(manifests / "web.yaml"))
    containers = k.json("get", "deploy", "web", "-n", NS)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]


def test_get_lists_with_kubernetes_columns(k):
    def three_running() -> bool:  # and nothing else: the sidecar round trip's old pods have gone
        rows = k.poll("get", "pods", "-n", NS, "-l", "app=web").splitlines()[1:]
        return len(rows) == 3 and all(" Running " in row for row in rows)
    wait_until(three_running, 90, "three web pods Running, and no others")
    wide = k.out("get", "pods", "-A", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                               "NOMINATED", "NODE", "READINESS", "GATES"]
    web = [line.split() for line in wide[1:] if line.startswith(f"{NS} ")]
    assert len(web) == 3 and all(row[2] == "1/1" and row[3] == "Running" for row in web)
    assert all(row[7] in ("node-1", "node-2", "node-3") for row in web)
    everything = k.out("get", "all", "-n", NS)
    for name in ("pod/web-", "service/web", "deployment.apps/web", "replicaset.apps/web-"):
        assert name in everything


def test_describe_shows_events(k):
    pod = k.json("get", "pods", "-n", NS, "-l", "app=web")["items"][0]["metadata"]["name"]
    out = k.out("describe", "pod", pod, "-n", NS)
    assert f"Name:             {pod}" in out and "Status:           Running" in out
    assert "Events:" in out and "Scheduled" in out and "Started" in out
    out = k.out("describe", "deployment", "web", "-n", NS)
    assert "Replicas:" in out and "ScalingReplicaSet" in out
    node = k.json("get", "pod", pod, "-n", NS)["spec"]["nodeName"]
    out = k.out("describe", "node", node)
    assert "Conditions:" in out and "Ready" in out and pod in out


def test_scale_and_watch_see_the_change(k):
    args = ("get", "pods", "-n", NS, "-l", "app=web", "-w")
    watch = k.popen(*args)
    try:
        listed = read_until(watch, lambda line: "Running" in line, 30)  # the listing is printed first
        out = k.out("scale", "deployment/web", "-n", NS, "--replicas=4")
        assert "deployment.apps/web scaled" in out
        seen = read_until(watch, lambda line: "Pending" in line or "ContainerCreating" in line, 60)
        assert "web-" in seen
        k.note(args, listed + seen)
    finally:
        watch.kill()
        watch.wait()
    wait_until(lambda: k.poll("get", "deploy", "web", "-n", NS).split()[-4:-3] == ["4/4"], 60, "4/4 ready")


def revisions(k) -> list[int]:
    history = k.out("rollout", "history", "deployment/web", "-n", NS)
    assert history.splitlines()[0].startswith("deployment.apps/web") and "REVISION" in history
    return [int(line.split()[0]) for line in history.splitlines()[2:] if line.strip()]


def test_rollout_set_image_history_undo(k):
    # Revisions so far: the first template, the one with a sidecar, and the first again (which takes a
    # new number, as a Deployment gives a template it returns to).
    before = revisions(k)
    assert before == sorted(before) and len(before) >= 2
    out = k.out("set", "image", "deployment/web", "web=nginx:1.28", "-n", NS)
    assert "deployment.apps/web image updated" in out
    k.out("rollout", "status", "deployment/web", "-n", NS, "--timeout=90s", timeout_s=100)
    assert revisions(k) == [*before, before[-1] + 1]
    out = k.out("rollout", "undo", "deployment/web", "-n", NS)
    assert "deployment.apps/web rolled back" in out
    k.out("rollout", "status", "deployment/web", "-n", NS, "--timeout=90s", timeout_s=100)
    image = k.json("get", "deploy", "web", "-n", NS)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.27"


def test_logs_and_follow(k):
    pod = k.json("get", "pods", "-n", NS, "-l", "app=web")["items"][0]["metadata"]["name"]
    wait_until(lambda: "tick" in k.poll("logs", pod, "-n", NS), 30, "a log line")
    assert "tick" in k.out("logs", pod, "-n", NS, "--tail=3")
    args = ("logs", "-f", pod, "-n", NS, "--tail=1")
    follow = k.popen(*args)
    try:
        first = read_until(follow, lambda line: "tick" in line, 20)
        later = read_until(follow, lambda line: "tick" in line and line not in first, 20)
        assert later.strip() != first.strip()
        k.note(args, first + later)
    finally:
        follow.kill()
        follow.wait()


def test_label_annotate_create_expose(k):
    assert "deployment.apps/web labeled" in k.out("label", "deployment", "web", "-n", NS, "tier=frontend")
    assert "deployment.apps/web annotated" in k.out("annotate", "deployment", "web", "-n", NS, "owner=team-a")
    meta = k.json("get", "deploy", "web", "-n", NS)["metadata"]
    assert meta["labels"]["tier"] == "frontend" and meta["annotations"]["owner"] == "team-a"
    assert "deployment.apps/api created" in k.out("create", "deployment", "api", "--image=kubesim/server",
                                                   "--replicas=2", "-n", NS)
    assert "service/api exposed" in k.out("expose", "deployment", "api", "--port=80", "--target-port=8080",
                                           "-n", NS)
    svc = k.json("get", "svc", "api", "-n", NS)
    assert svc["spec"]["selector"] == {"app": "api"} and svc["spec"]["clusterIP"].startswith("10.")
    wait_until(lambda: len(k.json("get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=api",
                                  record=False)["items"]) == 1, 60, "api's EndpointSlice")


def test_cordon_drain_uncordon(k):
    k.out("apply", "-f", str(ROOT / "config" / "examples" / "01-namespace.yaml"))
    k.out("apply", "-f", str(ROOT / "config" / "examples" / "daemonset.yaml"))
    node = k.json("get", "pods", "-n", NS, "-l", "app=web")["items"][0]["spec"]["nodeName"]
    assert f"node/{node} cordoned" in k.out("cordon", node)
    assert "SchedulingDisabled" in k.out("get", "node", node)
    out = k.run("drain", node, "--ignore-daemonsets", "--timeout=90s", timeout_s=100).stdout
    assert f"node/{node} drained" in out
    pods = k.json("get", "pods", "-n", NS, "--field-selector", f"spec.nodeName={node}")["items"]
    assert pods == []
    assert f"node/{node} uncordoned" in k.out("uncordon", node)
    assert "SchedulingDisabled" not in k.out("get", "node", node)


def test_delete_cascades(k):
    assert 'deployment.apps "api" deleted' in k.out("delete", "deployment", "api", "-n", NS)
    wait_until(lambda: k.json("get", "pods", "-n", NS, "-l", "app=api", record=False)["items"] == [], 60,
               "api's pods gone with their Deployment")
    assert k.json("get", "replicasets", "-n", NS, "-l", "app=api")["items"] == []


def test_auth_can_i_for_several_users(k):
    assert k.out("auth", "can-i", "create", "deployments", "-n", NS).strip() == "yes"
    assert k.out("auth", "can-i", "get", "pods", "--as=system:kube-scheduler").strip() == "yes"
    assert k.run("auth", "can-i", "delete", "nodes", "--as=system:kube-scheduler", ok=False).stdout.strip() == "no"
    assert k.out("auth", "can-i", "patch", "nodes/status", "--as=system:node:node-1",
                 "--as-group=system:nodes").strip() == "yes"
    assert k.run("auth", "can-i", "list", "secrets", "--as=alice", ok=False).stdout.strip() == "no"


def test_explain(k):
    out = k.out("explain", "pod.spec.containers")
    assert "KIND:       Pod" in out and "FIELD: containers <[]Container>" in out
    assert "image\t<string>" in out


def test_errors_are_kubernetes_statuses(k):
    missing = k.run("get", "pod", "nope", "-n", NS, ok=False)
    assert missing.returncode == 1 and 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    bad = dict(k.env)
    config = yaml.safe_load(Path(bad["KUBECONFIG"]).read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    wrong = Path(bad["KUBECONFIG"]).with_name("wrong-kubeconfig")
    wrong.write_text(yaml.safe_dump(config))
    bad["KUBECONFIG"] = str(wrong)
    denied = k.run("get", "pods", ok=False, env=bad)
    assert denied.returncode == 1 and "Unauthorized" in denied.stderr
    invalid = k.run("apply", "-f", "-", ok=False, stdin=WEB.replace("name: web\n  namespace", "name: Bad_Name\n  namespace"))
    assert invalid.returncode == 1 and "Invalid value" in invalid.stderr
    unknown = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd, namespace: shop}\ndata: {a: b}\nfoo: bar\n"
    strict = k.run("apply", "-f", "-", ok=False, stdin=unknown)
    assert strict.returncode == 1 and 'strict decoding error: unknown field "foo"' in strict.stderr
    warned = k.run("apply", "--validate=warn", "-f", "-", stdin=unknown)
    assert 'unknown field "foo"' in warned.stderr and "configmap/odd created" in warned.stdout
    assert "foo" not in k.json("get", "configmap", "odd", "-n", NS)  # dropped, as the decoder drops it


def test_the_official_python_client(k):
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=k.env["KUBECONFIG"])
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    pods = core.list_pod_for_all_namespaces()
    assert any(p.metadata.namespace == NS for p in pods.items)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py", namespace=NS),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "py"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="py", image="kubesim/server")]))))
    made = apps.create_namespaced_deployment(NS, body)
    assert made.metadata.uid
    running: set[str] = set()
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, NS, label_selector="app=py", timeout_seconds=60):
        pod = event["object"]
        if pod.status.phase == "Running":
            running.add(pod.metadata.name)
        if len(running) == 2:
            w.stop()
    assert len(running) == 2
    # update (PUT), the status subresource, deletecollection
    cm = core.create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-cm", labels={"made-by": "py"}), data={"a": "1"}))
    cm.data["a"] = "2"
    assert core.replace_namespaced_config_map("py-cm", NS, cm).data == {"a": "2"}
    # The status subresource: the Deployment controller reports both pods ready a moment after they are.
    wait_until(lambda: apps.read_namespaced_deployment_status("py", NS).status.ready_replicas == 2, 30,
               "py's status to say 2 ready replicas")
    core.delete_collection_namespaced_config_map(NS, label_selector="made-by=py")
    assert core.list_namespaced_config_map(NS, label_selector="made-by=py").items == []
    api_client.close()


def test_a_pod_is_bound_through_pods_binding(k):
    """What a scheduler does over HTTPS: POST a Binding; the pod lands on the node it names."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bound-by-hand", "namespace": NS},
           "spec": {"schedulerName": "by-hand", "containers": [{"name": "c", "image": "kubesim/server"}]}}
    k.run("apply", "-f", "-", stdin=json.dumps(pod))
    conn, headers = _https(k)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound-by-hand"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-2"}}
    conn.request("POST", f"/api/v1/namespaces/{NS}/pods/bound-by-hand/binding", body=json.dumps(binding),
                 headers={**headers, "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 201, resp.read()
    conn.close()
    assert k.json("get", "pod", "bound-by-hand", "-n", NS)["spec"]["nodeName"] == "node-2"


def _https(k) -> tuple[http.client.HTTPSConnection, dict]:
    """A raw HTTPS connection to the front, with the kubeconfig's CA and token."""
    config = yaml.safe_load(Path(k.env["KUBECONFIG"]).read_text())
    cluster = config["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    host, port = cluster["server"].removeprefix("https://").split(":")
    headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}"}
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30), headers


def test_a_watch_list_ends_its_initial_events_with_a_bookmark(k):
    conn, headers = _https(k)
    conn.request("GET", f"/api/v1/namespaces/{NS}/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                        "&resourceVersionMatch=NotOlderThan&labelSelector=app%3Dweb", headers=headers)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type") == "application/json"
    added = 0
    while True:
        event = json.loads(resp.readline())
        if event["type"] == "BOOKMARK":
            assert event["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
            break
        assert event["type"] == "ADDED" and event["object"]["kind"] == "Pod"
        added += 1
    assert added >= 1  # the web pods, whatever their number at this moment
    conn.close()
    conn, headers = _https(k)
    conn.request("GET", f"/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion=abc", headers=headers)
    resp = conn.getresponse()
    status = json.loads(resp.read())
    assert resp.status == 400 and status["kind"] == "Status" and "resourceVersion" in status["message"]
    conn.close()
