"""The work queue's rules, driven with explicit times (client-go's workqueue tests, in kubesim's terms)."""

from __future__ import annotations

import pytest

from actors.controllers.workqueue import WorkQueue
from actors.ratelimit import TokenBucket


def drain(q: WorkQueue, now: float) -> list:
    out = []
    while (key := q.get(now)) is not None:
        out.append(key)
    return out


def test_a_key_added_many_times_is_handed_out_once():
    q = WorkQueue("rs")
    for _ in range(5):
        q.add("default/web", 0.0)
    q.add("default/db", 0.0)
    assert len(q) == 2 and q.adds == 2, "client-go counts an add only when the key was not already waiting"
    assert drain(q, 0.0) == ["default/web", "default/db"]


def test_a_key_added_while_processing_comes_back_after_done_not_before():
    q = WorkQueue("rs")
    q.add("k", 0.0)
    assert q.get(0.0) == "k"
    q.add("k", 1.0)  # an event arrives while the worker reconciles it
    assert q.get(1.0) is None, "one worker per key"
    q.done("k", 2.0)
    assert q.get(2.0) == "k"
    q.done("k", 3.0)
    assert q.get(3.0) is None


def test_done_without_a_new_add_does_not_requeue():
    q = WorkQueue("rs")
    q.add("k", 0.0)
    q.get(0.0)
    q.done("k", 0.5)
    assert len(q) == 0 and q.processing == 0


@pytest.mark.parametrize(("failures", "delay"), [
    pytest.param(1, 0.005, id="first-failure-5ms"),
    pytest.param(2, 0.010, id="second-10ms"),
    pytest.param(5, 0.080, id="fifth-5ms*2^4"),
    pytest.param(30, 1000.0, id="capped-at-1000s"),
])
def test_retries_back_off_exponentially_per_key(failures, delay):
    q = WorkQueue("rs")
    chosen = [q.add_rate_limited("k", 0.0) for _ in range(failures)]
    assert chosen[-1] == pytest.approx(delay)
    assert q.num_requeues("k") == failures and q.retries == failures


def test_forget_resets_the_backoff():
    q = WorkQueue("rs")
    q.add_rate_limited("k", 0.0)
    q.add_rate_limited("k", 0.0)
    q.forget("k")
    assert q.add_rate_limited("k", 0.0) == pytest.approx(0.005)


def test_a_rate_limited_key_is_ready_only_after_its_delay():
    q = WorkQueue("rs")
    q.add_rate_limited("k", 10.0)  # 5 ms
    assert q.get(10.004) is None
    assert q.next_wakeup() == pytest.approx(10.005)
    assert q.get(10.005) == "k"


def test_add_after_keeps_the_earliest_time_and_plain_add_wins_over_both():
    q = WorkQueue("deploy")
    q.add_after("k", 30.0, 0.0)   # progress deadline
    q.add_after("k", 60.0, 0.0)   # a later check changes nothing
    q.add_after("k", 10.0, 0.0)   # an earlier one wins
    assert q.next_wakeup() == 10.0 and q.delayed == 1
    assert q.get(9.9) is None
    assert q.get(10.0) == "k"
    q.done("k", 10.0)
    assert q.next_wakeup() is None, "the superseded 30 s entry is gone"
    q.add("j", 11.0)
    assert q.get(11.0) == "j"


def test_a_delayed_key_that_is_already_queued_is_handed_out_once():
    q = WorkQueue("rs")
    q.add("k", 0.0)
    q.add_after("k", 1.0, 0.0)
    assert drain(q, 2.0) == ["k"]


def test_latency_is_measured_from_the_first_add():
    q = WorkQueue("rs")
    q.add("k", 1.0)
    q.add("k", 3.0)  # deduplicated: the wait counts from 1.0
    q.get(4.0)
    assert q.latencies == [3.0]


def test_a_delayed_key_counts_as_an_add_when_it_is_due():
    q = WorkQueue("rs")
    q.add_rate_limited("k", 0.0)
    assert q.adds == 0 and q.retries == 1
    assert q.get(0.005) == "k"
    assert q.adds == 1


def test_the_bucket_gives_a_burst_of_100_then_10_per_second():
    bucket = TokenBucket(10.0, 100)
    assert [bucket.reserve(0.0) for _ in range(100)] == [0.0] * 100
    # Tokens go negative: the 101st waits 0.1 s, the 102nd 0.2 s (each its turn).
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.0) == pytest.approx(0.2)
    # One second later ten tokens came back, two of them owed: eight are free, the ninth waits.
    assert [bucket.reserve(1.0) for _ in range(8)] == [0.0] * 8
    assert bucket.reserve(1.0) == pytest.approx(0.1)
    later = TokenBucket(10.0, 100)
    for _ in range(100):
        later.reserve(0.0)
    assert later.reserve(100.0) == 0.0  # refilled (up to the burst) after a quiet spell


def test_many_keys_failing_at_once_are_spread_by_the_bucket():
    q = WorkQueue("storm")
    delays = [q.add_rate_limited(f"ns/k{i}", 0.0) for i in range(150)]
    assert delays[:100] == [0.005] * 100  # the burst: only each key's own first backoff
    assert delays[100] == pytest.approx(0.1) and delays[149] == pytest.approx(5.0)
