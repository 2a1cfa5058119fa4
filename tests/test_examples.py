"""The README tour's manifests (config/examples/) stay valid and keep doing what their comments promise.

``kubesim apply -f config/examples/`` must bring every example to its
expected state within 30 s on the default cluster (issue 6's acceptance).
That needs three things no integration test checks cheaply, so they are
checked here, without a server, against the same code the cluster runs:

- the directory as ``kubesim apply`` reads it (:func:`kubesim.kubectl.read_manifests`):
  the StorageClass and the namespace come first in name order, everything
  else lives in ``demo``, each file says what it shows and what to expect;
- every object, and the objects controllers make from the templates (a
  StatefulSet's pods and claims, a CronJob's Job), passes the API server's
  strict field check, defaulting and validation (:func:`actors.apiserver.objects.prepare_create`),
  and every reference (a Service's selector, a ConfigMap key, a StorageClass)
  finds its object among the examples;
- every container, run on the simulated container runtime with the
  catalogue's behaviour for its image and command, does what its example
  needs: pulls in seconds, serves and passes its probes (web, redis), keeps
  running (the DaemonSet, the ConfigMap/Secret pod), exits 0 (the Job, the
  CronJob's Job) or crashes quickly over and over (the crash loop).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest

from actors.apiserver.apply import with_last_applied
from actors.apiserver.kinds import for_object
from actors.apiserver.objects import prepare_create, unknown_fields
from actors.apiserver.status import ApiError
from actors.cloud.controllers import is_load_balancer
from actors.controllers.cronjob import job_from_template, next_schedule_time
from actors.controllers.podcontrol import pod_from_template
from actors.controllers.statefulset import claims_for, new_pod
from actors.kubelet.probes import (
    ExecTarget,
    HttpGetTarget,
    TcpSocketTarget,
    resolve_target,
)
from actors.runtime import catalogue as cat
from actors.runtime.cri import (
    ContainerConfig,
    ContainerMetadata,
    ContainerPort,
    ContainerState,
    PodSandboxConfig,
    PodSandboxMetadata,
)
from actors.runtime.runtime import ContainerRuntime
from actors.scheduler.plugins.volumes import NO_PROVISIONER
from kubesim.kubectl import Manifest, place, read_manifests
from tests.helpers import ROOT

EXAMPLES = ROOT / "config" / "examples"
MANIFESTS: list[Manifest] = read_manifests([str(EXAMPLES)], "apply")
NAMESPACE = "demo"
T0 = 1_750_000_000.0
"""Cluster seconds when a simulated pod's sandbox is made."""
DEADLINE_S = 30.0
"""Every example reaches its state this long after its pod is created (the acceptance's bound)."""
PULL_BUDGET_S = 5.0
"""Most an example's image may take to pull at the runtime's default 50 MB/s."""
RUNNING_READY, RUNNING, COMPLETED, CRASH_LOOP = "Running and Ready", "Running", "Completed", "CrashLoopBackOff"

EXPECTED = {
    ("Deployment", "web"): RUNNING_READY,
    ("StatefulSet", "redis"): RUNNING_READY,
    ("DaemonSet", "node-agent"): RUNNING,
    ("Pod", "config-demo"): RUNNING,
    ("Job", "countdown"): COMPLETED,
    ("CronJob", "hello"): COMPLETED,
    ("Pod", "crashloop"): CRASH_LOOP,
}
"""What each workload's pods come to (the CronJob: each of its Jobs' pods)."""


def objects(kind: str) -> list[dict[str, Any]]:
    return [m.obj for m in MANIFESTS if m.obj["kind"] == kind]


def the(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(kind) if o["metadata"]["name"] == name]
    assert found, f"no {kind} {name} in config/examples/"
    return found[-1]


