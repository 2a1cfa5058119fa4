"""The Container Runtime Interface's data, as the kubelet and the simulated runtime exchange it.

A real kubelet never runs a container itself: it asks a runtime (containerd,
CRI-O) through the CRI, a gRPC API of about twenty calls
(``k8s.io/cri-api/pkg/apis/runtime/v1/api.proto``). kubesim keeps that seam:
the kubelet (:mod:`actors.kubelet`) decides, the runtime
(:mod:`actors.runtime.runtime`) simulates, and what passes between them is
these records, named and shaped as in the proto (snake_case, times in cluster
seconds rather than nanoseconds). Reading a kubelet's logs or ``crictl``
output, a user meets the same words: sandbox, attempt, CONTAINER_EXITED,
OOMKilled.

The calls themselves (RunPodSandbox, CreateContainer, StartContainer, ...)
are the methods of :class:`actors.runtime.runtime.ContainerRuntime`; their
failures are :class:`CriError` with the gRPC-style code a kubelet acts on.

Pure data: frozen, slotted dataclasses; nothing here runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SandboxState:
    """PodSandboxState."""

    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState:
    """ContainerState."""

    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class Reason:
    """The ``reason`` a runtime gives an exited container (what the kubelet copies into ``terminated.reason``)."""

    COMPLETED = "Completed"
    """Exit code 0."""
    ERROR = "Error"
    """A non-zero exit code."""
    OOM_KILLED = "OOMKilled"
    """Killed by the kernel for exceeding its memory limit (exit code 137)."""
    CONTAINER_CANNOT_RUN = "ContainerCannotRun"
    """The runtime could not start it (a command that does not exist, say)."""


class Code:
    """gRPC status codes the kubelet distinguishes in a runtime's errors."""

    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    FAILED_PRECONDITION = "FailedPrecondition"
    INVALID_ARGUMENT = "InvalidArgument"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """ExecSync's command did not finish within its timeout (an exec probe times out)."""
    UNKNOWN = "Unknown"


class CriError(Exception):
    """A failed CRI call: its code and a message naming what was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ImagePullError(CriError):
    """PullImage failed: the image does not exist, or the registry refused (the kubelet's ErrImagePull)."""

    def __init__(self, image: str, message: str) -> None:
        super().__init__(Code.NOT_FOUND, message)
        self.image = image


@dataclass(frozen=True, slots=True)
class PodSandboxMetadata:
    """Who a sandbox is for: the pod's name, namespace and uid, and which attempt this is."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class PodSandboxConfig:
    """RunPodSandbox's request: the pod's metadata and what its network namespace gets."""

    metadata: PodSandboxMetadata
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pod_ip: str = ""
    """The IP the pod's network namespace gets. A real CNI plugin picks it from the node's podCIDR;
    in kubesim the kubelet allocates it and passes it here."""


@dataclass(frozen=True, slots=True)
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: str
    """A :class:`SandboxState`."""
    created_at: float
    ip: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerMetadata:
    name: str
    attempt: int = 0
    """How many times the kubelet has created this container before: its restart count."""


@dataclass(frozen=True, slots=True)
class ContainerPort:
    container_port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """CreateContainer's request: what to run, with what, limited to what."""

    metadata: ContainerMetadata
    image: str
    command: tuple[str, ...] = ()
    """The image's entrypoint replaced (the pod's ``command``), if given."""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[ContainerPort, ...] = ()
    memory_limit_bytes: int = 0
    """0: no limit."""
    cpu_millis: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    """The kubelet copies the pod's annotations here, so a behaviour annotation reaches the runtime."""
    mounts: tuple[dict[str, Any], ...] = ()
    """What the kubelet prepared for the container's volumeMounts: ``{"container_path", "host_path", "readonly"}``."""
    stdin: bool = False
    """The pod's ``stdin``: an open stdin keeps ``cat`` or an interactive shell running (closed, they exit at once)."""
    tty: bool = False
    """The pod's ``tty``: a shell with a terminal waits for input instead of exiting."""


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """ContainerStatus: where a container is in its life, and how it ended."""

    id: str
    sandbox_id: str
    metadata: ContainerMetadata
    image: str
    image_ref: str
    state: str
    """A :class:`ContainerState`."""
    created_at: float
    started_at: float = 0.0
    """0: not started."""
    finished_at: float = 0.0
    """0: not finished."""
    exit_code: int = 0
    reason: str = ""
    """For an exited container, a :class:`Reason`."""
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    memory_bytes: int = 0
    """Its working set now (what the kubelet's summary API reports)."""


@dataclass(frozen=True, slots=True)
class Image:
    """An image the node holds."""

    id: str
    """``sha256:...``, the same for every node that pulled the same name."""
    repo_tags: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ExecResult:
    """ExecSync's answer."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a container wrote (CRI's log format: time, stream, text)."""

    time: float
    stream: str
    """``stdout`` or ``stderr``."""
    text: str


class EventType:
    """The runtime's event feed, named as the kubelet's PLEG names what it sees (``pkg/kubelet/pleg``)."""

    CONTAINER_STARTED = "ContainerStarted"
    CONTAINER_DIED = "ContainerDied"
    CONTAINER_REMOVED = "ContainerRemoved"
    CONTAINER_LOGGED = "ContainerLogged"
    """Lines a container wrote since the last event feed (for ``logs -f``; the kubelet may ignore them)."""


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """One change to one container, as ``ContainerRuntime.advance`` reports it."""

    type: str
    """An :class:`EventType`."""
    container_id: str
    sandbox_id: str
    pod_uid: str
    container_name: str
    attempt: int
    time: float
    """When it happened (cluster seconds)."""
    exit_code: int = 0
    """For ContainerDied."""
    reason: str = ""
    """For ContainerDied: a :class:`Reason`."""
    lines: tuple[LogLine, ...] = ()
    """For ContainerLogged."""
