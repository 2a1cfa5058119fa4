"""CPython's cyclic garbage collector in a process that holds a big cache: tuned, and its pauses measured.

The API server's watch cache, a store member's key space and a hollow-node
process's thousands of pods are millions of long-lived dicts and lists.
CPython 3.11 collects its oldest generation whenever the objects that
survived into it have grown by a quarter, and a full collection walks every
tracked container in the process: with millions of them that is a pause of
seconds in a single-threaded event loop. For that long no socket is read, so
a store leader sends no raft heartbeats (and loses its term), lease renewals
are late and requests time out: the cluster looks broken when it is only
collecting garbage.

The remedy (the one Instagram published for its Django fleet): the objects
that survive a full collection are moved, right as it ends, to the
*permanent* generation with :func:`gc.freeze`, which the collector never
walks again, so each full collection walks only what arrived since the last
one. The youngest generation is collected every ``young_threshold``
allocations instead of every 700, so that fewer short-lived objects (a
request's temporaries, a message being decoded) are still alive when it runs
and get promoted towards the old generation at all.

Cyclic garbage among frozen objects (a long-lived task that finishes, its
frame and future referring to each other) would never be found, so every
``rebase_interval_s``, if the process's resident memory has grown by half
since the last time, everything is unfrozen and collected once and the
survivors frozen again: one planned pause, rarely, in place of a pause at
every quarter's growth of the heap.

Every collection's duration is observed into a histogram by generation, and
a pause longer than ``warn_s`` is logged: a stall of the event loop has a
cause that can be seen.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Callable

from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
)

from bus.metrics import Histogram

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

#: Pause durations in seconds, from a young collection to a multi-second full one.
PAUSE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                 1.0, 2.5, 5.0)


class GcPauses:
    """Watches the collector through ``gc.callbacks`` and freezes what survives full collections."""

    def __init__(self, warn: Callable[..., None] | None = None, warn_s: float = 0.5,
                 young_threshold: int = 500_000, rebase_interval_s: float = 600.0, rebase_growth: float = 1.5,
                 clock: Callable[[], float] = time.perf_counter,
                 monotonic: Callable[[], float] = time.monotonic,
                 rss: Callable[[], int] | None = None) -> None:
        self.warn = warn
        self.warn_s = warn_s
        self.young_threshold = young_threshold
        self.rebase_interval_s = rebase_interval_s
        self.rebase_growth = rebase_growth
        self.clock, self.monotonic, self.rss = clock, monotonic, rss or resident_bytes
        self._threshold_before: tuple[int, int, int] | None = None
        self.pauses = {generation: Histogram(PAUSE_BUCKETS) for generation in (0, 1, 2)}
        self.rebases = 0
        self._started = 0.0
        self._rebased_at = 0.0
        self._rebased_rss = 0

    def install(self) -> None:
        """Start measuring, and freeze what start-up built (imports, config, the process's actors)."""
        gc.collect()
        gc.freeze()
        self._threshold_before = gc.get_threshold()
        gc.set_threshold(self.young_threshold, *self._threshold_before[1:])
        self._rebased_at, self._rebased_rss = self.monotonic(), self.rss()
        gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._threshold_before is not None:
            gc.set_threshold(*self._threshold_before)
            self._threshold_before = None

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        took = self.clock() - self._started
        generation = info.get("generation", 2)
        self.pauses[generation].observe(took)
        if generation == 2:
            # The collection is over (this is its "stop"): what it left alive is walked no more.
            gc.freeze()
        if self.warn is not None and took > self.warn_s:
            self.warn("long garbage-collection pause", generation=generation, pause_s=round(took, 3),
                      collected=info.get("collected", 0))

    def maintain(self) -> None:
        """Called from the event loop every few seconds: now and then, look through the frozen objects too."""
        now = self.monotonic()
        if now - self._rebased_at < self.rebase_interval_s:
            return
        rss = self.rss()
        if rss < self._rebased_rss * self.rebase_growth:
            return
        self.rebases += 1
        gc.unfreeze()
        gc.collect()  # its "stop" freezes the survivors again
        self._rebased_at, self._rebased_rss = self.monotonic(), self.rss()


def resident_bytes() -> int:
    """This process's resident set (Linux: /proc/self/statm), or 0 where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


class GcCollector:
    """Exposes a :class:`GcPauses` to prometheus-client at scrape time."""

    def __init__(self, gcp: GcPauses) -> None:
        self.gcp = gcp

    def describe(self):
        return []

    def collect(self):
        pauses = HistogramMetricFamily("kubesim_gc_pause_seconds",
                                       "Garbage-collection pauses of the event loop, by generation.",
                                       labels=["generation"])
        for generation, hist in sorted(self.gcp.pauses.items()):
            pauses.add_metric([str(generation)], hist.cumulative(), hist.sum)
        yield pauses
        rebases = CounterMetricFamily("kubesim_gc_rebases",
                                      "Complete collections, frozen objects included, run after resident memory grew by half.")
        rebases.add_metric([], self.gcp.rebases)
        yield rebases
