"""The pod status the kubelet writes, compared field for field with what Kubernetes 1.32 reports.

The first two cases spell out the whole status (what ``kubectl get pod -o
yaml`` shows for a pod that is being created, then running and ready); the
rest assert the fields each scenario is about.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.objects import rfc3339
from actors.kubelet.podstatus import Waiting, get_phase, pod_status
from actors.kubelet.probes import ProbeType, Result
from actors.runtime import cri

T0 = 1_750_000_000.0
BOUND = rfc3339(T0 - 5)
HOST = "10.0.0.11"
RUNNING, EXITED, CREATED = cri.ContainerState.RUNNING, cri.ContainerState.EXITED, cri.ContainerState.CREATED
BACK_OFF = "back-off 20s restarting failed container=web pod=web-0_default(uid-1)"


def ts(t: float) -> str:
    return rfc3339(t)


def container(name: str, image: str = "nginx:1.27", **more: object) -> dict:
    return {"name": name, "image": image, **more}


def make_pod(*containers: dict, init: tuple[dict, ...] = (), policy: str = "Always", **spec: object) -> dict:
    """A pod as the kubelet receives it: bound (PodScheduled set by the binding), no kubelet status yet."""
    body: dict = {"restartPolicy": policy, "containers": list(containers) or [container("web")], **spec}
    if init:
        body["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-1"}, "spec": body,
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                       "lastTransitionTime": BOUND}]}}


def sandbox(ready: bool = True, ip: str = "10.244.1.5") -> cri.PodSandboxStatus:
    return cri.PodSandboxStatus(id="sb0", metadata=cri.PodSandboxMetadata("web-0", "default", "uid-1", 0),
                                state=cri.SandboxState.READY if ready else cri.SandboxState.NOTREADY,
                                created_at=T0, ip=ip)


def cs(name: str, state: str, cid: str, *, attempt: int = 0, started: float = T0 + 3, finished: float = 0.0,
       exit_code: int = 0, reason: str = "", message: str = "") -> cri.ContainerStatus:
    if state == EXITED:
        finished = finished or started + 1
        reason = reason or (cri.Reason.COMPLETED if exit_code == 0 else cri.Reason.ERROR)
    return cri.ContainerStatus(id=cid, sandbox_id="sb0", metadata=cri.ContainerMetadata(name, attempt),
                               image=f"docker.io/library/{'busybox:1.36' if name != 'web' else 'nginx:1.27'}",
                               image_ref="sha256:abc", state=state, created_at=started - 0.5,
                               started_at=started if state != CREATED else 0.0, finished_at=finished,
                               exit_code=exit_code, reason=reason, message=message)


class FakeProbes:
    def __init__(self, results: dict[tuple[str, str, str], str] | None = None,
                 workers: set[tuple[str, str]] | None = None) -> None:
        self.results = results or {}
        self.workers = workers if workers is not None else {(n, t) for n, t, _ in self.results}

    def result(self, container_name: str, probe_type: str, container_id: str) -> str | None:
        return self.results.get((container_name, probe_type, container_id))

    def has_probe(self, container_name: str, probe_type: str) -> bool:
        return (container_name, probe_type) in self.workers


def status(pod: dict, sb: cri.PodSandboxStatus | None = None, statuses: list | None = None, *,
           now: float = T0 + 1, **kw: object) -> dict:
    return pod_status(pod, sb, statuses or [], host_ip=HOST, now=now, **kw)


def conditions(st: dict) -> dict[str, tuple]:
    return {c["type"]: (c["status"], c.get("reason", ""), c.get("message", "")) for c in st["conditions"]}


def only(st: dict, key: str = "containerStatuses") -> dict:
    (one,) = st[key]
    return one


# --- whole statuses -----------------------------------------------------------------------------------


def test_pending_container_creating() -> None:
    st = status(make_pod())
    unready = {"reason": "ContainersNotReady", "message": "containers with unready status: [web]"}
    assert st == {
        "phase": "Pending",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None,
             "lastTransitionTime": ts(T0 + 1)},
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 1)},
            {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 1), **unready},
            {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 1),
             **unready},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": BOUND},
        ],
        "hostIP": HOST, "hostIPs": [{"ip": HOST}],
        "startTime": ts(T0 + 1),
        "containerStatuses": [{
            "name": "web", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}, "ready": False,
            "restartCount": 0, "image": "nginx:1.27", "imageID": "", "started": False}],
        "qosClass": "BestEffort",
    }
    assert list(st) == ["phase", "conditions", "hostIP", "hostIPs", "startTime", "containerStatuses", "qosClass"]


def test_running_and_ready_keeps_unchanged_transition_times() -> None:
    web = container("web", readinessProbe={"httpGet": {"path": "/", "port": 80}})
    pod = make_pod(web)
    creating = status(pod)
    probes = FakeProbes({("web", ProbeType.READINESS, "c1"): Result.SUCCESS})
    st = status(pod, sandbox(), [cs("web", RUNNING, "c1")], probes=probes, previous_status=creating, now=T0 + 5)
    assert st == {
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": ts(T0 + 5)},
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 1)},
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 5)},
            {"type": "ContainersReady", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(T0 + 5)},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": BOUND},
        ],
        "hostIP": HOST, "hostIPs": [{"ip": HOST}],
        "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": ts(T0 + 1),
        "containerStatuses": [{
            "name": "web", "state": {"running": {"startedAt": ts(T0 + 3)}}, "lastState": {}, "ready": True,
            "restartCount": 0, "image": "docker.io/library/nginx:1.27", "imageID": "sha256:abc",
            "containerID": "containerd://c1", "started": True}],
        "qosClass": "BestEffort",
    }


# --- readiness and startup ----------------------------------------------------------------------------


@pytest.mark.parametrize(("results", "workers", "started", "ready"), [
    ({}, set(), True, True),                                                      # no probes: ready when running
    ({}, {("web", ProbeType.READINESS)}, True, False),                            # readiness not run yet
    ({("web", ProbeType.READINESS, "c1"): Result.FAILURE}, None, True, False),
    ({("web", ProbeType.READINESS, "c2"): Result.SUCCESS}, None, True, False),    # another container's result
    ({("web", ProbeType.STARTUP, "c1"): Result.UNKNOWN,
      ("web", ProbeType.READINESS, "c1"): Result.SUCCESS}, None, False, False),   # not started: not ready either
    ({}, {("web", ProbeType.STARTUP)}, False, False),
    ({("web", ProbeType.STARTUP, "c1"): Result.SUCCESS}, None, True, True),
])
def test_started_and_ready_from_probes(results: dict, workers: set | None, started: bool, ready: bool) -> None:
    st = status(make_pod(), sandbox(), [cs("web", RUNNING, "c1")], probes=FakeProbes(results, workers))
    web = only(st)
    assert (web["started"], web["ready"], st["phase"]) == (started, ready, "Running")
    assert conditions(st)["Ready"] == (("True", "", "") if ready else
                                       ("False", "ContainersNotReady", "containers with unready status: [web]"))


def test_not_ready_message_lists_containers_in_spec_order_statuses_by_name() -> None:
    pod = make_pod(container("web"), container("api"), container("log"))
    st = status(pod, sandbox(), [cs("log", RUNNING, "l1")])
    assert [c["name"] for c in st["containerStatuses"]] == ["api", "log", "web"]
    assert conditions(st)["ContainersReady"] == (
        "False", "ContainersNotReady", "containers with unready status: [web api]")
    assert st["phase"] == "Pending"  # two are still waiting


def test_readiness_gates() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}])
    pod["status"]["conditions"].append({"type": "example.com/lb", "status": "False", "lastProbeTime": None,
                                        "lastTransitionTime": BOUND})
    st = status(pod, sandbox(), [cs("web", RUNNING, "c1")])
    assert conditions(st)["ContainersReady"][0] == "True"
    assert conditions(st)["Ready"] == ("False", "ReadinessGatesNotReady",
                                       'the status of pod readiness gate "example.com/lb" is not "True", but False, '
                                       'corresponding condition of pod readiness gate "example.com/dns" does not exist.')
    # Conditions the kubelet does not own are kept, before its own.
    assert st["conditions"][0]["type"] == "example.com/lb"


# --- restarts and terminations ------------------------------------------------------------------------


def test_crash_loop_back_off_with_last_state_and_restart_count() -> None:
    pod = make_pod(container("web"))
    runtime = [cs("web", EXITED, "w2", attempt=2, started=T0 + 20, exit_code=1),
               cs("web", EXITED, "w1", attempt=1, started=T0 + 10, exit_code=1)]
    st = status(pod, sandbox(), runtime, waiting={"web": Waiting("CrashLoopBackOff", BACK_OFF)}, now=T0 + 25)
    assert only(st) == {
        "name": "web",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": BACK_OFF}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(T0 + 20),
                                     "finishedAt": ts(T0 + 21), "containerID": "containerd://w2"}},
        "ready": False, "restartCount": 2, "image": "docker.io/library/nginx:1.27", "imageID": "sha256:abc",
        "containerID": "containerd://w2", "started": False}
    assert st["phase"] == "Running"
    # Between the exit and the next sync's verdict: terminated now, the attempt before as lastState.
    st = status(pod, sandbox(), runtime, now=T0 + 21)
    assert only(st)["state"]["terminated"]["containerID"] == "containerd://w2"
    assert only(st)["lastState"]["terminated"]["containerID"] == "containerd://w1"


def test_restarted_container_running_again() -> None:
    runtime = [cs("web", RUNNING, "w3", attempt=3, started=T0 + 60),
               cs("web", EXITED, "w2", attempt=2, started=T0 + 20, exit_code=137, reason=cri.Reason.OOM_KILLED)]
    web = only(status(make_pod(), sandbox(), runtime, now=T0 + 61))
    assert web["state"] == {"running": {"startedAt": ts(T0 + 60)}}
    assert web["lastState"]["terminated"]["reason"] == "OOMKilled" and web["restartCount"] == 3


@pytest.mark.parametrize(("policy", "exit_code", "reason", "phase", "ready_reason"), [
    ("Never", 0, "Completed", "Succeeded", "PodCompleted"),
    ("OnFailure", 0, "Completed", "Succeeded", "PodCompleted"),
    ("Always", 0, "Completed", "Running", "ContainersNotReady"),     # about to be restarted
    ("Never", 1, "Error", "Failed", "PodFailed"),
    ("OnFailure", 1, "Error", "Running", "ContainersNotReady"),
    ("Never", 137, "OOMKilled", "Failed", "PodFailed"),
    ("OnFailure", 137, "OOMKilled", "Running", "ContainersNotReady"),
])
def test_exited_container_phase_per_restart_policy(policy: str, exit_code: int, reason: str, phase: str,
                                                   ready_reason: str) -> None:
    pod = make_pod(policy=policy)
    st = status(pod, sandbox(ready=False), [cs("web", EXITED, "c1", exit_code=exit_code, reason=reason)])
    assert st["phase"] == phase
    assert only(st)["state"]["terminated"] == {
        "exitCode": exit_code, "reason": reason, "startedAt": ts(T0 + 3), "finishedAt": ts(T0 + 4),
        "containerID": "containerd://c1"}
    assert conditions(st)["Ready"][1] == ready_reason == conditions(st)["ContainersReady"][1]
    if phase == "Succeeded":
        assert conditions(st)["Initialized"] == ("True", "PodCompleted", "")


def test_terminal_pod_succeeds_or_fails_whatever_the_policy() -> None:
    pod = make_pod(container("web"), container("log"), policy="Always")
    runtime = [cs("web", EXITED, "w1", exit_code=0), cs("log", EXITED, "l1", exit_code=137)]
    assert status(pod, sandbox(ready=False), runtime)["phase"] == "Running"
    assert status(pod, sandbox(ready=False), runtime, terminal=True)["phase"] == "Failed"
    runtime[1] = cs("log", EXITED, "l1", exit_code=0)
    assert status(pod, sandbox(ready=False), runtime, terminal=True)["phase"] == "Succeeded"


def test_a_terminal_phase_stays_and_the_pod_keeps_its_ip() -> None:
    pod = make_pod(policy="Never")
    running = status(pod, sandbox(), [cs("web", RUNNING, "c1")])
    done = status(pod, sandbox(ready=False), [cs("web", EXITED, "c1")], previous_status=running)
    assert done["phase"] == "Succeeded" and done["podIP"] == "10.244.1.5"
    # The runtime garbage-collected everything: the finished status stands, phase included.
    later = status(pod, None, [], previous_status=done)
    assert later["phase"] == "Succeeded" and only(later)["state"]["terminated"]["reason"] == "Completed"
    assert later["startTime"] == running["startTime"]


def test_container_the_runtime_lost_while_running() -> None:
    pod = make_pod()
    running = status(pod, sandbox(), [cs("web", RUNNING, "c1")])
    st = status(pod, sandbox(), [], previous_status=running)
    web = only(st)
    assert web["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert web["lastState"] == {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was deleted.  The container used to be Running",
        "startedAt": None, "finishedAt": None}}
    assert web["restartCount"] == 1 and st["phase"] == "Running"


def test_start_failures_the_kubelet_remembers() -> None:
    pod = make_pod(container("web", image="nginx:nope"))
    pull = Waiting("ErrImagePull", 'rpc error: code = NotFound desc = failed to pull and unpack image "nginx:nope"')
    assert only(status(pod, sandbox(), [], waiting={"web": pull}))["state"] == {
        "waiting": {"reason": pull.reason, "message": pull.message}}
    back_off = ("ImagePullBackOff", 'Back-off pulling image "nginx:nope"')
    st = status(pod, sandbox(), [], waiting={"web": back_off})
    assert only(st)["state"]["waiting"]["reason"] == "ImagePullBackOff" and st["phase"] == "Pending"
    # A running container is not waiting, whatever the cache still says.
    st = status(pod, sandbox(), [cs("web", RUNNING, "c1")], waiting={"web": "CreateContainerConfigError"})
    assert "running" in only(st)["state"]


def test_container_that_could_not_start_has_epoch_start_time() -> None:
    failed = cri.ContainerStatus(id="c1", sandbox_id="sb0", metadata=cri.ContainerMetadata("web"), image="nginx",
                                 image_ref="sha256:abc", state=EXITED, created_at=T0, started_at=0.0,
                                 finished_at=T0 + 1, exit_code=128, reason=cri.Reason.CONTAINER_CANNOT_RUN,
                                 message="exec: \"nope\": executable file not found in $PATH")
    term = only(status(make_pod(policy="Never"), sandbox(), [failed]))["state"]["terminated"]
    assert term["startedAt"] == "1970-01-01T00:00:00Z" and term["reason"] == "ContainerCannotRun"
    assert term["message"].startswith("exec:")


def test_created_container_is_waiting_without_reason() -> None:
    assert only(status(make_pod(), sandbox(), [cs("web", CREATED, "c1")]))["state"] == {"waiting": {}}


# --- init containers and sidecars ---------------------------------------------------------------------

INITS = (container("init1", "busybox:1.36"), container("init2", "busybox:1.36"))


def test_init_containers_in_progress() -> None:
    pod = make_pod(init=INITS)
    st = status(pod, sandbox(), [cs("init1", RUNNING, "i1")])
    assert st["phase"] == "Pending"
    assert [(c["name"], list(c["state"]), c["ready"], c["started"]) for c in st["initContainerStatuses"]] == [
        ("init1", ["running"], False, True), ("init2", ["waiting"], False, False)]
    assert st["initContainerStatuses"][1]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert only(st)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert conditions(st)["Initialized"] == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [init1 init2]")
    assert list(st).index("initContainerStatuses") < list(st).index("containerStatuses")


def test_init_containers_done() -> None:
    pod = make_pod(init=INITS)
    runtime = [cs("init1", EXITED, "i1", started=T0), cs("init2", EXITED, "i2", started=T0 + 1),
               cs("web", RUNNING, "w1", started=T0 + 3)]
    st = status(pod, sandbox(), runtime)
    assert st["phase"] == "Running" and conditions(st)["Initialized"] == ("True", "", "")
    assert [(c["state"]["terminated"]["reason"], c["ready"]) for c in st["initContainerStatuses"]] == [
        ("Completed", True), ("Completed", True)]


@pytest.mark.parametrize(("policy", "phase"), [("Never", "Failed"), ("Always", "Pending"), ("OnFailure", "Pending")])
def test_failed_init_container(policy: str, phase: str) -> None:
    pod = make_pod(init=INITS, policy=policy)
    waiting = {} if policy == "Never" else {"init1": Waiting("CrashLoopBackOff", "back-off 10s ...")}
    st = status(pod, sandbox(), [cs("init1", EXITED, "i1", exit_code=1)], waiting=waiting)
    assert st["phase"] == phase
    init1 = st["initContainerStatuses"][0]
    if policy == "Never":
        assert init1["state"]["terminated"]["exitCode"] == 1
    else:
        assert init1["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert init1["lastState"]["terminated"]["exitCode"] == 1


def test_sidecar_pod() -> None:
    proxy = container("proxy", "envoy:1.30", restartPolicy="Always",
                      startupProbe={"tcpSocket": {"port": 15000}})
    pod = make_pod(init=(proxy,))
    probes = FakeProbes({("proxy", ProbeType.STARTUP, "p1"): Result.UNKNOWN})
    st = status(pod, sandbox(), [cs("proxy", RUNNING, "p1")], probes=probes)
    assert st["phase"] == "Pending"
    assert conditions(st)["Initialized"] == ("False", "ContainersNotInitialized",
                                             "containers with incomplete status: [proxy]")
    probes.results[("proxy", ProbeType.STARTUP, "p1")] = Result.SUCCESS
    st = status(pod, sandbox(), [cs("proxy", RUNNING, "p1"), cs("web", RUNNING, "w1")], probes=probes)
    assert st["phase"] == "Running"
    assert conditions(st)["Initialized"] == ("True", "", "")
    assert conditions(st)["ContainersReady"] == ("True", "", "")
    assert only(st, "initContainerStatuses")["ready"] is True


# --- the rest of the status ---------------------------------------------------------------------------


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}, "Burstable"),
])
def test_qos_class(resources: dict, qos: str) -> None:
    assert status(make_pod(container("web", resources=resources)))["qosClass"] == qos


def test_host_network_pod_gets_the_node_ip() -> None:
    st = status(make_pod(hostNetwork=True), sandbox(ip=""), [cs("web", RUNNING, "c1")])
    assert st["podIP"] == HOST and st["podIPs"] == [{"ip": HOST}]


def test_volume_mounts_are_reported() -> None:
    mounts = [{"name": "data", "mountPath": "/data"},
              {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
               "readOnly": True}]
    pod = make_pod(container("web", volumeMounts=mounts))
    creating = status(pod)
    assert only(creating)["volumeMounts"] == [
        {"name": "data", "mountPath": "/data"},
        {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True, "recursiveReadOnly": "Disabled"}]
    running = status(pod, sandbox(), [cs("web", RUNNING, "c1")], previous_status=creating)
    assert only(running)["volumeMounts"] == only(creating)["volumeMounts"]
    assert list(only(running))[-1] == "volumeMounts"


def test_inputs_are_not_mutated() -> None:
    pod = make_pod(init=INITS)
    previous = status(pod, sandbox(), [cs("init1", RUNNING, "i1")])
    snapshot = copy.deepcopy((pod, previous))
    status(pod, sandbox(), [cs("init1", EXITED, "i1")], previous_status=previous)
    assert (pod, previous) == snapshot


def test_get_phase_unknown_container_is_pending() -> None:
    assert get_phase(make_pod(), []) == "Pending"
