"""The garbage-collector tuning: pauses measured by generation, survivors of full collections frozen.

The callback is driven by hand with a fake clock, so durations are exact;
freezing is CPython's own (``gc.freeze``), undone after every test.
"""

from __future__ import annotations

import gc

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bus.gcpauses import GcCollector, GcPauses


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gcp():
    """A GcPauses on a fake clock; automatic collections are off, so only the test's own run."""
    gc.disable()
    clock = FakeClock()
    warnings: list[dict] = []
    pauses = GcPauses(warn=lambda msg, **kw: warnings.append({"msg": msg, **kw}), warn_s=0.5, clock=clock)
    yield pauses, clock, warnings
    pauses.uninstall()
    gc.unfreeze()
    gc.enable()


def collection(pauses: GcPauses, clock: FakeClock, generation: int, took_s: float) -> None:
    pauses._on_gc("start", {"generation": generation})
    clock.now += took_s
    pauses._on_gc("stop", {"generation": generation, "collected": 0, "uncollectable": 0})


def test_each_pause_is_observed_under_its_generation_and_the_long_ones_are_logged(gcp):
    pauses, clock, warnings = gcp
    collection(pauses, clock, 0, 0.0002)
    collection(pauses, clock, 2, 1.5)
    assert sum(pauses.pauses[0].counts) == 1 and pauses.pauses[0].sum == pytest.approx(0.0002)
    assert sum(pauses.pauses[2].counts) == 1 and pauses.pauses[2].sum == pytest.approx(1.5)
    assert sum(pauses.pauses[1].counts) == 0
    assert pauses.longest_s == pytest.approx(1.5)
    assert [(w["msg"], w["generation"], w["pause_s"]) for w in warnings] == [
        ("long garbage-collection pause", 2, 1.5)]


def test_install_freezes_what_start_up_built_and_hooks_the_collector(gcp):
    pauses, _, _ = gcp
    pauses.install()
    assert gc.get_freeze_count() > 0
    assert pauses._on_gc in gc.callbacks
    before = sum(sum(h.counts) for h in pauses.pauses.values())
    gc.collect(0)
    assert sum(sum(h.counts) for h in pauses.pauses.values()) == before + 1


def test_only_a_full_collection_has_its_survivors_frozen(gcp):
    pauses, clock, _ = gcp
    pauses.install()
    frozen = gc.get_freeze_count()
    survivors = [[i] for i in range(20_000)]  # lists: always tracked by the collector
    collection(pauses, clock, 1, 0.001)
    pauses.maintain()
    assert gc.get_freeze_count() < frozen + len(survivors)  # a young collection freezes nothing
    collection(pauses, clock, 2, 0.001)
    pauses.maintain()
    assert gc.get_freeze_count() >= frozen + len(survivors)
    assert pauses.rebases == 0
    pauses.maintain()  # nothing new ran: nothing to do
    assert pauses.rebases == 0
    del survivors


def test_once_the_frozen_objects_doubled_a_complete_collection_finds_cycles_that_died_among_them(gcp):
    pauses, clock, _ = gcp
    pauses.install()
    base = gc.get_freeze_count()

    class Node:
        pass

    cycles = []
    for _ in range(base):  # enough to more than double what is frozen
        a, b = Node(), Node()
        a.other, b.other = b, a
        cycles.append(a)
    collection(pauses, clock, 2, 0.001)
    pauses.maintain()
    assert pauses.rebases == 1
    refrozen = gc.get_freeze_count()
    del cycles  # the cycles die while frozen: only a complete collection can find them
    for _ in range(3):
        collection(pauses, clock, 2, 0.001)
        filler = [[i] for i in range(refrozen + 1)]  # grow the frozen set past double again
        pauses.maintain()
        if pauses.rebases == 2:
            break
    assert pauses.rebases == 2
    assert gc.get_freeze_count() < refrozen + len(filler)  # the dead cycles were collected
    del filler


def test_the_collector_exposes_pauses_frozen_objects_and_rebases(gcp):
    pauses, clock, _ = gcp
    collection(pauses, clock, 2, 0.3)
    registry = CollectorRegistry()
    registry.register(GcCollector(pauses))
    text = generate_latest(registry).decode()
    assert 'kubesim_gc_pause_seconds_count{generation="2"} 1.0' in text
    assert 'kubesim_gc_pause_seconds_bucket{generation="2",le="0.5"} 1.0' in text
    assert "kubesim_gc_frozen_objects " in text
    assert "kubesim_gc_rebases_total 0.0" in text
