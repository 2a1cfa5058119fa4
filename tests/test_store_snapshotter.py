"""Snapshots written by a forked child: what it writes is the store as it was at the fork, and it never outlives
its member."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from actors.store.snapfile import snapshot_path
from actors.store.snapshotter import CHILD_NICENESS, SnapshotFailed, Snapshotter
from actors.store.types import SnapshotMeta
from tests.helpers import wait_until

META = SnapshotMeta(1234, 7, ("store-0", "store-1", "store-2"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class State:
    """Stands for the MVCC store: what ``snapshot()`` encodes."""

    def __init__(self, value: bytes, *, fail: bool = False, hang: bool = False) -> None:
        self.value, self.fail, self.hang = value, fail, hang

    def snapshot(self) -> bytes:
        if self.hang:
            signal.pause()  # a write that does not end until the child is killed
        if self.fail:
            raise RuntimeError("the encoder broke")
        return self.value


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0): it is gone once its state says so
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_child_writes_the_store_as_it_was_at_the_fork_and_the_member_reads_it_back(tmp_path):
    state = State(b"before" * 100_000)
    job = Snapshotter.start(tmp_path, META, state, fsync=True)
    state.value = b"after the fork"  # the member goes on changing its store: the child does not see it
    snap = wait_until(job.finished, 30, "the snapshot child to finish")
    assert snap.meta == META and snap.data == b"before" * 100_000
    assert os.path.exists(snapshot_path(tmp_path, META))
    assert gone(job.pid)


class Niceness:
    """Encodes the niceness of the process that encodes it: the child's."""

    def snapshot(self) -> bytes:
        return str(os.nice(0)).encode()


def test_the_child_runs_at_the_lowest_cpu_priority_and_the_member_keeps_its_own(tmp_path):
    before = os.nice(0)
    job = Snapshotter.start(tmp_path, META, Niceness(), fsync=False)
    snap = wait_until(job.finished, 30, "the snapshot child to finish")
    assert int(snap.data) == CHILD_NICENESS == 19
    assert os.nice(0) == before


def test_a_child_that_fails_is_reported_and_leaves_no_snapshot(tmp_path):
    job = Snapshotter.start(tmp_path, META, State(b"", fail=True))
    with pytest.raises(SnapshotFailed, match="exit status 1"):
        wait_until(job.finished, 30, "the snapshot child to fail")
    assert not os.path.exists(snapshot_path(tmp_path, META))


def test_a_child_still_writing_is_not_done_and_abandon_ends_it(tmp_path):
    job = Snapshotter.start(tmp_path, META, State(b"x", hang=True))
    assert job.finished() is None
    job.abandon()
    assert gone(job.pid)
    assert not os.path.exists(snapshot_path(tmp_path, META))


MEMBER = """
import signal, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from actors.store.snapshotter import Snapshotter
from actors.store.types import SnapshotMeta

class Hangs:
    def snapshot(self):
        signal.pause()  # until killed
        return b"never"

job = Snapshotter.start(Path(sys.argv[1]), SnapshotMeta(1, 1, ("m",)), Hangs())
print(job.pid, flush=True)
signal.pause()  # the member lives until the test kills it
"""


def test_a_child_dies_with_its_member(tmp_path):
    """kill -9 of the member must not leave a child writing into the directory its successor reads."""
    member = subprocess.Popen([sys.executable, "-c", MEMBER.format(root=ROOT), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(member.stdout.readline())
        assert not gone(child)
        member.send_signal(signal.SIGKILL)
        member.wait(10)
        wait_until(lambda: gone(child), 10, "the snapshot child to die with its member")
    finally:
        member.kill()
        member.wait(10)
