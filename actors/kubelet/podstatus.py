"""A pod's ``status`` as the kubelet writes it to the API server.

``kubectl get pods`` shows what this computes: the phase (Pending, Running,
Succeeded, Failed), the READY column (from ``containerStatuses[].ready``),
STATUS (a waiting or terminated reason: ContainerCreating, CrashLoopBackOff,
Completed, Error, OOMKilled, Init:0/1) and RESTARTS. It follows Kubernetes
1.32 piece by piece:

- ``pkg/kubelet/kubelet_pods.go``: ``generateAPIPodStatus`` (the three-way
  merge that keeps a terminal phase terminal, reason and message kept with
  the phase, host and pod IPs), ``convertToAPIContainerStatuses`` (state from
  the newest instance, ``lastState`` from the one before, the default waiting
  reason, the kubelet's reason cache for containers about to be restarted,
  containers the runtime lost), ``getPhase``;
- ``pkg/kubelet/prober/prober_manager.go`` ``UpdatePodStatus``: ``started``
  and ``ready`` from the startup and readiness probes;
- ``pkg/kubelet/status/generate.go``: the PodReadyToStartContainers,
  Initialized, Ready and ContainersReady conditions;
- ``pkg/kubelet/status/status_manager.go``: ``lastTransitionTime`` kept while a
  condition's status is unchanged, ``startTime`` set once, times in whole
  seconds.

Pure: the runtime's records, the probe results, the reasons the kubelet
remembers and ``now`` (cluster wall seconds, the CRI's clock) come in; a dict
shaped exactly like a Kubernetes PodStatus goes out. Inputs are not mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.apiserver.objects import qos_class, rfc3339
from actors.jsonvalue import clone
from actors.kubelet.backoff import (
    CRASH_LOOP_BACK_OFF,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACK_OFF,
)
from actors.kubelet.podsync import (
    api_container_id,
    find_status,
    is_restartable_init,
    newest_first,
    sandbox_changed,
    should_container_be_restarted,
)
from actors.kubelet.probes import ProbeResults, ProbeType, Result
from actors.runtime import cri

Obj = dict[str, Any]

# Waiting reasons (pkg/kubelet/kubelet_pods.go, pkg/kubelet/container/sync_result.go, images/types.go).
CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
CREATE_CONTAINER_ERROR = "CreateContainerError"
RUN_CONTAINER_ERROR = "RunContainerError"
#: Every waiting reason the kubelet reports.
WAITING_REASONS = (CONTAINER_CREATING, POD_INITIALIZING, CRASH_LOOP_BACK_OFF, ERR_IMAGE_PULL, IMAGE_PULL_BACK_OFF,
                   CREATE_CONTAINER_CONFIG_ERROR, CREATE_CONTAINER_ERROR, RUN_CONTAINER_ERROR)

#: A container the runtime no longer reports (kubecontainer.ContainerReasonStatusUnknown).
CONTAINER_STATUS_UNKNOWN = "ContainerStatusUnknown"

# Condition types, and the reasons generate.go gives them.
POD_READY_TO_START_CONTAINERS = "PodReadyToStartContainers"
INITIALIZED = "Initialized"
READY = "Ready"
CONTAINERS_READY = "ContainersReady"
POD_SCHEDULED = "PodScheduled"
DISRUPTION_TARGET = "DisruptionTarget"
#: The conditions the kubelet owns (kubetypes.PodConditionByKubelet): it rewrites these, keeps the rest.
KUBELET_CONDITIONS = frozenset({POD_READY_TO_START_CONTAINERS, INITIALIZED, READY, CONTAINERS_READY, POD_SCHEDULED})
CONTAINERS_NOT_READY = "ContainersNotReady"
CONTAINERS_NOT_INITIALIZED = "ContainersNotInitialized"
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"
POD_COMPLETED = "PodCompleted"
POD_FAILED = "PodFailed"

_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a container that should run is not running (the kubelet's reason cache)."""

    reason: str
    message: str = ""


