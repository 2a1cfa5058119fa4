"""Liveness, readiness and startup probes: the state each probe worker keeps.

This is ``pkg/kubelet/prober/worker.go`` (one worker per container and probe
type) and the parts of ``prober_manager.go`` that read its results, split at
the point where Kubernetes' worker makes a network call:

- :meth:`ProbeWorker.tick` is ``doProbe`` up to the probe itself: it notices a
  new container (and resets the result to the type's initial value), stops on
  a terminal pod, holds off for ``initialDelaySeconds``, lets only the startup
  probe run until the container has started, and says whether to probe now;
- the actor runs the probe (:func:`resolve_target` says what to ask the
  runtime: an HTTP GET, a TCP connect, a command) within ``timeoutSeconds``;
- :meth:`ProbeWorker.record` is the rest of ``doProbe``: consecutive results
  are counted against ``successThreshold`` / ``failureThreshold`` and only a
  run that reaches its threshold changes the published result. A liveness or
  startup failure puts the worker on hold until the container is replaced (the
  kubelet kills and restarts it: see :mod:`actors.kubelet.podsync`).

Initial results, as Kubernetes has them: readiness Failure (not ready until a
probe succeeds), liveness Success, startup Unknown. Timing: a worker ticks
every ``periodSeconds`` from when it was created (when the pod was added), the
first tick at once; a readiness worker can also be triggered early (the
kubelet does so while a started container is not ready yet).

Pure: ``now`` (cluster seconds, the clock the CRI's ``started_at`` uses) is
passed in; no probe is run here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.apiserver.fielderrors import (
    FieldError,
    Path,
    aggregate,
    forbidden,
    invalid,
    required,
)
from actors.runtime import cri


class ProbeType:
    """The three probe kinds (``probeType.String()``: what events and logs say)."""

    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    #: The container field each lives in.
    FIELD = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
    #: prober_manager.go AddPod's order.
    ALL = (STARTUP, READINESS, LIVENESS)


class Result:
    """A probe's outcome (``results.Result``), and ERROR: the prober could not run
    the probe at all (a port name that resolves to nothing, say), which
    Kubernetes throws away rather than counts."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"
    ERROR = "Error"


#: The value a worker publishes for a container it has just seen (newWorker's initialValue).
INITIAL_RESULT = {ProbeType.READINESS: Result.FAILURE, ProbeType.LIVENESS: Result.SUCCESS,
                  ProbeType.STARTUP: Result.UNKNOWN}

#: Handler fields a probe may carry; exactly one (validation.go validateHandler).
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


class ProbeResults(Protocol):
    """What pod sync and pod status read from the probers (the results managers)."""

    def result(self, container_name: str, probe_type: str, container_id: str) -> str | None:
        """The published result for this container instance; None when there is none yet."""

    def has_probe(self, container_name: str, probe_type: str) -> bool:
        """Whether a worker of this type exists for the container."""


# --- the spec -----------------------------------------------------------------------------------------


class InvalidProbe(ValueError):
    """A probe Kubernetes' validation would refuse; ``errors`` are its field errors."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(aggregate(errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One probe with Kubernetes' defaults applied (``SetDefaults_Probe``)."""

    probe_type: str
    action: str
    """Which handler: ``httpGet``, ``tcpSocket``, ``exec`` or ``grpc``."""
    handler: Mapping[str, Any] = field(compare=False)
    """That handler's body, as the pod spec has it."""
    initial_delay_s: int = 0
    period_s: int = 10
    timeout_s: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_s: int | None = None
    """The probe-level grace period for a kill this probe causes (liveness and startup only)."""


def probe_spec(probe: Mapping[str, Any], probe_type: str, *, path: Path | None = None) -> ProbeSpec:
    """``probe`` defaulted and validated (``SetDefaults_Probe``, ``validateProbe``,
    ``validateHandler`` and the per-type rules of ``validateContainers``).

    Zero or missing counts take the defaults (timeout 1 s, period 10 s,
    success 1, failure 3), as the API server's defaulting does. Raises
    :class:`InvalidProbe` with Kubernetes' field errors.
    """
    where = path if path is not None else Path(ProbeType.FIELD[probe_type])
    errors: list[FieldError] = []

    def count(name: str, default: int) -> int:
        value = probe.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(invalid(where.child(name), value, "must be an integer"))
            return default
        if value < 0:
            errors.append(invalid(where.child(name), value, "must be greater than or equal to 0"))
        return value or default

    initial_delay_s = count("initialDelaySeconds", 0)
    timeout_s = count("timeoutSeconds", 1)
    period_s = count("periodSeconds", 10)
    success = count("successThreshold", 1)
    failure = count("failureThreshold", 3)
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None:
        if probe_type == ProbeType.READINESS:
            errors.append(invalid(where.child("terminationGracePeriodSeconds"), grace,
                                  "must not be set for readinessProbes"))
        elif not isinstance(grace, int) or isinstance(grace, bool) or grace <= 0:
            errors.append(invalid(where.child("terminationGracePeriodSeconds"), grace, "must be greater than 0"))
    if probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP) and success != 1:
        errors.append(invalid(where.child("successThreshold"), success, "must be 1"))
    actions = [name for name in _PROBE_HANDLERS if probe.get(name) is not None]
    if not actions:
        errors.append(required(where, "must specify a handler type"))
    elif len(actions) > 1:
        errors.append(forbidden(where.child(actions[1]), "may not specify more than 1 handler type"))
    if errors:
        raise InvalidProbe(errors)
    return ProbeSpec(probe_type=probe_type, action=actions[0], handler=probe[actions[0]],
                     initial_delay_s=initial_delay_s, period_s=period_s, timeout_s=timeout_s,
                     success_threshold=success, failure_threshold=failure,
                     termination_grace_period_s=grace)


