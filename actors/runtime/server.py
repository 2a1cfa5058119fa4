"""One node's container runtime as an actor: the CRI over the bus, around :class:`ContainerRuntime`.

containerd listens on a unix socket only the node's kubelet can reach; this
actor answers ``cri.Request`` only from actors of its own process (the node
process that hosts the kubelet), and refuses any other sender with
``forbidden``. What a *network* would carry — a Service request forwarded by
some node's kube-proxy, a probe — arrives as ``runtime.HttpGet`` and
``runtime.TcpConnect`` from anywhere, as packets to a pod IP would.

The core never blocks; calls that take time in containerd are answered when
they are done, so the kubelet awaits them as it would a gRPC call:
``PullImage`` after the download, ``StartContainer`` once the process runs,
``StopContainer`` once it has exited (SIGTERM, the grace period, SIGKILL).
Everything that happens later by itself — a batch job ends, a crasher
crashes, a leaker is OOMKilled — is applied by a timer set at the core's
``next_event_at()``, and the resulting events go to the kubelet as
``cri.Events`` (its PLEG feed); log lines are not pushed to the kubelet
(``ContainerLogs`` reads them), but when the node ships its logs
(:meth:`RuntimeServer.ship_logs`) every line a container writes goes to the
log sink within a second, as a node's log agent tails containerd's files.

Times are the cluster's wall clock, as the kubelet reports them in pod
statuses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from actors.messages import (
    CriEvents,
    CriRequest,
    CriResponse,
    HttpGet,
    HttpResponse,
    TcpConnect,
    TcpResult,
)
from actors.runtime.cri import ContainerState, CriError, EventType
from actors.runtime.runtime import ContainerRuntime
from actors.runtime.wire import parse_args, to_wire
from bus.messages import Error
from bus.runtime import Actor, Envelope, Timer, handles

#: Calls answered when the time the core returns has come, not at once.
_TIMED = frozenset({"PullImage", "StartContainer", "StopContainer"})
#: Real seconds between reads of the containers' new log lines, when they are shipped.
LOG_SHIP_S = 1.0
#: ``(namespace, pod, container, attempt, stream, text, cluster time)`` for each line a container writes.
LogSink = Callable[[str, str, str, int, str, str, float], None]
PUBLISH_S = 5.0
"""How often the container and sandbox gauges are brought up to date (once per process, for all its runtimes)."""


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.operations = Counter("kubesim_runtime_operations_total", "CRI calls answered, by method and result.",
                                  ["operation", "result"], registry=registry)
        self.pull_seconds = Histogram("kubesim_runtime_image_pull_duration_seconds",
                                      "Simulated image pull time (0 when cached).",
                                      buckets=(0, 0.5, 1, 2, 5, 10, 20, 40, 80), registry=registry)
        self.containers = Gauge("kubesim_runtime_containers", "Containers by state.", ["state"], registry=registry)
        self.sandboxes = Gauge("kubesim_runtime_sandboxes", "Pod sandboxes.", registry=registry)
        self.network = Counter("kubesim_runtime_network_requests_total",
                               "Requests to pod IPs on this node, by kind and outcome.", ["kind", "outcome"],
                               registry=registry)
        self.servers: list[RuntimeServer] = []
        """Every runtime these metrics count (a hollow-nodes process has thousands, sharing one set)."""

    def add(self, server: RuntimeServer) -> bool:
        """Count ``server`` too; True for the first, whose timer then publishes for all of them."""
        self.servers.append(server)
        return len(self.servers) == 1

    def publish(self) -> None:
        """Containers by state and sandboxes, summed over every runtime counted (from the loop, not a scrape:
        the runtimes are the loop's to read)."""
        counts = dict.fromkeys((ContainerState.CREATED, ContainerState.RUNNING, ContainerState.EXITED), 0)
        sandboxes = 0
        now = self.servers[0].clock.wall() if self.servers else 0.0  # one process, one clock
        for server in self.servers:
            for status in server.core.list_containers(now=now):
                counts[status.state] = counts.get(status.state, 0) + 1
            sandboxes += len(server.core.list_pod_sandboxes())
        for state, count in counts.items():
            self.containers.labels(state).set(count)
        self.sandboxes.set(sandboxes)


class RuntimeServer(Actor):
    """Node ``node``'s runtime: ``f"{node}.runtime"``, feeding events to ``f"{node}.kubelet"``."""

    def __init__(self, node: str, *, seed: int | None = None, bandwidth_bytes_per_s: float | None = None,
                 metrics: RuntimeMetrics | None = None) -> None:
        super().__init__(f"{node}.runtime")
        self.node = node
        self.kubelet = f"{node}.kubelet"
        kwargs: dict[str, Any] = {}
        if bandwidth_bytes_per_s is not None:
            kwargs["bandwidth_bytes_per_s"] = bandwidth_bytes_per_s
        self.core = ContainerRuntime(random.Random(seed), **kwargs)
        self.metrics = metrics or RuntimeMetrics()
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self.log_sink: LogSink | None = None
        self._calls: dict[str, Callable[[dict, float], Any]] = {
            "Version": lambda a, now: {"version": "0.1.0", "runtime_name": "kubesim", "runtime_version": "1.0.0",
                                       "runtime_api_version": "v1"},
            "RunPodSandbox": lambda a, now: self.core.run_pod_sandbox(a["config"], now),
            "StopPodSandbox": lambda a, now: self.core.stop_pod_sandbox(a["pod_sandbox_id"], now),
            "RemovePodSandbox": lambda a, now: self.core.remove_pod_sandbox(a["pod_sandbox_id"], now),
            "PodSandboxStatus": lambda a, now: self.core.pod_sandbox_status(a["pod_sandbox_id"]),
            "ListPodSandbox": lambda a, now: self.core.list_pod_sandboxes(a.get("state"), a.get("labels")),
            "CreateContainer": lambda a, now: self.core.create_container(a["pod_sandbox_id"], a["config"], now),
            "StartContainer": lambda a, now: self.core.start_container(a["container_id"], now),
            "StopContainer": lambda a, now: self.core.stop_container(a["container_id"], a["timeout"], now),
            "RemoveContainer": lambda a, now: self.core.remove_container(a["container_id"], now),
            "ContainerStatus": lambda a, now: self.core.container_status(a["container_id"], now),
            "ListContainers": lambda a, now: self.core.list_containers(a.get("pod_sandbox_id"), a.get("state"),
                                                                       a.get("labels"), now=now),
            "ExecSync": lambda a, now: self.core.exec_sync(a["container_id"], a["cmd"], now, a.get("timeout")),
            "PullImage": lambda a, now: self.core.pull_image(a["image"], now),
            "ImageStatus": lambda a, now: self.core.image_status(a["image"], now),
            "ListImages": lambda a, now: self.core.list_images(now),
            "RemoveImage": lambda a, now: self.core.remove_image(a["image"]),
            "ContainerLogs": lambda a, now: self.core.logs(a["container_id"], a.get("tail"), a.get("since"), now),
            "ContainerStats": lambda a, now: self.core.stats(now),
        }

    def ship_logs(self, sink: LogSink) -> None:
        """Hand every line the containers write to ``sink`` (call before the runtime starts)."""
        self.log_sink = sink

    def on_start(self) -> None:
        if self.metrics.add(self):
            self.call_every(PUBLISH_S, self.metrics.publish)
        if self.log_sink is not None:
            # Lines are written lazily (when something reads or advances): advance every second to have them.
            self.call_every(LOG_SHIP_S * self.clock.scale, lambda: self._after(self.clock.wall()))

    def on_stop(self) -> None:
        if self in self.metrics.servers:
            self.metrics.servers.remove(self)

    # --- the CRI ---------------------------------------------------------------------------------
    @handles(CriRequest)
    def on_cri(self, msg: CriRequest, env: Envelope) -> None:
        if env.identity.encode() != self.runtime.identity:
            self.metrics.operations.labels(str(msg.method)[:40], "forbidden").inc()
            self.reply(env, Error("forbidden", f"CRI calls to {self.name} are local to node {self.node}'s process; "
                                               f"{env.identity!r} is another process"))
            return
        now = self.clock.wall()
        try:
            args = parse_args(msg.method, msg.args)
            result = self._calls[msg.method](args, now)
        except CriError as exc:
            self.metrics.operations.labels(msg.method if msg.method in self._calls else "unknown", exc.code).inc()
            self.reply(env, Error(exc.code, exc.message))
            self._after(now)
            return
        self.metrics.operations.labels(msg.method, "OK").inc()
        if msg.method in _TIMED:
            done_at = float(result)
            if msg.method == "PullImage":
                self.metrics.pull_seconds.observe(max(0.0, done_at - now))
                image = self.core.image_status(args["image"], done_at)
                result = image.id if image is not None else args["image"]
            else:
                result = None
            self._reply_at(env, done_at, now, result)
        else:
            self.reply(env, CriResponse(to_wire(result)))
        self._after(now)

    def _reply_at(self, env: Envelope, at: float, now: float, result: Any) -> None:
        def answer() -> None:
            self._after(self.clock.wall())  # what became true by now (the container runs, has exited) first
            self.reply(env, CriResponse(result))
        if at <= now:
            answer()
        else:
            self.call_later(at - now, answer)

    # --- the pod network ----------------------------------------------------------------------------
    @handles(HttpGet)
    def on_http(self, msg: HttpGet, env: Envelope) -> None:
        now = self.clock.wall()
        answer = self.core.http_get(msg.ip, msg.port, msg.path, now, client_ip=msg.client_ip)
        if answer is None:
            self.metrics.network.labels("http", "refused").inc()
            self.reply(env, HttpResponse(False))
        else:
            status, body = answer
            self.metrics.network.labels("http", str(status)).inc()
            self.reply(env, HttpResponse(True, status, body))
        self._after(now)

    @handles(TcpConnect)
    def on_tcp(self, msg: TcpConnect, env: Envelope) -> None:
        now = self.clock.wall()
        connected = self.core.tcp_connect(msg.ip, msg.port, now)
        self.metrics.network.labels("tcp", "connected" if connected else "refused").inc()
        self.reply(env, TcpResult(connected))
        self._after(now)

    # --- events -------------------------------------------------------------------------------------
    def _after(self, now: float) -> None:
        """Apply what is due, feed the kubelet what changed, and set the timer for the next transition."""
        events = self.core.advance(now)
        if any(e.type == EventType.CONTAINER_LOGGED for e in events):
            if self.log_sink is not None:
                self._ship([e for e in events if e.type == EventType.CONTAINER_LOGGED])
            events = [e for e in events if e.type != EventType.CONTAINER_LOGGED]
        if events:
            self.send(self.kubelet, CriEvents(tuple(to_wire(e) for e in events)))
        due = self.core.next_event_at()
        if due == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        if due is not None:
            self._timer_at = due
            self._timer = self.call_later(max(0.0, due - now), self._tick)

    def _ship(self, logged: list) -> None:
        sink = self.log_sink
        for e in logged:
            try:
                meta = self.core.pod_sandbox_status(e.sandbox_id).metadata
            except CriError:
                continue  # the pod is gone with its sandbox
            for line in e.lines:
                sink(meta.namespace, meta.name, e.container_name, e.attempt, line.stream, line.text, line.time)

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        self._after(self.clock.wall())