def pod_status(pod: Mapping[str, Any], sandbox: cri.PodSandboxStatus | None,
               container_statuses: Iterable[cri.ContainerStatus], *, probes: ProbeResults | None = None,
               waiting: Mapping[str, Waiting | tuple[str, str] | str] | None = None, host_ip: str = "",
               now: float, previous_status: Mapping[str, Any] | None = None, terminal: bool = False) -> Obj:
    """The pod's status now.

    ``sandbox``: the newest sandbox (None: none yet). ``container_statuses``:
    every container the runtime has for the pod, any attempt. ``waiting``: per
    container name, the last start failure the kubelet remembers
    (CrashLoopBackOff with the back-off message, ErrImagePull,
    ImagePullBackOff, CreateContainerConfigError...); shown while the
    container is due to be (re)started. ``previous_status``: the status the
    kubelet last wrote (default: the pod's current status). ``terminal``: the
    pod worker has decided the pod is finished (deleted or done), so exited
    containers will not restart whatever the restartPolicy.
    """
    spec = pod.get("spec") or {}
    api_status = pod.get("status") or {}
    old = previous_status if previous_status is not None else api_status
    statuses = newest_first(container_statuses)
    reasons = {name: _as_waiting(w) for name, w in (waiting or {}).items()}
    containers = list(spec.get("containers") or [])
    init_containers = list(spec.get("initContainers") or [])
    has_init = bool(init_containers)

    regular = _container_statuses(pod, statuses, old.get("containerStatuses") or [], containers, has_init,
                                  False, reasons)
    inits = _container_statuses(pod, statuses, old.get("initContainerStatuses") or [], init_containers, has_init,
                                True, reasons)

    phase = get_phase(pod, regular + inits, terminal)
    if phase not in _TERMINAL:
        # A terminal phase, once reported, stays: the runtime may still be catching up.
        if old.get("phase") in _TERMINAL:
            phase = old["phase"]
        elif api_status.get("phase") in _TERMINAL:
            phase = api_status["phase"]
    reason = message = ""
    if phase == old.get("phase"):
        reason = old.get("reason") or api_status.get("reason") or ""
        message = old.get("message") or api_status.get("message") or ""
    if api_status.get("phase") in _TERMINAL:
        phase = api_status["phase"]  # never out of a terminal phase

    newest = {s.metadata.name: s for s in reversed(statuses)}
    for cs in regular:
        _set_started_ready(cs, probes, newest.get(cs["name"]), sidecar=False, init=False)
    sidecars = {c["name"] for c in init_containers if is_restartable_init(c)}
    for cs in inits:
        _set_started_ready(cs, probes, newest.get(cs["name"]), sidecar=cs["name"] in sidecars, init=True)

    conditions = [clone(c) for c in api_status.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]
    disruption = next((c for c in old.get("conditions") or [] if c.get("type") == DISRUPTION_TARGET), None)
    if disruption is not None:
        conditions = [c for c in conditions if c.get("type") != DISRUPTION_TARGET] + [clone(disruption)]
    all_statuses = inits + regular
    changed, _, _ = sandbox_changed(pod, sandbox)
    conditions.append(_condition(POD_READY_TO_START_CONTAINERS, not changed))
    conditions.append(initialized_condition(spec, all_statuses, phase))
    conditions.append(ready_condition(spec, conditions, all_statuses, phase))
    conditions.append(containers_ready_condition(spec, all_statuses, phase))
    conditions.append(_condition(POD_SCHEDULED, True))
    stamp = rfc3339(now)
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    for cond in conditions:
        if cond["type"] in KUBELET_CONDITIONS or cond["type"] == DISRUPTION_TARGET:
            before = old_conditions.get(cond["type"])
            if before is not None and before.get("status") == cond["status"] and before.get("lastTransitionTime"):
                cond["lastTransitionTime"] = before["lastTransitionTime"]
            else:
                cond["lastTransitionTime"] = stamp

    out: Obj = {"phase": phase, "conditions": [_ordered_condition(c) for c in conditions]}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if host_ip:
        out["hostIP"] = host_ip
        out["hostIPs"] = [{"ip": host_ip}]
    pod_ips = _pod_ips(spec, sandbox, host_ip, old)
    if pod_ips:
        out["podIP"] = pod_ips[0]
        out["podIPs"] = [{"ip": ip} for ip in pod_ips]
    out["startTime"] = old.get("startTime") or stamp
    if init_containers:
        out["initContainerStatuses"] = [_ordered_status(cs) for cs in inits]
    if containers:
        out["containerStatuses"] = [_ordered_status(cs) for cs in regular]
    out["qosClass"] = qos_class(dict(spec))
    return out


def _as_waiting(value: Waiting | tuple[str, str] | str) -> Waiting:
    if isinstance(value, Waiting):
        return value
    if isinstance(value, str):
        return Waiting(value)
    return Waiting(*value)


