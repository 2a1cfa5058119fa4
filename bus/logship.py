"""Shipping a process's log lines to the cluster's log collector, as Fluent Bit does on a real node.

Every line a component logs (structlog) and every line a container on a
node writes is copied, as an *entry*, into the process's :class:`LogBuffer`;
the process's :class:`LogShipper` actor sends what the buffer holds to the
log collector (``logs.Push``) every half second, a batch at a time, and
forgets a batch only once the collector has said it has it. So:

- a collector that is down, restarting or cut off loses nothing the buffer
  can hold: the same batch is sent again (with the same number, so the
  collector keeps it once) until it is taken, at a slower pace while it fails;
- a process logs at its own speed, never waiting on the collector: the
  buffer is bounded, and when it is full the oldest lines go, counted
  (``kubesim_log_shipper_lines_total{outcome="dropped"}``) and reported to
  the collector with the next batch — as a real agent's memory buffer
  limit does.

Times are real Unix seconds (the console log's timestamps), not the cluster's
scaled clock, so the lines of every process fall in one order.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import deque
from collections.abc import Callable

from prometheus_client import REGISTRY, Counter, Gauge

from bus.messages import LogPull, LogPush
from bus.runtime import Actor, Envelope, RemoteError, RequestFailed, handles

#: The fields of an entry, in the order a ``logs.Push`` carries them.
ENTRY_FIELDS = ("t", "process", "component", "source", "level", "trace_id", "message", "fields",
                "namespace", "pod", "container", "stream", "attempt")
#: Longest message text shipped (longer ones are cut, saying so); a field's value is cut at a tenth of it.
MAX_MESSAGE_CHARS = 8192
MAX_FIELD_CHARS = MAX_MESSAGE_CHARS // 8
#: Lines a process holds for the collector before it drops the oldest.
BUFFER_LINES = 50_000
#: Most lines, and about the most bytes, one batch carries (well inside the bus's frame limit).
BATCH_LINES = 2_000
BATCH_BYTES = 384 * 1024
#: Real seconds between batches, and the longest wait between attempts while the collector fails.
SHIP_INTERVAL_S = 0.5
RETRY_MAX_S = 10.0

#: What a component log line's event dict carries that is not one of its own fields.
_NOT_FIELDS = frozenset({"event", "level", "timestamp", "process", "component", "trace_id", "exc_info"})


def _cut(text: str, limit: int) -> str:
    if not text.isascii():
        # A lone surrogate (os.fsdecode of a bad file name) cannot be sent as UTF-8: replace it here, or the
        # batch holding it could never be packed.
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def _plain(value: object) -> object:
    if value is None or isinstance(value, (bool, float)) or (isinstance(value, int) and -2**63 <= value < 2**63):
        return value
    return _cut(value if isinstance(value, str) else str(value), MAX_FIELD_CHARS)


def component_entry(event_dict: dict, t: float, process: str, component: str) -> list:
    """An entry for one structlog line (its event dict as the processors left it)."""
    fields = {_cut(str(k), 128): _plain(v) for k, v in event_dict.items() if k not in _NOT_FIELDS}
    exc_info = event_dict.get("exc_info")
    if exc_info:
        if isinstance(exc_info, BaseException):
            text = "".join(traceback.format_exception(exc_info))
        elif isinstance(exc_info, tuple) and len(exc_info) == 3:
            text = "".join(traceback.format_exception(*exc_info))
        else:
            text = traceback.format_exc()
        fields["exception"] = _cut(text, MAX_FIELD_CHARS * 4)
    return [t, process, component, _cut(str(event_dict.get("component") or process), 256),
            str(event_dict.get("level") or "info"), str(event_dict.get("trace_id") or ""),
            _cut(str(event_dict.get("event", "")), MAX_MESSAGE_CHARS), fields, "", "", "", "", 0]


def container_entry(t: float, process: str, component: str, namespace: str, pod: str, container: str,
                    attempt: int, stream: str, text: str) -> list:
    """An entry for one line a container wrote (``stream``: stdout or stderr)."""
    return [t, process, component, _cut(f"{namespace}/{pod}/{container}", 768), "", "", _cut(text, MAX_MESSAGE_CHARS), {},
            namespace, pod, container, stream, attempt]


def _nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def entry_bytes(entry: list) -> int:
    """About what an entry costs on the wire (msgpack carries text as UTF-8)."""
    return 96 + _nbytes(entry[3]) + _nbytes(entry[6]) + sum(_nbytes(k) + _nbytes(str(v))
                                                           for k, v in entry[7].items())


class ShipperMetrics:
    def __init__(self, registry=REGISTRY) -> None:
        self.lines = Counter("kubesim_log_shipper_lines_total",
                             "Log lines this process shipped to the log collector, dropped (its buffer was full) or that "
                             "the collector refused.",
                             ["outcome"], registry=registry)
        self.buffered = Gauge("kubesim_log_shipper_buffered_lines", "Log lines waiting to be shipped.",
                              registry=registry)
        self.failures = Counter("kubesim_log_shipper_failures_total",
                                "Batches the log collector did not take (it was down or did not answer).",
                                registry=registry)
        for outcome in ("shipped", "dropped", "refused"):
            self.lines.labels(outcome)


_metrics: ShipperMetrics | None = None


def shipper_metrics() -> ShipperMetrics:
    """The process's one set (a test process may make many shippers)."""
    global _metrics
    if _metrics is None:
        _metrics = ShipperMetrics()
    return _metrics


