"""The broker's sample of the messages it routes (bus.flowtap.FlowTap): pure, no sockets, no clock.

Covers: one message in ``every`` sampled, starting with the first; record() numbering each kind of a batch;
after(): the newest few for a first look, then what is newer than a sequence number, oldest first, at most the
newest ``limit``; the ring keeping only the newest ``keep`` samples while numbering goes on.
"""

from __future__ import annotations

import pytest

from bus.flowtap import FlowTap


def sampled(tap: FlowTap, n: int) -> list[int]:
    return [i for i in range(n) if tap.hit()]


def test_the_first_message_is_sampled_then_one_in_every():
    assert sampled(FlowTap(every=10), 35) == [0, 10, 20, 30]
    assert sampled(FlowTap(every=3), 10) == [0, 3, 6, 9]


def test_every_one_samples_every_message():
    assert sampled(FlowTap(every=1), 5) == [0, 1, 2, 3, 4]


def test_a_tap_keeps_counting_across_calls():
    tap = FlowTap(every=4)
    assert sampled(tap, 2) == [0]
    assert sampled(tap, 6) == [2]  # the fifth message overall (the third of this run)


def test_record_numbers_each_kind_and_after_gives_what_is_newer_oldest_first():
    tap = FlowTap()
    tap.record(1.0, "node-1", "apiserver-0", ["api.Get"])
    tap.record(2.0, "apiserver-0", "node-1", ["api.Object", "api.Event"])  # a batch: one sample per message
    assert tap.seq == 3
    assert tap.after(0) == [[1, 1.0, "node-1", "apiserver-0", "api.Get"],
                            [2, 2.0, "apiserver-0", "node-1", "api.Object"],
                            [3, 2.0, "apiserver-0", "node-1", "api.Event"]]
    assert [s[0] for s in tap.after(1)] == [2, 3]
    assert tap.after(3) == [] and tap.after(99) == []


def test_after_gives_at_most_the_newest_limit():
    tap = FlowTap()
    for i in range(1, 11):
        tap.record(float(i), "a", "b", ["k"])
    assert [s[0] for s in tap.after(2, limit=3)] == [8, 9, 10]


def test_a_first_look_gives_the_newest_fifty():
    tap = FlowTap()
    for i in range(1, 81):
        tap.record(float(i), "a", "b", ["k"])
    assert [s[0] for s in tap.after(0)] == list(range(31, 81))
    assert FlowTap().after(0) == []


def test_the_ring_keeps_the_newest_samples_and_numbering_goes_on():
    tap = FlowTap(keep=5)
    for i in range(1, 13):
        tap.record(float(i), "a", "b", [f"k{i}"])
    assert tap.seq == 12
    assert [s[0] for s in tap.after(0)] == [8, 9, 10, 11, 12]
    assert [s[0] for s in tap.after(1)] == [8, 9, 10, 11, 12], "a follower that fell behind gets what is kept"
    assert [s[4] for s in tap.after(10)] == ["k11", "k12"]


@pytest.mark.parametrize("every, keep", [(0, 10), (10, 0)])
def test_every_and_keep_are_at_least_one(every, keep):
    with pytest.raises(AssertionError):
        FlowTap(every=every, keep=keep)