def _pod_ips(spec: Mapping[str, Any], sandbox: cri.PodSandboxStatus | None, host_ip: str,
             old: Mapping[str, Any]) -> list[str]:
    if sandbox is not None and sandbox.state == cri.SandboxState.READY and sandbox.ip:
        return [sandbox.ip]  # only the newest, ready sandbox's IP counts
    if spec.get("hostNetwork") and host_ip:
        return [host_ip]
    # No ready sandbox: a stopped pod keeps the IP it had (kubernetes#47806, #125404).
    previous = [ip["ip"] for ip in old.get("podIPs") or [] if ip.get("ip")]
    if not previous and old.get("podIP"):
        previous = [old["podIP"]]
    return previous


# --- container statuses ---------------------------------------------------------------------------------


def _timestamp(seconds: float) -> str:
    # The CRI's times are converted with time.Unix: "never" (0) becomes the epoch, not null.
    return rfc3339(seconds)


def _blank(container: Mapping[str, Any], state: Obj) -> Obj:
    """The status of a container the runtime has not reported: waiting, nothing known."""
    cs: Obj = {"name": container["name"], "state": clone(state), "lastState": {}, "ready": False,
               "restartCount": 0, "image": container.get("image", ""), "imageID": ""}
    mounts = container.get("volumeMounts") or []
    if mounts:
        # Known from the spec alone (RecursiveReadOnlyMounts, beta and on since 1.31).
        cs["volumeMounts"] = [_mount_status(m) for m in mounts]
    return cs


def _mount_status(mount: Mapping[str, Any]) -> Obj:
    out: Obj = {"name": mount.get("name", ""), "mountPath": mount.get("mountPath", "")}
    if mount.get("readOnly"):
        out["readOnly"] = True
        out["recursiveReadOnly"] = "Enabled" if mount.get("recursiveReadOnly") in ("Enabled", "IfPossible") \
            else "Disabled"
    return out


def _convert(status: cri.ContainerStatus, old: Mapping[str, Any] | None) -> Obj:
    """convertContainerStatus: one runtime record as an API container status."""
    cid = api_container_id(status.id)
    cs: Obj = {"name": status.metadata.name, "lastState": {}, "ready": False,
               "restartCount": status.metadata.attempt, "image": status.image, "imageID": status.image_ref,
               "containerID": cid}
    if old is not None and old.get("volumeMounts"):
        cs["volumeMounts"] = clone(old["volumeMounts"])  # immutable, and unknown to the CRI
    if status.state == cri.ContainerState.RUNNING:
        cs["state"] = {"running": {"startedAt": _timestamp(status.started_at)}}
    elif status.state == cri.ContainerState.EXITED:
        terminated: Obj = {"exitCode": status.exit_code}
        if status.reason:
            terminated["reason"] = status.reason
        if status.message:
            terminated["message"] = status.message
        terminated.update(startedAt=_timestamp(status.started_at), finishedAt=_timestamp(status.finished_at),
                          containerID=cid)
        cs["state"] = {"terminated": terminated}
    elif status.state == cri.ContainerState.UNKNOWN and old is not None and "running" in (old.get("state") or {}):
        # It was running and is gone: say it terminated rather than that it never ran.
        cs["state"] = {"terminated": {"exitCode": 137, "reason": CONTAINER_STATUS_UNKNOWN,
                                      "message": "The container could not be located when the pod was terminated",
                                      "startedAt": None, "finishedAt": None}}
        cs["restartCount"] = int(old.get("restartCount", 0)) + 1
    else:
        cs["state"] = {"waiting": {}}  # created but not running: "waiting to be running"
    return cs


