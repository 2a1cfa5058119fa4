"""Bus metrics, and the /metrics endpoint every process serves.

The runtime counts every message it sends and receives, so counting must
cost next to nothing: counters here are plain ``dict`` increments and a
bucket index, turned into Prometheus metric families only when Prometheus
scrapes (a custom collector), instead of a locked ``Counter.labels().inc()``
per message.

:func:`serve` starts the HTTP endpoint on 127.0.0.1 and writes a Prometheus
``file_sd`` target file for the process, so Prometheus finds every process
without a hand-kept list; the file is removed again on a clean exit.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import Callable

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

#: Handler durations in seconds: sub-millisecond resolution where handlers live.
HANDLER_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)


class Histogram:
    """A lock-free histogram for one label set (the runtime is one thread)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = HANDLER_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, count in zip(self.bounds, self.counts):
            total += count
            out.append((repr(bound), total))
        out.append(("+Inf", total + self.counts[-1]))
        return out


#: Why a frame is rejected (the reasons :class:`bus.codec.Rejected` carries).
REJECT_REASONS = ("frame_count", "bad_envelope", "bad_frame", "bad_dst", "bad_header", "bad_body", "bad_batch",
                  "oversize", "unknown_kind", "unknown_dst", "no_handler", "unregistered")
#: Why the broker could not deliver a message.
UNDELIVERABLE_REASONS = ("unknown_dst", "unreachable", "overloaded", "too_large", "unregistered")
#: Why a process could not send a message (each starts at 0, so a quiet process shows 0, not no data).
OUTBOUND_DROP_REASONS = ("outbox_full", "too_large", "no_route", "unreachable", "overloaded")


class BusMetrics:
    """Everything the bus counts in one process.

    Counters with a known set of labels start with every label at 0, as Prometheus' instrumentation
    guidance asks: a process that never rejected a frame says 0, and a dashboard shows 0, not "no data".
    """

    def __init__(self, process: str) -> None:
        self.process = process
        self.sent: defaultdict[str, int] = defaultdict(int)
        self.sent_bytes: defaultdict[str, int] = defaultdict(int)
        self.received: defaultdict[str, int] = defaultdict(int)
        self.received_bytes: defaultdict[str, int] = defaultdict(int)
        self.rejected: defaultdict[str, int] = defaultdict(int, dict.fromkeys(REJECT_REASONS, 0))
        self.handler_seconds: dict[str, Histogram] = {}
        self.handler_errors: defaultdict[str, int] = defaultdict(int, {"timer": 0, "task": 0})
        """By message kind, and "timer" and "task" for the callbacks and tasks that raised (a kind starts
        at 0 when an actor that handles it is added)."""
        self.requests_timed_out = 0
        self.requests_undeliverable = 0
        self.late_replies = 0
        self.dropped_outbound: defaultdict[str, int] = defaultdict(int, dict.fromkeys(OUTBOUND_DROP_REASONS, 0))
        # Gauges read the state they describe when Prometheus scrapes, rather
        # than being copied into the metrics on every turn of the loop.
        self.outbox_depth: Callable[[], int] = lambda: 0
        self.relayed = 0
        self.batches_sent = 0
        self.batched_messages = 0
        self.relayed_bytes = 0
        self.undeliverable: defaultdict[str, int] = defaultdict(int)
        self.peers_alive: Callable[[], int] = lambda: 0
        self.peer_deaths = 0
        self.registrations = 0
        self.reregistrations = 0
        self.faults_applied: dict[str, int] = {}

    def handler_histogram(self, kind: str) -> Histogram:
        h = self.handler_seconds.get(kind)
        if h is None:
            h = self.handler_seconds[kind] = Histogram()
        return h


