"""The records raft, the write-ahead log and the snapshots share.

Plain tuples: they are made by the million, compared in tests, and travel on
the bus as msgpack arrays (a decoded array is turned back with ``Entry(*a)``).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """One slot of the replicated log."""

    term: int
    """The leader's term when the entry was proposed."""
    index: int
    """Its position in the log, from 1."""
    data: bytes
    """The command for the state machine; empty for the no-op a new leader appends."""


class HardState(NamedTuple):
    """What a member must never forget across a crash (raft paper, Figure 2)."""

    term: int = 0
    """The latest term this member has seen."""
    vote: str = ""
    """Whom it voted for in ``term``; "" for nobody."""
    commit: int = 0
    """Highest index known committed (durable so a restart re-applies no less)."""


class SnapshotMeta(NamedTuple):
    """Where a snapshot sits in the log."""

    index: int = 0
    """The last log index the snapshot covers."""
    term: int = 0
    """The term of that entry."""
    members: tuple[str, ...] = ()
    """The cluster's members (static: from the cluster config)."""


class Snapshot(NamedTuple):
    """The state machine's bytes as of ``meta.index``."""

    meta: SnapshotMeta
    data: bytes


EMPTY_HARD_STATE = HardState()
EMPTY_SNAPSHOT = Snapshot(SnapshotMeta(), b"")
