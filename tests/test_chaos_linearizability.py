"""The register workload's linearizability checker (kubesim.chaos.linearizability).

Hand-made histories with known answers (sequential, concurrent, stale reads,
cas, fail and info operations, Knossos' and the MIT 6.824 quiz's examples),
the per-key partition, the "unknown" verdict, what describe() names, the
journal form; then seeded random histories from a true atomic register (always
linearizable, and caught once a read is corrupted), a brute-force oracle on
small random histories, and the time to check 10,000-operation keys.
"""

from __future__ import annotations

import functools
import json
import random
import time
from typing import Any

import pytest

from kubesim.chaos.linearizability import (
    KeyResult,
    Op,
    Result,
    _depth_first,
    _Problem,
    _sweep,
    check,
    check_key,
    operations,
    to_jsonable,
)

# --------------------------------------------------------------------------- building histories


def hist(*rows: tuple, key: str = "r") -> list[dict[str, Any]]:
    """Events from (process, type, f, value[, key]) rows; index = position, time = index / 10."""
    events = []
    for index, row in enumerate(rows):
        process, kind, f, value = row[:4]
        events.append({"index": index, "time": index / 10, "process": process, "type": kind, "f": f,
                       "key": row[4] if len(row) > 4 else key, "value": value})
    return events


def verdict(*rows: tuple) -> bool | None:
    return check(hist(*rows)).valid


def register_history(rng: random.Random, n_ops: int, *, processes: int = 5, key: str = "r",
                     info_rate: float = 0.0, values: int = 5, process_base: int = 0,
                     unique_values: bool = False) -> list[dict[str, Any]]:
    """A history of a true atomic register under random concurrency (so linearizable).

    Each of `processes` clients runs one op at a time, with random durations
    and gaps, so intervals overlap at random. An op takes effect at a random
    instant inside its interval. An info op (a timeout) takes effect at a
    random instant after its invoke -- possibly after the timeout -- or never,
    and its client continues as a new process. Reads and cas outcomes come
    from applying the effects in time order.
    """
    next_process = process_base + processes
    process = {slot: process_base + slot for slot in range(processes)}
    free_at = {slot: rng.random() * 0.01 for slot in range(processes)}
    counter = iter(range(1, 10**9))
    schedule: list[tuple[float, int, dict[str, Any]]] = []  # (when, what, op) what: 0 invoke 1 effect 2 done
    for _ in range(n_ops):
        slot = min(free_at, key=lambda s: (free_at[s], s))
        start = free_at[slot]
        duration = rng.uniform(0.001, 0.02)
        r = rng.random()
        f = "read" if r < 0.5 else "write" if r < 0.75 else "cas"
        if unique_values:
            value = None if f == "read" else next(counter) if f == "write" else [rng.randrange(values), next(counter)]
        else:
            value = None if f == "read" else rng.randrange(values) if f == "write" else [
                rng.randrange(values), rng.randrange(values)]
        info = rng.random() < info_rate
        op = {"process": process[slot], "f": f, "value": value, "info": info, "outcome": None}
        schedule.append((start, 0, op))
        if info:
            if rng.random() < 0.5:
                schedule.append((start + rng.uniform(0, 3 * duration), 1, op))
            process[slot] = next_process  # a client whose op timed out goes on as a new process
            next_process += 1
        else:
            schedule.append((start + rng.uniform(0, duration), 1, op))
        schedule.append((start + duration, 2, op))
        free_at[slot] = start + duration + rng.uniform(0, 0.005)
    schedule.sort(key=lambda item: (item[0], item[1]))

    register = None
    events: list[dict[str, Any]] = []
    for when, what, op in schedule:
        if what == 1:
            if op["f"] == "read":
                op["outcome"] = ("ok", register)
            elif op["f"] == "write":
                register = op["value"]
                op["outcome"] = ("ok", op["value"])
            elif register == op["value"][0]:
                register = op["value"][1]
                op["outcome"] = ("ok", op["value"])
            else:
                op["outcome"] = ("fail", op["value"])
            continue
        event = {"index": len(events), "time": when, "process": op["process"], "f": op["f"], "key": key,
                 "workload": "register"}
        if what == 0:
            event.update(type="invoke", value=op["value"])
        elif op["info"]:
            event.update(type="info", value=op["value"], error="timeout")
        else:
            event.update(type=op["outcome"][0], value=op["outcome"][1])
        events.append(event)
    return events


