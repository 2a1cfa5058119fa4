"""The kubelet as an actor: the I/O shell around the kubelet's pure cores.

One per node, named ``<node>.kubelet``, beside that node's runtime
(``<node>.runtime``, :mod:`actors.runtime.server`) in the same process. It
does what ``pkg/kubelet`` does, each decision taken by a core:

- **the Node** (:mod:`actors.kubelet.node`): create it (if it exists,
  reconcile its default labels and post a status), renew the Lease every
  ``RENEW_INTERVAL_S`` (compare-and-swap; re-read on conflict), compute the
  status every ``STATUS_UPDATE_S`` and post it when :func:`should_post`
  says so, with the node's images. The pod IPs come from ``spec.podCIDR``
  (assigned by the controller manager's node IPAM): no sandbox is created
  before it is known, and after a restart :class:`PodIPs` is refilled from
  the runtime's sandboxes first.
- **pod workers**: an informer on pods with ``spec.nodeName=<node>``; one
  worker per pod uid, which syncs the pod whenever something about it
  changes (the API object, the runtime's ``cri.Events`` — the PLEG —, a
  probe result, a backoff or retry timer) — one sync at a time per pod, a
  change during a sync running it once more. A sync reads the pod's
  sandboxes and containers from the runtime, writes the status if it
  changed, waits for volumes, asks :func:`compute_pod_actions` what to do,
  does it in Kubernetes' order (kill, sandbox, init containers, containers:
  image pull with the pull policy and ImagePullBackOff, environment,
  create, start, events), and writes the status again
  (:func:`pod_status`). Syncs are spawned tasks: the actor's loop never
  waits on one.
- **probes** (:mod:`actors.kubelet.probes`): a timer per pod ticks its due
  probe workers; the probes run against the runtime (HTTP GET, TCP
  connect, ExecSync) and a result that changes re-syncs the pod.
- **graceful deletion**: a pod with a deletionTimestamp is killed (grace,
  preStop), its final status written, its sandbox removed and IP released,
  then the object deleted with grace period 0, as the status manager does.
- **housekeeping**: a relist of the runtime (the PLEG's safety net) kicks
  pods whose containers changed unnoticed, cleans up sandboxes of pods that
  are not this node's (deleted while the kubelet was down, say) and removes
  old exited containers; every minute every pod is synced again.

Restarts: a kubelet-only restart finds the runtime's sandboxes and
containers and adopts them (their containers keep running); after a whole
node process restart the runtime is empty and the pods are started again
(a new sandbox; restart counts continue from the API's). A kubelet-only
restart inside a running node process is ``kubelet.Restart``
(:meth:`Kubelet.restart`, ``kubesim node restart-kubelet NODE``): the
kubelet stops every task and timer of its own and a fresh one takes its
name.

Times: the cores and the CRI use the cluster's wall clock
(``clock.wall()``); timers are set from it.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from actors import events
from actors.apiserver.client import ApiClient, ApiError, Informer
from actors.kubelet import podspec
from actors.kubelet.backoff import (
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACK_OFF,
    Backoff,
    ImagePullBackoff,
)
from actors.kubelet.node import (
    LEASE_NAMESPACE,
    RENEW_INTERVAL_S,
    STATUS_REPORT_S,
    STATUS_UPDATE_S,
    NodeConfig,
    PodIPs,
    initial_node,
    labels,
    lease,
    node_status,
    renewed,
    should_post,
)
from actors.kubelet.podspec import ConfigError, VolumeState
from actors.kubelet.podstatus import (
    CREATE_CONTAINER_CONFIG_ERROR,
    CREATE_CONTAINER_ERROR,
    RUN_CONTAINER_ERROR,
    Waiting,
    pod_status,
)
from actors.kubelet.podsync import (
    BackoffWait,
    ContainerKill,
    PodActions,
    compute_pod_actions,
    is_restartable_init,
    pod_grace_period_s,
    sandbox_changed,
    stop_timeout_s,
)
from actors.kubelet.probes import (
    ExecTarget,
    GrpcTarget,
    HttpGetTarget,
    PodProbes,
    ProbeError,
    ProbeRequest,
    Result,
    SleepTarget,
    TcpSocketTarget,
    resolve_target,
    unhealthy_message,
)
from actors.messages import (
    ContainerLogs,
    CriEvents,
    CriRequest,
    CriResponse,
    HttpGet,
    HttpResponse,
    KubeletRestart,
    KubeletRestarted,
    LogText,
    TcpConnect,
    TcpResult,
)
from actors.runtime import cri
from actors.runtime.wire import from_wire, to_wire
from bus.messages import Error
from bus.runtime import (
    Actor,
    Envelope,
    Indeterminate,
    RemoteError,
    RequestFailed,
    Task,
    Timer,
    handles,
)

Obj = dict[str, Any]

COMPONENT = "kubelet"
CRI_TIMEOUT_S = 10.0
"""Calls the runtime answers at once."""
PULL_TIMEOUT_S = 900.0
"""PullImage is answered when the download is done; a queue of large images takes a while."""
START_TIMEOUT_S = 300.0
STOP_SLACK_S = 30.0
"""StopContainer is answered once the container has exited: its timeout plus this."""
HOUSEKEEPING_S = 2.0
"""``housekeepingPeriod``: pods gone from the API are cleaned up."""
RELIST_S = 60.0
"""The PLEG's safety net, and the container GC. The runtime's CriEvents drive the syncs (Kubernetes' Evented
PLEG, which then relists every 300 s); a relist catches what changed unnoticed, removes what no pod owns and old
exited containers (Kubernetes' container GC runs every minute)."""
IMAGE_LIST_S = 30.0
"""The node's image list is read from the runtime this often (the image manager's cache period); node status
reports the cached list."""
RUNTIME_WAIT_S = 30.0
"""``maxWaitForContainerRuntime``: the node is NotReady ("container runtime is down") once the runtime has not
answered for this long."""
RESYNC_S = 60.0
"""``syncFrequency``: every pod is synced at least this often."""
RETRY_MIN_S, RETRY_MAX_S = 0.5, 10.0
"""A sync that failed (the API or the runtime did not answer) is retried after a doubling pause."""
MOUNT_RETRY_MAX_S = 16.0
"""Volumes that cannot be set up yet are retried after a doubling pause up to this."""
START_RETRY_S = 10.0
"""A container that could not be configured, created or started is tried again after this (the pod worker's
``backOffPeriod`` after a failed sync)."""
ERR_IMAGE_PULL_RESYNC_S = 2.0
"""After a failed pull the pod is synced again soon, to report ImagePullBackOff while it waits."""
LEASE_RETRY_MAX_S = 7.0
"""The lease controller's retry cap (``maxBackoff``)."""
ORPHAN_GRACE_S = 1.0
"""``HandlePodCleanups`` kills containers of pods it no longer knows with a one-second grace period."""
KEEP_EXITED = 2
"""Exited instances kept per container (the newest is the state, the one before ``lastState``)."""
ADMIN_IDENTITIES = ("admin", "kubesim-cli-*")
"""Who may restart a kubelet besides its own process: the cluster's CLI (``admin`` with CURVE on)."""


# --- metrics -----------------------------------------------------------------------------------------------


class KubeletMetrics:
    """The kubelet's metrics, ``kubesim_`` prefixed, for every kubelet of one process.

    Counters and histograms are shared: a process hosting many nodes (hollow
    nodes) reports their sum, as one node's process reports that node's. The
    two gauges are computed when scraped from the kubelets attached
    (:meth:`attach`), so several kubelets never overwrite each other. Make
    one per process (on ``REGISTRY`` to be exported) and hand it to each
    :class:`Kubelet`; a kubelet given none makes its own on a private
    registry (tests).
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.kubelets: list[Kubelet] = []
        self.pod_start = Histogram(
            "kubesim_kubelet_pod_start_duration_seconds",
            "Seconds from the kubelet first seeing a pod to the pod running.",
            buckets=(0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 300, 600), registry=registry)
        self.worker = Histogram(
            "kubesim_kubelet_pod_worker_duration_seconds", "Seconds one pod sync took, by operation.",
            ["operation"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry)
        self.status_posts = Counter("kubesim_kubelet_node_status_posts_total",
                                    "Node status posts, by result.", ["result"], registry=registry)
        self.lease_renewals = Counter("kubesim_kubelet_lease_renewals_total",
                                      "Node lease renewals, by result (success, conflict, error).", ["result"],
                                      registry=registry)
        self.probes = Counter("kubesim_kubelet_probe_total", "Probes run, by type and result.",
                              ["probe_type", "result"], registry=registry)
        self.pod_status_writes = Counter("kubesim_kubelet_pod_status_updates_total",
                                         "Pod status writes, by result (ok, conflict, error).", ["result"],
                                         registry=registry)
        self.image_pulls = Histogram("kubesim_kubelet_image_pull_duration_seconds", "Seconds an image pull took.",
                                     buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160), registry=registry)
        self.sync_errors = Counter("kubesim_kubelet_pod_sync_errors_total", "Pod syncs that failed and were retried.",
                                   registry=registry)
        self.container_restarts = Counter(
            "kubesim_kubelet_container_restarts_total",
            "Containers the kubelet started again (an instance after the first: each adds one to restartCount).",
            registry=registry)
        registry.register(_Gauges(self.kubelets))

    def attach(self, kubelet: Kubelet) -> None:
        self.kubelets.append(kubelet)

    def detach(self, kubelet: Kubelet) -> None:
        """A restarted kubelet's successor reports in its place."""
        self.kubelets[:] = [k for k in self.kubelets if k is not kubelet]


class _Gauges:
    """``kubelet_running_pods`` and ``kubelet_running_containers``, summed over the process's kubelets."""

    def __init__(self, kubelets: list[Kubelet]) -> None:
        self.kubelets = kubelets

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pods = GaugeMetricFamily("kubesim_kubelet_running_pods", "Pods with a running sandbox.")
        pods.add_metric([], sum(k.running_pods() for k in self.kubelets))
        containers = GaugeMetricFamily("kubesim_kubelet_running_containers", "Containers by state.",
                                       labels=["container_state"])
        totals = {"created": 0, "running": 0, "exited": 0, "unknown": 0}
        for k in self.kubelets:
            for state, n in k.container_counts().items():
                totals[state] = totals.get(state, 0) + n
        for state, n in sorted(totals.items()):
            containers.add_metric([state], n)
        yield pods
        yield containers


_STATE_LABEL = {cri.ContainerState.CREATED: "created", cri.ContainerState.RUNNING: "running",
                cri.ContainerState.EXITED: "exited", cri.ContainerState.UNKNOWN: "unknown"}
_PROBE_RESULT = {Result.SUCCESS: "successful", Result.FAILURE: "failed", Result.ERROR: "unknown"}


# --- small pure helpers the actor uses -------------------------------------------------------------------


class LogsRefused(Exception):
    """A logs request the kubelet cannot answer: the code for bus.Error and Kubernetes' message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _waiting_reason(pod: Obj, container: str) -> str:
    status = pod.get("status") or {}
    for s in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if s.get("name") == container:
            return ((s.get("state") or {}).get("waiting") or {}).get("reason") or ""
    return ""


def rfc3339_nano(wall: float) -> str:
    """A log line's time as the kubelet's --timestamps prints it: RFC 3339 with nanoseconds, UTC."""
    import datetime as _dt

    moment = _dt.datetime.fromtimestamp(wall, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(round((wall % 1) * 1e9)) % 1_000_000_000:09d}Z"


def http_probe_outcome(target: HttpGetTarget, reply: HttpResponse) -> tuple[str, str]:
    """(result, output) of an HTTP probe as Kubernetes' prober words them: 200–399 succeeds."""
    if not reply.connected:
        return Result.FAILURE, (f'Get "{target.url}": dial tcp {target.host}:{target.port}: connect: '
                                f"connection refused")
    if reply.status == 0:
        return Result.FAILURE, (f'Get "{target.url}": net/http: HTTP/1.x transport connection broken: '
                                f"malformed HTTP response")
    if 200 <= reply.status < 400:
        return Result.SUCCESS, reply.body
    return Result.FAILURE, f"HTTP probe failed with statuscode: {reply.status}"


def tcp_probe_outcome(host: str, port: int, reply: TcpResult) -> tuple[str, str]:
    if reply.connected:
        return Result.SUCCESS, ""
    return Result.FAILURE, f"dial tcp {host}:{port}: connect: connection refused"


def exec_probe_outcome(result: Mapping[str, Any]) -> tuple[str, str]:
    output = str(result.get("stdout") or "") + str(result.get("stderr") or "")
    return (Result.SUCCESS if int(result.get("exit_code", 1)) == 0 else Result.FAILURE), output


def node_images(images: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """The node's ``status.images``: largest first, each with its digest reference and tags."""
    out = []
    for image in images:
        tags = [str(t) for t in image.get("repo_tags") or []]
        names = list(tags)
        if tags and image.get("id"):
            repo = tags[0].rsplit(":", 1)[0] if ":" in tags[0].rsplit("/", 1)[-1] else tags[0]
            names.insert(0, f"{repo}@{image['id']}")
        out.append({"names": names, "sizeBytes": int(image.get("size_bytes") or 0)})
    out.sort(key=lambda i: -i["sizeBytes"])
    return out


def runtime_fingerprint(sandboxes: Iterable[cri.PodSandboxStatus],
                        statuses: Iterable[cri.ContainerStatus]) -> tuple:
    """What the relist compares: which sandboxes and containers exist, in which state."""
    return (tuple(sorted((s.id, s.state) for s in sandboxes)), tuple(sorted((c.id, c.state) for c in statuses)))


def restart_floor(pod: Mapping[str, Any], name: str) -> int:
    """The attempt a container's first instance in an empty runtime gets: one past the restart count the API
    shows for an instance that ran (the real kubelet reads it back from the pod's log directory)."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == name:
            # With a containerID the lost instance is not counted yet; without one, the status already counts
            # it (pod_status reports a container the runtime lost as a restart).
            return int(cs.get("restartCount") or 0) + (1 if cs.get("containerID") else 0)
    return 0


_VOLATILE_META = frozenset({"resourceVersion", "managedFields", "generation"})


def differs_semantically(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """``podsDifferSemantically``: whether a pod update is more than a new status (which the kubelet,
    its source of truth, does not sync for)."""
    def essence(pod: Mapping[str, Any]) -> tuple:
        meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in _VOLATILE_META}
        return meta, pod.get("spec")
    return essence(old) != essence(new)


def identity_matches(identity: str, patterns: Iterable[str]) -> bool:
    """Whether a bus identity is one of ``patterns`` (exact names, or prefixes ending in ``*``)."""
    return any(identity == p or (p.endswith("*") and identity.startswith(p[:-1])) for p in patterns)


def _rv(obj: Mapping[str, Any] | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


# --- one pod's worker ------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    """Everything the kubelet keeps about one pod between syncs."""

    uid: str
    pod: Obj
    probes: PodProbes
    first_seen_s: float
    running: bool = False
    pending: bool = False
    removed: bool = False
    """The pod left the API (deleted, or no longer this node's): clean up and forget it."""
    done: bool = False
    sandboxes: list[cri.PodSandboxStatus] = field(default_factory=list)
    sandbox: cri.PodSandboxStatus | None = None
    statuses: list[cri.ContainerStatus] = field(default_factory=list)
    fingerprint: tuple = ((), ())
    waiting: dict[str, Waiting] = field(default_factory=dict)
    """The reason cache: why each container that should run is not running."""
    last_written: Obj | None = None
    written_rv: int = 0
    status_wanted: bool = False
    """The status manager has a newer status to write than the one in flight (or none is in flight)."""
    status_writing: bool = False
    volumes_ready: bool = False
    claims: dict[str, Obj | None] = field(default_factory=dict)
    mount_failures: int = 0
    errors: int = 0
    syncs: int = 0
    started_recorded: bool = False
    needs_cidr: bool = False
    wake_timer: Timer | None = None
    wake_at: float | None = None
    probe_timer: Timer | None = None
    probe_at: float | None = None

    @property
    def name(self) -> str:
        meta = self.pod.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _probes_for(pod: Obj, now: float, log: Any) -> PodProbes:
    try:
        return PodProbes(pod, now=now)
    except ValueError as exc:  # a probe the API should have refused: run the pod without probes
        log.warning("pod probes ignored", pod=(pod.get("metadata") or {}).get("name"), error=str(exc))
        return PodProbes({"spec": {}}, now=now)


# --- the actor ---------------------------------------------------------------------------------------------


class Kubelet(Actor):
    """Node ``cfg.name``'s kubelet: ``f"{cfg.name}.kubelet"``, driving ``f"{cfg.name}.runtime"``."""

    def __init__(self, cfg: NodeConfig, api: ApiClient, *, runtime: str = "", metrics: KubeletMetrics | None = None,
                 seed: int | None = None, record_events: bool = True,
                 api_server_identities: Iterable[str] = ("apiserver",),
                 admin_identities: Iterable[str] = ADMIN_IDENTITIES) -> None:
        super().__init__(f"{cfg.name}.kubelet")
        self.cfg = cfg
        self.api_server_identities = frozenset(api_server_identities)
        """Who may ask this kubelet for logs: the API server's process (a kubelet trusts only its client cert)."""
        self.admin_identities = tuple(admin_identities)
        """Who may restart it (``kubelet.Restart``), besides its own process: names, or prefixes ending in '*'."""
        self.api = api
        self.runtime_name = runtime or f"{cfg.name}.runtime"
        self.metrics = metrics if metrics is not None else KubeletMetrics(CollectorRegistry())
        self.metrics.attach(self)
        self.rng = random.Random(seed)
        self.record_events = record_events
        self.event_correlator = events.EventCorrelator()
        """Repeats (a crash loop's BackOff) are counted on the earlier Event, as client-go's recorder does."""
        self.backoff = Backoff()
        self.image_backoff = ImagePullBackoff()
        self.workers: dict[str, _Worker] = {}
        self.ips: PodIPs | None = None
        self.node: Obj | None = None
        """Our Node as the node informer last saw it."""
        self.node_uid = ""
        self.registered = False
        self.pods: Informer | None = None
        self.nodes: Informer | None = None
        self._ips_loading = False
        self._lease: Obj | None = None
        self._lease_busy = False
        self._lease_failures = 0
        self._posted: Obj | None = None
        self._last_post_s: float | None = None
        self._status_busy = False
        self._images: list = []
        self._images_at: float | None = None
        """When the runtime last answered ListImages (monotonic), or None."""
        self._status_inputs: tuple | None = None
        """What the last computed node status was made of: unchanged, and no report due, there is nothing to do."""
        self._relisting = False
        # What a restart stops (see restart()): this kubelet's tasks and repeating timers.
        self.stopped = False
        self._tasks: set[Task] = set()
        self._periodic: list[Timer] = []

    # --- life cycle --------------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.spawn(self._start())

    async def _start(self) -> None:
        node = await self._register()
        self.node_uid = str((node.get("metadata") or {}).get("uid") or "")
        self.registered = True
        self.log.info("node registered", node=self.cfg.name, uid=self.node_uid)
        self.nodes = Informer(self.api, "nodes", field_selector=f"metadata.name={self.cfg.name}",
                              on_add=self._node_seen, on_update=lambda old, new: self._node_seen(new),
                              on_delete=self._node_gone)
        self.nodes.start()
        self.pods = Informer(self.api, "pods", field_selector=f"spec.nodeName={self.cfg.name}",
                             on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.pods.start()
        self.spawn(self._renew_lease())
        self.call_every(RENEW_INTERVAL_S, lambda: self.spawn(self._renew_lease()))
        # Spread the status ticks of many kubelets over the period (the real one jitters them too).
        self.call_later(self.rng.uniform(0, STATUS_UPDATE_S), self._start_status_loop)
        self.call_every(HOUSEKEEPING_S, self._housekeeping)
        self.call_every(RELIST_S, lambda: self.spawn(self._relist()))
        self.call_every(RESYNC_S, self._resync)

    def _start_status_loop(self) -> None:
        self.spawn(self._update_status())
        self.call_every(STATUS_UPDATE_S, lambda: self.spawn(self._update_status()))

    # --- a kubelet-only restart ------------------------------------------------------------------------------
    # Everything the kubelet runs goes through spawn, call_later and call_every (or sleep, inside a task), so it
    # can all be stopped as a dying process's goroutines are: at their next step, with nothing after it.
    def spawn(self, coro) -> Task:
        task = super().spawn(coro)
        if self.stopped:
            task.cancel()  # e.g. from a `finally` of a task being cancelled: it never runs
        else:
            self._tasks.add(task)
            task.future.add_done_callback(lambda _f: self._tasks.discard(task))
        return task

    def call_later(self, delay_s: float, fn: Any, *args: Any) -> Timer:
        return super().call_later(delay_s, self._unless_stopped, fn, *args)

    def call_every(self, interval_s: float, fn: Any, *args: Any) -> Timer:
        timer = super().call_every(interval_s, self._unless_stopped, fn, *args)
        self._periodic.append(timer)
        return timer

    def _unless_stopped(self, fn: Any, *args: Any) -> None:
        if not self.stopped:
            fn(*args)

    @handles(KubeletRestart)
    def on_restart(self, msg: KubeletRestart, env: Envelope) -> None:
        own_process = env.identity == self.runtime.identity.decode()
        if not (own_process or identity_matches(env.identity, self.admin_identities)):
            self.log.warning("kubelet restart refused", identity=env.identity)
            self.reply(env, Error("forbidden", f"{env.identity!r} may not restart {self.name}"))
            return
        self.log.warning("kubelet restarting", node=self.cfg.name, by=env.identity, pods=len(self.workers))
        self.reply(env, KubeletRestarted(self.cfg.name, len(self.workers)))
        self.restart()

    def restart(self) -> Kubelet:
        """Restart the kubelet alone (``systemctl restart kubelet``): the node's process — its container runtime
        and kube-proxy — carries on. Whatever this kubelet holds goes with it: pod workers, probe states,
        back-off tables, the pod IP allocator, informers, lease and status bookkeeping, its tasks (stopped where
        they wait; requests in flight still reach the runtime or the API, as a dying process's would) and its
        timers. A fresh kubelet takes its name and starts as a new process's would: it registers (the Node
        exists: it posts a status), lists its pods and adopts the runtime's sandboxes and containers, which
        keep running with their IPs. Returns the fresh kubelet."""
        self._stop()
        fresh = Kubelet(self.cfg, self.api, runtime=self.runtime_name, metrics=self.metrics,
                        seed=self.rng.getrandbits(64), record_events=self.record_events,
                        api_server_identities=self.api_server_identities, admin_identities=self.admin_identities)
        self.runtime.replace(fresh)
        fresh.on_start()
        return fresh

    def _stop(self) -> None:
        self.stopped = True
        for timer in self._periodic:
            timer.cancel()
        for w in list(self.workers.values()):
            self._forget(w)  # done first: a task's `finally` then leaves the worker alone
        for informer in (self.pods, self.nodes):
            if informer is not None:
                informer.stop()
        while self._tasks:
            self._tasks.pop().cancel()
        self.metrics.detach(self)

    # --- registration, lease, node status --------------------------------------------------------------
    async def _register(self) -> Obj:
        """``registerWithAPIServer``: keep trying until the Node exists and is ours."""
        pause = 0.2
        while True:
            try:
                return await self._register_once()
            except (ApiError, RequestFailed) as exc:
                self.log.warning("node registration failed; retrying", node=self.cfg.name, error=str(exc))
                await self.sleep(pause)
                pause = min(pause * 2, LEASE_RETRY_MAX_S)

    async def _register_once(self) -> Obj:
        wall = self.clock.wall()
        try:
            created = await self.api.create(initial_node(self.cfg, wall))
        except ApiError as exc:
            if exc.code != 409:
                raise
        else:
            self._posted = created.get("status")
            self._last_post_s = self.clock.monotonic()
            return created
        # It exists (a restart): bring the default labels up to date and post a status (tryRegisterWithAPIServer).
        existing = await self.api.get("nodes", self.cfg.name)
        meta = existing.get("metadata") or {}
        defaults = {k: v for k, v in labels(self.cfg).items() if k not in self.cfg.labels}
        label_patch = {k: v for k, v in defaults.items() if (meta.get("labels") or {}).get(k) != v}
        wanted = initial_node(self.cfg, wall)["metadata"]["annotations"]
        annotation_patch = {k: v for k, v in wanted.items() if (meta.get("annotations") or {}).get(k) != v}
        if label_patch or annotation_patch:
            patch: Obj = {"metadata": {}}
            if label_patch:
                patch["metadata"]["labels"] = label_patch
            if annotation_patch:
                patch["metadata"]["annotations"] = annotation_patch
            existing = await self.api.patch("nodes", self.cfg.name, patch, patch_type="merge")
        status = node_status(self.cfg, wall, existing.get("status"))
        existing = await self.api.patch("nodes", self.cfg.name, {"status": status}, patch_type="merge",
                                        subresource="status")
        self._posted = status
        self._last_post_s = self.clock.monotonic()
        self.metrics.status_posts.labels("ok").inc()
        return existing

    async def _renew_lease(self) -> None:
        """The node lease controller: create the Lease if missing, else renew it with a compare-and-swap."""
        if self._lease_busy:
            return
        self._lease_busy = True
        try:
            await self._renew_lease_once()
            self._lease_failures = 0
            self.metrics.lease_renewals.labels("success").inc()
        except (ApiError, RequestFailed) as exc:
            self._lease = None  # read it again next time
            self._lease_failures += 1
            self.metrics.lease_renewals.labels("error").inc()
            delay = min(0.2 * 2 ** (self._lease_failures - 1), LEASE_RETRY_MAX_S)
            self.log.warning("lease renewal failed; retrying", error=str(exc), retry_s=delay)
            self.call_later(delay, lambda: self.spawn(self._renew_lease()))
        finally:
            self._lease_busy = False

    async def _renew_lease_once(self) -> None:
        name = self.cfg.name
        if self._lease is None:
            try:
                self._lease = await self.api.get("leases", name, LEASE_NAMESPACE)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                self._lease = await self.api.create(lease(self.cfg, self.node_uid, self.clock.wall()))
                return
        try:
            self._lease = await self.api.update(self._renewal(self._lease))
        except ApiError as exc:
            if exc.code != 409:
                raise
            self.metrics.lease_renewals.labels("conflict").inc()
            fresh = await self.api.get("leases", name, LEASE_NAMESPACE)
            self._lease = await self.api.update(self._renewal(fresh))

    def _renewal(self, existing: Obj) -> Obj:
        out = renewed(existing, self.clock.wall())
        meta = out.get("metadata") or {}
        if self.node_uid and not meta.get("ownerReferences"):
            out["metadata"] = dict(meta, ownerReferences=lease(self.cfg, self.node_uid, 0)["metadata"]["ownerReferences"])
        spec = out.get("spec") or {}
        if spec.get("holderIdentity") != self.cfg.name:
            out["spec"] = dict(spec, holderIdentity=self.cfg.name)
        return out

    async def _update_status(self) -> None:
        """``updateNodeStatus``: compute the status; post it when something changed or it is due."""
        if self._status_busy or not self.registered:
            return
        self._status_busy = True
        try:
            mono = self.clock.monotonic()
            if self._images_at is None or mono - self._images_at >= IMAGE_LIST_S:
                try:
                    images = node_images(await self._cri("ListImages"))
                    if images != self._images:
                        self._images = images  # the same list is kept as the same object: nothing to recompute
                    mono = self.clock.monotonic()
                    self._images_at = mono
                except (RemoteError, RequestFailed):
                    mono = self.clock.monotonic()  # asked again at the next tick
            ready = self._images_at is not None and mono - self._images_at <= RUNTIME_WAIT_S
            current = (self.node or {}).get("status") or self._posted
            inputs = (ready, self._images, current)
            if (self._status_inputs is not None and all(map(operator.is_, inputs, self._status_inputs))
                    and self._last_post_s is not None and mono - self._last_post_s < STATUS_REPORT_S):
                return  # the same readiness, images and posted status as last time: the same status, not due
            status = node_status(self.cfg, self.clock.wall(), current, images=self._images, ready=ready,
                                 not_ready_message="container runtime is down")
            if not should_post(current, status, self._last_post_s, mono):
                self._status_inputs = inputs
                return
            body = dict(status)
            body.setdefault("images", [])  # a merge patch must say so to drop them
            await self.api.patch("nodes", self.cfg.name, {"status": body}, patch_type="merge", subresource="status")
            self._posted = status
            self._last_post_s = mono
            self._status_inputs = inputs  # a failed post leaves them as they were: the next tick computes again
            self.metrics.status_posts.labels("ok").inc()
        except (ApiError, RequestFailed) as exc:
            self.metrics.status_posts.labels("error").inc()
            self.log.warning("node status update failed", error=str(exc))
        finally:
            self._status_busy = False

    # --- the node informer: podCIDR ------------------------------------------------------------------------
    def _node_seen(self, node: Obj) -> None:
        self.node = node
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and self.ips is None and not self._ips_loading:
            self._ips_loading = True
            self.spawn(self._load_ips(str(cidr)))

    def _node_gone(self, node: Obj) -> None:
        self.log.warning("our Node object was deleted", node=self.cfg.name)
        self.node = None

    async def _load_ips(self, cidr: str) -> None:
        """The pod CIDR is known: hold the addresses the runtime's sandboxes already have, then hand out more."""
        pause = 0.2
        while True:
            try:
                sandboxes = [from_wire(cri.PodSandboxStatus, m) for m in await self._cri("ListPodSandbox")]
                break
            except (RemoteError, RequestFailed) as exc:
                self.log.warning("runtime not answering; pod IPs wait", error=str(exc))
                await self.sleep(pause)
                pause = min(pause * 2, 5.0)
        ips = PodIPs(cidr)
        by_uid: dict[str, list[cri.PodSandboxStatus]] = {}
        for s in sandboxes:
            by_uid.setdefault(s.metadata.uid, []).append(s)
        for uid, items in by_uid.items():
            newest = podspec.newest_sandbox(items)
            if newest is not None and newest.state == cri.SandboxState.READY and newest.ip:
                ips.restore(uid, newest.ip)
        self.ips = ips
        self.log.info("pod CIDR known", cidr=cidr, restored=ips.in_use())
        for w in list(self.workers.values()):
            if w.needs_cidr:
                w.needs_cidr = False
                self._kick(w)

    # --- the pod informer ------------------------------------------------------------------------------------
    def _pod_added(self, pod: Obj) -> None:
        uid = _uid(pod)
        if not uid:
            return
        w = self.workers.get(uid)
        if w is None:
            w = self.workers[uid] = _Worker(uid, pod, _probes_for(pod, self.clock.wall(), self.log),
                                            self.clock.monotonic())
        else:
            w.pod = pod
            w.removed = False
        self._kick(w)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if _uid(old) and _uid(old) != _uid(new):
            self._pod_deleted(old)  # deleted and made again under the same name between two events
        w = self.workers.get(_uid(new))
        if w is not None and not w.removed and not differs_semantically(w.pod, new):
            w.pod = new  # only its status changed (our own write coming back, usually): nothing to sync
            return
        self._pod_added(new)

    def _pod_deleted(self, pod: Obj) -> None:
        w = self.workers.get(_uid(pod))
        if w is None:
            return
        w.pod = pod
        w.removed = True
        self._kick(w)

    # --- the kubelet's API: what the API server asks for a client ------------------------------------------
    @handles(ContainerLogs)
    def on_container_logs(self, msg: ContainerLogs, env: Envelope) -> None:
        if env.identity not in self.api_server_identities:
            self.reply(env, Error("forbidden", f"{self.name} answers only the API server, not {env.identity!r}"))
            return
        self.spawn(self._container_logs(msg, env))

    async def _container_logs(self, msg: ContainerLogs, env: Envelope) -> None:
        try:
            text = await self._read_logs(msg)
        except LogsRefused as exc:
            self.reply(env, Error(exc.code, str(exc)))
            return
        except (RemoteError, RequestFailed) as exc:
            self.reply(env, Error("unavailable", f"the container runtime did not answer: {exc}"))
            return
        self.reply(env, LogText(text))

    async def _read_logs(self, msg: ContainerLogs) -> str:
        """``/containerLogs/NS/POD/CONTAINER``: the current (or previous) instance's lines, as kubectl prints them."""
        pod = self.pods.get(msg.pod, msg.namespace) if self.pods is not None else None
        if pod is None:
            raise LogsRefused("not_found", f'pods "{msg.pod}" not found')
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        name = msg.container
        if not name:
            if len(names) != 1:
                extra = f" or one of the init containers: [{' '.join(init_names)}]" if init_names else ""
                raise LogsRefused("bad_request", f"a container name must be specified for pod {msg.pod}, choose one "
                                                 f"of: [{' '.join(names)}]{extra}")
            name = names[0]
        if name not in names and name not in init_names:
            raise LogsRefused("bad_request", f"container {name} is not valid for pod {msg.pod}")
        listed = await self._cri("ListContainers", {"labels": {podspec.POD_UID_LABEL: _uid(pod),
                                                               podspec.CONTAINER_NAME_LABEL: name}})
        instances = sorted((from_wire(cri.ContainerStatus, m) for m in listed or []),
                           key=lambda c: (c.metadata.attempt, c.created_at), reverse=True)
        if msg.previous:
            previous = [c for c in instances[1:] if c.state == cri.ContainerState.EXITED]
            if not previous:
                raise LogsRefused("bad_request", f'previous terminated container "{name}" in pod "{msg.pod}" not found')
            chosen = previous[0]
        else:
            if not instances:
                waiting = _waiting_reason(pod, name) or "ContainerCreating"
                raise LogsRefused("bad_request", f'container "{name}" in pod "{msg.pod}" is waiting to start: {waiting}')
            chosen = instances[0]
        args: dict[str, Any] = {"container_id": chosen.id}
        if msg.tail_lines >= 0:
            args["tail"] = msg.tail_lines
        if msg.since_seconds > 0:
            args["since"] = self.clock.wall() - msg.since_seconds
        lines = [from_wire(cri.LogLine, m) for m in await self._cri("ContainerLogs", args) or []]
        if msg.timestamps:
            return "".join(f"{rfc3339_nano(line.time)} {line.text}\n" for line in lines)
        return "".join(f"{line.text}\n" for line in lines)

    # --- the PLEG ----------------------------------------------------------------------------------------------
    @handles(CriEvents)
    def on_cri_events(self, msg: CriEvents, env: Envelope) -> None:
        if env.sender != self.runtime_name:
            return
        seen: set[str] = set()
        for event in msg.events:
            uid = event.get("pod_uid") if isinstance(event, dict) else None
            if uid and uid not in seen:
                seen.add(uid)
                w = self.workers.get(uid)
                if w is not None:
                    self._kick(w)

    # --- pod workers --------------------------------------------------------------------------------------------
    def _kick(self, w: _Worker) -> None:
        """Sync the pod now, or once more after the sync under way."""
        if w.done:
            return
        if w.running:
            w.pending = True
            return
        w.running = True
        self.spawn(self._work(w))

    async def _work(self, w: _Worker) -> None:
        try:
            while True:
                w.pending = False
                await self._sync_guarded(w)
                if not w.pending or w.done:
                    break
        finally:
            w.running = False

    def _wake(self, w: _Worker, at: float) -> None:
        """Sync the pod again at wall time ``at`` (the earliest such request wins; each sync asks again)."""
        if w.done:
            return
        if w.wake_timer is not None and w.wake_at is not None and w.wake_at <= at:
            return
        if w.wake_timer is not None:
            w.wake_timer.cancel()
        w.wake_at = at
        w.wake_timer = self.call_later(max(0.0, at - self.clock.wall()), self._woken, w)

    def _woken(self, w: _Worker) -> None:
        w.wake_timer = w.wake_at = None
        self._kick(w)

    async def _sync_guarded(self, w: _Worker) -> None:
        started = self.clock.monotonic()
        operation = "kill" if w.removed or (w.pod.get("metadata") or {}).get("deletionTimestamp") else \
            ("create" if w.syncs == 0 else "sync")
        try:
            if w.removed:
                await self._cleanup(w)
            else:
                await self._sync(w)
            w.errors = 0
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the API or the runtime failed us: try again later
            w.errors += 1
            delay = min(RETRY_MIN_S * 2 ** (w.errors - 1), RETRY_MAX_S)
            self.metrics.sync_errors.inc()
            self.log.warning("pod sync failed; retrying", pod=w.name, error=f"{type(exc).__name__}: {exc}",
                             retry_s=delay)
            self._wake(w, self.clock.wall() + delay)
        finally:
            w.syncs += 1
            self.metrics.worker.labels(operation).observe(self.clock.monotonic() - started)

    async def _sync(self, w: _Worker) -> None:
        """``SyncPod`` (and ``SyncTerminatingPod`` for a pod being deleted or finished)."""
        pod = w.pod
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        deleting = bool(meta.get("deletionTimestamp"))
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        await self._observe(w)
        self._post_status(w)

        if not deleting and not finished:
            if not w.volumes_ready and not await self._volumes(w):
                return
            changed, _, _ = sandbox_changed(pod, w.sandbox)
            if changed and not spec.get("hostNetwork") and self.ips is None:
                w.needs_cidr = True  # no pod IP to give before the node IPAM assigns our podCIDR
                return

        now = self.clock.wall()
        actions = compute_pod_actions(pod, w.sandbox, w.statuses, probes=w.probes, backoff=self.backoff, now=now)
        if not actions.idle:
            self.log.debug("pod actions", pod=w.name, actions=str(actions))
        waiting_before = dict(w.waiting)
        await self._carry_out(w, actions)
        for wait in actions.backoff:
            self._back_off(w, wait)
        if actions.idle and not deleting:
            if w.waiting != waiting_before:
                self._post_status(w)  # a new back-off: say so now, not when it ends
            return
        await self._observe(w)
        if deleting:
            await self._write_status(w, terminal=True)  # the terminal status is written before the pod is removed
        else:
            self._post_status(w)
        if deleting:
            await self._finish_deletion(w)
        elif actions.kill_pod and not actions.create_sandbox:
            self._release_ip(w)  # the network namespace is gone with the sandbox (CNI DEL)

    async def _observe(self, w: _Worker) -> None:
        """The runtime's view of the pod: its sandboxes (the newest is the one) and containers."""
        selector = {podspec.POD_UID_LABEL: w.uid}
        sandboxes = [from_wire(cri.PodSandboxStatus, m)
                     for m in await self._cri("ListPodSandbox", {"labels": selector})]
        statuses = [from_wire(cri.ContainerStatus, m) for m in await self._cri("ListContainers", {"labels": selector})]
        w.sandboxes, w.statuses = sandboxes, statuses
        w.sandbox = podspec.newest_sandbox(sandboxes)
        w.fingerprint = runtime_fingerprint(sandboxes, statuses)

    # --- carrying out a sync's decisions ----------------------------------------------------------------------
    async def _carry_out(self, w: _Worker, actions: PodActions) -> None:
        """SyncPod's steps 2–7, in Kubernetes' order."""
        pod = w.pod
        if actions.create_sandbox and actions.sandbox_id:
            self._event(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        await self._kill_containers(w, actions.containers_to_kill)
        if actions.kill_pod:
            for s in w.sandboxes:
                if s.state == cri.SandboxState.READY:
                    await self._cri("StopPodSandbox", {"pod_sandbox_id": s.id})
            if not actions.create_sandbox:
                return
        sandbox_id = actions.sandbox_id
        pod_ip = w.sandbox.ip if w.sandbox is not None else ""
        if actions.create_sandbox:
            created = await self._create_sandbox(w, actions.attempt)
            if created is None:
                return
            sandbox_id, pod_ip = created
        for name in actions.init_containers_to_start:
            container, _ = podspec.container_spec(pod, name)
            if container is None:
                continue
            if not await self._start_container(w, container, sandbox_id, pod_ip) and \
                    not is_restartable_init(container):
                return  # an init container that did not start stops the pod's start here
        for name in actions.containers_to_start:
            container, _ = podspec.container_spec(pod, name)
            if container is not None:
                await self._start_container(w, container, sandbox_id, pod_ip)

    async def _kill_containers(self, w: _Worker, kills: Iterable[ContainerKill]) -> None:
        """Regular containers together (as the kubelet's goroutines do), then sidecars one by one, last first."""
        sidecars = {c["name"] for c in (w.pod.get("spec") or {}).get("initContainers") or []
                    if is_restartable_init(c)}
        kills = list(kills)
        regular = [self.spawn(self._kill_container(w, k)) for k in kills if k.name not in sidecars]
        for task in regular:
            await task.future
        for k in kills:
            if k.name in sidecars:
                await self._kill_container(w, k)

    async def _kill_container(self, w: _Worker, kill: ContainerKill) -> None:
        """``killContainer``: Killing event, preStop within the grace period, then StopContainer."""
        self._event(w.pod, "Normal", "Killing", kill.message, container=kill.name)
        elapsed_s = 0.0
        if kill.pre_stop:
            elapsed_s = await self._pre_stop(w, kill)
        timeout_s = stop_timeout_s(kill.grace_period_s, elapsed_s)
        try:
            await self._cri("StopContainer", {"container_id": kill.container_id, "timeout": float(timeout_s)},
                            timeout_s=timeout_s + STOP_SLACK_S)
        except RemoteError as exc:
            if exc.code != cri.Code.NOT_FOUND:
                raise

    async def _pre_stop(self, w: _Worker, kill: ContainerKill) -> float:
        """Run the preStop hook, at most the grace period; how long it took."""
        started = self.clock.monotonic()
        container, _ = podspec.container_spec(w.pod, kill.name)
        pod_ip = w.sandbox.ip if w.sandbox is not None else ""
        grace = float(kill.grace_period_s)
        problem = await self._run_hook(kill.pre_stop or {}, container or {"name": kill.name}, kill.container_id,
                                       pod_ip, grace)
        if problem:
            self._event(w.pod, "Warning", "FailedPreStopHook", problem.replace("{hook}", "PreStop"),
                        container=kill.name)
        return self.clock.monotonic() - started

    async def _run_hook(self, handler: Mapping[str, Any], container: Mapping[str, Any], container_id: str,
                        pod_ip: str, timeout_s: float) -> str:
        """A lifecycle hook (exec, httpGet, sleep); an error message (with ``{hook}`` for its kind) or ''."""
        name = container.get("name", "")
        try:
            target = resolve_target(handler, container, pod_ip)
        except ProbeError as exc:
            return f"{{hook}} hook for Container {name!r} failed: {exc}"
        try:
            if isinstance(target, ExecTarget):
                result = await self._cri("ExecSync", {"container_id": container_id, "cmd": list(target.command),
                                                      "timeout": timeout_s}, timeout_s=timeout_s + CRI_TIMEOUT_S)
                outcome, output = exec_probe_outcome(result or {})
                if outcome != Result.SUCCESS:
                    return (f"Exec lifecycle hook ({list(target.command)}) for Container \"{name}\" failed - error: "
                            f"command '{' '.join(target.command)}' exited with {result.get('exit_code')}: "
                            f"{output}, message: \"{output}\"")
            elif isinstance(target, HttpGetTarget):
                reply = await self.request(self.runtime_name, HttpGet(target.host, target.port, target.path or "/"),
                                           timeout_s=timeout_s, retries=0)
                outcome, output = http_probe_outcome(target, reply)
                if outcome != Result.SUCCESS:
                    return f"HTTP lifecycle hook ({target.path}) for Container \"{name}\" failed - error: {output}"
            elif isinstance(target, SleepTarget):
                await self.sleep(min(float(target.seconds), timeout_s))
        except RemoteError as exc:
            return f"{{hook}} hook for Container \"{name}\" failed - error: {exc.message}"
        except Indeterminate:
            return f"{{hook}} hook for Container \"{name}\" failed - error: timed out after {timeout_s:g}s"
        return ""

    async def _create_sandbox(self, w: _Worker, attempt: int) -> tuple[str, str] | None:
        """RunPodSandbox with the pod's IP; None (and a FailedCreatePodSandBox event) if it failed."""
        pod = w.pod
        if (pod.get("spec") or {}).get("hostNetwork"):
            pod_ip = self.cfg.internal_ip
        else:
            assert self.ips is not None, "a sandbox before the pod CIDR is known"
            try:
                pod_ip = self.ips.allocate(w.uid)
            except ValueError as exc:
                self._event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
                self._wake(w, self.clock.wall() + RETRY_MAX_S)
                return None
        config = podspec.sandbox_config(pod, attempt, pod_ip)
        try:
            sandbox_id = await self._cri("RunPodSandbox", {"config": to_wire(config)})
        except RemoteError as exc:
            self._event(pod, "Warning", "FailedCreatePodSandBox",
                        f"Failed to create pod sandbox: {podspec.grpc_error(exc.code, exc.message)}")
            self._wake(w, self.clock.wall() + RETRY_MAX_S)
            return None
        return str(sandbox_id), pod_ip

    async def _start_container(self, w: _Worker, container: Obj, sandbox_id: str, pod_ip: str) -> bool:
        """``startContainer``: image, config, create, start (and postStart). False if it did not start; the
        reason is kept for the container's waiting state and reported as an event, as Kubernetes does."""
        pod, name = w.pod, container["name"]
        failure = await self._ensure_image(w, container)
        if failure is not None:
            w.waiting[name] = Waiting(*failure)
            self._event(pod, "Warning", "Failed", f"Error: {failure[0]}", container=name)
            if failure[0] not in (ERR_IMAGE_PULL, IMAGE_PULL_BACK_OFF):
                self._wake(w, self.clock.wall() + START_RETRY_S)
            return False
        attempt = podspec.next_attempt(w.statuses, name)
        if attempt == 0:
            attempt = restart_floor(pod, name)
        try:
            env = await self._environment(pod, container, pod_ip)
        except ConfigError as exc:
            w.waiting[name] = Waiting(CREATE_CONTAINER_CONFIG_ERROR, str(exc))
            self._wake(w, self.clock.wall() + START_RETRY_S)
            self._event(pod, "Warning", "Failed", f"Error: {exc}", container=name)
            return False
        config = podspec.container_config(pod, container, attempt=attempt, env=env, claims=w.claims)
        try:
            container_id = str(await self._cri("CreateContainer", {"pod_sandbox_id": sandbox_id,
                                                                    "config": to_wire(config)}))
        except RemoteError as exc:
            message = exc.message
            w.waiting[name] = Waiting(CREATE_CONTAINER_ERROR, message)
            self._wake(w, self.clock.wall() + START_RETRY_S)
            self._event(pod, "Warning", "Failed", f"Error: {message}", container=name)
            return False
        self._event(pod, "Normal", "Created", f"Created container: {name}", container=name)
        try:
            await self._cri("StartContainer", {"container_id": container_id}, timeout_s=START_TIMEOUT_S)
        except RemoteError as exc:
            message = exc.message
            w.waiting[name] = Waiting(RUN_CONTAINER_ERROR, message)
            self._wake(w, self.clock.wall() + START_RETRY_S)
            self._event(pod, "Warning", "Failed", f"Error: {message}", container=name)
            return False
        w.waiting.pop(name, None)
        self._event(pod, "Normal", "Started", f"Started container {name}", container=name)
        if attempt > 0:  # the attempt is the restart count this instance reports
            self.metrics.container_restarts.inc()
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:
            problem = await self._run_hook(post_start, container, container_id, pod_ip, START_TIMEOUT_S)
            if problem:
                self._event(pod, "Warning", "FailedPostStartHook", problem.replace("{hook}", "PostStart"),
                            container=name)
                kill = ContainerKill(name, container_id, "FailedPostStartHook", "FailedPostStartHook",
                                     pod_grace_period_s(pod))
                await self._kill_container(w, kill)
                w.waiting[name] = Waiting("PostStartHookError", problem.replace("{hook}", "PostStart"))
                return False
        return True

    async def _ensure_image(self, w: _Worker, container: Obj) -> tuple[str, str] | None:
        """``EnsureImageExists``: None when the image is there, else (waiting reason, message)."""
        pod, name = w.pod, container["name"]
        image = str(container.get("image", ""))
        policy = podspec.pull_policy(container)
        present = await self._cri("ImageStatus", {"image": image})
        if not podspec.should_pull(policy, present is not None):
            if present is not None:
                self._event(pod, "Normal", "Pulled", podspec.present_message(image), container=name)
                return None
            message = podspec.never_pull_message(image)
            self._event(pod, "Warning", "ErrImageNeverPull", message, container=name)
            return "ErrImageNeverPull", message
        now = self.clock.wall()
        waiting = self.image_backoff.check(w.uid, image, now)
        if waiting is not None:
            self._event(pod, "Normal", "BackOff", waiting, container=name)
            retry = self.image_backoff.retry_at_s(w.uid, image)
            self._wake(w, retry if retry is not None else now + RETRY_MAX_S)
            return IMAGE_PULL_BACK_OFF, waiting
        self._event(pod, "Normal", "Pulling", f'Pulling image "{image}"', container=name)
        started = self.clock.monotonic()
        try:
            await self._cri("PullImage", {"image": image}, timeout_s=PULL_TIMEOUT_S)
        except RemoteError as exc:
            message = podspec.grpc_error(exc.code, exc.message)
            self._event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {message}', container=name)
            self.image_backoff.failed(w.uid, image, self.clock.wall())
            self._wake(w, self.clock.wall() + ERR_IMAGE_PULL_RESYNC_S)
            return ERR_IMAGE_PULL, message
        took_s = self.clock.monotonic() - started
        self.metrics.image_pulls.observe(took_s)
        pulled = await self._cri("ImageStatus", {"image": image})
        size = int((pulled or {}).get("size_bytes") or 0)
        self._event(pod, "Normal", "Pulled", podspec.pulled_message(image, took_s, took_s, size), container=name)
        self.image_backoff.succeeded(self.clock.wall())
        return None

    async def _environment(self, pod: Obj, container: Obj, pod_ip: str) -> dict[str, str]:
        sources = podspec.env_sources(container)
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        config_maps = {n: await self._get_or_none("configmaps", n, namespace) for n in sorted(sources.config_maps)}
        secrets = {n: await self._get_or_none("secrets", n, namespace) for n in sorted(sources.secrets)}
        return podspec.resolve_env(pod, container, config_maps=config_maps, secrets=secrets, pod_ip=pod_ip,
                                   host_ip=self.cfg.internal_ip)

    async def _get_or_none(self, resource: str, name: str, namespace: str) -> Obj | None:
        try:
            return await self.api.get(resource, name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def _volumes(self, w: _Worker) -> bool:
        """``WaitForAttachAndMount``: True once every volume can be set up; else FailedMount and a retry."""
        pod = w.pod
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        sources, claim_names = podspec.volume_sources(pod)
        state = VolumeState(
            config_maps={n: await self._get_or_none("configmaps", n, namespace) for n in sorted(sources.config_maps)},
            secrets={n: await self._get_or_none("secrets", n, namespace) for n in sorted(sources.secrets)},
            claims={n: await self._get_or_none("persistentvolumeclaims", n, namespace) for n in sorted(claim_names)})
        problems = podspec.volume_problems(pod, state)
        if not problems:
            w.volumes_ready = True
            w.claims = dict(state.claims)
            w.mount_failures = 0
            return True
        w.mount_failures += 1
        for problem in problems:
            self._event(pod, "Warning", "FailedMount", problem)
        self._wake(w, self.clock.wall() + min(2 ** (w.mount_failures - 1), MOUNT_RETRY_MAX_S))
        return False

    def _back_off(self, w: _Worker, wait: BackoffWait) -> None:
        """A container in CrashLoopBackOff: remember why, say so once per back-off period, sync when it ends."""
        previous = w.waiting.get(wait.name)
        if previous is None or previous.message != wait.message:
            meta = w.pod.get("metadata") or {}
            self._event(w.pod, "Warning", "BackOff",
                        f"Back-off restarting failed container {wait.name} in pod "
                        f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})",
                        container=wait.name)
        w.waiting[wait.name] = Waiting(wait.reason, wait.message)
        self._wake(w, wait.retry_at_s)

    # --- status -----------------------------------------------------------------------------------------------
    def _post_status(self, w: _Worker) -> None:
        """``statusManager.SetPodStatus``: the pod's status goes to the API in the background, the sync goes on.

        A pod worker never waits for the API server (in Kubernetes the status
        manager's own loop writes): while one write is in flight, later changes
        are coalesced into the next, computed from the pod's state at that time.
        The writer starts once this wake-up of the loop has run its in-process
        calls (a zero-delay timer runs after them), so a pod whose containers
        start at once has one status written, as it stands by then.
        """
        w.status_wanted = True
        if not w.status_writing:
            w.status_writing = True
            self.call_later(0.0, self._start_status_writer, w)

    def _start_status_writer(self, w: _Worker) -> None:
        self.spawn(self._status_writer(w))

    async def _status_writer(self, w: _Worker) -> None:
        try:
            while w.status_wanted and not w.done:
                w.status_wanted = False
                await self._write_status(w)
        except (ApiError, RequestFailed) as exc:
            self.log.warning("pod status write failed; the pod is synced again", pod=w.name, error=str(exc))
            self._wake(w, self.clock.wall() + RETRY_MIN_S)
        finally:
            w.status_writing = False

    async def _write_status(self, w: _Worker, *, terminal: bool = False) -> None:
        """The status manager: write the pod's status when it changed, with the pod's resourceVersion; on a
        conflict read the pod again and retry once."""
        for attempt in range(2):
            pod = w.pod
            status = pod_status(pod, w.sandbox, w.statuses, probes=w.probes, waiting=w.waiting,
                                host_ip=self.cfg.internal_ip, now=self.clock.wall(), previous_status=w.last_written,
                                terminal=terminal)
            w.probes.after_status(status)
            self._arm_probes(w)
            if status.get("phase") == "Running" and not w.started_recorded:
                w.started_recorded = True
                self.metrics.pod_start.observe(self.clock.monotonic() - w.first_seen_s)
            if status == (pod.get("status") or {}):
                w.last_written = status
                return
            if status == w.last_written and _rv(pod) < w.written_rv:
                return  # written already; the informer has not caught up
            body = dict(pod, status=status)
            body.setdefault("apiVersion", "v1")
            body.setdefault("kind", "Pod")
            try:
                stored = await self.api.update_status(body)
            except ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409 or attempt:
                    self.metrics.pod_status_writes.labels("error").inc()
                    raise
                self.metrics.pod_status_writes.labels("conflict").inc()
                meta = pod.get("metadata") or {}
                fresh = await self._get_or_none("pods", meta.get("name", ""), meta.get("namespace", ""))
                if fresh is None or _uid(fresh) != w.uid:
                    return
                if _rv(fresh) >= _rv(w.pod):
                    w.pod = fresh
                continue
            self.metrics.pod_status_writes.labels("ok").inc()
            w.last_written = status
            w.written_rv = _rv(stored)
            return

    # --- deletion and cleanup --------------------------------------------------------------------------------------
    async def _finish_deletion(self, w: _Worker) -> None:
        """The pod is being deleted and has been killed: remove its sandboxes, free its IP, delete the object."""
        if any(s.state == cri.ContainerState.RUNNING for s in w.statuses):
            self._wake(w, self.clock.wall() + RETRY_MIN_S)
            return  # not stopped yet
        for s in w.sandboxes:
            await self._cri("RemovePodSandbox", {"pod_sandbox_id": s.id})
        self._release_ip(w)
        meta = w.pod.get("metadata") or {}
        try:
            await self.api.delete("pods", meta.get("name", ""), meta.get("namespace", ""), grace_period_s=0)
        except ApiError as exc:
            if exc.code != 404:
                raise

    async def _cleanup(self, w: _Worker) -> None:
        """The pod left the API: stop what still runs (its grace period), remove its sandboxes, forget it."""
        await self._observe(w)
        grace = pod_grace_period_s(w.pod)
        kills = [ContainerKill(s.metadata.name, s.id, "", f"Stopping container {s.metadata.name}", grace)
                 for s in w.statuses if s.state == cri.ContainerState.RUNNING]
        await self._kill_containers(w, kills)
        for s in w.sandboxes:
            await self._cri("RemovePodSandbox", {"pod_sandbox_id": s.id})
        self._release_ip(w)
        self._forget(w)

    def _forget(self, w: _Worker) -> None:
        w.done = True
        for timer in (w.wake_timer, w.probe_timer):
            if timer is not None:
                timer.cancel()
        w.wake_timer = w.probe_timer = None
        if self.workers.get(w.uid) is w:
            del self.workers[w.uid]

    def _release_ip(self, w: _Worker) -> None:
        if self.ips is not None:
            self.ips.release(w.uid)

    # --- housekeeping -----------------------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        """``HandlePodCleanups``: a worker whose pod the informer no longer holds is cleaned up."""
        if self.pods is None or not self.pods.synced.done():
            return
        live = {_uid(p) for p in self.pods.list()}
        for w in list(self.workers.values()):
            if w.uid not in live and not w.removed:
                w.removed = True
                self._kick(w)
        self.backoff.gc(self.clock.wall())

    def _resync(self) -> None:
        for w in list(self.workers.values()):
            self._kick(w)

    async def _relist(self) -> None:
        """The PLEG's relist: sync pods whose runtime state changed unnoticed; clean up what no pod owns;
        remove old exited containers (container GC)."""
        if self._relisting or self.pods is None or not self.pods.synced.done() or self.ips is None:
            return
        self._relisting = True
        try:
            sandboxes = [from_wire(cri.PodSandboxStatus, m) for m in await self._cri("ListPodSandbox")]
            statuses = [from_wire(cri.ContainerStatus, m) for m in await self._cri("ListContainers")]
            by_uid: dict[str, tuple[list, list]] = {}
            for s in sandboxes:
                by_uid.setdefault(s.metadata.uid, ([], []))[0].append(s)
            for c in statuses:
                uid = c.labels.get(podspec.POD_UID_LABEL, "")
                by_uid.setdefault(uid, ([], []))[1].append(c)
            for uid, (sbs, cs) in by_uid.items():
                if not uid:
                    continue
                w = self.workers.get(uid)
                if w is None:
                    await self._remove_orphan(uid, sbs, cs)
                    continue
                if runtime_fingerprint(sbs, cs) != w.fingerprint:
                    self._kick(w)
                for cid in podspec.containers_to_remove(cs, KEEP_EXITED):
                    await self._cri("RemoveContainer", {"container_id": cid})
            for uid, w in list(self.workers.items()):
                if uid not in by_uid and w.fingerprint != runtime_fingerprint((), ()):
                    self._kick(w)  # the runtime lost everything of it (the node process restarted)
        except (RemoteError, RequestFailed) as exc:
            self.log.warning("relist failed", error=str(exc))
        finally:
            self._relisting = False

    async def _remove_orphan(self, uid: str, sandboxes: list[cri.PodSandboxStatus],
                             statuses: list[cri.ContainerStatus]) -> None:
        if uid in self.workers:
            return  # it arrived while we were listing
        self.log.info("removing a pod the API no longer gives this node", uid=uid, sandboxes=len(sandboxes))
        for c in statuses:
            if c.state == cri.ContainerState.RUNNING:
                await self._cri("StopContainer", {"container_id": c.id, "timeout": ORPHAN_GRACE_S},
                                timeout_s=ORPHAN_GRACE_S + STOP_SLACK_S)
        for s in sandboxes:
            await self._cri("RemovePodSandbox", {"pod_sandbox_id": s.id})
        if self.ips is not None and uid not in self.workers:
            self.ips.release(uid)

    # --- probes -------------------------------------------------------------------------------------------------------
    def _arm_probes(self, w: _Worker) -> None:
        """Set the pod's probe timer for its earliest due probe worker."""
        if w.done:
            return
        due = w.probes.next_due_s()
        if due is None:
            return
        if w.probe_timer is not None and w.probe_at is not None and w.probe_at <= due:
            return
        if w.probe_timer is not None:
            w.probe_timer.cancel()
        w.probe_at = due
        w.probe_timer = self.call_later(max(0.0, due - self.clock.wall()), self._probe_tick, w)

    def _probe_tick(self, w: _Worker) -> None:
        w.probe_timer = w.probe_at = None
        if w.done or w.removed:
            return
        meta = w.pod.get("metadata") or {}
        pod_ip = w.sandbox.ip if w.sandbox is not None and w.sandbox.state == cri.SandboxState.READY else ""
        phase = (w.last_written or w.pod.get("status") or {}).get("phase", "")
        for req in w.probes.due(self.clock.wall(), w.statuses, pod_ip=pod_ip, phase=phase,
                                deleting=bool(meta.get("deletionTimestamp"))):
            self.spawn(self._probe(w, req))
        self._arm_probes(w)

    async def _probe(self, w: _Worker, req: ProbeRequest) -> None:
        result, output = Result.ERROR, "the probe did not run"
        try:
            result, output = await self._run_probe(req)
        finally:
            if not w.done:
                self.metrics.probes.labels(req.probe_type, _PROBE_RESULT.get(result, "unknown")).inc()
                if result == Result.FAILURE:
                    self._event(w.pod, "Warning", "Unhealthy", unhealthy_message(req.probe_type, output),
                                container=req.container_name)
                elif result == Result.ERROR:
                    self._event(w.pod, "Warning", "Unhealthy", f"{req.probe_type} probe errored: {output}",
                                container=req.container_name)
                changed = w.probes.record(req.container_name, req.probe_type, result, self.clock.wall())
                if changed is not None:
                    self._kick(w)
                self._arm_probes(w)

    async def _run_probe(self, req: ProbeRequest) -> tuple[str, str]:
        """One probe against the runtime, within its timeout: (result, output)."""
        target, timeout_s = req.target, float(req.timeout_s)
        try:
            if isinstance(target, HttpGetTarget):
                reply = await self.request(self.runtime_name, HttpGet(target.host, target.port, target.path or "/"),
                                           timeout_s=timeout_s, retries=0)
                return http_probe_outcome(target, reply)
            if isinstance(target, TcpSocketTarget | GrpcTarget):
                reply = await self.request(self.runtime_name, TcpConnect(target.host, target.port),
                                           timeout_s=timeout_s, retries=0)
                return tcp_probe_outcome(target.host, target.port, reply)
            if isinstance(target, ExecTarget):
                try:
                    result = await self._cri("ExecSync", {"container_id": req.container_id,
                                                          "cmd": list(target.command), "timeout": timeout_s},
                                             timeout_s=timeout_s + CRI_TIMEOUT_S)
                except RemoteError as exc:
                    if exc.code == cri.Code.DEADLINE_EXCEEDED:
                        return Result.FAILURE, f'command "{" ".join(target.command)}" timed out'
                    raise
                return exec_probe_outcome(result or {})
        except Indeterminate:
            where = target.url if isinstance(target, HttpGetTarget) else \
                f"{getattr(target, 'host', '')}:{getattr(target, 'port', '')}"
            if isinstance(target, HttpGetTarget):
                return Result.FAILURE, (f'Get "{where}": context deadline exceeded (Client.Timeout exceeded '
                                        f"while awaiting headers)")
            return Result.FAILURE, f"dial tcp {where}: i/o timeout"
        except (RemoteError, RequestFailed) as exc:
            return Result.ERROR, str(exc)
        return Result.ERROR, f"unsupported probe target {type(target).__name__}"

    # --- plumbing ---------------------------------------------------------------------------------------------------------
    async def _cri(self, method: str, args: dict | None = None, *, timeout_s: float = CRI_TIMEOUT_S) -> Any:
        """One CRI call; its result (ids as str, records as maps), or RemoteError with the CRI code."""
        reply = await self.request(self.runtime_name, CriRequest(method, args or {}), timeout_s=timeout_s, retries=0)
        if not isinstance(reply, CriResponse):
            raise RemoteError(cri.Code.UNKNOWN, f"{method}: unexpected reply {type(reply).__name__}")
        return reply.result

    def _event(self, pod: Obj, type_: str, reason: str, message: str, *, container: str = "") -> None:
        """Record an Event about the pod (about one of its containers: with its fieldPath), without waiting."""
        if not self.record_events:
            return
        subject = {"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}}
        event = events.event_for(subject, type_, reason, message, component=COMPONENT,
                                 suffix=f"{self.rng.getrandbits(64):016x}", wall=self.clock.wall())
        event["source"]["host"] = self.cfg.name
        event["reportingInstance"] = self.cfg.name
        if container:
            event["involvedObject"]["fieldPath"] = podspec.field_path(pod, container)
        self.spawn(events.emit(self.api, event, self.event_correlator, self.log))

    # --- what the metrics read ------------------------------------------------------------------------------------------
    def running_pods(self) -> int:
        return sum(1 for w in self.workers.values()
                   if w.sandbox is not None and w.sandbox.state == cri.SandboxState.READY)

    def container_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for w in self.workers.values():
            for s in w.statuses:
                label = _STATE_LABEL.get(s.state, "unknown")
                counts[label] = counts.get(label, 0) + 1
        return counts


__all__ = ["Kubelet", "KubeletMetrics", "differs_semantically", "exec_probe_outcome", "http_probe_outcome",
           "identity_matches", "node_images", "restart_floor", "runtime_fingerprint",
           "tcp_probe_outcome"]
