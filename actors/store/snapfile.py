"""Snapshot files: the state machine as of a log index, written so a crash leaves a whole one.

A member snapshots its state machine to bound its log (DESIGN §3, etcd row):
the file is made durable first, then :meth:`actors.store.wal.WAL.save_snapshot`
records a marker and releases the log segments it covers. A restarted member
loads the newest snapshot and replays the WAL after it.

On disk
-------
Files ``snap-<term:016x>-<index:016x>.snap`` in one directory, written to
``<name>.tmp`` in the same directory, fsynced, renamed into place and the
directory fsynced — so a crash leaves either the old set of files or the new
one, plus perhaps a ``.tmp`` that :func:`load_newest` deletes. Each file::

    offset  size  field
    0       8     magic   b"KSSNAP1\\n" (kubesim snapshot, format 1)
    8       4     crc     crc32 of the body (u32, little-endian)
    12      n     body    bus.codec.pack_value of [index, term, [members...], data]

A newest file that fails any check raises :class:`CorruptSnapshot`; there is
no silent fallback to an older one, since the WAL may already have released
the entries that older one would need.
"""

from __future__ import annotations

import os
import re
import struct
import zlib

from actors.store.types import Snapshot, SnapshotMeta
from actors.store.wal import sync_directory
from bus.codec import Rejected, pack_value, unpack_value

MAGIC = b"KSSNAP1\n"
_CRC = struct.Struct("<I")
HEADER_BYTES = len(MAGIC) + _CRC.size

_SNAP_NAME = re.compile(r"snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap")
_TMP_NAME = re.compile(r"snap-.*\.tmp")


class CorruptSnapshot(Exception):
    """A snapshot file that fails its checks; the message names the file."""


def save_snapshot(directory: str | os.PathLike[str], snap: Snapshot, *, fsync: bool = True, keep: int = 2) -> str:
    """Write ``snap`` atomically, then delete all but the newest ``keep`` snapshot files; returns its path."""
    assert keep >= 1, f"keep must be at least 1, not {keep}"
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    meta = snap.meta
    path = snapshot_path(directory, meta)
    body = pack_value([meta.index, meta.term, list(meta.members), snap.data])
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + _CRC.pack(zlib.crc32(body)))
        f.write(body)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        sync_directory(directory)
    _prune(directory, keep, fsync)
    return path


def snapshot_path(directory: str | os.PathLike[str], meta: SnapshotMeta) -> str:
    """Where the snapshot ``meta`` describes is written in ``directory``."""
    return os.path.join(os.fspath(directory), f"snap-{meta.term:016x}-{meta.index:016x}.snap")


def load_newest(directory: str | os.PathLike[str]) -> Snapshot | None:
    """The snapshot with the highest index, or None; raises :class:`CorruptSnapshot` if that file is bad."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return None
    _remove_leftover_tmp(directory)
    found = _list_snapshots(directory)
    if not found:
        return None
    index, term, path = found[-1]
    snap = read_snapshot(path)
    if (snap.meta.index, snap.meta.term) != (index, term):
        raise CorruptSnapshot(f"{path}: holds index {snap.meta.index} term {snap.meta.term}, "
                              f"not what its name says")
    return snap


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """The snapshot in file ``path``; raises :class:`CorruptSnapshot` if it fails a check."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < HEADER_BYTES or raw[:len(MAGIC)] != MAGIC:
        raise CorruptSnapshot(f"{path}: not a kubesim snapshot file (bad magic or shorter than its header)")
    (crc,) = _CRC.unpack_from(raw, len(MAGIC))
    body = raw[HEADER_BYTES:]
    if zlib.crc32(body) != crc:
        raise CorruptSnapshot(f"{path}: crc mismatch over {len(body)} bytes of body")
    try:
        value = unpack_value(body, len(body))
    except Rejected as exc:
        raise CorruptSnapshot(f"{path}: body does not decode: {exc.detail}") from None
    if not _well_formed(value):
        raise CorruptSnapshot(f"{path}: body has the wrong shape")
    index, term, members, data = value
    return Snapshot(SnapshotMeta(index, term, tuple(members)), data)


def _well_formed(value: object) -> bool:
    return (type(value) is list and len(value) == 4
            and type(value[0]) is int and type(value[1]) is int
            and type(value[2]) is list and all(type(m) is str for m in value[2])
            and type(value[3]) is bytes)


def _list_snapshots(directory: str) -> list[tuple[int, int, str]]:
    """The snapshot files as (index, term, path), oldest first."""
    return sorted((int(m.group(2), 16), int(m.group(1), 16), os.path.join(directory, name))
                  for name in os.listdir(directory) if (m := _SNAP_NAME.fullmatch(name)))


def _prune(directory: str, keep: int, fsync: bool) -> None:
    stale = _list_snapshots(directory)[:-keep]
    for _, _, path in stale:
        os.unlink(path)
    if stale and fsync:
        sync_directory(directory)


def _remove_leftover_tmp(directory: str) -> None:
    """A ``.tmp`` is a write a crash interrupted before its rename: it was never a snapshot."""
    for name in os.listdir(directory):
        if _TMP_NAME.fullmatch(name):
            os.unlink(os.path.join(directory, name))

