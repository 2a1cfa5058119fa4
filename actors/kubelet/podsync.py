"""What one pod sync should do: Kubernetes' ``computePodActions``, as a pure function.

Every time something about a pod changes (the API object, a container exits,
a probe flips, a backoff ends), a kubelet pod worker compares the pod spec
with what the runtime reports and decides, in this order
(``pkg/kubelet/kuberuntime/kuberuntime_manager.go``: ``computePodActions``,
``SyncPod``, ``doBackOff``; ``kuberuntime_container.go``:
``computeInitContainerActions``, ``findNextInitContainerToRun``,
``setTerminationGracePeriod``; ``pkg/kubelet/container/helpers.go``:
``ShouldContainerBeRestarted``; ``kuberuntime/util/util.go``:
``PodSandboxChanged``; ``pod_workers.go``: ``calculateEffectiveGracePeriod``):

1. a pod being deleted, or already Succeeded/Failed, is only killed (every
   running container, within its grace period, preStop first);
2. no ready sandbox → kill what is left and create one (a new *attempt*),
   then start from the first init container — unless the pod has run and
   must not restart (restartPolicy Never), or has nothing left to run;
3. init containers strictly in order; a failed one is retried, or fails
   the pod under restartPolicy Never. Sidecars (init containers with
   ``restartPolicy: Always``) start in order, each once the previous has
   started, are kept running and are restarted;
4. regular containers that are not running and should be (per
   restartPolicy) are started; running ones whose liveness or startup probe
   failed, or whose spec changed, are killed (and restarted);
5. nothing running and nothing to start → the pod is done: kill it;
6. every start of a container that exited before passes the CrashLoopBackOff
   gate (:func:`actors.kubelet.backoff.do_backoff`): in backoff, it is
   reported in :attr:`PodActions.backoff` instead of started.

The result is a :class:`PodActions`: data the actor carries out (stop, create
the sandbox, start init containers in order and stop at the first regular one
that fails to start, start containers) and logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.kubelet.backoff import (
    CRASH_LOOP_BACK_OFF,
    Backoff,
    container_hash,
    do_backoff,
)
from actors.kubelet.probes import ProbeResults, ProbeType, Result
from actors.runtime import cri

#: The runtime's name: the scheme of every ``containerID`` in a pod's status.
RUNTIME_NAME = "containerd"
#: Where the kubelet records, on each container it creates, the hash of the spec it created it from.
HASH_ANNOTATION = "io.kubernetes.container.hash"
#: kuberuntime_manager.go ``minimumGracePeriodInSeconds``: no container gets less to stop.
MINIMUM_GRACE_PERIOD_S = 2
#: The API default for ``terminationGracePeriodSeconds``.
DEFAULT_TERMINATION_GRACE_PERIOD_S = 30


class KillReason:
    """``containerKillReason``: why a container is stopped (it picks the grace period)."""

    LIVENESS_PROBE = "LivenessProbe"
    STARTUP_PROBE = "StartupProbe"
    UNKNOWN = "Unknown"
    SPEC_CHANGED = ""
    """Kubernetes leaves the reason empty for "definition changed"."""


class PodKillReason:
    """Why the whole pod is stopped (for logs; Kubernetes says it in log lines)."""

    SANDBOX_CHANGED = "SandboxChanged"
    DELETED = "Deleted"
    TERMINAL = "PodTerminal"
    INIT_FAILED = "InitContainerFailed"
    ALL_EXITED = "AllContainersExited"


# kubecontainer.State strings, for the messages that quote a container's state.
_STATE_WORD = {cri.ContainerState.CREATED: "created", cri.ContainerState.RUNNING: "running",
               cri.ContainerState.EXITED: "exited", cri.ContainerState.UNKNOWN: "unknown"}


@dataclass(frozen=True, slots=True)
class ContainerKill:
    """Stop one container: run its preStop hook, then StopContainer with what is left of the grace period."""

    name: str
    container_id: str
    reason: str
    """A :class:`KillReason`."""
    message: str
    """The Killing event's message, e.g. ``Container web failed liveness probe, will be restarted``."""
    grace_period_s: int
    """The whole budget, preStop included (see :func:`stop_timeout_s`)."""
    pre_stop: Mapping[str, Any] | None = None
    """``lifecycle.preStop`` to run first; None when there is none or no time for it."""


