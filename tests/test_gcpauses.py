"""The garbage-collector tuning: pauses measured by generation, survivors of full collections frozen.

The callback is driven by hand with fake clocks and a fake resident size, so
durations and decisions are exact; freezing is CPython's own
(``gc.freeze``), undone after every test, and automatic collections are off
while a test runs so that only the test's own happen.
"""

from __future__ import annotations

import gc

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bus.gcpauses import GcCollector, GcPauses, resident_bytes


class Fake:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self):
        return self.value


@pytest.fixture
def gcp():
    gc.disable()
    clock, monotonic, rss = Fake(100.0), Fake(1000.0), Fake(100_000_000)
    warnings: list[dict] = []
    pauses = GcPauses(warn=lambda msg, **kw: warnings.append({"msg": msg, **kw}), warn_s=0.5, clock=clock,
                      monotonic=monotonic, rss=rss, rebase_interval_s=600, rebase_growth=1.5)
    threshold = gc.get_threshold()
    yield pauses, clock, monotonic, rss, warnings
    pauses.uninstall()
    assert gc.get_threshold() == threshold
    gc.unfreeze()
    gc.enable()


def collection(pauses: GcPauses, clock: Fake, generation: int, took_s: float) -> None:
    pauses._on_gc("start", {"generation": generation})
    clock.value += took_s
    pauses._on_gc("stop", {"generation": generation, "collected": 0, "uncollectable": 0})


def test_each_pause_is_observed_under_its_generation_and_the_long_ones_are_logged(gcp):
    pauses, clock, _, _, warnings = gcp
    collection(pauses, clock, 0, 0.0002)
    collection(pauses, clock, 2, 1.5)
    assert sum(pauses.pauses[0].counts) == 1 and pauses.pauses[0].sum == pytest.approx(0.0002)
    assert sum(pauses.pauses[2].counts) == 1 and pauses.pauses[2].sum == pytest.approx(1.5)
    assert sum(pauses.pauses[1].counts) == 0
    assert [(w["msg"], w["generation"], w["pause_s"]) for w in warnings] == [
        ("long garbage-collection pause", 2, 1.5)]


def test_install_freezes_what_start_up_built_raises_the_young_threshold_and_hooks_the_collector(gcp):
    pauses, *_ = gcp
    pauses.install()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == pauses.young_threshold
    assert pauses._on_gc in gc.callbacks
    before = sum(sum(h.counts) for h in pauses.pauses.values())
    gc.collect(0)
    assert sum(sum(h.counts) for h in pauses.pauses.values()) == before + 1


def test_only_a_full_collection_has_its_survivors_frozen_as_it_ends(gcp):
    pauses, clock, *_ = gcp
    pauses.install()
    frozen = gc.get_freeze_count()
    survivors = [[i] for i in range(20_000)]  # lists: always tracked by the collector
    collection(pauses, clock, 1, 0.001)
    assert gc.get_freeze_count() < frozen + len(survivors)  # a young collection freezes nothing
    collection(pauses, clock, 2, 0.001)
    assert gc.get_freeze_count() >= frozen + len(survivors)
    del survivors


def test_a_complete_collection_comes_only_after_the_interval_and_only_if_memory_grew_by_half(gcp):
    pauses, clock, monotonic, rss, _ = gcp
    pauses.install()

    class Node:
        pass

    cycles = []
    for _ in range(10_000):
        a, b = Node(), Node()
        a.other, b.other = b, a
        cycles.append(a)
    collection(pauses, clock, 2, 0.001)  # the cycles are alive: frozen
    frozen = gc.get_freeze_count()
    del cycles  # they die while frozen: only a complete collection can find them
    rss.value = 200_000_000
    monotonic.value += 599
    pauses.maintain()
    assert pauses.rebases == 0  # memory doubled, but the interval has not passed
    rss.value = 140_000_000
    monotonic.value += 2
    pauses.maintain()
    assert pauses.rebases == 0  # the interval passed, but memory grew by less than half
    rss.value = 150_000_000
    pauses.maintain()
    assert pauses.rebases == 1
    assert gc.get_freeze_count() <= frozen - 20_000  # the dead cycles were collected; the living refrozen
    pauses.maintain()
    assert pauses.rebases == 1  # the next one is an interval away again


def test_resident_bytes_reads_this_process():
    assert resident_bytes() > 10_000_000


def test_the_collector_exposes_pauses_and_rebases(gcp):
    pauses, clock, *_ = gcp
    collection(pauses, clock, 2, 0.3)
    registry = CollectorRegistry()
    registry.register(GcCollector(pauses))
    text = generate_latest(registry).decode()
    assert 'kubesim_gc_pause_seconds_count{generation="2"} 1.0' in text
    assert 'kubesim_gc_pause_seconds_bucket{generation="2",le="0.5"} 1.0' in text
    assert "kubesim_gc_rebases_total 0.0" in text
