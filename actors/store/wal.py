"""The write-ahead log: what a store member must not forget, on disk before it acts.

Raft is safe only if a member remembers its term, its vote and its log across
a crash (DESIGN §3, etcd row). The member actor hands everything one turn of
its loop produced to :meth:`WAL.save` — the new entries and the changed hard
state — and sends no message that depends on them until it returns. That is
one write and one fsync per turn however many proposals the turn carried:
the group commit. Snapshots (:mod:`actors.store.snapfile`) bound the log:
once one is durable, :meth:`WAL.save_snapshot` records a marker for it and
releases the segment files it makes unnecessary.

On disk
-------
A directory of segment files ``wal-<seq:016x>-<first index:016x>.log``.
``seq`` counts up from 0 without gaps (a missing one is corruption; released
segments go from the front only). ``first index`` is the index the segment's
first entry was expected to have — for people reading ``ls``; replay trusts
the records. Only the newest segment is written to; a new one is cut before
a write once the newest has passed ``segment_bytes``.

A segment is a run of records, each::

    offset  size  field
    0       4     length     bytes of payload (u32, little-endian)
    4       1     type       1 entry, 2 hard state, 3 snapshot marker
    5       4     head crc   crc32 of bytes 0..4, so that a damaged length is
                             told apart from a record a crash cut short
    9       4     crc        crc32 of the payload, seeded with the head crc
    13      n     payload    bus.codec.pack_value of
                               entry            [term, index, data]
                               hard state       [term, vote, commit]
                               snapshot marker  [index, term, [members...]]

Replay reads the segments in order. An entry at index i replaces every entry
from i on (raft overwrites a follower's conflicting suffix). A hard state
replaces the one before. A snapshot marker drops the entries it covers; if
the log holds the marker's index with another term, the snapshot replaced a
conflicting log and every entry goes (raft's rule for installing one).

Torn tails. A save is one ``os.write``; a crash in the middle of it can leave
its last record cut short, or (power loss) leave pages of it as zeros. A bad
record in the newest segment is taken for such a torn tail — and truncated,
with the byte count in :attr:`WAL.torn_tail_truncated` — only when nothing
valid can follow it: it runs past the end of the file, or every byte from it
to the end of the file is zero, or every byte from a 512-byte sector boundary
inside it to the end of the file is zero (the lost-page case; etcd's wal
checks the same). A crash can only have torn a write no save returned from,
so nothing acknowledged is lost. Every other bad record raises
:class:`CorruptWAL` naming the file and offset: the member stops rather than
guess.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from actors.store.types import EMPTY_HARD_STATE, Entry, HardState, SnapshotMeta
from bus.codec import Rejected, pack_value, unpack_value

ENTRY, HARD_STATE, SNAPSHOT = 1, 2, 3
_KINDS = {ENTRY: "entry", HARD_STATE: "hard state", SNAPSHOT: "snapshot marker"}

_HEAD = struct.Struct("<IB")  # length, type
_CRCS = struct.Struct("<II")  # head crc, crc
HEADER_BYTES = _HEAD.size + _CRCS.size

#: Granularity at which a crash can leave a write partly on disk (the torn-tail rule).
SECTOR_BYTES = 512

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

_SEGMENT_NAME = re.compile(r"wal-([0-9a-f]{16})-([0-9a-f]{16})\.log")

_crc32 = zlib.crc32


class CorruptWAL(Exception):
    """The log on disk is damaged somewhere a crash cannot explain; the message names file and offset."""


class _Invalid(Exception):
    """A record that frames correctly but says something impossible (the reason; the caller adds where)."""


class _BadRecord(Exception):
    """A record that does not frame: a short read, a bad length or a crc mismatch."""

    def __init__(self, reason: str, torn: bool) -> None:
        super().__init__(reason)
        self.torn = torn
        """Nothing valid can follow it: in the newest segment, a crash explains it."""


@dataclass(slots=True)
class _Segment:
    seq: int
    path: str
    size: int
    max_index: int
    """Highest entry index ever written to it: once a snapshot covers it, the file may go."""


class WAL:
    """An open write-ahead log directory. Not thread-safe: one member actor owns it.

    After :meth:`open`, ``hard_state``, ``snapshot`` and ``entries`` hold what
    replay found. ``hard_state`` and ``snapshot`` follow later saves;
    ``entries`` does not (the raft log owns the entries from then on — drop
    the reference once read, to not keep the replayed log twice).

    ``on_fsync``, when set, is called with the seconds each segment fsync
    took (the group commit of :meth:`save` and :meth:`save_snapshot`; not the
    directory fsyncs of creating or removing a file) — for the member's
    fsync-duration histogram.

    If a write or fsync raises, the WAL closes itself: after a failed fsync
    the kernel may have dropped the dirty pages, so retrying could report
    durable what is not (PostgreSQL's "fsyncgate"). The member must stop.
    """

    def __init__(self, directory: str, fsync: bool, segment_bytes: int) -> None:
        assert segment_bytes > 0, f"segment_bytes must be positive, not {segment_bytes}"
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.hard_state: HardState = EMPTY_HARD_STATE
        self.snapshot: SnapshotMeta = SnapshotMeta()
        self.entries: list[Entry] = []
        self.torn_tail_truncated = 0
        self.on_fsync: Callable[[float], None] | None = None
        self._segments: list[_Segment] = []
        self._fd = -1
        self._unsynced = False
        """The live segment holds writes of a ``sync=False`` save not yet fsynced."""
        self._synced_size = 0
        """How much of the live segment a power cut would leave (what the last fsync covered)."""
        self.fail_next_fsync = False
        """Chaos: the next segment fsync raises EIO (see :meth:`lose_unfsynced` for the other disk fault)."""
        self._last_index = 0  # the log's last index as the WAL knows it: what a save may follow

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, fsync: bool = True,
             segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> WAL:
        """Open (creating if missing) and replay ``directory``; raises :class:`CorruptWAL`."""
        wal = cls(os.fspath(directory), fsync, segment_bytes)
        _make_directory(wal.directory, fsync)
        wal._replay()
        wal._open_live()
        return wal

    @property
    def size_bytes(self) -> int:
        """Bytes in the segment files still on disk."""
        return sum(segment.size for segment in self._segments)

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None:
        """Append ``entries`` then ``hard_state`` with one write and (fsync on) one fsync.

        Durable on return when fsync is on. ``entries`` are contiguous; the
        first may overwrite from its index on, but may not leave a gap.
        ``sync=False`` skips the fsync: raft needs none when only the commit
        index moved (etcd's ``MustSync``), since a lost commit index is learnt again.
        """
        if not entries and hard_state is None:
            return
        if entries:
            self._check_follows(entries)
        first = entries[0].index if entries else self._last_index + 1
        records = [_frame(ENTRY, entry) for entry in entries]
        if hard_state is not None:
            records.append(_frame(HARD_STATE, hard_state))
        self._commit(first, records, entries[-1].index if entries else 0, sync)
        if entries:
            self._last_index = entries[-1].index
        if hard_state is not None:
            self.hard_state = hard_state

    def save_snapshot(self, meta: SnapshotMeta) -> None:
        """Record that a durable snapshot up to ``meta.index`` exists, then release what it covers.

        The snapshot file must already be durable. The hard state is written
        again next to the marker so that releasing old segments cannot lose it.
        """
        assert meta.index >= self.snapshot.index, f"snapshot {meta.index} is older than {self.snapshot.index}"
        records = [_frame(SNAPSHOT, meta)]
        if self.hard_state != EMPTY_HARD_STATE:
            records.insert(0, _frame(HARD_STATE, self.hard_state))
        self._commit(max(self._last_index, meta.index) + 1, records, 0)
        self.snapshot = meta
        self._last_index = max(self._last_index, meta.index)
        self._release(meta.index)

    def close(self) -> None:
        """Close the live segment; a later save fails (the member is stopping)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing

    def _check_follows(self, entries: list[Entry]) -> None:
        """Raft hands over contiguous entries that extend or overwrite the log; anything else is a bug."""
        first = entries[0].index
        assert self.snapshot.index < first <= self._last_index + 1, (
            f"entry {first} does not follow the log (last index {self._last_index}, "
            f"snapshot {self.snapshot.index})")
        index = first
        for entry in entries:
            assert entry.index == index, f"entries are not contiguous: {entry.index} where {index} was due"
            assert type(entry.data) is bytes, f"entry {entry.index} data is a {type(entry.data).__name__}"
            index += 1

    def _commit(self, first_index: int, records: list[bytes], max_index: int, sync: bool = True) -> None:
        """Write ``records`` to the live segment with one write and one fsync (the group commit)."""
        assert self._fd >= 0, f"{self.directory}: the WAL is closed"
        try:
            if self._segments[-1].size >= self.segment_bytes:
                self._cut(first_index)
            data = b"".join(records)
            _write_all(self._fd, data)
            if self.fsync and sync:
                self._sync_live()
            else:
                self._unsynced = True
        except BaseException:
            self.close()
            raise
        live = self._segments[-1]
        live.size += len(data)
        live.max_index = max(live.max_index, max_index)
        if not self._unsynced:
            self._synced_size = live.size

    def _sync_live(self) -> None:
        started = time.perf_counter()
        self._unsynced = False
        if self.fail_next_fsync:
            self.fail_next_fsync = False
            raise OSError(errno.EIO, f"{self.directory}: fsync failed (a disk fault set by chaos)")
        os.fsync(self._fd)
        if self.on_fsync is not None:
            self.on_fsync(time.perf_counter() - started)

    def _cut(self, first_index: int) -> None:
        """Start a new live segment; the previous one is made durable first.

        A save with ``sync=False`` may have left its tail unsynced: if the
        machine died later, that torn record would sit in a segment that is
        no longer the newest, which replay must call corruption.
        """
        if self._fd >= 0 and self.fsync and self._unsynced:
            self._sync_live()
        seq = self._segments[-1].seq + 1 if self._segments else 0
        path = os.path.join(self.directory, f"wal-{seq:016x}-{first_index:016x}.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.close()
        self._fd = fd
        self._segments.append(_Segment(seq, path, 0, 0))
        self._synced_size = 0
        if self.fsync:
            sync_directory(self.directory)

    def _release(self, index: int) -> None:
        """Delete the oldest segments whose every entry is covered by a snapshot at ``index``."""
        released = False
        while len(self._segments) > 1 and self._segments[0].max_index <= index:
            os.unlink(self._segments.pop(0).path)
            released = True
        if released and self.fsync:
            sync_directory(self.directory)

    # -- opening

    def _replay(self) -> None:
        found = _list_segments(self.directory)
        state = _Replay()
        for i, (seq, path) in enumerate(found):
            with open(path, "rb") as f:
                buf = f.read()
            newest = i == len(found) - 1
            good_end, max_index = self._replay_segment(state, path, buf, newest)
            if good_end < len(buf):
                self._truncate_torn_tail(path, good_end, len(buf) - good_end)
            self._segments.append(_Segment(seq, path, good_end, max_index))
        state.check_starts_after_snapshot(self.directory)
        self.hard_state, self.snapshot, self.entries = state.hard_state, state.snapshot, state.entries
        self._last_index = self.entries[-1].index if self.entries else self.snapshot.index

    @staticmethod
    def _replay_segment(state: _Replay, path: str, buf: bytes, newest: bool) -> tuple[int, int]:
        """Apply one segment's records; returns where its good part ends and its highest entry index."""
        records, good_end = _scan(path, buf, newest)
        max_index = 0
        for offset, kind, payload in records:
            try:
                record = _decode(kind, payload)
                state.apply(kind, record)
            except _Invalid as exc:
                raise CorruptWAL(f"{path}: offset {offset}: {_KINDS[kind]} record: {exc}") from None
            if kind == ENTRY:
                max_index = max(max_index, record.index)
        return good_end, max_index

    def _truncate_torn_tail(self, path: str, good_end: int, torn_bytes: int) -> None:
        os.truncate(path, good_end)
        if self.fsync:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.torn_tail_truncated = torn_bytes

    def _open_live(self) -> None:
        if self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._synced_size = self._segments[-1].size  # read back from disk: durable
        else:
            self._cut(self._last_index + 1)

    def lose_unfsynced(self) -> int:
        """Chaos's power cut: cut the live segment back to what its last fsync covered; returns the bytes lost.

        The caller must die at once (the member's memory still holds what the disk lost). Older segments
        are left whole: with fsync on they were synced when cut; with it off this is kinder than a real
        machine, whose page cache could lose them too.
        """
        live = self._segments[-1]
        lost = live.size - self._synced_size
        self.close()
        os.truncate(live.path, self._synced_size)
        live.size = self._synced_size
        return lost


class _Replay:
    """The state the records rebuild, one record at a time, in the order they were written."""

    def __init__(self) -> None:
        self.hard_state = EMPTY_HARD_STATE
        self.snapshot = SnapshotMeta()
        self.entries: list[Entry] = []

    def apply(self, kind: int, record: Entry | HardState | SnapshotMeta) -> None:
        if kind == ENTRY:
            self._add_entry(record)  # type: ignore[arg-type]
        elif kind == HARD_STATE:
            self.hard_state = record  # type: ignore[assignment]
        else:
            self._add_snapshot(record)  # type: ignore[arg-type]

    def _add_entry(self, entry: Entry) -> None:
        log = self.entries
        if log and log[0].index <= entry.index <= log[-1].index + 1:
            del log[entry.index - log[0].index:]
        elif log and entry.index > log[-1].index + 1:
            raise _Invalid(f"entry {entry.index} leaves a gap after entry {log[-1].index}")
        else:
            # An empty log, or one that began in a segment since released: nothing before it is known.
            log.clear()
        log.append(entry)

    def _add_snapshot(self, meta: SnapshotMeta) -> None:
        log = self.entries
        if log and log[0].index <= meta.index <= log[-1].index:
            if log[meta.index - log[0].index].term == meta.term:
                del log[:meta.index - log[0].index + 1]
            else:
                log.clear()
        elif log and log[-1].index < meta.index:
            log.clear()
        self.snapshot = meta

    def check_starts_after_snapshot(self, directory: str) -> None:
        """The first entry must follow the snapshot: a gap means records were lost."""
        if self.entries and self.entries[0].index != self.snapshot.index + 1:
            raise CorruptWAL(
                f"{directory}: the log starts at entry {self.entries[0].index} but the snapshot marker "
                f"ends at {self.snapshot.index}: the records in between are missing")


def _frame(kind: int, value: tuple) -> bytes:
    payload = pack_value(value)
    head = _HEAD.pack(len(payload), kind)
    head_crc = _crc32(head)
    return head + _CRCS.pack(head_crc, _crc32(payload, head_crc)) + payload


def _scan(path: str, buf: bytes, newest: bool) -> tuple[list[tuple[int, int, bytes]], int]:
    """The records of one segment as (offset, type, payload), and the offset where its good part ends."""
    records = []
    offset = 0
    while offset < len(buf):
        try:
            kind, payload, end = _read_record(buf, offset)
        except _BadRecord as bad:
            if newest and bad.torn:
                return records, offset
            raise CorruptWAL(f"{path}: offset {offset}: {bad}") from None
        records.append((offset, kind, payload))
        offset = end
    return records, offset


def _read_record(buf: bytes, offset: int) -> tuple[int, bytes, int]:
    """The record at ``offset``: (type, payload, end offset); raises :class:`_BadRecord`."""
    size = len(buf)
    if offset + HEADER_BYTES > size:
        raise _BadRecord(f"record header cut short ({size - offset} of {HEADER_BYTES} bytes)", torn=True)
    length, kind = _HEAD.unpack_from(buf, offset)
    head_crc, crc = _CRCS.unpack_from(buf, offset + _HEAD.size)
    if _crc32(buf[offset:offset + _HEAD.size]) != head_crc:
        raise _BadRecord("header crc mismatch (length or type damaged)",
                         torn=_zeros_to_eof(buf, offset, offset + HEADER_BYTES))
    start, end = offset + HEADER_BYTES, offset + HEADER_BYTES + length
    if end > size:
        raise _BadRecord(f"record of {length} bytes runs past the end of the file ({size - start} there)",
                         torn=True)
    payload = buf[start:end]
    if _crc32(payload, head_crc) != crc:
        raise _BadRecord(f"crc mismatch in a record of {length} bytes", torn=_zeros_to_eof(buf, offset, end))
    return kind, payload, end


def _zeros_to_eof(buf: bytes, offset: int, end: int) -> bool:
    """Is everything zero from ``offset``, or from a sector boundary before ``end``, to the end of the file?"""
    data_end = offset + len(buf[offset:].rstrip(b"\0"))
    if data_end == offset:
        return True
    next_sector = -(-data_end // SECTOR_BYTES) * SECTOR_BYTES
    return next_sector < end


def _decode(kind: int, payload: bytes) -> Entry | HardState | SnapshotMeta:
    """The record a payload holds; raises :class:`_Invalid` for one no WAL of this format writes."""
    try:
        value = unpack_value(payload, len(payload))
    except Rejected as exc:
        raise _Invalid(f"payload does not decode: {exc.detail}") from None
    if kind == ENTRY and _shaped(value, (int, int, bytes)):
        return Entry(*value)
    if kind == HARD_STATE and _shaped(value, (int, str, int)):
        return HardState(*value)
    if kind == SNAPSHOT and _shaped(value, (int, int, list)) and all(type(m) is str for m in value[2]):
        return SnapshotMeta(value[0], value[1], tuple(value[2]))
    if kind not in _KINDS:
        raise _Invalid(f"unknown record type {kind}")
    raise _Invalid(f"payload has the wrong shape: {value!r:.100}")


def _shaped(value: object, types: tuple[type, ...]) -> bool:
    return (type(value) is list and len(value) == len(types)
            and all(type(v) is t for v, t in zip(value, types)))


def _list_segments(directory: str) -> list[tuple[int, str]]:
    """The segment files as (seq, path), oldest first; raises :class:`CorruptWAL` if one is missing."""
    found = sorted((int(m.group(1), 16), os.path.join(directory, name))
                   for name in os.listdir(directory) if (m := _SEGMENT_NAME.fullmatch(name)))
    for (seq, path), (next_seq, _) in itertools.pairwise(found):
        if next_seq != seq + 1:
            raise CorruptWAL(f"{path}: segment {seq:016x} is followed by {next_seq:016x}: segments are missing")
    return found


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _make_directory(directory: str, fsync: bool) -> None:
    if os.path.isdir(directory):
        return
    os.makedirs(directory)
    if fsync:
        # The new directory's own entry must survive a crash too.
        sync_directory(os.path.dirname(os.path.abspath(directory)))


def sync_directory(directory: str) -> None:
    """Make file creations, renames and removals in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