@dataclass(frozen=True, slots=True)
class BackoffWait:
    """A container that should start but is in CrashLoopBackOff."""

    name: str
    init: bool
    message: str
    """``back-off 20s restarting failed container=web pod=web-0_default(uid)``"""
    retry_at_s: float
    """When the backoff ends: sync the pod again then."""
    reason: str = CRASH_LOOP_BACK_OFF
    """The waiting reason to report (the kubelet's reason cache)."""


@dataclass(frozen=True, slots=True)
class PodActions:
    """The decisions of one sync (``podActions``), by container name."""

    kill_pod: bool = False
    """Stop every running container (:attr:`containers_to_kill` lists them) and the sandbox."""
    kill_pod_reason: str = ""
    """A :class:`PodKillReason`."""
    create_sandbox: bool = False
    sandbox_id: str = ""
    """The current sandbox (to stop, when one is created)."""
    attempt: int = 0
    """The new sandbox's attempt number (PodSandboxMetadata.attempt)."""
    init_containers_to_start: tuple[str, ...] = ()
    """In order. Stop at the first one that fails to start unless it is a sidecar."""
    containers_to_start: tuple[str, ...] = ()
    containers_to_kill: tuple[ContainerKill, ...] = ()
    """In stopping order; with :attr:`kill_pod`, regular containers first, then sidecars last to first."""
    backoff: tuple[BackoffWait, ...] = ()

    @property
    def idle(self) -> bool:
        """Nothing to do this time."""
        return not (self.kill_pod or self.create_sandbox or self.init_containers_to_start
                    or self.containers_to_start or self.containers_to_kill)

    def __str__(self) -> str:
        parts = []
        if self.kill_pod:
            parts.append(f"kill_pod({self.kill_pod_reason})")
        if self.create_sandbox:
            parts.append(f"create_sandbox(attempt={self.attempt})")
        if self.init_containers_to_start:
            parts.append(f"init={list(self.init_containers_to_start)}")
        if self.containers_to_start:
            parts.append(f"start={list(self.containers_to_start)}")
        if self.containers_to_kill:
            parts.append("kill=[" + ", ".join(f"{k.name}:{k.reason or 'changed'}/{k.grace_period_s}s"
                                               for k in self.containers_to_kill) + "]")
        if self.backoff:
            parts.append("backoff=[" + ", ".join(f"{b.name}@{b.retry_at_s:g}" for b in self.backoff) + "]")
        return " ".join(parts) or "idle"


# --- small rules other modules share ------------------------------------------------------------------


def api_container_id(container_id: str) -> str:
    """``ContainerID.String()``: ``containerd://<id>``."""
    return f"{RUNTIME_NAME}://{container_id}" if container_id else ""


def hash_annotation_value(container: Mapping[str, Any]) -> str:
    """The value of :data:`HASH_ANNOTATION` for a container created from this spec."""
    return f"{container_hash(container):x}"


def is_restartable_init(container: Mapping[str, Any]) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return container.get("restartPolicy") == "Always"


def restart_policy(pod: Mapping[str, Any]) -> str:
    return (pod.get("spec") or {}).get("restartPolicy") or "Always"


def newest_first(statuses: Iterable[cri.ContainerStatus]) -> list[cri.ContainerStatus]:
    """The runtime's containers newest first, as ``PodStatus.ContainerStatuses`` is sorted."""
    return sorted(statuses, key=lambda s: s.created_at, reverse=True)


