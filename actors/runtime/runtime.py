"""One node's container runtime — containerd behind the CRI — simulated, with time passed in.

The kubelet drives a node's runtime through the CRI calls (pull an image,
run a pod sandbox, create/start/stop/remove containers, list, status, exec,
logs) and learns what changed from its event feed (the PLEG). This is that
runtime's pure core: :class:`ContainerRuntime` keeps the node's images,
sandboxes and containers; a container's process is its
:class:`~actors.runtime.catalogue.Behaviour`, so whether it is running,
listening, healthy, how much memory it holds and what it has logged are all
computed from when it started and ``now``.

Calls that take real time in containerd return *when* they are done instead
of blocking — ``pull_image`` (the download), ``start_container`` (the task
start), ``stop_container`` (SIGTERM, the grace period, SIGKILL) — and the
actor around the core replies or sets a timer accordingly. Everything that
happens later by itself (a process starting, a batch job finishing, a
crasher crashing, a leaker crossing its memory limit and being OOMKilled, a
SIGKILL at the end of a grace period) is a scheduled transition: every call
first applies those due by its ``now``, ``advance(now)`` returns the events
they produced, and ``next_event_at()`` says when the next one falls, for the
actor's timer.

What the kubelet needs after a kubelet-only restart is listable here:
sandboxes and containers carry the pod's name, namespace and uid and the
container's name and attempt as labels (``io.kubernetes.pod.uid``...), as the
real kubelet's are.

Images are pulled over one link per node (``bandwidth_bytes_per_s``,
first come first served, so pulls queue as they would share it); two pulls
of one image share one download. Log lines are kept per container, the last
``log_lines_cap`` of them, and written lazily: a line's existence and time
come from the behaviour, and they are materialised when something reads or
advances past them.

Pure: no sockets, no clock; ids and pull jitter come from the ``rng`` given.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from actors.runtime import catalogue
from actors.runtime.catalogue import MB, Behaviour, behaviour_for, http_answer, render
from actors.runtime.cri import (
    Code,
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    ContainerStatus,
    CriError,
    EventType,
    ExecResult,
    Image,
    ImagePullError,
    LogLine,
    PodSandboxConfig,
    PodSandboxStatus,
    Reason,
    SandboxState,
)
from actors.runtime.shell import (
    BUILTINS,
    STDERR,
    STDOUT,
    Files,
    Outcome,
    Shell,
    ShellSyntaxError,
    command_script,
    parse,
)

DEFAULT_BANDWIDTH_BYTES_PER_S = 50 * MB
"""A node's download speed from registries."""
PULL_LATENCY_S = (0.05, 0.25)
"""Registry round trips (resolve, manifest, config) added to every download, drawn from the rng."""
LOG_LINES_CAP = 1000
"""Lines kept per container (containerd rotates its log files; the kubelet shows the newest)."""
SIGKILL_EXIT_CODE = 137
CANNOT_RUN_EXIT_CODE = 128

# The labels the real kubelet puts on sandboxes and containers (pkg/kubelet/types/labels.go).
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"

_LOCALHOST = ("localhost", "127.0.0.1", "::1", "[::1]")
_LENIENT_TOOLS = frozenset({"nslookup", "dig", "host", "ping", "getent", "apk", "apt-get", "apt", "yum", "pip",
                            "cp", "mv", "chmod", "chown", "ln", "sed", "awk", "cut", "tr", "sort", "uniq",
                            "head", "wc", "xargs", "find", "stat", "du", "df", "free", "uptime", "sync", "mount"})
"""Utilities an exec may run that kubesim does not model: they succeed, printing nothing."""


# --- state ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _ImageRecord:
    image: Image
    ready_at: float
    """When the download completes (-inf: preloaded)."""


@dataclass(slots=True)
class _Sandbox:
    id: str
    config: PodSandboxConfig
    created_at: float
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str = SandboxState.READY
    container_ids: list[str] = field(default_factory=list)

    def reserved_name(self) -> str:
        m = self.config.metadata
        return f"{m.name}_{m.namespace}_{m.uid}_{m.attempt}"


@dataclass(slots=True)
class _Container:
    id: str
    sandbox_id: str
    config: ContainerConfig
    behaviour: Behaviour
    argv: tuple[str, ...]
    image_ref: str
    created_at: float
    labels: dict[str, str]
    annotations: dict[str, str]
    log: deque[LogLine]
    state: str = ContainerState.CREATED
    running_at: float | None = None
    """Set by StartContainer: when the process runs (it is RUNNING from then)."""
    exit_at: float | None = None
    """When it will exit: the earliest of its own end, the OOM kill and the end of a stop."""
    exit_code: int = 0
    exit_cause: str = ""
    """``natural`` | ``oom`` | ``term`` | ``kill`` | ``cannot-run``."""
    finished_at: float = 0.0
    reason: str = ""
    message: str = ""
    written_until_s: float = -1.0
    """The behaviour's lines up to this offset from ``running_at`` are in ``log``."""
    lines_total: int = 0
    lines_reported: int = 0
    file_events: list[tuple[float, str, str | None]] = field(default_factory=list)
    """Files exec'd commands changed (absolute times)."""
    signalled: bool = False


