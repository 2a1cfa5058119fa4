"""The store's durability layer: the write-ahead log (actors.store.wal) and snapshot files (actors.store.snapfile).

Covers replay round trips, raft's suffix overwrite, segment rotation and
release after a snapshot, the torn-tail rule (every cut inside the last
record, zero-filled tails, lost sectors) against real corruption (which must
stop the member with file and offset), one fsync per save, and atomic
snapshot files with pruning and leftover cleanup.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from actors.store import snapfile, wal
from actors.store.snapfile import CorruptSnapshot, load_newest, save_snapshot
from actors.store.types import (
    EMPTY_HARD_STATE,
    Entry,
    HardState,
    Snapshot,
    SnapshotMeta,
)
from actors.store.wal import WAL, CorruptWAL

MEMBERS = ("store-0", "store-1", "store-2")


def entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, f"put k{i} {term}".encode()) for i in range(first, last + 1)]


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("wal-*.log"))


def reopen(path: Path, **kwargs) -> WAL:
    w = WAL.open(path, **kwargs)
    w.close()
    return w


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def record_offsets(path: Path) -> list[int]:
    """Where each record of a segment starts (walking the documented framing)."""
    data, offsets, offset = path.read_bytes(), [], 0
    while offset < len(data):
        offsets.append(offset)
        length = int.from_bytes(data[offset:offset + 4], "little")
        offset += wal.HEADER_BYTES + length
    return offsets


# -- round trips


def test_empty_directory_is_an_empty_log(tmp_path):
    w = reopen(tmp_path / "missing" / "wal")
    assert (w.hard_state, w.snapshot, w.entries, w.torn_tail_truncated) == (EMPTY_HARD_STATE, SnapshotMeta(), [], 0)
    assert (tmp_path / "missing" / "wal").is_dir()


def test_entries_and_hard_state_survive_a_reopen(tmp_path):
    with WAL.open(tmp_path) as w:
        w.save(HardState(1, "store-0", 0), entries(1, 3))
        w.save(HardState(1, "store-0", 3), entries(4, 10))
        w.save(None, [])  # nothing to do: no write
        assert w.size_bytes == sum(p.stat().st_size for p in segments(tmp_path))
    w = reopen(tmp_path)
    assert w.entries == entries(1, 10)
    assert w.hard_state == HardState(1, "store-0", 3)
    assert w.torn_tail_truncated == 0


def test_hard_state_alone_and_later_appends(tmp_path):
    with WAL.open(tmp_path) as w:
        w.save(HardState(2, "store-1", 0), [])
    with WAL.open(tmp_path) as w:
        assert (w.hard_state, w.entries) == (HardState(2, "store-1", 0), [])
        w.save(None, entries(1, 2, term=2))
    assert reopen(tmp_path).entries == entries(1, 2, term=2)


def test_a_save_overwrites_the_suffix_from_its_first_index(tmp_path):
    with WAL.open(tmp_path) as w:
        w.save(None, entries(1, 10))
        w.save(HardState(2, "", 4), entries(5, 7, term=2))
        w.save(None, entries(8, 8, term=2))
    assert reopen(tmp_path).entries == entries(1, 4) + entries(5, 8, term=2)


def test_a_save_that_leaves_a_gap_is_a_bug(tmp_path):
    with WAL.open(tmp_path) as w:
        w.save(None, entries(1, 3))
        with pytest.raises(AssertionError, match="does not follow"):
            w.save(None, entries(5, 6))
        with pytest.raises(AssertionError, match="not contiguous"):
            w.save(None, [Entry(1, 4, b""), Entry(1, 6, b"")])


# -- segments and snapshots


def test_segments_rotate_and_replay_in_order(tmp_path):
    with WAL.open(tmp_path, segment_bytes=300) as w:
        for first in range(1, 60, 5):
            w.save(HardState(1, "store-0", first), entries(first, first + 4))
    files = segments(tmp_path)
    assert len(files) > 3
    for seq, path in enumerate(files):
        assert re.fullmatch(rf"wal-{seq:016x}-[0-9a-f]{{16}}\.log", path.name)
    # A segment is cut before a save, so each one's first index is where a save began.
    first_indexes = [int(path.name[21:37], 16) for path in files]
    assert first_indexes[0] == 1 and first_indexes == sorted(set(first_indexes))
    assert all(index % 5 == 1 for index in first_indexes)
    w = reopen(tmp_path, segment_bytes=300)
    assert w.entries == entries(1, 60)
    assert w.hard_state == HardState(1, "store-0", 56)


def test_snapshot_releases_covered_segments_and_keeps_the_hard_state(tmp_path):
    with WAL.open(tmp_path, segment_bytes=300) as w:
        w.save(HardState(3, "store-2", 0), [])  # only in the first segment
        for first in range(1, 60, 5):
            w.save(None, entries(first, first + 4, term=3))
        before = segments(tmp_path)
        w.save_snapshot(SnapshotMeta(42, 3, MEMBERS))
        after = segments(tmp_path)
        assert w.size_bytes == sum(p.stat().st_size for p in after)
    assert len(after) < len(before)
    assert before[0] not in after and set(after) & set(before)
    w = reopen(tmp_path, segment_bytes=300)
    assert w.snapshot == SnapshotMeta(42, 3, MEMBERS)
    assert w.entries == entries(43, 60, term=3)
    assert w.hard_state == HardState(3, "store-2", 0)


def test_snapshot_covering_the_whole_log_releases_all_but_the_live_segment(tmp_path):
    with WAL.open(tmp_path, segment_bytes=200) as w:
        for first in range(1, 40, 3):
            w.save(HardState(1, "store-0", first + 2), entries(first, first + 2))
        w.save_snapshot(SnapshotMeta(42, 1, MEMBERS))
        assert len(segments(tmp_path)) == 1
        w.save(HardState(1, "store-0", 43), entries(43, 44))
    w = reopen(tmp_path)
    assert (w.snapshot.index, w.entries, w.hard_state) == (42, entries(43, 44), HardState(1, "store-0", 43))


def test_installed_snapshot_beyond_the_log_drops_it(tmp_path):
    with WAL.open(tmp_path) as w:
        w.save(None, entries(1, 5))
        w.save_snapshot(SnapshotMeta(100, 4, MEMBERS))
        w.save(None, entries(101, 102, term=4))
    assert reopen(tmp_path).entries == entries(101, 102, term=4)


def test_snapshot_whose_term_disagrees_with_the_log_drops_the_whole_log(tmp_path):
    # Raft installs such a snapshot in place of a conflicting log; a crash before the
    # leader's entries arrive must not leave the old suffix behind the new snapshot.
    with WAL.open(tmp_path) as w:
        w.save(None, entries(1, 10, term=1))
        w.save_snapshot(SnapshotMeta(5, 2, MEMBERS))
    w = reopen(tmp_path)
    assert (w.snapshot.index, w.entries) == (5, [])


def test_a_missing_middle_segment_is_corruption(tmp_path):
    with WAL.open(tmp_path, segment_bytes=200) as w:
        for first in range(1, 30, 3):
            w.save(None, entries(first, first + 2))
    os.unlink(segments(tmp_path)[1])
    with pytest.raises(CorruptWAL, match="segments are missing"):
        WAL.open(tmp_path)


# -- torn tails and corruption


def write_then_tear(tmp_path: Path) -> tuple[Path, int, int]:
    """A log of 1..5 whose last save, entry 6 alone, lands at [start, end) of the one segment."""
    with WAL.open(tmp_path / "orig") as w:
        w.save(HardState(1, "store-0", 5), entries(1, 5))
        start = w.size_bytes
        w.save(None, entries(6, 6))
        end = w.size_bytes
    return segments(tmp_path / "orig")[0], start, end


def test_a_cut_anywhere_inside_the_last_record_is_a_torn_tail(tmp_path):
    original, start, end = write_then_tear(tmp_path)
    for cut in range(start + 1, end):
        copy = tmp_path / f"cut{cut}"
        copy.mkdir()
        segment = copy / original.name
        segment.write_bytes(original.read_bytes()[:cut])
        with WAL.open(copy) as w:
            assert w.torn_tail_truncated == cut - start, cut
            assert w.entries == entries(1, 5) and w.hard_state == HardState(1, "store-0", 5), cut
            assert segment.stat().st_size == start
            w.save(HardState(1, "store-0", 7), entries(6, 7))
        w = reopen(copy)
        assert (w.entries, w.hard_state, w.torn_tail_truncated) == (entries(1, 7), HardState(1, "store-0", 7), 0)


def test_a_zero_filled_tail_is_truncated(tmp_path):
    original, _, end = write_then_tear(tmp_path)
    with original.open("ab") as f:
        f.write(bytes(4096))
    with WAL.open(original.parent) as w:
        assert w.torn_tail_truncated == 4096
        assert w.entries == entries(1, 6)
        w.save(None, entries(7, 7))
    assert original.stat().st_size > end
    assert reopen(original.parent).entries == entries(1, 7)


def test_a_last_record_with_a_lost_sector_and_zeros_after_it_is_torn(tmp_path):
    # Power loss can keep a write's first page and lose the next: the record crosses
    # into zeros that run to the end of the file.
    with WAL.open(tmp_path) as w:
        w.save(None, entries(1, 1))
        start = w.size_bytes
        w.save(None, [Entry(1, 2, b"x" * 2000)])
    segment = segments(tmp_path)[0]
    data = bytearray(segment.read_bytes())
    data[512:] = bytes(len(data) - 512 + 1000)
    segment.write_bytes(bytes(data))
    w = reopen(tmp_path)
    assert w.entries == entries(1, 1)
    assert w.torn_tail_truncated == len(data) - start


def test_a_flipped_byte_in_the_last_record_is_not_a_torn_tail(tmp_path):
    original, start, end = write_then_tear(tmp_path)
    flip_byte(original, end - 3)
    with pytest.raises(CorruptWAL, match=rf"{re.escape(original.name)}: offset {start}: crc mismatch"):
        WAL.open(original.parent)


@pytest.mark.parametrize("where", ["length", "payload"])
def test_a_flipped_byte_in_a_middle_record_names_file_and_offset(tmp_path, where):
    with WAL.open(tmp_path) as w:
        for i in range(1, 6):
            w.save(HardState(1, "", i), entries(i, i))
    segment = segments(tmp_path)[0]
    offset = record_offsets(segment)[4]
    flip_byte(segment, offset + (1 if where == "length" else wal.HEADER_BYTES + 2))
    with pytest.raises(CorruptWAL) as caught:
        WAL.open(tmp_path)
    message = str(caught.value)
    assert str(segment) in message and f"offset {offset}:" in message
    assert "crc mismatch" in message


def test_a_flipped_byte_in_an_earlier_segment_is_corruption_even_at_its_end(tmp_path):
    with WAL.open(tmp_path, segment_bytes=200) as w:
        for first in range(1, 30, 3):
            w.save(None, entries(first, first + 2))
    first = segments(tmp_path)[0]
    flip_byte(first, first.stat().st_size - 1)
    with pytest.raises(CorruptWAL, match=re.escape(first.name)):
        WAL.open(tmp_path)


def test_an_earlier_segment_cut_short_is_corruption(tmp_path):
    with WAL.open(tmp_path, segment_bytes=200) as w:
        for first in range(1, 30, 3):
            w.save(None, entries(first, first + 2))
    first = segments(tmp_path)[0]
    os.truncate(first, first.stat().st_size - 5)
    with pytest.raises(CorruptWAL, match="runs past the end"):
        WAL.open(tmp_path)


def test_corruption_is_never_repaired_by_opening(tmp_path):
    original, _, _ = write_then_tear(tmp_path)
    flip_byte(original, 20)
    damaged = original.read_bytes()
    for _ in range(2):
        with pytest.raises(CorruptWAL):
            WAL.open(original.parent)
    assert original.read_bytes() == damaged


# -- fsync


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


def test_one_fsync_per_save_however_many_entries(tmp_path, fsyncs):
    timings = []
    with WAL.open(tmp_path) as w:
        w.on_fsync = timings.append
        fsyncs.clear()
        w.save(HardState(1, "store-0", 0), entries(1, 500))
        assert len(fsyncs) == 1
        w.save(None, entries(501, 501))
        w.save(HardState(1, "store-0", 501), [])
        assert len(fsyncs) == 3
    assert len(timings) == 3 and all(t >= 0 for t in timings)


def test_fsync_off_never_fsyncs_but_still_writes(tmp_path, fsyncs):
    with WAL.open(tmp_path, fsync=False, segment_bytes=200) as w:
        for first in range(1, 30, 3):
            w.save(HardState(1, "", first), entries(first, first + 2))
        w.save_snapshot(SnapshotMeta(20, 1, MEMBERS))
        # Not closed yet: another reader sees every save, because each one reached the OS.
        assert reopen(tmp_path, fsync=False).entries == entries(21, 30)
    assert fsyncs == []


def test_a_failed_fsync_closes_the_wal(tmp_path, monkeypatch):
    w = WAL.open(tmp_path)

    def fail(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        w.save(None, entries(1, 1))
    with pytest.raises(AssertionError, match="closed"):
        w.save(None, entries(1, 1))


# -- snapshot files


def snapshot(index: int, term: int = 1, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, MEMBERS), data + str(index).encode())


def test_snapshot_round_trip(tmp_path, fsyncs):
    path = save_snapshot(tmp_path / "snap", snapshot(7, term=2))
    assert Path(path).name == f"snap-{2:016x}-{7:016x}.snap"
    assert len(fsyncs) == 2  # the file, then the directory after the rename
    assert load_newest(tmp_path / "snap") == snapshot(7, term=2)
    assert list((tmp_path / "snap").glob("*.tmp")) == []


def test_no_snapshot_is_none(tmp_path):
    assert load_newest(tmp_path / "nothing") is None
    assert load_newest(tmp_path) is None


def test_snapshots_keep_the_newest_two(tmp_path):
    for index in (10, 30, 20, 40):
        save_snapshot(tmp_path, snapshot(index), fsync=False)
    assert sorted(p.name for p in tmp_path.glob("*.snap")) == [
        f"snap-{1:016x}-{30:016x}.snap", f"snap-{1:016x}-{40:016x}.snap"]
    assert load_newest(tmp_path) == snapshot(40)
    save_snapshot(tmp_path, snapshot(50), keep=1)
    assert [p.name for p in tmp_path.glob("*.snap")] == [f"snap-{1:016x}-{50:016x}.snap"]


def test_a_crash_before_the_rename_leaves_the_old_snapshot(tmp_path, monkeypatch):
    save_snapshot(tmp_path, snapshot(10))

    def crash(src, dst):
        raise KeyboardInterrupt("killed mid-snapshot")

    monkeypatch.setattr(snapfile.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(tmp_path, snapshot(20))
    monkeypatch.undo()
    assert len(list(tmp_path.glob("*.tmp"))) == 1
    assert load_newest(tmp_path) == snapshot(10)
    assert list(tmp_path.glob("*.tmp")) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic"])
def test_a_corrupt_newest_snapshot_raises_naming_the_file(tmp_path, damage):
    save_snapshot(tmp_path, snapshot(10))
    path = Path(save_snapshot(tmp_path, snapshot(20)))
    if damage == "flip":
        flip_byte(path, path.stat().st_size - 2)
    elif damage == "truncate":
        os.truncate(path, path.stat().st_size - 1)
    else:
        flip_byte(path, 0)
    with pytest.raises(CorruptSnapshot, match=re.escape(path.name)):
        load_newest(tmp_path)


def test_a_snapshot_renamed_to_another_index_is_corrupt(tmp_path):
    path = Path(save_snapshot(tmp_path, snapshot(10)))
    shutil.move(path, tmp_path / f"snap-{1:016x}-{11:016x}.snap")
    with pytest.raises(CorruptSnapshot, match="not what its name says"):
        load_newest(tmp_path)