# --- what to ask the runtime ------------------------------------------------------------------------


class ProbeError(Exception):
    """The probe cannot be run as written (``runProbe`` returning an error)."""


@dataclass(frozen=True, slots=True)
class HttpGetTarget:
    """An HTTP GET: ``url`` is what the kubelet's prober requests."""

    scheme: str
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # net.JoinHostPort
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class TcpSocketTarget:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class ExecTarget:
    """A command to run in the container (ExecSync); exit code 0 is success."""

    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GrpcTarget:
    host: str
    port: int
    service: str = ""


@dataclass(frozen=True, slots=True)
class SleepTarget:
    """A lifecycle hook's ``sleep`` action (preStop only, not a probe)."""

    seconds: int


Target = HttpGetTarget | TcpSocketTarget | ExecTarget | GrpcTarget | SleepTarget


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """``probe.ResolveContainerPort``: a number, or the name of one of the
    container's ports (a name that matches none may still be a number in a string)."""
    if isinstance(port, bool):
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if isinstance(port, int):
        number = port
    elif isinstance(port, str):
        named = [p for p in container.get("ports") or [] if p.get("name") == port]
        if named:
            number = int(named[0].get("containerPort", -1))
        else:
            try:
                number = int(port)  # strconv.Atoi: the last-ditch attempt
            except ValueError:
                raise ProbeError(f"port {port} not found") from None
    else:
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if 0 < number < 65536:
        return number
    raise ProbeError(f"invalid port number: {number}")