# --- the runtime ---------------------------------------------------------------------------------------


class ContainerRuntime:
    """One node's runtime: its images, pod sandboxes and containers."""

    def __init__(self, rng: random.Random, *, bandwidth_bytes_per_s: float = DEFAULT_BANDWIDTH_BYTES_PER_S,
                 log_lines_cap: int = LOG_LINES_CAP, preloaded: Iterable[str] = (catalogue.PAUSE_IMAGE,)) -> None:
        assert bandwidth_bytes_per_s > 0 and log_lines_cap > 0
        self._rng = rng
        self._bandwidth = bandwidth_bytes_per_s
        self._cap = log_lines_cap
        self._images: dict[str, _ImageRecord] = {}
        self._link_free_at = -math.inf
        self._sandboxes: dict[str, _Sandbox] = {}
        self._sandbox_names: dict[str, str] = {}
        self._by_ip: dict[str, list[str]] = {}
        self._containers: dict[str, _Container] = {}
        self._container_names: dict[tuple[str, str, int], str] = {}
        self._timers: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._events: list[ContainerEvent] = []
        for ref in preloaded:
            self._images[catalogue.normalize_image(ref)] = _ImageRecord(_image(ref), -math.inf)

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(256):064x}"

    # -- images ------------------------------------------------------------------------------------------

    def pull_image(self, image: str, now: float) -> float:
        """PullImage: when ``image`` will be present (``now`` if it already is).

        Raises :class:`ImagePullError` for an image that does not exist
        (:func:`catalogue.pull_error`). A pull of an image already being
        downloaded shares that download.
        """
        problem = catalogue.pull_error(image)
        if problem is not None:
            raise ImagePullError(image, problem)
        ref = catalogue.normalize_image(image)
        record = self._images.get(ref)
        if record is not None:
            return max(now, record.ready_at)
        size = catalogue.image_size_bytes(image)
        start = max(now, self._link_free_at)
        self._link_free_at = start + size / self._bandwidth
        ready_at = self._link_free_at + self._rng.uniform(*PULL_LATENCY_S)
        self._images[ref] = _ImageRecord(_image(image), ready_at)
        return ready_at

    def image_status(self, image: str, now: float) -> Image | None:
        """ImageStatus: the image if the node holds it at ``now`` (not while it is still downloading)."""
        try:
            record = self._images.get(catalogue.normalize_image(image))
        except ValueError:
            return None
        return record.image if record is not None and record.ready_at <= now else None

    def list_images(self, now: float) -> list[Image]:
        return sorted((r.image for r in self._images.values() if r.ready_at <= now), key=lambda i: i.repo_tags)

    def remove_image(self, image: str) -> None:
        """RemoveImage: idempotent (containers already created from it keep running, as in containerd)."""
        try:
            self._images.pop(catalogue.normalize_image(image), None)
        except ValueError:
            pass

    # -- sandboxes ---------------------------------------------------------------------------------------

    def run_pod_sandbox(self, config: PodSandboxConfig, now: float) -> str:
        """RunPodSandbox: a READY sandbox with the pod's network namespace (``config.pod_ip``)."""
        self._settle(now)
        m = config.metadata
        name = f"{m.name}_{m.namespace}_{m.uid}_{m.attempt}"
        if name in self._sandbox_names:
            raise CriError(Code.ALREADY_EXISTS, f'failed to reserve sandbox name "{name}": name "{name}" is'
                                                f' reserved for "{self._sandbox_names[name]}"')
        labels = {**config.labels}
        labels.setdefault(POD_NAME_LABEL, m.name)
        labels.setdefault(POD_NAMESPACE_LABEL, m.namespace)
        labels.setdefault(POD_UID_LABEL, m.uid)
        sandbox = _Sandbox(self._new_id(), config, now, labels, dict(config.annotations))
        self._sandboxes[sandbox.id] = sandbox
        self._sandbox_names[name] = sandbox.id
        if config.pod_ip:
            self._by_ip.setdefault(config.pod_ip, []).append(sandbox.id)
        return sandbox.id

    def stop_pod_sandbox(self, sandbox_id: str, now: float) -> None:
        """StopPodSandbox: its containers are killed (SIGKILL), its network goes; idempotent."""
        self._settle(now)
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        for cid in sandbox.container_ids:
            self._kill(self._containers[cid], now)
        self._settle(now)
        sandbox.state = SandboxState.NOTREADY

    def remove_pod_sandbox(self, sandbox_id: str, now: float) -> None:
        """RemovePodSandbox: stops it if needed and removes it and its containers; idempotent."""
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        self.stop_pod_sandbox(sandbox_id, now)
        for cid in list(sandbox.container_ids):
            self.remove_container(cid, now)
        del self._sandboxes[sandbox_id]
        self._sandbox_names.pop(sandbox.reserved_name(), None)
        ips = self._by_ip.get(sandbox.config.pod_ip, [])
        if sandbox_id in ips:
            ips.remove(sandbox_id)
            if not ips:
                del self._by_ip[sandbox.config.pod_ip]

    def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus:
        return _sandbox_status(self._sandbox(sandbox_id))

    def list_pod_sandboxes(self, state: str | None = None,
                           labels: Mapping[str, str] | None = None) -> list[PodSandboxStatus]:
        """ListPodSandbox, filtered by state and by labels (all must match), oldest first."""
        return [_sandbox_status(s) for s in self._sandboxes.values()
                if (state is None or s.state == state) and _matches(s.labels, labels)]

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise CriError(Code.NOT_FOUND, f'an error occurred when try to find sandbox "{sandbox_id}": not found')
        return sandbox

    # -- containers --------------------------------------------------------------------------------------

    def create_container(self, sandbox_id: str, config: ContainerConfig, now: float) -> str:
        """CreateContainer: a CREATED container whose behaviour the catalogue picked.

        Raises NotFound (no such sandbox, or the image is not on the node),
        FailedPrecondition (the sandbox is not ready), AlreadyExists (this
        name and attempt exist in the sandbox), InvalidArgument (a malformed
        behaviour annotation).
        """
        self._settle(now)
        sandbox = self._sandbox(sandbox_id)
        if sandbox.state != SandboxState.READY:
            raise CriError(Code.FAILED_PRECONDITION, f'sandbox "{sandbox_id}" is not ready')
        image = self.image_status(config.image, now)
        if image is None:
            raise CriError(Code.NOT_FOUND, f'failed to get image "{config.image}": not found: pull it first')
        key = (sandbox_id, config.metadata.name, config.metadata.attempt)
        if key in self._container_names:
            name = f"{config.metadata.name}_{sandbox.reserved_name()}"
            raise CriError(Code.ALREADY_EXISTS, f'failed to reserve container name "{name}": name "{name}" is'
                                                f' reserved for "{self._container_names[key]}"')
        pod_annotations = {**sandbox.annotations, **config.annotations}
        behaviour = behaviour_for(config, pod_annotations,
                                  hostname=sandbox.config.hostname or sandbox.config.metadata.name)
        labels = {**config.labels}
        for name in (POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL):
            labels.setdefault(name, sandbox.labels[name])
        labels.setdefault(CONTAINER_NAME_LABEL, config.metadata.name)
        annotations = {**config.annotations}
        annotations.setdefault(RESTART_COUNT_ANNOTATION, str(config.metadata.attempt))
        repository = catalogue.image_repository(config.image)
        container = _Container(
            self._new_id(), sandbox_id, config, behaviour,
            tuple(catalogue.effective_argv(config, catalogue.image_info(config.image))),
            f"{repository}@{image.id}", now, labels, annotations, deque(maxlen=self._cap))
        self._containers[container.id] = container
        self._container_names[key] = container.id
        sandbox.container_ids.append(container.id)
        return container.id

    def start_container(self, container_id: str, now: float) -> float:
        """StartContainer: when the process will be running (RUNNING, and a ContainerStarted event, from then).

        A command that cannot run leaves the container EXITED (128,
        ContainerCannotRun) and raises CriError, as containerd's StartError.
        """
        self._settle(now)
        c = self._container(container_id)
        if c.state != ContainerState.CREATED or c.running_at is not None:
            raise CriError(Code.FAILED_PRECONDITION, f'container "{container_id}" is in {c.state} state, not'
                                                     f" {ContainerState.CREATED}")
        if self._sandboxes[c.sandbox_id].state != SandboxState.READY:
            raise CriError(Code.FAILED_PRECONDITION, f'sandbox "{c.sandbox_id}" is not ready')
        b = c.behaviour
        if b.cannot_run:
            c.running_at = now
            c.state, c.finished_at, c.exit_code = ContainerState.EXITED, now, CANNOT_RUN_EXIT_CODE
            c.exit_cause, c.reason, c.message = "cannot-run", Reason.CONTAINER_CANNOT_RUN, b.cannot_run
            self._emit(c, EventType.CONTAINER_DIED, now)
            raise CriError(Code.UNKNOWN, b.cannot_run)
        c.running_at = now + b.start_delay_s
        self._schedule(c.running_at, "run", c.id)
        if b.run_s is not None and not math.isinf(b.run_s):
            self._offer_exit(c, c.running_at + b.run_s, b.exit_code, "natural")
        oom_s = catalogue.oom_after_s(b, c.config.memory_limit_bytes)
        if oom_s is not None:
            self._offer_exit(c, c.running_at + oom_s, SIGKILL_EXIT_CODE, "oom")
        self._settle(now)  # with no start delay it is RUNNING as StartContainer returns, as in containerd
        return c.running_at

    def stop_container(self, container_id: str, timeout_s: float, now: float) -> float:
        """StopContainer: SIGTERM, then SIGKILL after ``timeout_s``; returns when the container has exited.

        How it reacts to SIGTERM is its behaviour's: exit promptly (0, 143),
        or ignore it and be killed at the timeout (137). ``timeout_s`` 0 is
        SIGKILL at once. A container never started, or already exited, is
        left as it is.
        """
        self._settle(now)
        c = self._container(container_id)
        if c.state == ContainerState.EXITED:
            return c.finished_at
        if c.running_at is None:
            return now
        self._terminate(c, max(now, c.running_at), timeout_s, now)
        self._settle(now)
        if c.state == ContainerState.EXITED:
            return c.finished_at
        return c.exit_at if c.exit_at is not None else math.inf

    def remove_container(self, container_id: str, now: float) -> None:
        """RemoveContainer: a running container is killed first; idempotent."""
        self._settle(now)
        c = self._containers.get(container_id)
        if c is None:
            return
        self._kill(c, now)
        self._settle(now)
        del self._containers[container_id]
        self._container_names.pop((c.sandbox_id, c.config.metadata.name, c.config.metadata.attempt), None)
        sandbox = self._sandboxes.get(c.sandbox_id)
        if sandbox is not None:
            sandbox.container_ids.remove(container_id)
        self._emit(c, EventType.CONTAINER_REMOVED, now)

    def container_status(self, container_id: str, now: float) -> ContainerStatus:
        self._settle(now)
        return self._status(self._container(container_id), now)

    def list_containers(self, sandbox_id: str | None = None, state: str | None = None,
                        labels: Mapping[str, str] | None = None, now: float | None = None) -> list[ContainerStatus]:
        """ListContainers, filtered by sandbox, state and labels, in creation order (as of ``now``, if given)."""
        if now is not None:
            self._settle(now)
        at = now if now is not None else -math.inf
        return [self._status(c, at) for c in self._containers.values()
                if (sandbox_id is None or c.sandbox_id == sandbox_id) and (state is None or c.state == state)
                and _matches(c.labels, labels)]

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise CriError(Code.NOT_FOUND, f'an error occurred when try to find container "{container_id}": not'
                                           " found")
        return c

    def _status(self, c: _Container, now: float) -> ContainerStatus:
        running = c.state == ContainerState.RUNNING
        return ContainerStatus(
            id=c.id, sandbox_id=c.sandbox_id, metadata=c.config.metadata, image=c.config.image,
            image_ref=c.image_ref, state=c.state, created_at=c.created_at,
            started_at=c.running_at if c.running_at is not None and c.state != ContainerState.CREATED else 0.0,
            finished_at=c.finished_at, exit_code=c.exit_code, reason=c.reason, message=c.message,
            labels=dict(c.labels), annotations=dict(c.annotations),
            memory_bytes=self._memory(c, now) if running else 0)

    # -- time --------------------------------------------------------------------------------------------

    def advance(self, now: float) -> list[ContainerEvent]:
        """Applies everything due by ``now`` and returns what happened since the last call, in order:
        ContainerStarted, ContainerDied (with exit code and reason), ContainerRemoved, then a
        ContainerLogged per container that wrote lines."""
        self._settle(now)
        for c in self._containers.values():
            if c.state == ContainerState.RUNNING:
                self._write_until(c, now)
        events, self._events = self._events, []
        for c in self._containers.values():
            fresh = min(c.lines_total - c.lines_reported, len(c.log))
            if fresh > 0:
                lines = tuple(itertools.islice(c.log, len(c.log) - fresh, None))
                events.append(self._event(c, EventType.CONTAINER_LOGGED, lines[-1].time, lines=lines))
            c.lines_reported = c.lines_total
        return events

    def next_event_at(self) -> float | None:
        """When ``advance`` next has a lifecycle event to report (a start, an exit); None: nothing scheduled.
        Log lines are not counted: they are written whenever something reads or advances."""
        if self._events:
            return min(e.time for e in self._events)
        while self._timers:
            at, _, what, cid = self._timers[0]
            if self._timer_valid(at, what, cid):
                return at
            heapq.heappop(self._timers)
        return None

    def _schedule(self, at: float, what: str, container_id: str) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), what, container_id))

    def _timer_valid(self, at: float, what: str, cid: str) -> bool:
        c = self._containers.get(cid)
        if c is None:
            return False
        if what == "run":
            return c.state == ContainerState.CREATED and c.running_at == at
        return c.state != ContainerState.EXITED and c.running_at is not None and c.exit_at == at

    def _settle(self, now: float) -> None:
        """Applies the transitions due by ``now``, in time order."""
        while self._timers and self._timers[0][0] <= now:
            at, _, what, cid = heapq.heappop(self._timers)
            if not self._timer_valid(at, what, cid):
                continue
            c = self._containers[cid]
            if what == "run":
                c.state = ContainerState.RUNNING
                self._emit(c, EventType.CONTAINER_STARTED, at)
            else:
                self._exit(c, at)

    def _offer_exit(self, c: _Container, at: float, code: int, cause: str) -> None:
        """A way the process may end; the earliest wins."""
        if c.exit_at is None or at < c.exit_at:
            c.exit_at, c.exit_code, c.exit_cause = at, code, cause
            self._schedule(at, "exit", c.id)

    def _exit(self, c: _Container, at: float) -> None:
        assert c.running_at is not None
        self._write_until(c, at)
        if c.exit_cause == "natural":
            for stream, text in c.behaviour.exit_lines:
                self._write(c, at, stream, text, 0)
        c.state, c.finished_at = ContainerState.EXITED, at
        c.reason = Reason.OOM_KILLED if c.exit_cause == "oom" else \
            Reason.COMPLETED if c.exit_code == 0 else Reason.ERROR
        self._emit(c, EventType.CONTAINER_DIED, at)

    def _terminate(self, c: _Container, at: float, grace_s: float, now: float) -> None:
        """SIGTERM at ``at``; SIGKILL ``grace_s`` later if it has not exited (never, for ``inf``)."""
        b = c.behaviour
        if grace_s <= 0:
            self._offer_exit(c, at, SIGKILL_EXIT_CODE, "kill")
            return
        if b.on_sigterm == catalogue.SIGTERM_EXIT:
            if not c.signalled and at <= now:
                self._write_until(c, at)
                for stream, text in b.stop_lines:
                    self._write(c, at, stream, text, 0)
            if b.shutdown_s <= grace_s:
                self._offer_exit(c, at + b.shutdown_s, b.sigterm_exit_code, "term")
        c.signalled = True
        if not math.isinf(grace_s):
            self._offer_exit(c, at + grace_s, SIGKILL_EXIT_CODE, "kill")

    def _kill(self, c: _Container, now: float) -> None:
        """SIGKILL now; a container still starting never runs."""
        if c.state == ContainerState.RUNNING:
            self._offer_exit(c, now, SIGKILL_EXIT_CODE, "kill")
        elif c.state == ContainerState.CREATED and c.running_at is not None:
            c.running_at, c.exit_at = None, None  # its timers no longer match: the start is cancelled

    def _emit(self, c: _Container, kind: str, at: float) -> None:
        self._events.append(self._event(c, kind, at))

    def _event(self, c: _Container, kind: str, at: float, lines: tuple[LogLine, ...] = ()) -> ContainerEvent:
        died = kind == EventType.CONTAINER_DIED
        return ContainerEvent(kind, c.id, c.sandbox_id, c.labels.get(POD_UID_LABEL, ""), c.config.metadata.name,
                              c.config.metadata.attempt, at, c.exit_code if died else 0, c.reason if died else "",
                              lines)

    # -- logs and memory ---------------------------------------------------------------------------------

    def _values(self, c: _Container, t: float, n: int = 0) -> dict[str, object]:
        sandbox = self._sandboxes.get(c.sandbox_id)
        meta = sandbox.config.metadata if sandbox else None
        ports = c.behaviour.ports
        return {"pod": meta.name if meta else "", "namespace": meta.namespace if meta else "",
                "container": c.config.metadata.name, "ip": sandbox.config.pod_ip if sandbox else "",
                "port": ports[0] if ports else "", "t": t, "n": n,
                "memory_mib": self._memory(c, t) // catalogue.MIB}

    def _write(self, c: _Container, t: float, stream: str, template: str, n: int,
               extra: Mapping[str, object] | None = None) -> None:
        values = self._values(c, t, n)
        if extra:
            values.update(extra)
        c.log.append(LogLine(t, stream, render(template, values)))
        c.lines_total += 1

    def _write_until(self, c: _Container, t: float) -> None:
        """Writes the behaviour's lines up to time ``t`` (not past its exit)."""
        if c.running_at is None or t < c.running_at:
            return
        if c.exit_at is not None:
            t = min(t, c.exit_at)
        until_s = t - c.running_at
        if until_s <= c.written_until_s:
            return
        for offset, stream, text, n in catalogue.lines_between(c.behaviour, c.written_until_s, until_s, self._cap):
            self._write(c, c.running_at + offset, stream, text, n)
        c.written_until_s = until_s

    def _memory(self, c: _Container, t: float) -> int:
        if c.running_at is None:
            return 0
        used = catalogue.memory_bytes(c.behaviour, t - c.running_at)
        limit = c.config.memory_limit_bytes
        return min(used, limit) if limit > 0 else used

    def logs(self, container_id: str, tail: int | None = None, since: float | None = None,
             now: float | None = None) -> list[LogLine]:
        """What the container wrote (its last ``log_lines_cap`` lines), from ``since``, the last ``tail``."""
        if now is not None:
            self._settle(now)
        c = self._container(container_id)
        if now is not None and c.state == ContainerState.RUNNING:
            self._write_until(c, now)
        lines = [line for line in c.log if since is None or line.time >= since]
        return lines[-tail:] if tail is not None and tail > 0 else [] if tail == 0 else lines

    def stats(self, now: float) -> dict[str, int]:
        """Working-set bytes of each running container (what the kubelet's summary API reports)."""
        self._settle(now)
        return {c.id: self._memory(c, now) for c in self._containers.values() if c.state == ContainerState.RUNNING}

    # -- the network -------------------------------------------------------------------------------------

    def _listener(self, ip: str, port: int, now: float) -> _Container | None:
        for sandbox_id in self._by_ip.get(ip, ()):
            listener = self._sandbox_listener(self._sandboxes[sandbox_id], port, now)
            if listener is not None:
                return listener
        return None

    def _sandbox_listener(self, sandbox: _Sandbox, port: int, now: float) -> _Container | None:
        if sandbox.state != SandboxState.READY:
            return None
        for cid in sandbox.container_ids:
            c = self._containers[cid]
            if (c.state == ContainerState.RUNNING and port in c.behaviour.ports and c.running_at is not None
                    and now >= c.running_at + c.behaviour.ready_after_s):
                return c
        return None

    def tcp_connect(self, ip: str, port: int, now: float) -> bool:
        """Whether a TCP connection to ``ip:port`` is accepted at ``now``."""
        self._settle(now)
        return self._listener(ip, port, now) is not None

    def http_get(self, ip: str, port: int, path: str, now: float, *, client_ip: str = "",
                 user_agent: str = "kubesim") -> tuple[int, str] | None:
        """An HTTP GET of ``path`` on ``ip:port``: ``(status, body)``, or None if the connection is refused
        (nothing listens there yet, or the container is not running). Status 0: the listener does not
        speak HTTP. Servers that keep an access log write a line."""
        self._settle(now)
        c = self._listener(ip, port, now)
        if c is None:
            return None
        return self._answer(c, port, path or "/", now, client_ip, user_agent)

    def _answer(self, c: _Container, port: int, path: str, now: float, client_ip: str,
                user_agent: str) -> tuple[int, str]:
        assert c.running_at is not None
        values = {**self._values(c, now), "port": port, "client": client_ip or "-"}
        status, body = http_answer(c.behaviour, path, now - c.running_at, values)
        if status and c.behaviour.access_log:
            self._write_until(c, now)
            self._write(c, now, STDOUT, c.behaviour.access_log, 0,
                        {"port": port, "client": client_ip or "-", "method": "GET", "path": path,
                         "status": status, "bytes": len(body.encode()), "ua": user_agent})
        return status, body

    # -- exec ----------------------------------------------------------------------------------------------

    def exec_sync(self, container_id: str, cmd: Iterable[str], now: float,
                  timeout_s: float | None = None) -> ExecResult:
        """ExecSync: runs ``cmd`` in the running container at ``now``.

        Understood: the shell (``sh -c`` with :mod:`actors.runtime.shell`'s
        subset), ``true``/``false``, ``cat``/``test``/``ls`` of the files the
        behaviour or earlier execs made (``/tmp/healthy``) and of volume
        mounts, ``echo``, ``sleep``, the image's clients (``redis-cli ping``,
        ``pg_isready``, ``mysqladmin ping``), ``wget``/``curl`` of
        ``localhost`` or a pod on this node (any other host is assumed to
        answer: this core cannot see other nodes or DNS), ``nc -z``, ``kill``
        of PID 1 (a signal: ``kill 1`` is SIGTERM), ``ps``; ``nslookup``,
        ``ping`` and similar succeed silently. A command not found exits 126
        run directly, 127 from a shell. Raises FailedPrecondition if the
        container is not running, DeadlineExceeded if the command takes
        longer than ``timeout_s`` (or never ends).
        """
        self._settle(now)
        c = self._container(container_id)
        argv = list(cmd)
        if c.state != ContainerState.RUNNING:
            raise CriError(Code.FAILED_PRECONDITION, f'container "{container_id}" is not running')
        if not argv:
            raise CriError(Code.INVALID_ARGUMENT, "cmd must not be empty")
        host = _ExecHost(self, c, now)
        name = argv[0].rsplit("/", 1)[-1]
        if not host.can_run(name):
            return ExecResult(126, "", "OCI runtime exec failed: exec failed: unable to start container process:"
                                       f' exec: "{argv[0]}": executable file not found in $PATH: unknown')
        files = Files(self._files_at(c, now), mounts=_mount_paths(c.config))
        sandbox = self._sandboxes[c.sandbox_id]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
               "HOSTNAME": sandbox.config.hostname or sandbox.config.metadata.name, **c.config.env}
        shell = Shell(host, env=env, files=files, t=now)
        try:
            if name in catalogue.SHELLS and "-c" in argv:
                i = argv.index("-c")
                script = parse(argv[i + 1] if i + 1 < len(argv) else "")
            else:
                script = command_script(argv)
            end = shell.run(script)
        except ShellSyntaxError as e:
            return ExecResult(2, "", f"sh: syntax error: {e}")
        took_s = math.inf if end.forever else end.t - now
        if took_s > (timeout_s if timeout_s else math.inf) or math.isinf(took_s):
            raise CriError(Code.DEADLINE_EXCEEDED, f"command {argv!r} timed out after {timeout_s or 0:g}s")
        c.file_events.extend(files.events)
        self._settle(now)
        out = "".join(text + "\n" for _, stream, text in shell.out if stream == STDOUT)
        err = "".join(text + "\n" for _, stream, text in shell.out if stream == STDERR)
        return ExecResult(end.code, out, err)

    def _files_at(self, c: _Container, t: float) -> dict[str, str]:
        """The files a container has at ``t``: its behaviour's changes, then execs' (each in time order)."""
        assert c.running_at is not None
        changes = [(c.running_at + f.at_s, f.path, f.text) for f in c.behaviour.files] + c.file_events
        files: dict[str, str] = {}
        for at, path, text in sorted(changes, key=lambda x: x[0]):
            if at > t:
                break
            if text is None:
                files.pop(path, None)
            else:
                files[path] = text
        return files

    def _signal(self, c: _Container, signal: str, now: float) -> None:
        """A signal sent to PID 1 from inside the container (``kill``)."""
        if signal in ("KILL", "9"):
            self._offer_exit(c, now, SIGKILL_EXIT_CODE, "kill")
        elif signal in ("TERM", "15", "INT", "2", "QUIT", "3"):
            self._terminate(c, now, math.inf, now)