def find_status(statuses: Sequence[cri.ContainerStatus], name: str) -> cri.ContainerStatus | None:
    """``FindContainerStatusByName`` over a newest-first list: the newest instance."""
    return next((s for s in statuses if s.metadata.name == name), None)


def should_container_be_restarted(container: Mapping[str, Any], pod: Mapping[str, Any],
                                  statuses: Sequence[cri.ContainerStatus]) -> bool:
    """``ShouldContainerBeRestarted`` (statuses newest first)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = find_status(statuses, container["name"])
    if status is None:
        return True
    if status.state == cri.ContainerState.RUNNING:
        return False
    if status.state in (cri.ContainerState.UNKNOWN, cri.ContainerState.CREATED):
        return True
    policy = restart_policy(pod)
    if policy == "Never":
        return False
    if policy == "OnFailure" and status.exit_code == 0:
        return False
    return True


def sandbox_changed(pod: Mapping[str, Any], sandbox: cri.PodSandboxStatus | None) -> tuple[bool, int, str]:
    """``PodSandboxChanged``: (a new sandbox is needed, its attempt, the current sandbox's id)."""
    if sandbox is None:
        return True, 0, ""
    attempt = sandbox.metadata.attempt
    if sandbox.state != cri.SandboxState.READY:
        return True, attempt + 1, sandbox.id
    if not (pod.get("spec") or {}).get("hostNetwork") and not sandbox.ip:
        return True, attempt + 1, sandbox.id
    return False, attempt, sandbox.id


def pod_grace_period_s(pod: Mapping[str, Any]) -> int:
    """``calculateEffectiveGracePeriod`` for a pod being stopped as a whole: the
    deletion's grace period, else the spec's (30 s by default), never below 1."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds") or 0
    if grace == 0:
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD_S) or 0
    return max(int(grace), 1)


def container_grace_period_s(pod: Mapping[str, Any], container: Mapping[str, Any], reason: str) -> int:
    """``setTerminationGracePeriod``: the deletion's grace period if the pod is
    being deleted; else a failed probe's own ``terminationGracePeriodSeconds``;
    else the pod's."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    pod_grace = spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD_S)
    if pod_grace is None:
        return MINIMUM_GRACE_PERIOD_S
    probe_field = {KillReason.STARTUP_PROBE: "startupProbe", KillReason.LIVENESS_PROBE: "livenessProbe"}.get(reason)
    probe = container.get(probe_field) if probe_field else None
    if probe and probe.get("terminationGracePeriodSeconds") is not None:
        return int(probe["terminationGracePeriodSeconds"])
    return int(pod_grace)


def stop_timeout_s(grace_period_s: int, pre_stop_elapsed_s: float = 0.0) -> int:
    """StopContainer's timeout after the preStop hook took ``pre_stop_elapsed_s``
    (whole seconds are subtracted, as Go truncates), never below 2 s."""
    return max(grace_period_s - int(pre_stop_elapsed_s), MINIMUM_GRACE_PERIOD_S)


# --- the decision -------------------------------------------------------------------------------------


def compute_pod_actions(pod: Mapping[str, Any], sandbox: cri.PodSandboxStatus | None,
                        container_statuses: Iterable[cri.ContainerStatus], *,
                        probes: ProbeResults | None, backoff: Backoff, now: float) -> PodActions:
    """What this sync should do for ``pod``, given the runtime's view of it.

    ``sandbox`` is the pod's newest sandbox; ``container_statuses`` every
    container the runtime still has for the pod (all attempts, any order).
    ``backoff`` is the kubelet's container backoff: a start it allows is
    recorded in it (``Next``), as the kubelet does just before starting, so
    call this once per sync and carry the result out.
    """
    statuses = newest_first(container_statuses)
    return _Sync(pod, sandbox, statuses, probes, backoff, now).run()


class _Sync:
    """One computePodActions + SyncPod's backoff gate; fields instead of a long argument list."""

    def __init__(self, pod: Mapping[str, Any], sandbox: cri.PodSandboxStatus | None,
                 statuses: list[cri.ContainerStatus], probes: ProbeResults | None, backoff: Backoff,
                 now: float) -> None:
        self.pod = pod
        self.spec = pod.get("spec") or {}
        self.sandbox = sandbox
        self.statuses = statuses
        self.probes = probes
        self.backoff = backoff
        self.now = now
        self.containers = list(self.spec.get("containers") or [])
        self.init_containers = list(self.spec.get("initContainers") or [])
        self.policy = restart_policy(pod)
        self.init_to_start: list[int] = []
        self.to_start: list[int] = []
        self.kills: dict[str, ContainerKill] = {}
        self.create = False
        """A new sandbox: everything running is stopped first."""
        self.kill_pod_now = False
        self.kill_reason = PodKillReason.ALL_EXITED

    # -- helpers
    def find(self, name: str) -> cri.ContainerStatus | None:
        return find_status(self.statuses, name)

    def probe(self, name: str, probe_type: str, container_id: str) -> str | None:
        return self.probes.result(name, probe_type, container_id) if self.probes else None

    def kill(self, container: Mapping[str, Any], status: cri.ContainerStatus, reason: str, message: str,
             grace_override_s: int | None = None) -> ContainerKill:
        grace = grace_override_s if grace_override_s is not None else \
            container_grace_period_s(self.pod, container, reason)
        pre_stop = (container.get("lifecycle") or {}).get("preStop") if grace > 0 else None
        return ContainerKill(container["name"], status.id, reason, message, grace, pre_stop)

    def kill_all(self, grace_override_s: int | None = None) -> tuple[ContainerKill, ...]:
        """Every running container, regular ones first and sidecars last to first
        (the termination ordering for pods with sidecars)."""
        by_name = {c["name"]: c for c in self.containers + self.init_containers}
        sidecars = [c["name"] for c in self.init_containers if is_restartable_init(c)]
        rank = {c["name"]: (0, i) for i, c in enumerate(self.containers)}
        rank.update({name: (1, -i) for i, name in enumerate(sidecars)})
        running = [s for s in self.statuses if s.state == cri.ContainerState.RUNNING]
        running.sort(key=lambda s: rank.get(s.metadata.name, (0, len(rank))))
        kills = []
        for s in running:
            container = by_name.get(s.metadata.name, {"name": s.metadata.name})
            kills.append(self.kill(container, s, KillReason.UNKNOWN, f"Stopping container {s.metadata.name}",
                                   grace_override_s))
        return tuple(kills)

    def kill_pod(self, reason: str, **more: Any) -> PodActions:
        return PodActions(kill_pod=True, kill_pod_reason=reason, containers_to_kill=self.kill_all(), **more)

    # -- the decision
    def run(self) -> PodActions:
        meta = self.pod.get("metadata") or {}
        phase = (self.pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp") or phase in ("Succeeded", "Failed"):
            # The pod worker's terminating path: stop everything, start nothing.
            reason = PodKillReason.DELETED if meta.get("deletionTimestamp") else PodKillReason.TERMINAL
            return PodActions(kill_pod=True, kill_pod_reason=reason,
                              containers_to_kill=self.kill_all(pod_grace_period_s(self.pod)))

        changed, attempt, sandbox_id = sandbox_changed(self.pod, self.sandbox)
        if changed:
            return self.new_sandbox(attempt, sandbox_id)

        if any(is_restartable_init(c) for c in self.init_containers):
            initialized = self.init_actions()
            if self.kill_pod_now or not initialized:
                return self.finish(sandbox_id, attempt)
        else:
            if not self.legacy_init_actions():
                return self.finish(sandbox_id, attempt)

        keep = 0
        for idx, container in enumerate(self.containers):
            status = self.find(container["name"])
            if status is None or status.state != cri.ContainerState.RUNNING:
                if should_container_be_restarted(container, self.pod, self.statuses):
                    self.to_start.append(idx)
                    if status is not None and status.state == cri.ContainerState.UNKNOWN:
                        # Maybe still running: kill before restarting, never two at once.
                        self.kills[status.id] = self.kill(
                            container, status, KillReason.UNKNOWN,
                            f'Container is in "{_STATE_WORD[status.state]}" state, try killing it before restart')
                continue
            name = container["name"]
            restart = self.policy != "Never"
            if _spec_changed(container, status):
                reason, message = KillReason.SPEC_CHANGED, f"Container {name} definition changed"
                restart = True  # the new spec runs whatever the restart policy
            elif self.probe(name, ProbeType.LIVENESS, status.id) == Result.FAILURE:
                reason, message = KillReason.LIVENESS_PROBE, f"Container {name} failed liveness probe"
            elif self.probe(name, ProbeType.STARTUP, status.id) == Result.FAILURE:
                reason, message = KillReason.STARTUP_PROBE, f"Container {name} failed startup probe"
            else:
                keep += 1
                continue
            if restart:
                message += ", will be restarted"
                self.to_start.append(idx)
            self.kills[status.id] = self.kill(container, status, reason, message)

        if keep == 0 and not self.to_start:
            # Nothing runs and nothing will: the pod is done (sidecars must not keep it alive).
            self.kill_pod_now = True
            self.init_to_start = []
        return self.finish(sandbox_id, attempt)

    def new_sandbox(self, attempt: int, sandbox_id: str) -> PodActions:
        """computePodActions' createPodSandbox branch."""
        if self.policy == "Never" and attempt != 0 and self.statuses:
            # It ran and must not run again: stop what is left, create nothing.
            return self.kill_pod(PodKillReason.SANDBOX_CHANGED, sandbox_id=sandbox_id, attempt=attempt)
        to_start = [i for i, c in enumerate(self.containers)
                    if not (self.policy == "OnFailure" and _succeeded(self.find(c["name"])))]
        if not to_start:
            if any(is_restartable_init(c) for c in self.init_containers):
                initialized = any(s.state in (cri.ContainerState.CREATED, cri.ContainerState.RUNNING,
                                              cri.ContainerState.EXITED)
                                  for c in self.containers if (s := self.find(c["name"])) is not None)
            else:
                _, _, initialized = _next_init_container(self.init_containers, self.containers, self.find)
            if initialized:
                return self.kill_pod(PodKillReason.SANDBOX_CHANGED, sandbox_id=sandbox_id, attempt=attempt)
        self.kill_pod_now = True
        self.create = True
        if self.init_containers:
            self.init_to_start = [0]
        else:
            self.to_start = to_start
        self.kill_reason = PodKillReason.SANDBOX_CHANGED
        return self.finish(sandbox_id, attempt)

    def legacy_init_actions(self) -> bool:
        """findNextInitContainerToRun's path (pods without sidecars); True when initialized."""
        last_failed, nxt, done = _next_init_container(self.init_containers, self.containers, self.find)
        if done:
            return True
        if nxt is not None:
            failed = last_failed is not None and _init_failed(last_failed)
            if failed and self.policy == "Never":
                self.kill_pod_now = True
                self.kill_reason = PodKillReason.INIT_FAILED
            else:
                if last_failed is not None and last_failed.state == cri.ContainerState.UNKNOWN:
                    self.kills[last_failed.id] = self.kill(
                        self.init_containers[nxt], last_failed, KillReason.UNKNOWN,
                        f'Init container is in "{_STATE_WORD[last_failed.state]}" state, '
                        f"try killing it before restart")
                self.init_to_start = [nxt]
        return False

    def init_actions(self) -> bool:
        """computeInitContainerActions (pods with sidecars); True when initialized."""
        initialized = False
        for c in self.containers:
            s = self.find(c["name"])
            # A Created or Running regular container means initialization happened; an Exited one
            # may be from a sandbox before a reboot, so it does not count.
            if s is not None and s.state in (cri.ContainerState.CREATED, cri.ContainerState.RUNNING):
                initialized = True
                break
        previously = initialized
        restart_on_failure = self.policy != "Never"
        for i in range(len(self.init_containers) - 1, -1, -1):
            c = self.init_containers[i]
            name, sidecar = c["name"], is_restartable_init(c)
            s = self.find(name)
            if s is None:
                if previously and sidecar:
                    self.init_to_start.append(i)
                continue
            if previously and not sidecar:
                continue  # after initialization only sidecars need to be kept running
            if s.state == cri.ContainerState.CREATED:
                self.init_to_start.append(i)  # created but never started: start it
            elif s.state == cri.ContainerState.RUNNING:
                if sidecar:
                    initialized = self.running_sidecar(i, c, s, previously, initialized)
            elif s.state == cri.ContainerState.EXITED:
                if sidecar:
                    self.init_to_start.append(i)
                elif _init_failed(s):
                    if not restart_on_failure:
                        self.kill_pod_now = True
                        self.kill_reason = PodKillReason.INIT_FAILED
                        self.init_to_start = []
                        return False
                    self.init_to_start.append(i)
                elif i == len(self.init_containers) - 1:
                    initialized = True
                else:
                    self.init_to_start.append(i + 1)
            else:  # unknown
                if not sidecar and not restart_on_failure:
                    self.kill_pod_now = True
                    self.kill_reason = PodKillReason.INIT_FAILED
                    self.init_to_start = []
                    return False
                self.kills[s.id] = self.kill(
                    c, s, KillReason.UNKNOWN,
                    f'Init container is in "{_STATE_WORD[s.state]}" state, try killing it before restart')
                self.init_to_start.append(i)
            previously = True
        if not previously:
            self.init_to_start.append(0)
        self.init_to_start.reverse()
        return initialized

    def running_sidecar(self, i: int, c: Mapping[str, Any], s: cri.ContainerStatus, previously: bool,
                        initialized: bool) -> bool:
        """A running sidecar: wait for its startup probe, then let the next init container go."""
        name = c["name"]
        if c.get("startupProbe") is not None:
            startup = self.probe(name, ProbeType.STARTUP, s.id)
            if startup is None:
                return initialized  # its startup probe has not run yet
            if startup != Result.SUCCESS:
                if startup == Result.FAILURE:
                    self.kills[s.id] = self.kill(c, s, KillReason.STARTUP_PROBE,
                                                 f"Init container {name} failed startup probe")
                    self.init_to_start.append(i)
                return initialized
        if i == len(self.init_containers) - 1:
            initialized = True
        elif not previously:
            self.init_to_start.append(i + 1)  # started for the first time: on to the next one
        if _spec_changed(c, s):
            self.kills[s.id] = self.kill(c, s, KillReason.SPEC_CHANGED, f"Init container {name} definition changed")
            self.init_to_start.append(i)
            return initialized
        if c.get("livenessProbe") is not None:
            if self.probe(name, ProbeType.LIVENESS, s.id) == Result.FAILURE:
                self.kills[s.id] = self.kill(c, s, KillReason.LIVENESS_PROBE,
                                             f"Init container {name} failed liveness probe")
                self.init_to_start.append(i)
        return initialized

    def finish(self, sandbox_id: str, attempt: int) -> PodActions:
        """SyncPod's side of the decision: the backoff gate on every start, in start order."""
        if self.kill_pod_now and not self.create:
            return self.kill_pod(self.kill_reason, sandbox_id=sandbox_id, attempt=attempt)
        waits: list[BackoffWait] = []
        init_names: list[str] = []
        aborted = False
        for i in self.init_to_start:
            c = self.init_containers[i]
            wait = self.gate(c, init=True)
            if wait is None:
                init_names.append(c["name"])
                continue
            waits.append(wait)
            if not is_restartable_init(c):
                aborted = True  # "Failed to initialize the pod ... aborting": nothing after it starts
                break
        names: list[str] = []
        if not aborted:
            for i in self.to_start:
                c = self.containers[i]
                wait = self.gate(c, init=False)
                if wait is None:
                    names.append(c["name"])
                else:
                    waits.append(wait)
        kills = self.kill_all() if self.kill_pod_now else tuple(self.kills.values())
        return PodActions(kill_pod=self.kill_pod_now, kill_pod_reason=self.kill_reason if self.kill_pod_now else "",
                          create_sandbox=self.create, sandbox_id=sandbox_id, attempt=attempt,
                          init_containers_to_start=tuple(init_names), containers_to_start=tuple(names),
                          containers_to_kill=kills, backoff=tuple(waits))

    def gate(self, container: Mapping[str, Any], *, init: bool) -> BackoffWait | None:
        """doBackOff for one start: None to go ahead (the backoff is advanced), else the wait."""
        name = container["name"]
        exited = next((s for s in self.statuses
                       if s.metadata.name == name and s.state == cri.ContainerState.EXITED), None)
        decision = do_backoff(self.backoff, self.pod, container, exited.finished_at if exited else None, self.now)
        if not decision.in_backoff:
            return None
        return BackoffWait(name, init, decision.message, decision.retry_at_s)


def _succeeded(status: cri.ContainerStatus | None) -> bool:
    """containerSucceeded: the newest instance has exited with 0."""
    return status is not None and status.state != cri.ContainerState.RUNNING and status.exit_code == 0


def _init_failed(status: cri.ContainerStatus) -> bool:
    """isInitContainerFailed: OOMKilled, exited non-zero, or unknown."""
    return (status.reason == cri.Reason.OOM_KILLED
            or (status.state == cri.ContainerState.EXITED and status.exit_code != 0)
            or status.state == cri.ContainerState.UNKNOWN)


def _spec_changed(container: Mapping[str, Any], status: cri.ContainerStatus) -> bool:
    """containerChanged: the hash recorded at creation differs from the spec's now."""
    recorded = status.annotations.get(HASH_ANNOTATION) or status.labels.get(HASH_ANNOTATION)
    return recorded is not None and recorded != hash_annotation_value(container)


def _next_init_container(init_containers: Sequence[Mapping[str, Any]], containers: Sequence[Mapping[str, Any]],
                         find: Any) -> tuple[cri.ContainerStatus | None, int | None, bool]:
    """findNextInitContainerToRun: (the last failed init container's status, the
    index of the init container to run next, whether initialization is done)."""
    if not init_containers:
        return None, None, True
    # A running regular container means the init containers ran, even if the runtime forgot them.
    if any((s := find(c["name"])) is not None and s.state == cri.ContainerState.RUNNING for c in containers):
        return None, None, True
    for i in range(len(init_containers) - 1, -1, -1):
        s = find(init_containers[i]["name"])
        if s is not None and _init_failed(s):
            return s, i, False
    for i in range(len(init_containers) - 1, -1, -1):
        s = find(init_containers[i]["name"])
        if s is None:
            continue
        if s.state == cri.ContainerState.RUNNING:
            return None, None, False
        if s.state == cri.ContainerState.EXITED:
            if i == len(init_containers) - 1:
                return None, None, True
            return None, i + 1, False
    return None, 0, False


__all__ = [
    "BackoffWait", "ContainerKill", "DEFAULT_TERMINATION_GRACE_PERIOD_S", "HASH_ANNOTATION", "KillReason",
    "MINIMUM_GRACE_PERIOD_S", "PodActions", "PodKillReason", "RUNTIME_NAME", "api_container_id",
    "compute_pod_actions", "container_grace_period_s", "find_status", "hash_annotation_value",
    "is_restartable_init", "newest_first", "pod_grace_period_s", "restart_policy", "sandbox_changed",
    "should_container_be_restarted", "stop_timeout_s",
]