_EXPANSION = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand_command(command: Iterable[str], env: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """``ExpandContainerCommandOnlyStatic``: ``$(VAR)`` from the container's plain
    ``env`` values (not valueFrom), ``$$`` for a literal ``$``; an unknown
    ``$(VAR)`` stays as written."""
    values = {e["name"]: str(e.get("value", "")) for e in env if "name" in e and "valueFrom" not in e}

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    return tuple(_EXPANSION.sub(one, str(part)) for part in command)


def resolve_target(handler_holder: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str) -> Target:
    """What to ask the runtime for a probe (or a lifecycle hook): ``handler_holder``
    is the probe (or ``lifecycle.preStop``) with one of exec, httpGet, tcpSocket,
    grpc (or sleep). Follows ``prober.go runProbe`` and
    ``NewRequestForHTTPGetAction``: host defaults to the pod IP, scheme to
    http (lower-cased), named ports resolve against the container's ports.
    Raises :class:`ProbeError` when the probe cannot be run."""
    if (http := handler_holder.get("httpGet")) is not None:
        scheme = str(http.get("scheme") or "HTTP").lower()
        host = http.get("host") or pod_ip
        headers = tuple((str(h.get("name", "")), str(h.get("value", "")))
                        for h in http.get("httpHeaders") or [])
        return HttpGetTarget(scheme, host, resolve_port(http.get("port"), container),
                             str(http.get("path") or ""), headers)
    if (tcp := handler_holder.get("tcpSocket")) is not None:
        return TcpSocketTarget(tcp.get("host") or pod_ip, resolve_port(tcp.get("port"), container))
    if (exec_ := handler_holder.get("exec")) is not None:
        return ExecTarget(expand_command(exec_.get("command") or [], container.get("env") or []))
    if (grpc := handler_holder.get("grpc")) is not None:
        port = grpc.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ProbeError(f"invalid port number: {port}")
        return GrpcTarget(pod_ip, port, str(grpc.get("service") or ""))
    if (sleep := handler_holder.get("sleep")) is not None:
        return SleepTarget(int(sleep.get("seconds", 0)))
    raise ProbeError("missing probe handler")


def unhealthy_message(probe_type: str, output: str) -> str:
    """The Unhealthy event's message for a failed probe: ``Liveness probe failed: <output>``."""
    return f"{probe_type} probe failed: {output}"


# --- one worker ---------------------------------------------------------------------------------------


class ProbeWorker:
    """One container's probe of one type: ``worker.go``'s fields and ``doProbe``."""

    __slots__ = ("probe_type", "spec", "container_name", "container_id", "result", "last_result",
                 "result_run", "on_hold", "stopped", "in_flight", "_triggered", "_anchor_s", "_next_tick_s")

    def __init__(self, spec: ProbeSpec, container_name: str, *, now: float) -> None:
        self.probe_type = spec.probe_type
        self.spec = spec
        self.container_name = container_name
        self.container_id = ""
        """The container instance the worker is following ("" until it sees one)."""
        self.result: str | None = None
        """The published result for ``container_id`` (what the results manager holds)."""
        # Go's zero Result is Success, with a run of 0: the first result starts a run of 1 either way.
        self.last_result = Result.SUCCESS
        self.result_run = 0
        self.on_hold = False
        self.stopped = False
        self.in_flight = False
        self._triggered = False
        # run(): the first doProbe runs at once, then one per period on the ticker's grid.
        self._anchor_s = now
        self._next_tick_s = now

    def __repr__(self) -> str:
        return (f"ProbeWorker({self.container_name}/{self.probe_type} id={self.container_id or '-'} "
                f"result={self.result} run={self.last_result}x{self.result_run}"
                f"{' hold' if self.on_hold else ''}{' stopped' if self.stopped else ''})")

    def due(self, now: float) -> bool:
        """Whether :meth:`tick` should run now (a ticker tick or a manual trigger is pending)."""
        if self.stopped or self.in_flight:
            return False
        return self._triggered or now >= self._next_tick_s

    def next_due_s(self) -> float | None:
        """When the worker next wants a :meth:`tick`: -inf when triggered (at once), None when
        stopped or waiting for a probe's result."""
        if self.stopped or self.in_flight:
            return None
        return -math.inf if self._triggered else self._next_tick_s

    def trigger(self) -> None:
        """Run the next ``doProbe`` now rather than on the next tick (``manualTriggerCh``)."""
        self._triggered = True

    def result_for(self, container_id: str) -> str | None:
        return self.result if container_id and container_id == self.container_id else None

    def tick(self, now: float, status: cri.ContainerStatus | None, *, started: bool, phase: str = "",
             deleting: bool = False, restart_policy: str = "Always") -> bool:
        """``doProbe`` up to the probe: True when the caller should run the probe now
        (then :meth:`record` its result). ``status`` is the newest instance of the
        container (None: not created yet); ``started`` whether the container has
        started (its startup probe passed, or it has none)."""
        if self.stopped:
            return False
        self._consume_tick(now)
        if phase in ("Failed", "Succeeded"):
            # "Worker should terminate if pod is terminated."
            self.stopped = True
            return False
        if status is None or not status.id:
            return False  # not created yet: wait for more information
        if status.id != self.container_id:
            # A new container: publish the initial value for it and resume probing.
            self.container_id = status.id
            self.result = INITIAL_RESULT[self.probe_type]
            self.on_hold = False
        if self.on_hold:
            return False  # until there is a new container
        if status.state != cri.ContainerState.RUNNING:
            self.result = Result.FAILURE
            # Keep going unless the container will never be restarted.
            if status.state == cri.ContainerState.EXITED and restart_policy == "Never":
                self.stopped = True
            return False
        if deleting and self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP):
            # Graceful shutdown: a quiet last result, and no more probing.
            self.result = Result.SUCCESS
            self.stopped = True
            return False
        # int32(time.Since(startedAt).Seconds()) < InitialDelaySeconds: truncated seconds.
        if int(now - status.started_at) < self.spec.initial_delay_s:
            return False
        if started:
            if self.probe_type == ProbeType.STARTUP:
                return False  # its work is done, but it stays for a restarted container
        elif self.probe_type != ProbeType.STARTUP:
            return False  # other probes wait until the container has started
        self.in_flight = True
        return True

    def record(self, result: str, now: float) -> str | None:
        """The probe came back: count it. Returns the newly published result when
        this one changed it (Failure past the threshold, say), else None."""
        assert result in (Result.SUCCESS, Result.FAILURE, Result.ERROR), result
        self.in_flight = False
        if result == Result.ERROR:
            return None  # "Prober error, throw away the result."
        if self.last_result == result:
            self.result_run += 1
        else:
            self.last_result = result
            self.result_run = 1
        if (result == Result.FAILURE and self.result_run < self.spec.failure_threshold) or \
                (result == Result.SUCCESS and self.result_run < self.spec.success_threshold):
            return None  # below threshold: leave the published state unchanged
        previous, self.result = self.result, result
        if self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP) and result == Result.FAILURE:
            # The container will be killed and restarted; stop probing it until a new one appears.
            self.on_hold = True
            self.result_run = 0
        return result if result != previous else None

    def _consume_tick(self, now: float) -> None:
        self._triggered = False
        if now >= self._next_tick_s:
            period_s = self.spec.period_s
            ticks = math.floor((now - self._anchor_s) / period_s) + 1
            self._next_tick_s = self._anchor_s + ticks * period_s


