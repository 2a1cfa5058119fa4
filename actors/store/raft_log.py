"""A member's view of the replicated log, in memory: what raft reads and changes.

etcd-io/raft splits this into ``raftLog``, ``unstable`` and ``MemoryStorage``;
here it is one object, because the durable copy lives in the write-ahead log
and the core only needs to know how far that copy reaches (``stable``):

    [ compacted by a snapshot | entries ............................ ]
                     offset ^   ^ offset+1                    last ^
    applied <= committed; entries above ``stable`` are not on disk yet.

A follower may have to replace the end of its log with the leader's; when
that reaches below ``stable`` the replaced entries are handed out again to be
persisted (the WAL treats a rewritten index as "drop everything from here").
"""

from __future__ import annotations

from actors.store.types import Entry, SnapshotMeta


class RaftLog:
    """The log's entries after the last snapshot, with commit, apply and persistence marks."""

    __slots__ = ("offset", "offset_term", "entries", "committed", "applied", "stable")

    def __init__(self, snapshot: SnapshotMeta = SnapshotMeta(), entries: list[Entry] | None = None,
                 committed: int = 0) -> None:
        self.offset = snapshot.index
        """Index of the last entry folded into the snapshot (0: none)."""
        self.offset_term = snapshot.term
        self.entries: list[Entry] = list(entries or [])
        assert not self.entries or self.entries[0].index == self.offset + 1, "entries do not follow the snapshot"
        self.stable = self.last_index()
        """Highest index known to be on disk (what was loaded is)."""
        self.committed = max(committed, self.offset)
        assert self.committed <= self.last_index(), f"commit {committed} beyond the log's end {self.last_index()}"
        self.applied = self.offset

    # Reading -----------------------------------------------------------------------
    def first_index(self) -> int:
        return self.offset + 1

    def last_index(self) -> int:
        return self.offset + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.offset_term

    def term(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if compacted away or not there yet."""
        if index == self.offset:
            return self.offset_term
        if self.offset < index <= self.offset + len(self.entries):
            return self.entries[index - self.offset - 1].term
        return None

    def term_runs(self) -> list[list[int]]:
        """The entries as ``[first, last, term]`` runs (a term's entries are contiguous, so this is short)."""
        runs: list[list[int]] = []
        for e in self.entries:
            if runs and runs[-1][2] == e.term:
                runs[-1][1] = e.index
            else:
                runs.append([e.index, e.index, e.term])
        return runs

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as new as ours (§5.4.1)."""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def slice(self, lo: int, hi: int, max_count: int, max_bytes: int) -> list[Entry] | None:
        """Entries [lo, hi), at most ``max_count`` and about ``max_bytes``; None if lo is compacted."""
        if lo <= self.offset:
            return None
        hi = min(hi, self.last_index() + 1, lo + max_count)
        out = self.entries[lo - self.offset - 1:hi - self.offset - 1]
        size = 0
        for i, e in enumerate(out):
            size += len(e.data) + 16
            if size > max_bytes and i > 0:  # always at least one entry, so a big one still moves
                return out[:i]
        return out

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index <= ``index`` whose term is <= ``term``, and that term.

        A follower answers a refused append with it, and the leader uses it
        to skip a whole term of mismatching entries in one round trip.
        """
        index = min(index, self.last_index())
        while index > self.offset:
            t = self.term(index)
            if t <= term:
                return index, t
            index -= 1
        return self.offset, self.offset_term

    def unstable(self) -> list[Entry]:
        """Entries not on disk yet."""
        return self.entries[self.stable - self.offset:]

    def to_apply(self) -> list[Entry]:
        """Committed entries that are on disk and not yet applied, in order."""
        hi = min(self.committed, self.stable)
        if hi <= self.applied:
            return []
        return self.entries[self.applied - self.offset:hi - self.offset]

    # Changing ---------------------------------------------------------------------
    def append(self, entries: list[Entry]) -> None:
        """Add entries, replacing whatever the log held from the first one's index on."""
        if not entries:
            return
        first = entries[0].index
        assert first > self.committed, f"rewriting committed entry {first} (committed {self.committed})"
        assert first <= self.last_index() + 1, f"gap: appending {first} after {self.last_index()}"
        del self.entries[first - self.offset - 1:]
        self.entries.extend(entries)
        if first <= self.stable:
            self.stable = first - 1

    def maybe_append(self, index: int, log_term: int, committed: int, entries: list[Entry]) -> int | None:
        """A leader's append: take the entries if our log matches at (index, log_term).

        Returns the index of the last new entry, or None on a mismatch. Entries
        we already hold are kept as they are: only a real conflict truncates.
        """
        if not self.match_term(index, log_term):
            return None
        new_last = index + len(entries)
        for i, e in enumerate(entries):
            if not self.match_term(e.index, e.term):
                self.append(entries[i:])
                break
        self.commit_to(min(committed, new_last))
        return new_last

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            assert index <= self.last_index(), f"commit {index} beyond the log's end {self.last_index()}"
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to ``index`` if that entry is of ``term`` (a leader commits only its own term's)."""
        if index > self.committed and self.term(index) == term:
            self.commit_to(index)
            return True
        return False

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) reached the disk (unless replaced meanwhile)."""
        if index > self.stable and self.term(index) == term:
            self.stable = index

    def applied_to(self, index: int) -> None:
        assert index <= self.committed, f"applied {index} beyond commit {self.committed}"
        self.applied = max(self.applied, index)

    def restore(self, snapshot: SnapshotMeta) -> None:
        """Replace the whole log by a snapshot the leader sent."""
        self.offset, self.offset_term = snapshot.index, snapshot.term
        self.entries = []
        self.committed = self.stable = snapshot.index

    def compact(self, index: int) -> None:
        """Drop entries up to ``index`` (covered by a snapshot the member has saved)."""
        if index <= self.offset:
            return
        assert index <= self.applied, f"compacting {index} beyond applied {self.applied}"
        self.offset_term = self.term(index)
        del self.entries[:index - self.offset]
        self.offset = index
