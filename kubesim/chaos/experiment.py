"""The experiment file (``config/chaos/*.yaml``): read once, checked before anything is touched.

An experiment says what to run against the cluster (workloads), what "healthy"
means (steady-state probes with expectations), which faults to inject when
(a timeline: ``at``, ``for``, ``every``, ``times``, against targets chosen by
name, role and selector), when to give up (abort conditions), how fast the
cluster must recover, and which checks judge the run. A mistake stops the run
before it starts, with the file and the key: ``config/chaos/x.yaml:
faults.1.target.select: Input should be 'one', 'minority', ... (got 'most')``.

All durations are cluster seconds, as every Kubernetes timing in kubesim is:
at ``time_scale: 10`` an experiment runs ten times faster, consistently. The
store's raft timers are the exception (real time, as etcd's are): a store
fault should last a few real seconds at the scale it is run at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: How a target's candidates are narrowed down.
SELECTORS = ("all", "one", "minority", "majority", "leader", "random")
PROCESS_ACTIONS = ("kill", "pause", "stop", "restart")
NETWORK_ACTIONS = ("partition", "isolate", "bridge")
MESSAGE_ACTIONS = ("drop", "delay", "duplicate", "reorder")
DISK_ACTIONS = ("fsync-error", "lose-unfsynced")
OTHER_ACTIONS = ("crash-actor", "clock-skew", "terminate-instance")
ACTIONS = PROCESS_ACTIONS + NETWORK_ACTIONS + MESSAGE_ACTIONS + DISK_ACTIONS + OTHER_ACTIONS
#: Actions that are over the moment they happen (nothing to heal; ``for`` makes no sense).
INSTANT_ACTIONS = ("restart", "fsync-error", "lose-unfsynced", "crash-actor")
#: Actors ``crash-actor`` can crash alone (the others go down with their process).
CRASHABLE_ACTORS = ("kubelet",)
PROBE_TYPES = ("nodes-ready", "deployment-available", "store-leader", "service-answers")
CHECKS = ("linearizable", "no-lost-writes", "raft", "pod-bindings", "surge-bound", "endpoints")


#: However fast the cluster's clock runs, probes run at most this often (real seconds): each round asks every
#: store member and the API server, and more would load a small machine more than the faults do.
MIN_PROBE_INTERVAL_REAL_S = 0.25


class ExperimentError(Exception):
    """The experiment file cannot be used; the message names the file, the key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    """Which processes a fault hits: by ``name``/``names`` or ``role`` (a component: store, node, ...),
    narrowed by ``select``. ``leader`` is the store's raft leader, or for the scheduler and the controller
    manager the holder of their leader Lease."""

    name: str | None = None
    names: list[str] | None = None
    role: str | None = None
    select: Literal["all", "one", "minority", "majority", "leader", "random"] = "all"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_way_of_naming(self) -> Target:
        given = [k for k in ("name", "names", "role") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a target gives exactly one of name, names or role (got {', '.join(given) or 'none'})")
        return self


class Fault(_Strict):
    """One fault on the timeline; ``every`` repeats it (``times`` occurrences, default: until ``duration_s``)."""

    name: str = ""
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    target: Target | None = None
    """Who is hit (process, actor, disk, clock and cloud faults; ``isolate``; ``bridge``'s members)."""
    groups: list[Union[Target, Literal["rest"]]] | None = None
    """``partition``: two sides; ``rest`` is every process not on the other side."""
    between: list[Union[Target, Literal["rest"]]] | None = None
    """Message faults: messages between these two sides (the second defaults to ``rest``)."""
    actor: str | None = None
    """``crash-actor``: which actor of the process (kubelet); message faults: only this actor's messages."""
    kinds: list[str] = Field(default_factory=lambda: ["*"])
    """Message faults: kinds matched (globs such as ``api.*``)."""
    one_way: bool = False
    """``partition``: only messages from the first group to the second are lost."""
    probability: float = Field(1.0, ge=0, le=1)
    delay_s: float = Field(0.0, ge=0, le=60)
    jitter_s: float = Field(0.0, ge=0, le=60)
    copies: int = Field(1, ge=1, le=100)
    window: int = Field(2, ge=2, le=1000)
    skew_s: float = Field(0.0, ge=-86400, le=86400)
    expect: list[Literal["writes-stop"]] = Field(default_factory=list)
    """What must hold while the fault lasts: ``writes-stop`` — no register write may succeed (from two election
    timeouts after it went in until it is healed): a store without a quorum must not accept writes."""
    at: float = Field(0.0, ge=0)
    for_s: float | None = Field(None, alias="for", gt=0)
    every: float | None = Field(None, gt=0)
    times: int | None = Field(None, ge=1, le=10_000)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _shape(self) -> Fault:
        a = self.action
        if a == "partition":
            if not self.groups or len(self.groups) != 2 or self.groups == ["rest", "rest"]:
                raise ValueError("partition needs groups: [TARGET, TARGET or rest]")
        elif a in MESSAGE_ACTIONS:
            if not self.between or not 1 <= len(self.between) <= 2 or self.between[0] == "rest":
                raise ValueError(f"{a} needs between: [TARGET] or [TARGET, TARGET or rest]")
        elif self.target is None:
            raise ValueError(f"{a} needs a target")
        if a == "crash-actor" and self.actor not in CRASHABLE_ACTORS:
            raise ValueError(f"crash-actor needs actor: one of {', '.join(CRASHABLE_ACTORS)} (got {self.actor!r})")
        if a == "clock-skew" and self.skew_s == 0:
            raise ValueError("clock-skew needs skew_s (seconds, either sign)")
        if a in INSTANT_ACTIONS and self.for_s is not None:
            raise ValueError(f"{a} is over at once; it takes no 'for'")
        if self.times is not None and self.times > 1 and self.every is None:
            raise ValueError("times > 1 needs every: the seconds between occurrences")
        return self

    @property
    def label(self) -> str:
        return self.name or self.action


class Probe(_Strict):
    """One steady-state probe. ``expect``: ``min`` (at least) or ``equals``; each type has a default.

    ``during`` says what a failure while faults are active means: ``ignore`` (recorded, not held against
    the cluster: the default) or ``tolerate_s`` (failing longer than that at a stretch fails the run).
    """

    name: str = ""
    type: Literal[PROBE_TYPES]  # type: ignore[valid-type]
    namespace: str = "default"
    deployment: str | None = None
    service: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    expect: dict[Literal["min", "equals"], int] = Field(default_factory=dict)
    tolerate_s: float | None = Field(None, ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _needs(self) -> Probe:
        if self.type == "deployment-available" and not self.deployment:
            raise ValueError("deployment-available needs deployment: NAME")
        if self.type == "service-answers" and not self.service:
            raise ValueError("service-answers needs service: NAME")
        if len(self.expect) > 1:
            raise ValueError("expect gives min or equals, not both")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        what = self.deployment or self.service
        return f"{self.type} {self.namespace}/{what}" if what else self.type


class SteadyState(_Strict):
    interval_s: float = Field(2.0, gt=0, le=3600)
    """How often every probe runs (cluster seconds; never more often than every MIN_PROBE_INTERVAL_REAL_S)."""
    before_within_s: float = Field(300.0, gt=0)
    """How long the steady state may take to hold before the faults start (a cluster just started)."""
    probes: list[Probe] = Field(default_factory=list)


class RegisterWorkload(_Strict):
    """Reads, writes and compare-and-set on a few keys of the store, checked for linearizability; and
    unique inserts (``add``) whose acknowledgement must survive every fault."""

    type: Literal["register"]
    keys: int = Field(3, ge=1, le=100)
    clients: int = Field(3, ge=1, le=100)
    """Clients per key, each doing one operation at a time."""
    rate: float = Field(50.0, gt=0, le=10_000)
    """Operations a second, all clients together (cluster seconds)."""
    timeout_s: float = Field(5.0, gt=0)
    """An operation unanswered after this long is recorded ``info`` (it may or may not have happened)."""
    read_from: Literal["leader", "any"] = "leader"
    """``any``: each client sends its reads to one member of its own (round robin), as etcd's clients balance
    them over every endpoint; a follower answers through a read-index round with the leader."""
    mix: dict[Literal["read", "write", "cas", "add"], float] = Field(
        default_factory=lambda: {"read": 0.4, "write": 0.3, "cas": 0.2, "add": 0.1})


class ChurnWorkload(_Strict):
    """A Deployment scaled and rolled to a new image, again and again, through the API server."""

    type: Literal["deployment-churn"]
    namespace: str = "chaos"
    deployment: str = "churn"
    every_s: float = Field(10.0, gt=0)
    replicas: tuple[int, int] = (1, 4)
    images: list[str] = Field(default_factory=lambda: ["nginx:1.27", "nginx:1.26"])
    timeout_s: float = Field(10.0, gt=0)


class ServiceWorkload(_Strict):
    """Requests to a Service's ClusterIP through the nodes' kube-proxies, as a pod's client would send."""

    type: Literal["service-requests"]
    namespace: str = "chaos"
    service: str = "web"
    port: int | None = Field(None, ge=1, le=65535)
    rate: float = Field(5.0, gt=0, le=1000)
    timeout_s: float = Field(5.0, gt=0)


Workload = Annotated[Union[RegisterWorkload, ChurnWorkload, ServiceWorkload], Field(discriminator="type")]


class Abort(_Strict):
    """Give up (heal everything, verdict fail) when ``probe`` has been failing this long at a stretch."""

    probe: str
    failing_for_s: float = Field(gt=0)


class Recovery(_Strict):
    within_s: float = Field(120.0, gt=0)
    """After the last fault is healed, every probe must pass within this long."""
    hold_s: float = Field(5.0, ge=0)
    """...and keep passing this long ("after")."""


class Setup(_Strict):
    manifests: list[Path] = Field(default_factory=list)
    """Applied (created, or updated if there) before the steady state is first checked."""


class ClusterHint(_Strict):
    time_scale: float | None = Field(None, gt=0, le=1000)
    """The time_scale the experiment is written for: ``--start-cluster`` runs the cluster at it."""


class Experiment(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    description: str = ""
    seed: int = 1
    cluster: ClusterHint = Field(default_factory=ClusterHint)
    setup: Setup = Field(default_factory=Setup)
    steady_state: SteadyState = Field(default_factory=SteadyState)
    workloads: list[Workload] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    duration_s: float | None = Field(None, gt=0)
    """The fault phase's length; default: until the last fault is healed."""
    abort: list[Abort] = Field(default_factory=list)
    recovery: Recovery = Field(default_factory=Recovery)
    checks: list[Literal[CHECKS]] | None = None  # type: ignore[valid-type]
    """Default: every check that applies (linearizable and no-lost-writes need the register workload)."""

    @model_validator(mode="after")
    def _references(self) -> Experiment:
        labels = [p.label for p in self.steady_state.probes]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"steady_state.probes: two probes are called {dup[0]!r}; give one a name")
        for i, a in enumerate(self.abort):
            if a.probe not in labels:
                raise ValueError(f"abort.{i}.probe: no probe is called {a.probe!r} (have: {', '.join(labels)})")
        kinds = [w.type for w in self.workloads]
        if kinds.count("register") > 1:
            raise ValueError("workloads: one register workload at most")
        if self.checks is not None and "register" not in kinds:
            bad = [c for c in self.checks if c in ("linearizable", "no-lost-writes")]
            if bad:
                raise ValueError(f"checks: {bad[0]} needs the register workload")
        return self

    @property
    def register(self) -> RegisterWorkload | None:
        return next((w for w in self.workloads if isinstance(w, RegisterWorkload)), None)

    def checks_to_run(self) -> list[str]:
        if self.checks is not None:
            return list(self.checks)
        return [c for c in CHECKS if self.register is not None or c not in ("linearizable", "no-lost-writes")]


def parse(data: Any, source: str = "<experiment>") -> Experiment:
    """Validate plain data; raises :class:`ExperimentError` listing every problem with its key."""
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: an experiment is a mapping, got {type(data).__name__}")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
            where = ".".join(loc) or "(top level)"
            got = f" (got {err['input']!r})" if not isinstance(err.get("input"), (dict, list)) else ""
            problems.append(f"{source}: {where}: {err['msg'].removeprefix('Value error, ')}{got}")
        raise ExperimentError("\n".join(dict.fromkeys(problems))) from None


def load(path: Path) -> Experiment:
    """Read and validate an experiment file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read the experiment: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExperimentError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, str(path))