# --- exec's world --------------------------------------------------------------------------------------


class _ExecHost:
    """What an exec'd command finds around it: the image's programs, the pod's network, PID 1."""

    def __init__(self, runtime: ContainerRuntime, c: _Container, now: float) -> None:
        self.rt = runtime
        self.c = c
        self.now = now

    def can_run(self, name: str) -> bool:
        b = self.c.behaviour
        own = {a.rsplit("/", 1)[-1] for a in self.c.argv[:1]}
        if any(t.argv[0] == name for t in b.tools) or name in own:
            return True
        if not b.has_shell:
            return False
        return (name in BUILTINS or name in catalogue.SHELLS or name in _EXEC_PROGRAMS or name in _LENIENT_TOOLS)

    def date(self, t: float) -> str:
        return catalogue.time_fields(t)["date"]

    def external(self, argv: list[str], shell: Shell) -> Outcome:
        name = argv[0].rsplit("/", 1)[-1]
        tool = next((t for t in self.c.behaviour.tools
                     if t.argv[0] == name and all(w in argv[1:] for w in t.argv[1:])), None)
        if tool is not None:
            up = tool.port == 0 or self._local(tool.port) is not None
            return Outcome(0, tool.up) if up else Outcome(tool.down_exit_code, tool.down)
        if name in _EXEC_PROGRAMS:
            return _EXEC_PROGRAMS[name](self, argv)
        if name in _LENIENT_TOOLS or name in {a.rsplit("/", 1)[-1] for a in self.c.argv[:1]}:
            return Outcome(0)
        return Outcome(127, stderr=f"sh: {argv[0]}: not found")

    def _sandbox(self) -> _Sandbox:
        return self.rt._sandboxes[self.c.sandbox_id]

    def _local(self, port: int) -> _Container | None:
        return self.rt._sandbox_listener(self._sandbox(), port, self.now)

    def _connect(self, host: str, port: int) -> _Container | None | bool:
        """The container answering ``host:port``; None: refused; True: somewhere kubesim cannot see (assumed up)."""
        if host in _LOCALHOST or host == self._sandbox().config.pod_ip:
            return self._local(port)
        if host in self.rt._by_ip:
            return self.rt._listener(host, port, self.now)
        return True

    def http(self, argv: list[str]) -> Outcome:
        """``wget``/``curl``: of localhost or a pod on this node, really; of anywhere else, assumed to work."""
        curl = argv[0].rsplit("/", 1)[-1] == "curl"
        args = argv[1:]
        url = next((a for a in args if "://" in a), None) or next(
            (a for a in args if not a.startswith("-") and not a.isdigit() and re.match(r"^[\w.\-\[\]:]+(/|$)", a)
             and args[max(args.index(a) - 1, 0)] not in ("-o", "-O", "-w", "-T", "-H", "-m")), "")
        match = re.match(r"^(?:(\w+)://)?(\[[^\]]+\]|[^/:]+)(?::(\d+))?(/.*)?$", url)
        if not match:
            return Outcome(3, stderr="curl: (3) URL rejected") if curl else Outcome(1, stderr="wget: bad address")
        scheme, host, port_text, path = match.groups()
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        target = self._connect(host, port)
        if target is None:
            if curl:
                return Outcome(7, stderr=f"curl: (7) Failed to connect to {host} port {port} after 0 ms: Couldn't"
                                         " connect to server")
            return Outcome(1, stderr=f"wget: can't connect to remote host ({host}): Connection refused")
        if target is True:
            return Outcome(0)
        assert isinstance(target, _Container)
        status, body = self.rt._answer(target, port, path or "/", self.now, "127.0.0.1",
                                       "curl/8.5.0" if curl else "Wget")
        if status == 0:
            return Outcome(52, stderr="curl: (52) Empty reply from server") if curl else \
                Outcome(1, stderr="wget: error getting response")
        return _curl_result(args, status, body) if curl else _wget_result(args, status, body)

    def nc(self, argv: list[str]) -> Outcome:
        words = [a for a in argv[1:] if not a.startswith("-")]
        if len(words) < 2 or not words[-1].isdigit():
            return Outcome(1)
        target = self._connect(words[-2], int(words[-1]))
        return Outcome(0) if target is not None else Outcome(1)

    def kill(self, argv: list[str]) -> Outcome:
        signal, pids = "TERM", []
        args = argv[1:]
        i = 0
        while i < len(args):
            word = args[i]
            if word == "-s" and i + 1 < len(args):
                signal, i = args[i + 1].upper().removeprefix("SIG"), i + 2
                continue
            if word.startswith("-") and len(word) > 1:
                signal = word[1:].upper().removeprefix("SIG")
            else:
                pids.append(word)
            i += 1
        if pids != ["1"]:
            return Outcome(1, stderr=f"kill: can't kill pid {pids[0] if pids else ''}: No such process")
        self.rt._signal(self.c, signal, self.now)
        return Outcome(0)

    def ps(self, argv: list[str]) -> Outcome:
        return Outcome(0, "PID   USER     TIME  COMMAND\n    1 root      0:00 " + " ".join(self.c.argv))