# --- one pod ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """A probe the actor should run now, and where its result goes."""

    container_name: str
    probe_type: str
    container_id: str
    target: Target
    timeout_s: int


def _probed_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return list(spec.get("containers") or []) + sidecars


def _newest(statuses: Iterable[cri.ContainerStatus]) -> dict[str, cri.ContainerStatus]:
    newest: dict[str, cri.ContainerStatus] = {}
    for s in statuses:
        old = newest.get(s.metadata.name)
        if old is None or s.created_at > old.created_at:
            newest[s.metadata.name] = s
    return newest


class PodProbes:
    """Every probe worker of one pod (``prober_manager.go``'s AddPod, for this pod).

    Regular containers and sidecars (init containers with ``restartPolicy:
    Always``) get a worker per probe they declare. Implements
    :class:`ProbeResults` for :func:`actors.kubelet.podsync.compute_pod_actions`
    and :func:`actors.kubelet.podstatus.pod_status`.
    """

    def __init__(self, pod: Mapping[str, Any], *, now: float) -> None:
        self.restart_policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        self.containers = {c["name"]: c for c in _probed_containers(pod)}
        self.workers: dict[tuple[str, str], ProbeWorker] = {}
        for name, container in self.containers.items():
            for probe_type in ProbeType.ALL:
                probe = container.get(ProbeType.FIELD[probe_type])
                if probe is not None:
                    self.workers[(name, probe_type)] = ProbeWorker(probe_spec(probe, probe_type), name, now=now)

    def __repr__(self) -> str:
        return f"PodProbes({list(self.workers.values())})"

    # ProbeResults
    def result(self, container_name: str, probe_type: str, container_id: str) -> str | None:
        worker = self.workers.get((container_name, probe_type))
        return worker.result_for(container_id) if worker else None

    def has_probe(self, container_name: str, probe_type: str) -> bool:
        return (container_name, probe_type) in self.workers

    def started(self, container_name: str, status: cri.ContainerStatus | None) -> bool:
        """``isContainerStarted``: running, and its startup probe (if any) has succeeded."""
        if status is None or status.state != cri.ContainerState.RUNNING:
            return False
        result = self.result(container_name, ProbeType.STARTUP, status.id)
        if result is not None:
            return result == Result.SUCCESS
        return not self.has_probe(container_name, ProbeType.STARTUP)

    def due(self, now: float, statuses: Iterable[cri.ContainerStatus], *, pod_ip: str, phase: str = "",
            deleting: bool = False) -> list[ProbeRequest]:
        """Tick every worker that is due; the probes to run now. A probe whose
        target cannot be resolved is recorded as an error (thrown away) at once."""
        newest = _newest(statuses)
        requests: list[ProbeRequest] = []
        for (name, probe_type), worker in self.workers.items():
            if not worker.due(now):
                continue
            status = newest.get(name)
            if not worker.tick(now, status, started=self.started(name, status), phase=phase,
                               deleting=deleting, restart_policy=self.restart_policy):
                continue
            assert status is not None
            try:
                target = resolve_target(self.containers[name][ProbeType.FIELD[probe_type]],
                                        self.containers[name], pod_ip)
            except ProbeError:
                worker.record(Result.ERROR, now)
                continue
            requests.append(ProbeRequest(name, probe_type, status.id, target, worker.spec.timeout_s))
        return requests

    def record(self, container_name: str, probe_type: str, result: str, now: float) -> str | None:
        """A probe's result: see :meth:`ProbeWorker.record`."""
        return self.workers[(container_name, probe_type)].record(result, now)

    def trigger(self, container_name: str, probe_type: str) -> None:
        worker = self.workers.get((container_name, probe_type))
        if worker is not None:
            worker.trigger()

    def after_status(self, status: Mapping[str, Any]) -> None:
        """``UpdatePodStatus``'s side effect: a started container that is not ready
        yet gets its readiness probe run now rather than at the next tick."""
        for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if cs.get("started") and not cs.get("ready") and "running" in (cs.get("state") or {}):
                self.trigger(cs["name"], ProbeType.READINESS)

    def next_due_s(self) -> float | None:
        """The earliest time any worker wants a tick (for the actor's timer; -inf: at once)."""
        times = [t for w in self.workers.values() if (t := w.next_due_s()) is not None]
        return min(times) if times else None
