"""The log collector as an actor: takes every process's shipped lines, answers queries, holds followers.

The I/O shell around :class:`~actors.logcollector.store.LogStore`. A
``logs.Push`` is checked entry by entry before anything is stored (a bad
one is refused whole, with the field that was wrong, and counted); a
``logs.Query`` with ``wait_s`` that finds nothing is held until a matching
line arrives or the wait is over, so a follower (``kubesim logs -f``, the
dashboard's live view) asks again only when it has something, not in a
tight loop.

Time is real Unix seconds (the lines' own), read through ``now``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from actors.logcollector.store import LEVELS, BadEntry, LogStore, Query, check_entry
from actors.messages import LogEntries, LogQuery
from bus.logship import entry_bytes
from bus.messages import MAX_NAME_BYTES, Error, LogPull, LogPush, LogPushed
from bus.runtime import Actor, Envelope, RequestFailed, handles

#: Most lines one push may carry, and one answer may return.
MAX_PUSH_LINES = 10_000
MAX_ANSWER_LINES = 5_000
#: Most queries held at once; more are answered at once.
MAX_WAITING = 1_000
#: Longest a query may be held (real seconds).
MAX_WAIT_S = 30.0
#: Real seconds between checks of held queries' deadlines and of the retention age.
TICK_S = 0.5
EXPIRE_S = 10.0
#: Real seconds between fetches from each process off the bus.
PULL_S = 0.5
#: Real seconds between log lines about refused pushes (each one is counted).
REFUSAL_LOG_S = 10.0
#: An answer stays within this share of the bus's frame limit (lines with tracebacks are big).
ANSWER_SHARE = 0.75


class _Waiting:
    __slots__ = ("query", "env", "deadline")

    def __init__(self, query: Query, env: Envelope, deadline: float) -> None:
        self.query, self.env, self.deadline = query, env, deadline


class LogCollector(Actor):
    def __init__(self, name: str, directory: Path, *, max_bytes: int, max_age_s: float,
                 now: Callable[[], float] = time.time, registry=REGISTRY,
                 sources: dict[str, tuple[str, int]] | None = None, source_keys: dict[str, bytes] | None = None
                 ) -> None:
        super().__init__(name)
        self.sources = dict(sources or {})
        """Processes off the broker's bus whose lines are fetched over a direct link: name -> (host, port)."""
        self.source_keys = dict(source_keys or {})
        self._logged: dict[str, float] = {}
        self._acked: dict[str, tuple[str, int]] = {}
        """process -> (its shipper id, the last batch taken from it)."""
        self._pulling: set[str] = set()
        self.directory, self.max_bytes, self.max_age_s = directory, max_bytes, max_age_s
        self.now = now
        self.store: LogStore | None = None
        self.waiting: list[_Waiting] = []
        self.rejected: dict[str, int] = {"bad_entry": 0, "too_many": 0, "bad_batch": 0, "bad_query": 0,
                                         "too_many_followers": 0}
        self.received = 0
        self.queries = 0
        self._registry = registry
        self._collector = None

    def on_start(self) -> None:
        self.store = LogStore(self.directory, max_bytes=self.max_bytes, max_age_s=self.max_age_s, now=self.now())
        s = self.store.stats
        self.log.info("log collector ready", lines=s.lines, bytes=s.bytes, segments=s.segments,
                      corrupt_records=s.corrupt_records, dir=str(self.directory))
        scale = self.clock.scale
        self.call_every(TICK_S * scale, self._expire_waiting)
        self.call_every(EXPIRE_S * scale, lambda: self.store.expire(self.now()))
        if self.sources:
            link = self.runtime.direct_link()
            for process, (host, port) in sorted(self.sources.items()):
                link.connect([f"{process}.logship"], host, port, self.source_keys.get(process))
            self.call_every(PULL_S * scale, self._pull_all)
        if self._registry is not None:
            self._collector = _Metrics(self)
            self._registry.register(self._collector)

    def on_stop(self) -> None:
        if self.store is not None:
            self.store.close()
        if self._collector is not None:
            self._registry.unregister(self._collector)
            self._collector = None

    # --- taking lines -----------------------------------------------------------------------------
    @handles(LogPush)
    def on_push(self, msg: LogPush, env: Envelope) -> None:
        where = f"logs.Push from {env.sender}"
        if not (0 < len(msg.shipper) <= MAX_NAME_BYTES) or type(msg.batch) is not int or msg.batch < 1:
            self._refuse(env, "bad_batch", f"{where}: shipper must be 1..{MAX_NAME_BYTES} characters and batch "
                                           f"a number from 1, got {msg.shipper[:64]!r} and {msg.batch!r}")
            return
        if len(msg.entries) > MAX_PUSH_LINES:
            self._refuse(env, "too_many", f"{where}: {len(msg.entries)} lines in one batch, at most {MAX_PUSH_LINES}")
            return
        try:
            entries = [check_entry(e, f"{where}, batch {msg.batch}, entries[{i}]") for i, e in enumerate(msg.entries)]
        except BadEntry as exc:
            self._refuse(env, "bad_entry", str(exc))
            return
        dropped = msg.dropped if type(msg.dropped) is int and msg.dropped > 0 else 0
        try:
            taken = self.store.append(msg.shipper, msg.batch, entries, dropped)
        except BadEntry as exc:
            self._refuse(env, "bad_entry", f"{where}: {exc}")
            return
        if taken:
            self.received += len(entries)
            if self.waiting and entries:
                self._wake()
        self.reply(env, LogPushed(msg.batch))

    # --- fetching the lines of processes off the bus ----------------------------------------------
    def _pull_all(self) -> None:
        for process in self.sources:
            if process not in self._pulling:
                self._pulling.add(process)
                self.spawn(self._pull(process))

    async def _pull(self, process: str) -> None:
        try:
            shipper, ack = self._acked.get(process, ("", 0))
            push = await self.request(f"{process}.logship", LogPull(ack, shipper),
                                      timeout_s=2.0 * self.clock.scale, retries=0)
        except RequestFailed:
            return  # down or restarting: its lines wait in its buffer
        finally:
            self._pulling.discard(process)
        if not isinstance(push, LogPush) or push.batch == 0:
            return
        where = f"logs.Pull from {process}"
        # Taken, already had, or refused: the next pull lets it go either way (a refused batch would be
        # offered again for ever).
        self._acked[process] = (push.shipper, push.batch)
        try:
            if not 0 < len(push.shipper) <= MAX_NAME_BYTES:
                raise BadEntry(f"{where}: shipper must be 1..{MAX_NAME_BYTES} characters")
            entries = [check_entry(e, f"{where}, batch {push.batch}, entries[{i}]") for i, e in enumerate(push.entries)]
            taken = self.store.append(push.shipper, push.batch, entries, max(0, int(push.dropped)))
        except (BadEntry, TypeError, ValueError) as exc:
            self._count_refusal("bad_entry", str(exc))
            return
        if taken:
            self.received += len(entries)
            if self.waiting and entries:
                self._wake()

    def _refuse(self, env: Envelope, reason: str, message: str) -> None:
        self._count_refusal(reason, message)
        self.reply(env, Error("bad_request", message))

    def _count_refusal(self, reason: str, message: str) -> None:
        self.rejected[reason] += 1
        now = self.clock.monotonic()
        if now - self._logged.get(reason, -1e18) >= REFUSAL_LOG_S * self.clock.scale:
            self._logged[reason] = now  # once in a while per reason: a bad shipper must not flood the logs
            self.log.warning("log lines refused", reason=reason, error=message, refused=self.rejected[reason])

    # --- queries ----------------------------------------------------------------------------------
    @handles(LogQuery)
    def on_query(self, msg: LogQuery, env: Envelope) -> None:
        self.queries += 1
        try:
            query = self._query(msg)
        except ValueError as exc:
            self.rejected["bad_query"] += 1
            self.reply(env, Error("bad_request", f"logs.Query: {exc}"))
            return
        found = self.store.query(query)
        wait = min(float(msg.wait_s), MAX_WAIT_S) if isinstance(msg.wait_s, (int, float)) else 0.0
        if not found and wait > 0:
            if len(self.waiting) >= MAX_WAITING:
                self.rejected["too_many_followers"] += 1
                self.reply(env, Error("unavailable", f"logs.Query: {MAX_WAITING} followers already wait for "
                                                     "lines; try again shortly"))
                return
            # Nothing matched so far: only lines from now on can, so the held query never rescans the store.
            held = replace(query, after_seq=max(query.after_seq, self.store.last_seq))
            self.waiting.append(_Waiting(held, env, self.clock.monotonic() + wait * self.clock.scale))
            return
        self._answer(env, found, following=query.after_seq > 0)

    def _query(self, msg: LogQuery) -> Query:
        if msg.level and msg.level not in LEVELS:
            raise ValueError(f"level: expected one of {', '.join(LEVELS)}, got {msg.level!r}")
        if not isinstance(msg.limit, int) or msg.limit < 1:
            raise ValueError(f"limit: expected a positive number, got {msg.limit!r}")
        attempt = -1
        container = msg.container
        if msg.pod and not container and not msg.after_seq:  # a follower already chose (a sidecar may start later)
            containers = self.store.containers_of(msg.namespace, msg.pod)
            if len(containers) > 1:
                raise ValueError(f"a container name must be specified for pod {msg.pod}, choose one of: "
                                 f"[{' '.join(sorted(containers))}]")
        if msg.previous:
            if not msg.pod:
                raise ValueError("previous: only for a pod's container")
            latest = self.store.latest_attempt(msg.namespace, msg.pod, container)
            if latest < 1:
                raise ValueError(f"previous terminated container of pod {msg.pod!r} not found")
            attempt = latest - 1
        return Query(component=msg.component, namespace=msg.namespace, pod=msg.pod, container=container,
                     attempt=attempt, trace_id=msg.trace_id, level=msg.level, grep=msg.grep,
                     since=float(msg.since or 0.0), after_seq=max(0, int(msg.after_seq or 0)),
                     limit=min(msg.limit, MAX_ANSWER_LINES))

    def _answer(self, env: Envelope, found: list[tuple[int, list]], following: bool = False) -> None:
        """Answer with ``found`` (oldest first), as much of it as one frame holds: a follower gets the oldest
        lines (it asks again after the last one), anyone else the newest."""
        budget = int(self.runtime.settings.max_frame_bytes * ANSWER_SHARE)
        picked, size = [], 0
        for pair in (found if following else reversed(found)):
            size += entry_bytes(pair[1]) + 16
            if picked and size > budget:
                break
            picked.append(pair)
        if not following:
            picked.reverse()
        # In the order the lines were written: shippers deliver a second or so apart, so arrival order interleaves.
        picked.sort(key=lambda pair: pair[1][0])
        self.reply(env, LogEntries([[seq, *e] for seq, e in picked], self.store.last_seq))

    def _wake(self) -> None:
        waiting, self.waiting = self.waiting, []
        for w in waiting:
            try:
                found = self.store.query(w.query)
                if found:
                    self._answer(w.env, found, following=True)
                    continue
            except Exception:  # one follower's failure must not keep the others (or the push) from an answer
                self.log.exception("held log query failed")
                continue  # its asker times out and asks again
            self.waiting.append(w)

    def _expire_waiting(self) -> None:
        if not self.waiting:
            return
        now = self.clock.monotonic()
        due = [w for w in self.waiting if w.deadline <= now]
        if due:
            self.waiting = [w for w in self.waiting if w.deadline > now]
            for w in due:
                self._answer(w.env, [])