class LogBuffer:
    """Entries waiting to be shipped, oldest first; at most ``capacity``, dropping the oldest beyond."""

    def __init__(self, capacity: int = BUFFER_LINES) -> None:
        assert capacity > 0
        self.capacity = capacity
        self._entries: deque[list] = deque()
        self.dropped = 0
        """Entries dropped since :meth:`take_dropped` was last called."""
        self.on_drop: Callable[[int], None] = lambda n: None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: list) -> None:
        if len(self._entries) >= self.capacity:
            self._entries.popleft()
            self.dropped += 1
            self.on_drop(1)
        self._entries.append(entry)

    def take(self, max_lines: int = BATCH_LINES, max_bytes: int = BATCH_BYTES) -> list[list]:
        """Remove and return the oldest entries, at most ``max_lines`` and about ``max_bytes`` (at least one)."""
        out: list[list] = []
        size = 0
        entries = self._entries
        while entries and len(out) < max_lines:
            cost = entry_bytes(entries[0])
            if out and size + cost > max_bytes:
                break
            out.append(entries.popleft())
            size += cost
        return out

    def take_dropped(self) -> int:
        n, self.dropped = self.dropped, 0
        return n


class _Batches(Actor):
    """What a shipper and a source share: a process's buffer, its run's id, and the one batch not yet taken."""

    def __init__(self, name: str, buffer: LogBuffer, process: str, metrics: ShipperMetrics | None) -> None:
        super().__init__(name)
        self.buffer = buffer
        self.metrics = metrics or shipper_metrics()
        buffer.on_drop = self.metrics.lines.labels("dropped").inc
        # This run of the process: a restarted one numbers its batches from 1 again.
        self.shipper_id = f"{process}@{os.getpid()}-{int(time.time())}"
        self.batch = 0
        self._pending: LogPush | None = None
        """The batch in flight, or the one the collector has not taken yet (offered again as it is)."""

    def _next_batch(self) -> LogPush | None:
        """The pending batch, or a new one from the buffer (None when it is empty); within half a bus frame."""
        if self._pending is None:
            entries = self.buffer.take(max_bytes=min(BATCH_BYTES, self.runtime.settings.max_frame_bytes // 2))
            if entries:
                self.batch += 1
                self._pending = LogPush(self.shipper_id, self.batch, entries, self.buffer.take_dropped())
        return self._pending

    def _taken(self, outcome: str = "shipped") -> None:
        self.metrics.lines.labels(outcome).inc(len(self._pending.entries))
        self._pending = None


class LogShipper(_Batches):
    """Ships its process's :class:`LogBuffer` to ``collector``, one batch at a time, until each is taken."""

    def __init__(self, name: str, buffer: LogBuffer, collector: str, process: str,
                 metrics: ShipperMetrics | None = None) -> None:
        super().__init__(name, buffer, process, metrics)
        self.collector = collector
        self._sending = False
        self._failures = 0
        self._retry_at = 0.0

    def on_start(self) -> None:
        self.call_every(SHIP_INTERVAL_S * self.clock.scale, self._tick)

    def _tick(self) -> None:
        self.metrics.buffered.set(len(self.buffer))
        if self._sending or self.clock.monotonic() < self._retry_at:
            return
        push = self._next_batch()
        if push is not None:
            self._sending = True
            self.spawn(self._ship(push))

    async def _ship(self, push: LogPush) -> None:
        try:
            await self.request(self.collector, push, timeout_s=2.0 * self.clock.scale, retries=0)
        except RemoteError as exc:
            if exc.code == "bad_request":
                # The collector will never take this batch (it said what was wrong, and counted it): sending it
                # again would hold back every later line. Dropped, counted.
                self._taken("refused")
            else:
                self._failed()
        except RequestFailed:
            self._failed()
        except Exception:  # a batch the bus cannot send (too large, unpackable): the same, never retried
            self._taken("refused")
        else:
            self._taken()
            self._failures = 0
            self._retry_at = 0.0
            if len(self.buffer) >= BATCH_LINES:  # behind: the next batch now, not at the next tick
                self.call_later(0, self._tick)
        finally:
            self._sending = False

    def _failed(self) -> None:
        # Not logged: a line saying the collector is away would be one more line for it.
        self.metrics.failures.inc()
        self._failures += 1
        self._retry_at = self.clock.monotonic() + min(RETRY_MAX_S, SHIP_INTERVAL_S * 2 ** self._failures) * \
            self.clock.scale


class LogSource(_Batches):
    """The lines of a process the collector cannot be sent to (a store member is on no broker's bus): kept in
    its :class:`LogBuffer` until the collector fetches them (``logs.Pull``), a batch at a time, each batch
    offered again, with its number, until the collector's next pull says it took it."""

    def __init__(self, name: str, buffer: LogBuffer, process: str, metrics: ShipperMetrics | None = None) -> None:
        super().__init__(name, buffer, process, metrics)

    @handles(LogPull)
    def on_pull(self, msg: LogPull, env: Envelope) -> None:
        if (self._pending is not None and msg.shipper == self.shipper_id and type(msg.ack) is int
                and msg.ack >= self._pending.batch):
            self._taken()
        push = self._next_batch()
        self.metrics.buffered.set(len(self.buffer))
        self.reply(env, push or LogPush(self.shipper_id, 0, []))


def ship_processor(buffer: LogBuffer, process: str, component: str, now: Callable[[], float] = time.time):
    """A structlog processor that copies every line into ``buffer`` (and passes it on unchanged)."""

    def ship(_logger, _method, event_dict):
        try:
            buffer.add(component_entry(event_dict, now(), process, component))
        except Exception:  # a log line must never fail because it could not be shipped
            pass
        return event_dict

    return ship


def row_as_dict(row: list) -> dict:
    """A line as the collector answers it, ``[seq, *ENTRY_FIELDS]``, as a dict (``kubesim logs -o json``, the
    dashboard)."""
    return {"seq": row[0], **dict(zip(ENTRY_FIELDS, row[1:]))}