def created(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the API server would store it when ``kubesim apply`` creates it (ApiError if it refuses it)."""
    placed = place(Manifest("example", obj), None)
    body = with_last_applied(placed.obj)
    assert unknown_fields(body) == [], "fields kubectl's strict validation refuses"
    return prepare_create(placed.kind, body, namespace=placed.namespace, now=T0, uid="uid-1", suffix="x7k2q")


def made(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj``, made by a controller, as the API server would store it."""
    return prepare_create(for_object(obj), obj, namespace=obj["metadata"]["namespace"], now=T0, uid="uid-2",
                          suffix="x7k2q")


def manifest_id(m: Manifest) -> str:
    return f"{m.source.rsplit('/', 1)[-1]}:{m.obj.get('kind')}/{(m.obj.get('metadata') or {}).get('name')}"


# --- the directory ---------------------------------------------------------------------------------------


def test_the_directory_is_applied_storage_class_and_namespace_first():
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    assert files[:2] == ["00-storageclass.yaml", "01-namespace.yaml"]
    assert [m.source.rsplit("/", 1)[-1] for m in MANIFESTS][:2] == files[:2]  # kubesim apply's order
    first, second = MANIFESTS[0].obj, MANIFESTS[1].obj
    assert first["kind"] == "StorageClass" and second == {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": NAMESPACE}}
    for m in MANIFESTS[2:]:
        placed = place(m, None)
        if m.obj["kind"] == "Namespace":  # web.yaml and nodeport.yaml repeat it, word for word: "unchanged"
            assert m.obj == second, m.source
        else:
            assert placed.kind.namespaced and placed.namespace == NAMESPACE, manifest_id(m)
    for path in EXAMPLES.iterdir():
        header = path.read_text().split("\napiVersion:", 1)[0]
        assert header.startswith("# ") and "Expected" in header, f"{path.name} needs a comment header saying " \
                                                                 "what it shows and what state it reaches"


def test_the_examples_cover_the_tour():
    workloads = {(m.obj["kind"], m.obj["metadata"]["name"]) for m in MANIFESTS
                 if m.obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")}
    assert workloads == set(EXPECTED)
    assert any(is_load_balancer(s) for s in objects("Service"))
    assert any(s["spec"].get("clusterIP") == "None" for s in objects("Service"))
    assert objects("ConfigMap") and objects("Secret")


@pytest.mark.parametrize("m", MANIFESTS, ids=manifest_id)
def test_every_object_passes_the_api_servers_checks(m):
    try:
        created(m.obj)
    except ApiError as exc:
        pytest.fail(f"{manifest_id(m)}: {exc.code} {exc.message}")


def test_the_objects_controllers_make_from_the_examples_pass_them_too():
    sts = created(the("StatefulSet", "redis"))
    for ordinal in range(sts["spec"]["replicas"]):
        for claim in claims_for(sts, ordinal):
            made(claim)
        pod = made(new_pod(sts, sts["spec"]["template"], ordinal, "redis-abc123"))
        mounted = {m["name"] for c in pod["spec"]["containers"] for m in c.get("volumeMounts") or []}
        assert mounted <= {v["name"] for v in pod["spec"]["volumes"]}
    cronjob = created(the("CronJob", "hello"))
    job = made(job_from_template(cronjob, T0 + 60, dt.UTC))
    assert job["spec"]["selector"]["matchLabels"]  # the API server generated it
    made(pod_from_template(job["spec"]["template"], job))
    for kind, name in (("Deployment", "web"), ("DaemonSet", "node-agent"), ("Job", "countdown")):
        owner = created(the(kind, name))
        made(pod_from_template(owner["spec"]["template"], owner))


def test_references_between_the_examples_resolve():
    templates = [pod_template(kind, name)[1] for kind, name in EXPECTED]
    for svc in objects("Service"):
        selector = svc["spec"]["selector"]
        chosen = [t for t in templates if selector.items() <= ((t.get("metadata") or {}).get("labels") or {}).items()]
        assert chosen, f"Service {svc['metadata']['name']} selects no example's pods"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            declared = [(p.get("name"), p["containerPort"]) for t in chosen for c in t["spec"]["containers"]
                        for p in c.get("ports") or []]
            assert any(target in pair for pair in declared), f"{svc['metadata']['name']}: port {target}"
    sts = the("StatefulSet", "redis")
    headless = the("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    defaults = [sc for sc in objects("StorageClass")
                if sc["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert len(defaults) == 1
    for claim in sts["spec"]["volumeClaimTemplates"]:
        # Named: no admission plugin fills in the default class when the controller creates the claim, and
        # the scheduler would take a claim without one for an unbound Immediate claim.
        cls = the("StorageClass", claim["spec"]["storageClassName"])
        assert cls["provisioner"] != NO_PROVISIONER  # the PV controller provisions it
    for kind, name in EXPECTED:
        pod = pod_template(kind, name)[1]
        for c in pod["spec"]["containers"]:
            environment(pod, c)  # every configMapKeyRef / secretKeyRef finds its key
        for volume in pod["spec"].get("volumes") or []:
            if "configMap" in volume:
                the("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                the("Secret", volume["secret"]["secretName"])


def test_the_cronjob_runs_every_minute():
    cronjob = the("CronJob", "hello")
    after = T0
    for _ in range(3):
        at = next_schedule_time(cronjob["spec"]["schedule"], after)
        assert at is not None and 0 < at - after <= 60
        after = at


# --- what the containers do ------------------------------------------------------------------------------


def pod_template(kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workload and the pod template its pods are made from (a bare Pod is its own)."""
    obj = the(kind, name)
    if kind == "Pod":
        return obj, obj
    if kind == "CronJob":
        return obj, obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj, obj["spec"]["template"]


def environment(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet makes it, from the examples' own ConfigMaps and Secrets."""
    env: dict[str, str] = {}
    for e in container.get("env") or []:
        source = e.get("valueFrom")
        if source is None:
            env[e["name"]] = str(e.get("value", ""))
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = the("ConfigMap", ref["name"]).get("data") or {}
            assert ref["key"] in data, f"ConfigMap {ref['name']} has no key {ref['key']}"
            env[e["name"]] = data[ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = created(the("Secret", ref["name"]))
            assert ref["key"] in secret["data"], f"Secret {ref['name']} has no key {ref['key']}"
            env[e["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] in ("spec.nodeName", "metadata.name", "metadata.namespace",
                                                       "status.podIP")
            env[e["name"]] = "node-1"
        else:
            pytest.fail(f"an env source the test does not know: {source}")
    return env


def container_config(pod: dict[str, Any], c: dict[str, Any]) -> ContainerConfig:
    limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
    return ContainerConfig(
        ContainerMetadata(c["name"]), c["image"], tuple(c.get("command") or ()), tuple(c.get("args") or ()),
        env=environment(pod, c), ports=tuple(ContainerPort(p["containerPort"]) for p in c.get("ports") or []),
        memory_limit_bytes=cat.parse_bytes(limit) if limit else 0,
        annotations=dict((pod.get("metadata") or {}).get("annotations") or {}),
        mounts=tuple({"container_path": m["mountPath"], "host_path": "/var/lib/kubesim/x", "readonly": True}
                     for m in c.get("volumeMounts") or []))


def all_containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for kind, name in EXPECTED:
        _, pod = pod_template(kind, name)
        for c in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]:
            yield f"{kind}/{name}/{c['name']}", pod, c


@pytest.mark.parametrize("where,pod,container", [pytest.param(*x, id=x[0]) for x in all_containers()])
def test_every_image_is_in_the_catalogue_and_pulls_quickly(where, pod, container):
    image = container["image"]
    assert cat.pull_error(image) is None, where
    assert cat.image_info(image).known, f"{where}: {image} is not in the catalogue (it would be simulated as an " \
                                        "unknown app that runs for ever)"
    assert cat.image_size_bytes(image) / (50 * cat.MB) <= PULL_BUDGET_S, where
    cat.behaviour_for(container_config(pod, container), (pod.get("metadata") or {}).get("annotations") or {})


class SimulatedPod:
    """One of the example's pods on a node's simulated runtime, as the kubelet would run it (no restarts)."""

    IP = "10.244.1.5"

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.rt = ContainerRuntime(random.Random(1))
        meta = PodSandboxMetadata("example", NAMESPACE, "uid-example", 0)
        annotations = dict((pod.get("metadata") or {}).get("annotations") or {})
        sandbox = self.rt.run_pod_sandbox(PodSandboxConfig(meta, hostname="example", annotations=annotations,
                                                           pod_ip=self.IP), T0)
        self.ids: dict[str, str] = {}
        self.running_at: dict[str, float] = {}
        for c in pod["spec"]["containers"]:
            config = container_config(pod, c)
            now = self.rt.pull_image(config.image, T0)
            cid = self.rt.create_container(sandbox, config, now)
            self.ids[c["name"]] = cid
            self.running_at[c["name"]] = self.rt.start_container(cid, now)

    def state(self, name: str, at: float) -> tuple[str, int]:
        status = self.rt.container_status(self.ids[name], at)
        return status.state, status.exit_code

    def probe(self, c: dict[str, Any], kind: str, at: float) -> bool:
        probe = c.get(kind)
        assert probe is not None
        target = resolve_target(probe, c, self.IP)
        if isinstance(target, HttpGetTarget):
            answer = self.rt.http_get(target.host, target.port, target.path, at)
            return answer is not None and 200 <= answer[0] < 400
        if isinstance(target, TcpSocketTarget):
            return self.rt.tcp_connect(target.host, target.port, at)
        assert isinstance(target, ExecTarget)
        return self.rt.exec_sync(self.ids[c["name"]], target.command, at, timeout_s=probe.get("timeoutSeconds", 1)) \
            .exit_code == 0


@pytest.mark.parametrize("kind,name", list(EXPECTED), ids=lambda x: x)
def test_each_example_reaches_its_state_on_the_simulated_runtime(kind, name):
    workload, template = pod_template(kind, name)
    expected = EXPECTED[(kind, name)]
    policy = template["spec"].get("restartPolicy", "Always")
    sim = SimulatedPod(copy.deepcopy(template))
    for c in template["spec"]["containers"]:
        started = sim.running_at[c["name"]]
        assert started - T0 <= PULL_BUDGET_S
        if expected in (RUNNING_READY, RUNNING):
            assert policy == "Always"
            for at in (started + 1, T0 + DEADLINE_S, T0 + 10 * DEADLINE_S):  # and it stays up
                assert sim.state(c["name"], at)[0] == ContainerState.RUNNING, f"{c['name']} stopped by {at - T0}s"
        if expected == RUNNING_READY:
            readiness, liveness = c.get("readinessProbe"), c.get("livenessProbe")
            assert readiness and liveness, "the example shows both probes"
            first = started + readiness.get("initialDelaySeconds", 0) + readiness.get("periodSeconds", 10)
            assert first - T0 < DEADLINE_S / 3  # a replica is Ready soon after it starts (OrderedReady waits)
            assert sim.probe(c, "readinessProbe", first), "the readiness probe fails"
            live_from = started + liveness.get("initialDelaySeconds", 0)
            for at in (live_from, live_from + 60, T0 + 10 * DEADLINE_S):
                assert sim.probe(c, "livenessProbe", at), f"the liveness probe fails at {at - T0}s"
        if expected == COMPLETED:
            assert policy in ("Never", "OnFailure")
            assert sim.state(c["name"], T0 + DEADLINE_S / 2) == (ContainerState.EXITED, 0)
        if expected == CRASH_LOOP:
            assert policy == "Always"
            b = cat.behaviour_for(container_config(template, c), {})
            assert b.kind == cat.CRASH and b.run_s is not None and b.run_s <= 5.0
            # Exits non-zero within seconds each time: with the kubelet's 10 s, 20 s, 40 s... back-off the pod
            # is in CrashLoopBackOff well within the deadline, and restarted at least once.
            state, code = sim.state(c["name"], started + b.run_s + 0.1)
            assert state == ContainerState.EXITED and code != 0
            assert started + b.run_s + 10 < T0 + DEADLINE_S
    if kind == "StatefulSet":
        assert workload["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