class _Metrics:
    """The collector's figures, read from the store at scrape time."""

    def __init__(self, collector: LogCollector) -> None:
        self.c = collector

    def collect(self):
        c = self.c
        s = c.store.stats
        yield CounterMetricFamily("kubesim_logcollector_lines_received", "Log lines taken from shippers.",
                                  value=c.received)
        yield GaugeMetricFamily("kubesim_logcollector_stored_lines", "Log lines held.", value=s.lines)
        yield GaugeMetricFamily("kubesim_logcollector_stored_bytes", "Bytes of log segments held.", value=s.bytes)
        yield GaugeMetricFamily("kubesim_logcollector_segments", "Segment files held.", value=s.segments)
        yield CounterMetricFamily("kubesim_logcollector_evicted_lines", "Log lines dropped by retention.",
                                  value=s.evicted_lines)
        yield CounterMetricFamily("kubesim_logcollector_duplicate_batches",
                                  "Batches sent again that the collector already had.", value=s.duplicates)
        yield CounterMetricFamily("kubesim_logcollector_shipper_dropped_lines",
                                  "Lines shippers reported dropping (their buffer was full).",
                                  value=s.dropped_by_shippers)
        yield CounterMetricFamily("kubesim_logcollector_queries", "Queries answered or held.", value=c.queries)
        rejected = CounterMetricFamily("kubesim_logcollector_rejected", "Pushes and queries refused, by reason.",
                                       labels=["reason"])
        for reason, n in sorted(c.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield GaugeMetricFamily("kubesim_logcollector_waiting_queries", "Followers' queries held for new lines.",
                                value=len(c.waiting))