class BusCollector:
    """Exposes a :class:`BusMetrics` to prometheus-client at scrape time."""

    def __init__(self, metrics: BusMetrics) -> None:
        self.m = metrics

    def describe(self):
        return []

    def collect(self):
        m = self.m

        def counter(name, doc, labels, values):
            fam = CounterMetricFamily(name, doc, labels=labels)
            for key, value in sorted(values.items()):
                fam.add_metric([key] if labels else [], value)
            return fam

        yield counter("kubesim_bus_messages_sent", "Messages sent, by kind.", ["kind"], m.sent)
        yield counter("kubesim_bus_sent_bytes", "Bytes sent (header and body), by kind.", ["kind"], m.sent_bytes)
        yield counter("kubesim_bus_messages_received", "Messages received and decoded, by kind.", ["kind"], m.received)
        yield counter("kubesim_bus_received_bytes", "Bytes of well-formed headers received (with their bodies), by kind.", ["kind"], m.received_bytes)
        yield counter(
            "kubesim_bus_rejected_frames",
            "Frames rejected and dropped (malformed, unknown kind, oversize, unregistered...), by reason.",
            ["reason"],
            m.rejected,
        )
        yield counter("kubesim_bus_handler_errors", "Handlers that raised, by kind.", ["kind"], m.handler_errors)
        yield counter(
            "kubesim_bus_outbound_dropped",
            "Messages this process could not send (outbox full, broker unreachable), by reason.",
            ["reason"],
            m.dropped_outbound,
        )
        yield counter(
            "kubesim_bus_undeliverable",
            "Messages the broker could not deliver, by reason.",
            ["reason"],
            m.undeliverable,
        )
        yield counter("kubesim_bus_fault_actions", "Messages a fault rule acted on, by action.", ["action"], m.faults_applied)
        for name, doc, value in (
            ("kubesim_bus_requests_timed_out", "Requests that ended indeterminate after their deadline and retries.", m.requests_timed_out),
            ("kubesim_bus_requests_undeliverable", "Requests that ended undeliverable.", m.requests_undeliverable),
            ("kubesim_bus_late_replies", "Replies that arrived after their request had ended.", m.late_replies),
            ("kubesim_bus_batches_sent", "Batches sent: runs of messages to one destination in one frame.", m.batches_sent),
            ("kubesim_bus_batched_messages", "Messages that travelled inside a batch.", m.batched_messages),
            ("kubesim_bus_relayed_messages", "Frames (single messages or batches) the broker relayed between peers.", m.relayed),
            ("kubesim_bus_relayed_bytes", "Bytes the broker relayed between peers.", m.relayed_bytes),
            ("kubesim_bus_peer_deaths", "Peers the broker dropped because their connection was gone.", m.peer_deaths),
            ("kubesim_bus_registrations", "Peer registrations the broker accepted.", m.registrations),
            ("kubesim_bus_reregistrations", "Times the broker asked this process to register again (it restarted, or lost the connection).", m.reregistrations),
        ):
            yield counter(name, doc, [], {"": value})
        g = GaugeMetricFamily("kubesim_bus_peers_alive", "Peers registered and heard from recently (broker only).")
        g.add_metric([], m.peers_alive())
        yield g
        g = GaugeMetricFamily("kubesim_bus_outbox_depth", "Messages waiting to be written to the socket.")
        g.add_metric([], m.outbox_depth())
        yield g
        h = HistogramMetricFamily(
            "kubesim_bus_handler_duration_seconds", "Time spent in message handlers, by kind.", labels=["kind"]
        )
        for kind, hist in sorted(m.handler_seconds.items()):
            h.add_metric([kind], hist.cumulative(), hist.sum)
        yield h


class MetricsServer:
    """The running /metrics endpoint of one process and its file_sd target."""

    def __init__(self, port: int, target_file: Path | None, httpd) -> None:
        self.port = port
        self.target_file = target_file
        self._httpd = httpd

    def close(self) -> None:
        if self.target_file is not None:
            self.target_file.unlink(missing_ok=True)
        self._httpd.shutdown()
        self._httpd.server_close()


def serve(
    process: str,
    host: str,
    port: int,
    targets_dir: Path | None,
    labels: dict[str, str],
    registry: CollectorRegistry = REGISTRY,
) -> MetricsServer:
    """Serve ``registry`` on ``host:port``/metrics (0 = any free port) and write a file_sd target."""
    httpd, _thread = start_http_server(port, addr=host, registry=registry)
    bound = httpd.server_address[1]
    target_file = None
    if targets_dir is not None:
        target_file = write_target(targets_dir, process, host, bound, labels)
    return MetricsServer(bound, target_file, httpd)


def write_target(targets_dir: Path, process: str, host: str, port: int, labels: dict[str, str]) -> Path:
    """Write ``<targets_dir>/<process>.json`` atomically (write, fsync, rename)."""
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = targets_dir / f"{process}.json"
    tmp = path.with_suffix(".json.tmp")
    doc = [{"targets": [f"{host}:{port}"], "labels": {"job": "kubesim", "process": process, **labels}}]
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
