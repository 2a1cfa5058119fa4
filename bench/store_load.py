"""One client harness for every replicated store the store benchmark compares.

The issue asks for kubesim's raft store, PySyncObj and etcd to be measured "with
the same client harness", so that the figures differ by the systems and not by
how each was driven. This module is that harness. It knows nothing about any
system: each one is reached through an ``Adapter`` whose ``start_put`` is
non-blocking and reports completion through a callback, which fits an asyncio
or selector client, a thread pool behind a queue, or a library that calls back
from its own event loop alike.

``run_load`` keeps ``in_flight`` puts outstanding until ``total`` have
completed, timing only the steady state:

* a warm-up of ``warmup`` completions runs first (connections opened, caches
  and the leader's pipelines filled); the clock starts when it ends;
* the window stays full until the clock stops, when the ``total``-th measured
  completion arrives; puts still outstanding then are drained afterwards,
  untimed and uncounted, so that the next run on the same adapter starts clean;
* throughput = successful measured completions / wall time (``perf_counter``);
  latency = ``done`` time - ``start_put`` time for each successful measured
  completion, including the time the callback waited for ``poll`` to run it
  (a client pays that too).

``in_flight=1`` is one client writing sequentially (latency p50/p99).

    from bench.store_load import run_load
    res = run_load(adapter, in_flight=500, total=20_000)
    print(res.line(), res.as_dict())
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

Done = Callable[[str | None], None]


class Adapter(Protocol):
    """A client of one replicated store, driven by ``run_load`` from one thread."""

    name: str

    def start_put(self, key: bytes, value: bytes, done: Done) -> None:
        """Begin writing ``key = value``; must not block on the reply.

        ``done(None)`` once the write is committed, ``done("error text")`` if it
        failed. ``done`` may be called later from ``poll`` or, for an immediate
        refusal, from inside ``start_put`` itself; never from another thread.
        """

    def poll(self, timeout_s: float) -> None:
        """Do I/O for at most ``timeout_s`` and run the callbacks of completed puts.

        May return early once anything completed; ``run_load`` calls it again.
        """

    def close(self) -> None:
        """Release connections (the store itself is the caller's to stop)."""


class LoadTimeout(RuntimeError):
    """The run did not finish before its deadline (a stalled or dead store)."""


@dataclass
class LoadResult:
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    completed: int
    """Successful measured writes (the numerator of ``ops_per_s``)."""
    in_flight: int
    seconds: float
    client_cpu_pct: float = 0.0
    """CPU of the whole client process (all its threads) over the window, % of one core."""
    first_error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        err = f", first error: {self.first_error[:120]!r}" if self.first_error else ""
        return (f"{self.ops_per_s:>9,.0f} writes/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
                f"({self.completed:,} ok, {self.errors} errors, {self.in_flight} in flight, "
                f"{self.seconds:.2f} s, client CPU {self.client_cpu_pct:.0f}%{err})")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_load(adapter: Adapter, *, in_flight: int, total: int, value_bytes: int = 100, key_space: int = 10_000,
             warmup: int | None = None, timeout_s: float = 120.0, poll_s: float = 0.05) -> LoadResult:
    """Keep ``in_flight`` puts outstanding until ``total`` complete after a warm-up; see the module doc.

    ``warmup`` defaults to ``min(total // 10, max(2 * in_flight, 100))`` completions.
    Keys cycle through ``key_space`` distinct keys (so the store's state stays
    bounded and later writes overwrite earlier ones, as object updates do);
    every value is ``value_bytes`` bytes. Raises ``LoadTimeout`` after
    ``timeout_s``.
    """
    if in_flight < 1 or total < 1:
        raise ValueError("in_flight and total must be >= 1")
    if warmup is None:
        warmup = min(total // 10, max(2 * in_flight, 100))
    keys = [b"bench/%08d" % i for i in range(key_space)]  # pre-built: key formatting is not the store's cost
    value = (b"v" * value_bytes)[:value_bytes]
    perf = time.perf_counter
    deadline = time.monotonic() + timeout_s

    # Completions are only recorded by the callback; the loop below reacts to them.
    # That keeps the callback re-entrant-safe (it may run inside start_put) and cheap.
    finished: list[tuple[float, float, str | None]] = []  # (started, ended, error)

    def make_done(started: float) -> Done:
        def done(err: str | None) -> None:
            finished.append((started, perf(), err))
        return done

    outstanding = 0
    issued = 0
    seen = 0                # completions taken from ``finished`` so far
    measuring_from = warmup  # completions with index >= this are measured
    t0: float | None = None if warmup else perf()
    cpu0 = cpu1 = time.process_time()
    t_end = 0.0
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    target = warmup + total

    def issue() -> None:
        nonlocal outstanding, issued
        key = keys[issued % key_space]
        issued += 1
        outstanding += 1
        adapter.start_put(key, value, make_done(perf()))

    while seen < target:
        # Refill the window, up to the very end: the system stays under the same
        # load until the clock stops; the excess is drained below, untimed.
        while outstanding < in_flight:
            issue()
        if len(finished) == seen:
            adapter.poll(poll_s)
            if time.monotonic() > deadline:
                raise LoadTimeout(f"{adapter.name}: {seen - warmup}/{total} measured writes after {timeout_s} s "
                                  f"({outstanding} outstanding)")
        while seen < len(finished) and seen < target:
            started, ended, err = finished[seen]
            seen += 1
            outstanding -= 1
            if seen <= measuring_from:
                if seen == measuring_from:
                    t0, cpu0 = perf(), time.process_time()
                continue
            if err is None:
                latencies.append(ended - started)
            else:
                errors += 1
                if first_error is None:
                    first_error = err
            if seen == target:
                t_end, cpu1 = perf(), time.process_time()
    assert t0 is not None

    # Untimed: let the puts still outstanding land, so the next run on this adapter starts clean.
    drain_deadline = time.monotonic() + max(10.0, deadline - time.monotonic())
    while len(finished) - seen < outstanding and time.monotonic() < drain_deadline:
        adapter.poll(poll_s)

    seconds = t_end - t0
    latencies.sort()
    ok = len(latencies)
    return LoadResult(
        ops_per_s=ok / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1e3,
        p99_ms=percentile(latencies, 99) * 1e3,
        errors=errors,
        completed=ok,
        in_flight=in_flight,
        seconds=seconds,
        client_cpu_pct=100 * (cpu1 - cpu0) / seconds if seconds > 0 else 0.0,
        first_error=first_error,
    )
