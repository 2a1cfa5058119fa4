"""What the chaos injectors rely on inside the components: a store member's disk faults (a failing fsync, a
power cut that loses the unfsynced tail), its log as term runs, and a process's wall-clock skew."""

from __future__ import annotations

import pytest

from actors.store.raft_log import RaftLog
from actors.store.types import Entry, HardState, SnapshotMeta
from actors.store.wal import WAL
from bus.clock import ManualClock
from bus.messages import ClockState, Error, SetClockSkew
from bus.runtime import Actor, Runtime
from bus.settings import BusSettings
from tests.helpers import pump


def entries(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, f"e{i}".encode()) for i in range(lo, hi + 1)]


def test_a_failing_fsync_raises_eio_once_and_closes_the_wal(tmp_path):
    w = WAL.open(tmp_path)
    w.save(HardState(1, "a", 0), entries(1, 2))
    w.fail_next_fsync = True
    with pytest.raises(OSError, match="fsync failed"):
        w.save(None, entries(3, 3))
    with pytest.raises(AssertionError, match="closed"):
        w.save(None, entries(3, 3))  # after a failed fsync the WAL refuses: the member must stop
    assert WAL.open(tmp_path).entries[:2] == entries(1, 2)


def test_a_power_cut_loses_only_what_no_fsync_covered(tmp_path):
    w = WAL.open(tmp_path)
    w.save(HardState(1, "a", 0), entries(1, 3))              # fsynced: durable
    w.save(HardState(1, "a", 3), [], sync=False)            # the commit index alone: written, not fsynced
    lost = w.lose_unfsynced()
    assert lost > 0
    after = WAL.open(tmp_path)
    assert after.entries == entries(1, 3)
    assert after.hard_state == HardState(1, "a", 0)          # the unsynced commit index is gone


def test_with_fsync_off_a_power_cut_loses_acknowledged_entries(tmp_path):
    w = WAL.open(tmp_path, fsync=False)
    w.save(HardState(1, "a", 0), entries(1, 3))
    assert w.lose_unfsynced() > 0
    assert WAL.open(tmp_path, fsync=False).entries == []


def test_nothing_unsynced_means_nothing_lost(tmp_path):
    w = WAL.open(tmp_path)
    w.save(HardState(1, "a", 0), entries(1, 3))
    assert w.lose_unfsynced() == 0
    assert WAL.open(tmp_path).entries == entries(1, 3)


def test_a_log_as_term_runs():
    log = RaftLog(SnapshotMeta(index=4, term=1), entries(5, 6, 1) + entries(7, 9, 3) + entries(10, 10, 4))
    assert log.term_runs() == [[5, 6, 1], [7, 9, 3], [10, 10, 4]]
    assert RaftLog().term_runs() == []


def control_runtime() -> tuple[Runtime, Actor, ManualClock]:
    clock = ManualClock()
    rt = Runtime("p", BusSettings(), clock, standalone=True)
    asker = rt.add(Actor("p.asker"))
    return rt, asker, clock


def test_a_clock_skew_moves_the_wall_clock_of_the_whole_process_not_its_timers():
    rt, asker, clock = control_runtime()
    wall, mono = clock.wall(), clock.monotonic()
    fut = asker.request("p.bus", SetClockSkew(-90.0), timeout_s=1)
    pump(rt)
    reply = fut.result()
    assert isinstance(reply, ClockState) and reply.skew_s == -90.0
    assert clock.wall() == wall - 90 and clock.monotonic() == mono
    fut = asker.request("p.bus", SetClockSkew(0), timeout_s=1)
    pump(rt)
    assert fut.result().skew_s == 0 and clock.wall() == wall


@pytest.mark.parametrize("skew", [10**9, float("nan"), "5"])
def test_a_skew_out_of_range_is_refused_and_changes_nothing(skew):
    rt, asker, clock = control_runtime()
    wall = clock.wall()
    fut = asker.request("p.bus", SetClockSkew(skew), timeout_s=1)
    pump(rt)
    with pytest.raises(Exception) as err:
        fut.result()
    assert "SetClockSkew.skew_s" in str(err.value) or isinstance(err.value, Error)
    assert clock.wall() == wall