def merge(*histories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interleave histories by time and renumber."""
    events = sorted((e for h in histories for e in h), key=lambda e: e["time"])
    return [{**e, "index": i} for i, e in enumerate(events)]


# --------------------------------------------------------------------------- hand-made histories


def test_an_empty_history_is_linearizable():
    result = check([])
    assert result.valid is True
    assert result.keys == {}
    assert "no register operations" in result.summary()


def test_sequential_ops_are_linearizable():
    result = check(hist(
        (1, "invoke", "read", None), (1, "ok", "read", None),
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
        (2, "invoke", "cas", [1, 2]), (2, "ok", "cas", [1, 2]),
        (1, "invoke", "read", None), (1, "ok", "read", 2),
    ))
    assert result.valid is True
    assert result.keys["r"].valid is True
    assert result.keys["r"].ops == 5
    assert result.summary().startswith("linearizable: 1 keys, 5 operations")


@pytest.mark.parametrize(("seen", "valid"), [(None, True), (1, True), (2, False)])
def test_a_read_concurrent_with_a_write_sees_the_old_or_the_new_value(seen, valid):
    assert verdict(
        (1, "invoke", "write", 1),
        (2, "invoke", "read", None),
        (2, "ok", "read", seen),
        (1, "ok", "write", 1),
    ) is valid


def test_a_read_of_a_value_never_written_is_not_linearizable():
    result = check(hist(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (4, "invoke", "read", None), (4, "ok", "read", 3),
    ))
    assert result.valid is False
    bad = result.keys["r"]
    assert bad.stuck_at is not None
    assert bad.stuck_at["process"] == 4 and bad.stuck_at["value"] == 3
    assert bad.stuck_at["index"] == 3 and bad.stuck_at["invoke_index"] == 2
    assert bad.stuck_at["invoke_time"] == pytest.approx(0.2)
    text = bad.describe()
    assert "read -> 3 by process 4" in text
    assert "invoke #2" in text
    assert "the last value written before it was 1 (write 1 by process 1" in text
    assert [op["f"] for op in bad.linearized_prefix] == ["write"]


def test_a_stale_read_after_a_completed_write_is_not_linearizable():
    result = check(hist(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2), (2, "ok", "write", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
    ))
    assert result.valid is False
    bad = result.keys["r"]
    assert bad.stuck_at["process"] == 3
    assert bad.register_values == [{"value": 2, "written_by": bad.linearized_prefix[-1]}]
    assert bad.linearized_prefix[-1]["process"] == 2


def test_reading_nothing_after_a_completed_write_is_not_linearizable():
    assert verdict(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "read", None), (2, "ok", "read", None),
    ) is False


def test_cas_writes_only_when_the_compare_holds():
    base = [(1, "invoke", "write", 1), (1, "ok", "write", 1)]
    assert verdict(*base, (2, "invoke", "cas", [1, 2]), (2, "ok", "cas", [1, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 2)) is True
    # an ok cas whose compare cannot have held
    assert verdict(*base, (2, "invoke", "cas", [5, 2]), (2, "ok", "cas", [5, 2])) is False
    # after a successful cas the old value is gone
    assert verdict(*base, (2, "invoke", "cas", [1, 2]), (2, "ok", "cas", [1, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 1)) is False
    # a cas that failed did not happen, whatever it compared against
    assert verdict(*base, (2, "invoke", "cas", [1, 2]), (2, "fail", "cas", [1, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 1)) is True
    # cas on a key that does not exist yet compares against None
    assert verdict((2, "invoke", "cas", [None, 7]), (2, "ok", "cas", [None, 7]),
                   (3, "invoke", "read", None), (3, "ok", "read", 7)) is True


def test_a_failed_op_is_ignored():
    base = [(1, "invoke", "write", 1), (1, "ok", "write", 1),
            (2, "invoke", "write", 2), (2, "fail", "write", 2),
            (3, "invoke", "read", None)]
    assert verdict(*base, (3, "ok", "read", 1)) is True
    assert verdict(*base, (3, "ok", "read", 2)) is False
    assert check(hist(*base, (3, "ok", "read", 1))).keys["r"].ops == 2


def test_an_info_write_may_take_effect_later():
    # The write of 2 timed out; a read long after the timeout sees it.
    assert verdict(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2), (2, "info", "write", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
        (4, "invoke", "read", None), (4, "ok", "read", 2),
        (4, "invoke", "read", None), (4, "ok", "read", 2),
    ) is True


def test_an_info_write_may_never_take_effect():
    result = check(hist(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2), (2, "info", "write", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
    ))
    assert result.valid is True
    assert result.keys["r"].info_ops == 1


def test_an_info_write_seen_and_then_unseen_is_not_linearizable():
    result = check(hist(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2), (2, "info", "write", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
    ))
    assert result.valid is False
    bad = result.keys["r"]
    assert bad.stuck_at["index"] == 7 and bad.stuck_at["value"] == 1
    assert "write 2 by process 2" in bad.describe()
    assert bad.concurrent == [op for op in bad.concurrent if op["process"] == 2]


def test_an_invoke_never_completed_is_an_info_op():
    assert verdict(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
        (3, "invoke", "read", None), (3, "ok", "read", 2),
    ) is True


def test_an_info_cas_takes_effect_only_if_its_compare_holds():
    base = [(1, "invoke", "write", 1), (1, "ok", "write", 1)]
    assert verdict(*base, (2, "invoke", "cas", [1, 2]), (2, "info", "cas", [1, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 2)) is True
    assert verdict(*base, (2, "invoke", "cas", [5, 2]), (2, "info", "cas", [5, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 2)) is False
    # It may wait for its compare to hold: after a later write of 5.
    assert verdict(*base, (2, "invoke", "cas", [5, 2]), (2, "info", "cas", [5, 2]),
                   (3, "invoke", "write", 5), (3, "ok", "write", 5),
                   (3, "invoke", "read", None), (3, "ok", "read", 2)) is True


def test_an_info_read_constrains_nothing():
    assert verdict((1, "invoke", "write", 1), (1, "ok", "write", 1),
                   (2, "invoke", "read", None), (2, "info", "read", 99)) is True


def test_knossos_crashed_write():
    # knossos wgl_test crash-test
    assert verdict((0, "invoke", "write", 1), (0, "info", "write", 1)) is True


def test_knossos_bad_analysis():
    # knossos data/cas-register/bad/bad-analysis.edn: the value is 0 with a
    # crashed write of 1 pending, then two concurrent reads of 3 and 2.
    result = check(hist(
        (4, "invoke", "write", 2), (4, "ok", "write", 2),
        (6, "invoke", "read", None),
        (1, "invoke", "write", 4), (1, "ok", "write", 4),
        (14, "invoke", "read", 4), (14, "ok", "read", 4),
        (9, "invoke", "write", 0), (9, "ok", "write", 0),
        (19, "invoke", "read", 0), (20, "invoke", "write", 1), (19, "ok", "read", 0),
        (22, "invoke", "read", 3), (21, "invoke", "read", 2),
        (21, "ok", "read", 2), (22, "ok", "read", 3),
    ))
    assert result.valid is False
    bad = result.keys["r"]
    # as Knossos reports it: process 21's read of 2, completed at index 14
    assert (bad.stuck_at["process"], bad.stuck_at["value"], bad.stuck_at["index"]) == (21, 2, 14)
    assert bad.stuck_at["invoke_index"] == 13
    assert {v["value"] for v in bad.register_values} <= {0, 1}
    assert {op["process"] for op in bad.concurrent} == {20, 22}


def test_knossos_rethink_fail_minimal():
    # knossos data/cas-register/bad/rethink-fail-minimal.edn: value 0, then a
    # concurrent write of 4 and read of 3; a later read must not be blamed.
    result = check(hist(
        (0, "invoke", "write", 0), (0, "ok", "write", 0),
        (1, "invoke", "read", None), (2, "invoke", "write", 4),
        (1, "ok", "read", 3), (2, "ok", "write", 4),
        (3, "invoke", "read", None), (3, "ok", "read", 4),
    ))
    assert result.valid is False
    stuck = result.keys["r"].stuck_at
    assert (stuck["process"], stuck["value"], stuck["index"]) == (1, 3, 4)


def test_mit_6824_quiz_register_examples():
    # MIT 6.824 (2017) quiz 2, section VIII, as Porcupine's tests use it (the
    # register holds 0 first). A write of 100 over [0, 100] with reads of 100
    # over [25, 75] and of 0 over [30, 60]: linearizable (read 0, write, read
    # 100). A write of 200 over [0, 100] with reads of 200 over [10, 30] and
    # of 0 over [40, 90]: not -- once a read saw 200, a later read cannot see 0.
    start = [(0, "invoke", "write", 0), (0, "ok", "write", 0)]
    assert verdict(*start,
                   (1, "invoke", "write", 100), (2, "invoke", "read", None), (3, "invoke", "read", None),
                   (3, "ok", "read", 0), (2, "ok", "read", 100), (1, "ok", "write", 100)) is True
    assert verdict(*start,
                   (1, "invoke", "write", 200), (2, "invoke", "read", None), (2, "ok", "read", 200),
                   (3, "invoke", "read", None), (3, "ok", "read", 0), (1, "ok", "write", 200)) is False


def test_invokes_and_completions_pair_by_process():
    history = hist(
        (1, "ok", "write", 9),  # a completion without an invoke: noise
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "write", 2),
        (2, "invoke", "read", None),  # a second invoke: the write never completed (info)
        (3, "invoke", "read", None), (3, "ok", "read", 2),
        (2, "ok", "read", 2),
    )
    ops = operations(history)["r"]
    assert [(op.process, op.f, op.status) for op in ops] == [
        (1, "write", "ok"), (2, "write", "info"), (2, "read", "ok"), (3, "read", "ok")]
    assert ops[0].invoke_index == 1 and ops[0].complete_index == 2 and ops[1].completion is None
    assert check(history).valid is True


def test_keys_are_checked_apart_and_the_bad_key_is_named():
    history = hist(
        (1, "invoke", "write", 1, "b-good"), (2, "invoke", "write", 1, "a-bad"),
        (1, "ok", "write", 1, "b-good"), (2, "ok", "write", 1, "a-bad"),
        (3, "invoke", "read", None, "a-bad"), (4, "invoke", "read", None, "b-good"),
        (3, "ok", "read", 7, "a-bad"), (4, "ok", "read", 1, "b-good"),
    )
    result = check(history)
    assert result.valid is False
    assert list(result.keys) == ["a-bad", "b-good"]
    assert result.keys["a-bad"].valid is False and result.keys["b-good"].valid is True
    assert result.invalid_keys == ["a-bad"]
    assert "NOT linearizable: key a-bad (1 of 2 keys)" in result.summary()
    assert "read -> 7 by process 3" in result.summary()
    assert result.describe().splitlines()[1].startswith("key a-bad: read -> 7 by process 3")
    # a key alone is what check_key says about it
    ops = operations(history)
    assert check_key(ops["b-good"]).valid is True
    assert check_key(ops["a-bad"]) == result.keys["a-bad"]


def test_events_of_other_workloads_are_ignored():
    history = hist(
        (1, "invoke", "write", 1), (1, "ok", "write", 1),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
    )
    noise = [
        {"process": 9, "type": "invoke", "f": "transfer", "key": "r", "value": 5},
        {"process": 9, "type": "ok", "f": "transfer", "key": "r", "value": 5},
        {"process": 8, "type": "invoke", "f": "read", "value": None},  # no key
        {"process": 8, "type": "ok", "f": "read", "value": 42},
        {"process": 7, "type": "invoke", "f": "read", "key": "r", "value": None, "workload": "queue"},
        {"process": 7, "type": "ok", "f": "read", "key": "r", "value": 42, "workload": "queue"},
        {"type": "info", "f": "start-partition", "process": "nemesis"},
    ]
    result = check(noise[:3] + history + noise[3:])
    assert result.valid is True
    assert list(result.keys) == ["r"] and result.keys["r"].ops == 2


def _hard_invalid_history(writers: int = 8) -> list[dict[str, Any]]:
    """Many concurrent writes, then a read of a value none of them wrote."""
    rows = [(p, "invoke", "write", p) for p in range(writers)]
    rows += [(p, "ok", "write", p) for p in range(writers)]
    rows += [(99, "invoke", "read", None), (99, "ok", "read", 1000)]
    return hist(*rows)


def test_the_answer_is_unknown_when_the_search_exceeds_max_states():
    history = _hard_invalid_history()
    result = check(history, max_states=10)
    assert result.valid is None
    assert result.keys["r"].valid is None and result.keys["r"].states > 10
    assert result.unknown_keys == ["r"]
    assert result.summary().startswith("unknown: key r")
    assert "gave up" in result.keys["r"].describe()
    assert check(history).valid is False


def test_describe_names_the_operation_its_writer_and_what_ran_concurrently():
    history = hist(
        (2, "invoke", "write", 5), (2, "ok", "write", 5),
        (3, "invoke", "write", 7),
        (4, "invoke", "read", None),
        (3, "ok", "write", 7),
        (4, "ok", "read", 3),
    )
    bad = check(history).keys["r"]
    text = bad.describe()
    assert text.startswith("key r: read -> 3 by process 4 at t=0.300 s (invoke #3, ok #5 at t=0.500 s)"), text
    assert "5 (write 5 by process 2, invoke #0, ok at t=0.100 s)" in text
    assert "7 (write 7 by process 3, invoke #2, ok at t=0.400 s)" in text
    assert "Concurrent with it: write 7 by process 3 (invoke #2 at t=0.200 s, ok #4 at t=0.400 s)" in text
    assert [c["process"] for c in bad.concurrent] == [3]


def test_to_jsonable_is_plain_json_for_the_journal():
    history = _hard_invalid_history(3) + hist((50, "invoke", "cas", [1, 2], "k2"), (50, "ok", "cas", [1, 2], "k2"))
    result = check(history)
    data = to_jsonable(result, prefix_limit=1)
    assert json.loads(json.dumps(data)) == data
    assert data["valid"] is False and data["summary"] == result.summary()
    r = data["keys"]["r"]
    assert r["stuck_at"]["value"] == 1000 and r["stuck_at"]["process"] == 99
    assert r["linearized_prefix_length"] == 3 and len(r["linearized_prefix"]) == 1
    assert r["description"] == result.keys["r"].describe()
    assert data["keys"]["k2"]["stuck_at"]["value"] == [1, 2]
    assert len(to_jsonable(result, prefix_limit=None)["keys"]["r"]["linearized_prefix"]) == 3


def test_the_verdict_and_its_explanation_are_deterministic():
    rng = random.Random(7)
    history = register_history(rng, 400, info_rate=0.02)
    history[[i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"][-5]]["value"] = 77
    first, second = check(history), check(history)
    assert first.valid is False
    assert first == second  # KeyResult equality leaves out the time taken
    assert first.describe() == second.describe()


def test_result_types():
    result = check(hist((1, "invoke", "write", 1), (1, "ok", "write", 1)))
    assert isinstance(result, Result) and isinstance(result.keys["r"], KeyResult)
    assert all(isinstance(op, Op) for op in operations(hist((1, "invoke", "write", 1)))["r"])


# --------------------------------------------------------------------------- random histories


@pytest.mark.parametrize("seed", range(12))
def test_histories_of_an_atomic_register_are_linearizable(seed):
    rng = random.Random(seed)
    histories = [register_history(rng, 300, key=f"k{k}", info_rate=0.03, processes=rng.randint(2, 6),
                                  process_base=100 * k, values=rng.choice([3, 5]))
                 for k in range(3)]
    result = check(merge(*histories))
    assert result.valid is True, result.describe()
    assert len(result.keys) == 3


@pytest.mark.parametrize("seed", range(12))
def test_a_read_of_a_value_never_written_is_caught_and_named(seed):
    rng = random.Random(1000 + seed)
    history = register_history(rng, 300, info_rate=0.03, processes=rng.randint(2, 6))
    reads = [i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"]
    corrupted = rng.choice(reads)
    history[corrupted]["value"] = -1
    result = check(history)
    assert result.valid is False
    bad = result.keys["r"]
    # No order gets past that read's return, so it is the one named.
    assert bad.stuck_at["index"] == corrupted
    text = bad.describe()
    assert f"read -> -1 by process {history[corrupted]['process']}" in text
    assert f"ok #{corrupted}" in text


def test_a_read_of_another_written_value_is_mostly_caught():
    # A stale or premature read can still fit some order when enough ops
    # overlap it, so only most corruptions are detectable.
    caught = 0
    seeds = range(30)
    for seed in seeds:
        rng = random.Random(2000 + seed)
        history = register_history(rng, 200, unique_values=True, processes=3)
        reads = [i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"]
        written = sorted({e["value"] for e in history if e["type"] == "ok" and e["f"] == "write"})
        corrupted = rng.choice(reads)
        history[corrupted]["value"] = rng.choice([v for v in written if v != history[corrupted]["value"]])
        caught += check(history).valid is False
    assert caught >= 0.8 * len(seeds)


# --------------------------------------------------------------------------- against a brute-force oracle


def _brute_force(ops: list[Op]) -> bool:
    """Try every order, with exact-configuration memoization only."""
    oks = [op for op in ops if op.status == "ok"]
    candidates = oks + [op for op in ops if op.status == "info" and op.f != "read"]

    def step(value: Any, op: Op) -> tuple[bool, Any]:
        if op.f == "read":
            return op.value == value, value
        if op.f == "write":
            return True, op.value
        return op.value[0] == value, op.value[1]

    @functools.cache
    def linearizable(done: frozenset[int], value: Any) -> bool:
        pending = [i for i, op in enumerate(candidates) if i not in done and op.status == "ok"]
        if not pending:
            return True
        bound = min(candidates[i].complete_pos for i in pending)  # the first return still to come
        for i, op in enumerate(candidates):
            if i not in done and op.invoke_pos < bound:
                legal, after = step(value, op)
                if legal and linearizable(done | {i}, after):
                    return True
        return False

    return linearizable(frozenset(), None)


def _random_small_history(rng: random.Random) -> list[dict[str, Any]]:
    """Up to 7 arbitrary ops by 4 processes: outcomes and values at random, so often not linearizable."""
    events: list[dict[str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    crashed: set[int] = set()
    started = 0
    while started < 7 or pending:
        idle = [p for p in range(4) if p not in pending and p not in crashed]
        if started < 7 and idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            f = rng.choice(["read", "write", "write", "cas"])
            value = None if f == "read" else rng.randrange(3) if f == "write" else [
                rng.choice([None, 0, 1, 2]), rng.randrange(3)]
            pending[p] = {"process": p, "type": "invoke", "f": f, "key": "r", "value": value}
            events.append(pending[p])
            started += 1
            continue
        if not pending:
            break
        p = rng.choice(sorted(pending))
        invoke = pending.pop(p)
        kind = rng.choice(["ok", "ok", "ok", "fail", "info", "none"])
        if kind == "none":
            crashed.add(p)  # never completes
            continue
        value = rng.choice([None, 0, 1, 2]) if invoke["f"] == "read" else invoke["value"]
        events.append({**invoke, "type": kind, "value": value})
        if kind == "info":
            crashed.add(p)
    return [{**e, "index": i, "time": i / 10} for i, e in enumerate(events)]


def test_agrees_with_a_brute_force_oracle_on_small_random_histories():
    rng = random.Random(42)
    outcomes = {True: 0, False: 0}
    for _ in range(2000):
        history = _random_small_history(rng)
        ops = operations(history).get("r", [])
        expected = _brute_force(ops)
        outcomes[expected] += 1
        assert check(history).valid is expected, history
        oks = [op for op in ops if op.status == "ok"]
        infos = [op for op in ops if op.status == "info" and op.f != "read"]
        if oks:  # both searches, not only the one check() settles with
            for search in (_depth_first, _sweep):
                assert search(_Problem(oks, infos), 10**6).valid is expected, (search, history)
    assert min(outcomes.values()) > 500  # both answers were exercised


def test_both_searches_agree_on_random_register_histories():
    for seed in range(6):
        rng = random.Random(3000 + seed)
        history = register_history(rng, 250, info_rate=0.05, processes=4)
        if seed % 2:
            reads = [i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"]
            history[rng.choice(reads)]["value"] = rng.randrange(5)
        ops = operations(history)["r"]
        oks = [op for op in ops if op.status == "ok"]
        infos = [op for op in ops if op.status == "info" and op.f != "read"]
        depth_first = _depth_first(_Problem(oks, infos), 10**6)
        sweep = _sweep(_Problem(oks, infos), 10**6)
        assert depth_first.valid == sweep.valid
        if sweep.valid is False:  # both name the same culprit
            assert depth_first.stuck == sweep.stuck


# --------------------------------------------------------------------------- performance


def test_a_chaos_run_sized_history_checks_quickly():
    # 5 keys x 10,000 checked ops (12,500 invoked: failed cas ops drop out)
    # by 5 processes each, with a handful of info ops. The bound only catches
    # a hang; the time per key is printed (pytest -s).
    rng = random.Random(2024)
    history = merge(*(register_history(rng, 12_500, key=f"r{k}", info_rate=0.0008, process_base=1000 * k)
                      for k in range(5)))
    started = time.perf_counter()
    result = check(history)
    elapsed = time.perf_counter() - started
    assert result.valid is True, result.summary()
    for key, r in result.keys.items():
        print(f"{key}: {r.ops} ops ({r.info_ops} info), {r.states} states, {r.seconds:.3f} s")
        assert r.ops > 9_500
    assert elapsed < 60


def test_a_non_linearizable_10k_op_key_is_found_quickly():
    rng = random.Random(99)
    history = register_history(rng, 10_000, info_rate=0.001)
    reads = [i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"]
    history[reads[-20]]["value"] = 12345
    started = time.perf_counter()
    result = check(history)
    elapsed = time.perf_counter() - started
    print(f"invalid 10k-op key: {result.keys['r'].states} states, {elapsed:.3f} s")
    assert result.valid is False
    assert result.keys["r"].stuck_at["index"] == reads[-20]
    assert elapsed < 60


def test_the_sweep_settles_what_depth_first_cannot_within_its_budget():
    # Many info ops and a small value domain: a depth-first search meets the
    # same configurations again with ever fewer info ops and runs out of its
    # budget; the sweep then finds the culprit.
    rng = random.Random(11)
    history = register_history(rng, 3000, info_rate=0.01)
    reads = [i for i, e in enumerate(history) if e["type"] == "ok" and e["f"] == "read"]
    corrupted = reads[len(reads) * 3 // 4]
    history[corrupted]["value"] = -5
    ops = operations(history)["r"]
    oks = [op for op in ops if op.status == "ok"]
    infos = [op for op in ops if op.status == "info" and op.f != "read"]
    assert len(infos) >= 10
    assert _depth_first(_Problem(oks, infos), 25 * len(ops) + 50_000).valid is None
    result = check_key(ops)
    assert result.valid is False
    assert result.stuck_at["index"] == corrupted
    assert result.seconds < 60