def _container_statuses(pod: Mapping[str, Any], statuses: Sequence[cri.ContainerStatus],
                        previous: Sequence[Mapping[str, Any]], containers: Sequence[Mapping[str, Any]],
                        has_init: bool, is_init: bool, reasons: Mapping[str, Waiting]) -> list[Obj]:
    """convertToAPIContainerStatuses for one list (regular or init containers)."""
    old = {s["name"]: s for s in previous if "name" in s}
    default_reason = POD_INITIALIZING if has_init else CONTAINER_CREATING
    out: dict[str, Obj] = {}
    for c in containers:
        cs = _blank(c, {"waiting": {"reason": default_reason}})
        before = old.get(c["name"])
        if before is not None:
            if "terminated" in (before.get("state") or {}):
                cs = clone(dict(before))  # the last word on a finished container stands
            else:
                cs["restartCount"] = before.get("restartCount", 0)
                cs["lastState"] = clone(before.get("lastState") or {})
        out[c["name"]] = cs

    for c in containers:
        name = c["name"]
        before = old.get(name)
        if find_status(statuses, name) is not None or before is None:
            continue
        state = before.get("state") or {}
        if "terminated" in state or "running" not in state:
            continue
        cs = out[name]
        if (cs["state"].get("waiting") or {}).get("reason") != default_reason or "waiting" not in cs["state"]:
            continue
        if "terminated" in cs["lastState"]:
            continue
        # It ran and the runtime no longer knows it: show it stopped, not waiting (or the pod falls back to Pending).
        cs["lastState"] = {"terminated": {
            "exitCode": 137, "reason": CONTAINER_STATUS_UNKNOWN,
            "message": "The container could not be located when the pod was deleted.  The container used to be Running",
            "startedAt": None, "finishedAt": None}}
        if not (pod.get("metadata") or {}).get("deletionTimestamp"):
            cs["restartCount"] = cs.get("restartCount", 0) + 1

    seen: dict[str, int] = {}
    for status in statuses:  # newest first: the newest is the state, the one before it lastState
        name = status.metadata.name
        if name not in out or seen.get(name, 0) >= 2:
            continue
        converted = _convert(status, old.get(name))
        if seen.get(name, 0) == 0:
            out[name] = converted
        else:
            out[name]["lastState"] = converted["state"]
        seen[name] = seen.get(name, 0) + 1

    for c in containers:
        name = c["name"]
        newest = find_status(statuses, name)
        if is_init and newest is not None and newest.state == cri.ContainerState.EXITED and newest.exit_code == 0:
            continue  # a completed init container will not run again
        if not should_container_be_restarted(c, pod, statuses):
            continue
        why = reasons.get(name)
        if why is None:
            continue
        cs = out[name]
        if "terminated" in cs["state"]:
            cs["lastState"] = cs["state"]
        cs["state"] = {"waiting": {"reason": why.reason, **({"message": why.message} if why.message else {})}}

    if is_init:
        return [out[c["name"]] for c in containers]
    return [out[name] for name in sorted(out)]  # SortedContainerStatuses: by name


def _set_started_ready(cs: Obj, probes: ProbeResults | None, status: cri.ContainerStatus | None, *,
                       sidecar: bool, init: bool) -> None:
    """UpdatePodStatus for one container status."""
    running = "running" in cs["state"]
    name = cs["name"]
    container_id = status.id if status is not None else ""

    def result(probe_type: str) -> str | None:
        return probes.result(name, probe_type, container_id) if probes else None

    def has(probe_type: str) -> bool:
        return probes.has_probe(name, probe_type) if probes else False

    started = False
    if running:
        startup = result(ProbeType.STARTUP)
        started = startup == Result.SUCCESS if startup is not None else not has(ProbeType.STARTUP)
    cs["started"] = started
    if init and not sidecar:
        terminated = cs["state"].get("terminated")
        if terminated is not None and terminated.get("exitCode") == 0:
            cs["ready"] = True
        return
    if not started:
        return
    cs["ready"] = running and (result(ProbeType.READINESS) == Result.SUCCESS or not has(ProbeType.READINESS))


_STATUS_KEYS = ("name", "state", "lastState", "ready", "restartCount", "image", "imageID", "containerID", "started",
                "volumeMounts")
_TERMINATED_KEYS = ("exitCode", "signal", "reason", "message", "startedAt", "finishedAt", "containerID")


def _ordered_status(cs: Obj) -> Obj:
    """The fields in the order Kubernetes serializes a ContainerStatus."""
    out = {k: cs[k] for k in _STATUS_KEYS if k in cs}
    out.update({k: v for k, v in cs.items() if k not in out})
    for key in ("state", "lastState"):
        term = out[key].get("terminated") if isinstance(out.get(key), dict) else None
        if term is not None:
            out[key] = {"terminated": {k: term[k] for k in _TERMINATED_KEYS if k in term}}
    return out


# --- phase ------------------------------------------------------------------------------------------------


