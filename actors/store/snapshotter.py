"""Writing a store member's snapshot from a forked child, so the member's loop never stops for it.

A member with hundreds of thousands of revisions holds hundreds of megabytes;
encoding them and writing the file takes seconds. Done in the member's own
loop, that is seconds without heartbeats: a leader loses its term (its
followers elect another), and every write in flight with it. Python's GIL
rules out a thread for work that is all Python. So, as Redis does for its
background saves, the member ``fork()``s: the child sees the store exactly
as it was at that instant (copy-on-write pages), encodes it, writes and
fsyncs the file (:func:`actors.store.snapfile.save_snapshot`), and exits;
the member goes on serving. When the child has exited with success the
member reads the file back (the crc and one memory copy, not a decode of the
store), marks it in its WAL and compacts its log — the same steps, in the
same order, as a snapshot written in the loop, so a crash at any point
leaves what a crash there always left.

The child runs at the lowest CPU priority (nice 19): it is background work,
and on a machine whose cores the cluster keeps busy, three members encoding
hundreds of megabytes at once at normal priority took more than a core for
seconds from the processes serving requests (the members come to
``snapshot_count`` at nearly the same index). It yields to them and
finishes in the gaps; the member's log simply waits longer for compaction.

The child touches nothing but the store's data and the file: no sockets, no
logging, no metrics (locks another thread may have held at the fork stay
held in the child), and it leaves with ``os._exit``. It asks the kernel to
kill it if the member dies first, so a killed member leaves no orphan writing
into the directory its successor reads.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from actors.store.snapfile import (
    CorruptSnapshot,
    read_snapshot,
    save_snapshot,
    snapshot_path,
)
from actors.store.types import Snapshot, SnapshotMeta

_PR_SET_PDEATHSIG = 1
#: The child's niceness: the lowest priority Linux has.
CHILD_NICENESS = 19


class SnapshotFailed(Exception):
    """The child could not write the snapshot (its exit status says how it ended)."""


class _Encodes(Protocol):
    def snapshot(self) -> bytes: ...


@dataclass
class Snapshotter:
    """One forked child writing the snapshot ``meta`` describes into ``directory``."""

    pid: int
    directory: Path
    meta: SnapshotMeta

    @classmethod
    def start(cls, directory: Path, meta: SnapshotMeta, state: _Encodes, *, fsync: bool = True) -> Snapshotter:
        pid = os.fork()
        if pid == 0:  # the child: encode, write, leave
            code = 1
            try:
                _die_with_parent()
                os.nice(CHILD_NICENESS - os.nice(0))  # background work gives way to serving
                gc.disable()  # nothing it makes outlives it; collecting would only copy pages
                save_snapshot(directory, Snapshot(meta, state.snapshot()), fsync=fsync)
                code = 0
            finally:
                os._exit(code)
        return cls(pid, Path(directory), meta)

    def finished(self) -> Snapshot | None:
        """The snapshot once the child has written it; None while it runs; :class:`SnapshotFailed` if it failed."""
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise SnapshotFailed(f"snapshot child {self.pid} for index {self.meta.index}: {how}")
        try:
            snap = read_snapshot(snapshot_path(self.directory, self.meta))
        except (OSError, CorruptSnapshot) as exc:
            raise SnapshotFailed(f"snapshot child {self.pid} exited 0, but its file: {exc}") from None
        if snap.meta.index != self.meta.index or snap.meta.term != self.meta.term:
            raise SnapshotFailed(f"snapshot child {self.pid} wrote index {snap.meta.index}, "
                                 f"not {self.meta.index}")
        return snap

    def abandon(self) -> None:
        """The member stops: end the child and reap it (a half-written ``.tmp`` is cleaned up at the next start)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (best effort elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
