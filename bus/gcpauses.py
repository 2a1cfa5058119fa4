"""CPython's cyclic garbage collector in a process that holds a big cache: tuned, and its pauses measured.

The API server's watch cache, a store member's key space and a hollow-node
process's thousands of pods are millions of long-lived dicts and lists.
CPython 3.11 collects its oldest generation whenever the objects that
survived into it have grown by a quarter, and a full collection walks every
tracked container in the process: with millions of them that is a pause of
seconds in a single-threaded event loop. For that long no socket is read, so
heartbeats go unanswered, lease renewals are late and requests time out;
the cluster looks broken when it is only collecting garbage.

The remedy (the one Instagram published for its Django fleet): objects that
have survived a full collection are moved to the *permanent* generation with
:func:`gc.freeze`, which the collector never walks again, so each full
collection walks only what arrived since the last one. Cyclic garbage among
frozen objects would never be found, so once the frozen set has grown by
``rebase_growth`` (doubled, by default) since the last complete collection,
everything is unfrozen and collected once: the cost of a complete walk is
paid once per doubling of the heap, amortised as in CPython's own rule, but
as one planned pause instead of a pause at every quarter.

Every collection's duration is observed into a histogram by generation, and
a pause longer than ``warn_s`` is logged: a stall of the event loop has a
cause that can be seen.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from bus.metrics import Histogram

#: Pause durations in seconds, from a young collection to a multi-second full one.
PAUSE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                 1.0, 2.5, 5.0)


class GcPauses:
    """Watches the collector through ``gc.callbacks`` and freezes what survives full collections."""

    def __init__(self, warn: Callable[..., None] | None = None, warn_s: float = 0.5,
                 rebase_growth: float = 2.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.warn = warn
        self.warn_s = warn_s
        self.rebase_growth = rebase_growth
        self.clock = clock
        self.pauses = {generation: Histogram(PAUSE_BUCKETS) for generation in (0, 1, 2)}
        self.longest_s = 0.0
        self.frozen_after_rebase = 0
        self.rebases = 0
        self._started = 0.0
        self._full_ran = False

    def install(self) -> None:
        """Start measuring, and freeze what start-up built (imports, config, the process's actors)."""
        gc.collect()
        gc.freeze()
        self.frozen_after_rebase = gc.get_freeze_count()
        gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        took = self.clock() - self._started
        generation = info.get("generation", 2)
        self.pauses[generation].observe(took)
        self.longest_s = max(self.longest_s, took)
        if generation == 2:
            self._full_ran = True
        if self.warn is not None and took > self.warn_s:
            self.warn("long garbage-collection pause", generation=generation, pause_s=round(took, 3),
                      collected=info.get("collected", 0), frozen=gc.get_freeze_count())

    def maintain(self) -> None:
        """Called from the event loop every few seconds: freeze the survivors of a full collection.

        Not done inside the callback: the collector is still in charge there.
        """
        if not self._full_ran:
            return
        self._full_ran = False
        gc.freeze()
        if gc.get_freeze_count() > self.frozen_after_rebase * self.rebase_growth:
            # The frozen set doubled: look through all of it once for cycles that died in it.
            self.rebases += 1
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.frozen_after_rebase = gc.get_freeze_count()


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
        yield GaugeMetricFamily("kubesim_gc_frozen_objects",
                                "Objects in the permanent generation, which collections do not walk.",
                                value=gc.get_freeze_count())
        rebases = CounterMetricFamily("kubesim_gc_rebases",
                                      "Complete collections run after the frozen objects doubled.")
        rebases.add_metric([], self.gcp.rebases)
        yield rebases