def _status_of(info: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((s for s in info if s.get("name") == name), None)


def any_regular_container_started(spec: Mapping[str, Any], info: Sequence[Mapping[str, Any]]) -> bool:
    """``HasAnyRegularContainerStarted``: a regular container is running or has run (so init is over)."""
    names = {c["name"] for c in spec.get("containers") or []}
    return any(s.get("name") in names and ("running" in s["state"] or "terminated" in s["state"]) for s in info)


def get_phase(pod: Mapping[str, Any], info: Sequence[Mapping[str, Any]], terminal: bool = False) -> str:
    """``getPhase``: the phase these container statuses add up to."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    pending_init = failed_init = 0
    for c in spec.get("initContainers") or []:
        if is_restartable_init(c):
            continue
        s = _status_of(info, c["name"])
        if s is None:
            pending_init += 1
            continue
        state, last = s["state"], s.get("lastState") or {}
        if "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode") != 0
        elif "waiting" in state:
            if "terminated" in last:
                failed_init += last["terminated"].get("exitCode") != 0
            else:
                pending_init += 1
        else:
            pending_init += 1

    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or []:
        if not is_restartable_init(c):
            continue
        s = _status_of(info, c["name"])
        if s is None:
            unknown += 1
            continue
        state, last = s["state"], s.get("lastState") or {}
        if "running" in state:
            if not s.get("started"):
                pending_init += 1
            running += 1
        elif "terminated" in state:
            pass  # a stopped sidecar does not count towards the phase
        elif "waiting" in state:
            if "terminated" not in last:
                pending_init += 1
                waiting += 1
        else:
            pending_init += 1
            unknown += 1

    for c in spec.get("containers") or []:
        s = _status_of(info, c["name"])
        if s is None:
            unknown += 1
            continue
        state, last = s["state"], s.get("lastState") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "waiting" in state:
            if "terminated" in last:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1

    if failed_init > 0 and policy == "Never":
        return "Failed"
    if (pending_init > 0 and not any_regular_container_started(spec, info)) or waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"  # all of them are restarting
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"  # OnFailure, restarting the failed ones
    return "Pending"


# --- conditions -------------------------------------------------------------------------------------------


def _condition(kind: str, status: bool | str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": status if isinstance(status, str) else ("True" if status else "False")}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _ordered_condition(cond: Obj) -> Obj:
    out = {"type": cond["type"], "status": cond["status"], "lastProbeTime": cond.get("lastProbeTime"),
           "lastTransitionTime": cond.get("lastTransitionTime")}
    out.update({k: v for k, v in cond.items() if k not in out})
    return out


def _go_list(names: Sequence[str]) -> str:
    return "[" + " ".join(names) + "]"  # fmt's %s of a []string


def containers_ready_condition(spec: Mapping[str, Any], info: Sequence[Mapping[str, Any]], phase: str) -> Obj:
    """``GenerateContainersReadyCondition``: every regular container and sidecar ready."""
    unknown: list[str] = []
    unready: list[str] = []
    for c in [c for c in spec.get("initContainers") or [] if is_restartable_init(c)] + \
            list(spec.get("containers") or []):
        s = _status_of(info, c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition(CONTAINERS_READY, False, POD_COMPLETED)
    if phase == "Failed":
        return _condition(CONTAINERS_READY, False, POD_FAILED)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return _condition(CONTAINERS_READY, False, CONTAINERS_NOT_READY, ", ".join(messages))
    return _condition(CONTAINERS_READY, True)


def ready_condition(spec: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]],
                    info: Sequence[Mapping[str, Any]], phase: str) -> Obj:
    """``GeneratePodReadyCondition``: containers ready, and every readiness gate's condition True."""
    containers = containers_ready_condition(spec, info, phase)
    if containers["status"] != "True":
        return _condition(READY, containers["status"], containers.get("reason", ""), containers.get("message", ""))
    messages = []
    for gate in spec.get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        cond = next((c for c in conditions if c.get("type") == kind), None)
        if cond is None:
            messages.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif cond.get("status") != "True":
            messages.append(f'the status of pod readiness gate "{kind}" is not "True", but {cond.get("status")}')
    if messages:
        return _condition(READY, False, READINESS_GATES_NOT_READY, ", ".join(messages))
    return _condition(READY, True)


def initialized_condition(spec: Mapping[str, Any], info: Sequence[Mapping[str, Any]], phase: str) -> Obj:
    """``GeneratePodInitializedCondition``: every init container done (a sidecar: started)."""
    unknown: list[str] = []
    incomplete: list[str] = []
    for c in spec.get("initContainers") or []:
        s = _status_of(info, c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not (s.get("started") if is_restartable_init(c) else s.get("ready")):
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition(INITIALIZED, True, POD_COMPLETED)
    if any_regular_container_started(spec, info):
        return _condition(INITIALIZED, True)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_go_list(incomplete)}")
    if messages:
        return _condition(INITIALIZED, False, CONTAINERS_NOT_INITIALIZED, ", ".join(messages))
    return _condition(INITIALIZED, True)