_EXEC_PROGRAMS = {
    "wget": _ExecHost.http, "curl": _ExecHost.http, "nc": _ExecHost.nc, "ncat": _ExecHost.nc,
    "netcat": _ExecHost.nc, "kill": _ExecHost.kill, "ps": _ExecHost.ps,
}


def _curl_result(args: list[str], status: int, body: str) -> Outcome:
    """curl prints the body (unless ``-o``), ``-w '%{http_code}'``, and fails only with ``-f``."""
    fail = "--fail" in args or any(a.startswith("-") and not a.startswith("--") and "f" in a for a in args)
    if fail and status >= 400:
        return Outcome(22, stderr=f"curl: (22) The requested URL returned error: {status}")
    out = "" if "-o" in args else body
    if "-w" in args and args.index("-w") + 1 < len(args):
        out += args[args.index("-w") + 1].replace("%{http_code}", str(status)).replace("\\n", "\n")
    return Outcome(0, out.rstrip("\n"))


def _wget_result(args: list[str], status: int, body: str) -> Outcome:
    """wget fails on 4xx/5xx (exit 8) and prints the body only with ``-O-``."""
    if status >= 400:
        return Outcome(8, stderr=f"wget: server returned error: HTTP/1.1 {status}")
    to_stdout = any(a in ("-O-", "-qO-", "-qO", "--output-document=-") for a in args) or (
        "-O" in args and args.index("-O") + 1 < len(args) and args[args.index("-O") + 1] == "-")
    return Outcome(0, body.rstrip("\n") if to_stdout else "")


# --- helpers -------------------------------------------------------------------------------------------


def _image(ref: str) -> Image:
    return Image(catalogue.image_id(ref), (catalogue.normalize_image(ref),), catalogue.image_size_bytes(ref))


def _sandbox_status(s: _Sandbox) -> PodSandboxStatus:
    return PodSandboxStatus(s.id, s.config.metadata, s.state, s.created_at, s.config.pod_ip, dict(s.labels),
                            dict(s.annotations))


def _matches(labels: Mapping[str, str], selector: Mapping[str, str] | None) -> bool:
    return not selector or all(labels.get(k) == v for k, v in selector.items())


def _mount_paths(config: ContainerConfig) -> tuple[str, ...]:
    return tuple(str(m["container_path"]) for m in config.mounts if m.get("container_path"))
