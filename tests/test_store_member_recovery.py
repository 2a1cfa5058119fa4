"""A member's recovery from its disk, driven directly: what a crash at the worst moment leaves behind.

The member writes a snapshot the leader sent to its own file first and
records it in the WAL second; a crash between the two leaves a snapshot
file the WAL does not know. Recovery must take the snapshot, agree with the
WAL from then on, and keep every entry it acknowledged after it, across any
number of restarts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from actors.store.member import StoreMember, StoreOptions
from actors.store.metrics import StoreMetrics
from actors.store.mvcc import MVCC
from actors.store.snapfile import save_snapshot
from actors.store.types import Entry, HardState, Snapshot, SnapshotMeta
from actors.store.wal import WAL

MEMBERS = {"store-0": ("127.0.0.1", 1), "store-1": ("127.0.0.1", 2), "store-2": ("127.0.0.1", 3)}


def recovered(data_dir) -> StoreMember:
    """A member as it stands after ``_recover``, as on a restart (no sockets needed)."""
    member = StoreMember("store-0", MEMBERS, StoreOptions(data_dir=data_dir, fsync=False, seed=1),
                         metrics=StoreMetrics("store-0", CollectorRegistry()))
    member._recover()
    return member


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(term, i, b"") for i in range(first, last + 1)]


def a_snapshot_the_wal_never_recorded(tmp_path, index: int, term: int) -> None:
    save_snapshot(tmp_path / "snap", Snapshot(SnapshotMeta(index, term, tuple(MEMBERS)), MVCC().snapshot()),
                  fsync=False)


def test_a_snapshot_file_newer_than_the_wal_is_recorded_and_the_log_goes_on_from_it(tmp_path):
    with WAL.open(tmp_path / "wal", fsync=False) as wal:
        wal.save(HardState(2, "store-1", 5), entries(1, 5, 2))
    a_snapshot_the_wal_never_recorded(tmp_path, 100, 3)
    member = recovered(tmp_path)
    assert member.raft.log.first_index() == 101 and member.raft.log.committed == 100
    # The leader's next append follows the snapshot; the WAL must accept it...
    member.wal.save(HardState(3, "store-1", 101), [Entry(3, 101, b"")])
    member.wal.close()
    # ...and a second restart finds the same log.
    again = recovered(tmp_path)
    assert again.raft.log.first_index() == 101 and again.raft.log.last_index() == 101
    again.wal.close()


def test_entries_acknowledged_after_an_unrecorded_snapshot_survive_every_restart(tmp_path):
    with WAL.open(tmp_path / "wal", fsync=False) as wal:
        wal.save(HardState(1, "store-1", 10), entries(1, 20, 1))  # 11..20 never committed
    a_snapshot_the_wal_never_recorded(tmp_path, 15, 2)  # a leader of term 2 replaced them
    member = recovered(tmp_path)
    assert member.raft.log.last_index() == 15  # the conflicting tail is gone
    member.wal.save(HardState(2, "store-2", 30), entries(16, 30, 2))  # appended and acknowledged
    member.wal.close()
    again = recovered(tmp_path)
    assert [e.index for e in again.raft.log.entries] == list(range(16, 31))
    assert all(e.term == 2 for e in again.raft.log.entries)
    assert again.raft.log.committed == 30
    again.wal.close()
