"""A seeded, simulated cluster for the raft core: every fault, no sockets, no clock.

The network loses, delays (and so reorders), duplicates and partitions
messages; members crash and restart from exactly what they had persisted;
members take snapshots and compact. After every step the checker verifies
the invariants of etcd-io/raft's TLA+ spec and the raft paper's Figure 3:

- election safety: at most one leader per term;
- log matching: two logs with an entry of the same index and term agree on
  everything before it;
- leader completeness: a leader holds every entry committed in an earlier term;
- no committed entry is ever lost or changed, in memory or on disk;
- state machine safety: every member applies the same entries in the same
  order (checked against the one committed sequence, and the members'
  states are prefixes of each other).

A failure names its seed; ``Sim(seed).run(steps)`` replays it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from actors.messages import RaftMessage
from actors.store import raft
from actors.store.raft import Config, ProposalDropped, Raft
from actors.store.types import (
    EMPTY_HARD_STATE,
    Entry,
    HardState,
    Snapshot,
    SnapshotMeta,
)


class InvariantBroken(AssertionError):
    pass


@dataclass
class Disk:
    """What a member has persisted: a WAL's worth of hard state and entries, and its newest snapshot."""

    hard_state: HardState = EMPTY_HARD_STATE
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)

    def save(self, rd: raft.Ready) -> None:
        if rd.snapshot is not None:
            self.compact(rd.snapshot)
            if self.entries and self.entries[0].index != rd.snapshot.meta.index + 1:
                self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            self.entries = [e for e in self.entries if e.index < first] + list(rd.entries)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state

    def compact(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.entries = [e for e in self.entries if e.index > snap.meta.index]


@dataclass
class Member:
    raft: Raft
    disk: Disk
    applied: list[Entry] = field(default_factory=list)
    """Entries applied since the member (re)started from its snapshot, in order."""
    state: tuple = ()
    """The state machine: the data of every applied non-empty entry, in order."""
    up: bool = True


class Sim:
    """One simulated cluster, driven by a seed."""

    def __init__(self, seed: int, members: int = 3, *, loss: float = 0.05, dup: float = 0.03,
                 max_delay: int = 3, snapshot_every: int = 20, pre_vote: bool = True,
                 check_quorum: bool = True, max_inflight: int = 4, max_entries_per_msg: int = 5,
                 crash_mid_ready: float = 0.002) -> None:
        self.seed = seed
        self.rng = Random(seed)
        self.ids = tuple(f"s{i}" for i in range(members))
        self.loss, self.dup, self.max_delay = loss, dup, max_delay
        self.snapshot_every = snapshot_every
        self.crash_mid_ready = crash_mid_ready
        """Chance that a leader dies between sending a Ready's messages and writing it."""
        self.cfg = dict(pre_vote=pre_vote, check_quorum=check_quorum, max_inflight=max_inflight,
                        max_entries_per_msg=max_entries_per_msg, max_bytes_per_msg=1 << 20,
                        election_ticks=10, heartbeat_ticks=1)
        self.now = 0
        self.net: list[tuple[int, int, RaftMessage]] = []
        self._seq = 0
        self.cut: set[tuple[str, str]] = set()
        self.members: dict[str, Member] = {i: Member(self._new_raft(i, Disk()), Disk()) for i in self.ids}
        self.leaders: dict[int, str] = {}
        self.committed: dict[int, Entry] = {}
        self.committed_in: dict[int, int] = {}
        """The term in which each index was first seen committed (a stale leader may predate it)."""
        self.proposed = 0
        self.history: list[str] = []

    def _new_raft(self, i: str, disk: Disk) -> Raft:
        cfg = Config(id=i, peers=self.ids, **self.cfg)
        return Raft(cfg, Random(self.rng.getrandbits(32)), hard_state=disk.hard_state,
                    snapshot=disk.snapshot, entries=list(disk.entries))

    # --- Driving -------------------------------------------------------------------
    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        # Faults are rare next to ticks (an election takes 10-20 ticks), or nothing would ever finish.
        r = self.rng.random()
        if r < 0.50:
            self._deliver_some()
        elif r < 0.85:
            self._tick_all()
        elif r < 0.975:
            self._propose()
        elif r < 0.983:
            self._crash_or_restart()
        elif r < 0.991:
            self._partition_or_heal()
        elif r < 0.994:
            self._transfer()
        else:
            self._read()
        self.check()

    def _tick_all(self) -> None:
        self.now += 1
        for i, m in self.members.items():
            # Clocks drift: a member sometimes misses a tick.
            if m.up and self.rng.random() < 0.95:
                m.raft.tick()
                self._handle_ready(i)

    def _deliver_some(self) -> None:
        """Deliver every message that is due, in a random order (so: reordering)."""
        due = [x for x in self.net if x[0] <= self.now]
        if not due:
            self.now += 1
            return
        self.net = [x for x in self.net if x[0] > self.now]
        self.rng.shuffle(due)
        for _, _, msg in due:
            m = self.members[msg.to]
            if m.up and (msg.frm, msg.to) not in self.cut:
                m.raft.step(msg)
                self._handle_ready(msg.to)

    def _propose(self) -> None:
        leader = self._some_leader()
        if leader is None:
            return
        self.proposed += 1
        try:
            self.members[leader].raft.propose([f"v{self.proposed}".encode()])
        except ProposalDropped:
            return
        self._handle_ready(leader)

    def _crash_or_restart(self) -> None:
        i = self.rng.choice(self.ids)
        m = self.members[i]
        if m.up:
            if any(not x.up for x in self.members.values()) and self.rng.random() < 0.7:
                return  # mostly keep a quorum up, so runs also make progress
            m.up = False
            self.history.append(f"{self.now}: crash {i}")
        else:
            self._restart(i)

    def _restart(self, i: str) -> None:
        disk = self.members[i].disk
        # Nothing but the disk survives: a new core from exactly what was persisted.
        self.members[i] = Member(self._new_raft(i, disk), disk)
        if disk.snapshot is not None:
            self.members[i].state = disk.snapshot.data
        self.history.append(f"{self.now}: restart {i}")

    def _partition_or_heal(self) -> None:
        if self.cut and self.rng.random() < 0.5:
            self.cut.clear()
            self.history.append(f"{self.now}: heal")
            return
        a = self.rng.choice(self.ids)
        one_way = self.rng.random() < 0.3
        self.cut.clear()  # one member cut off at a time; the rest keep a quorum
        for b in self.ids:
            if b != a:
                self.cut.add((a, b))
                if not one_way:
                    self.cut.add((b, a))
        self.history.append(f"{self.now}: isolate {a}{' (one way)' if one_way else ''}")

    def _transfer(self) -> None:
        leader = self._some_leader()
        if leader is not None:
            to = self.rng.choice([i for i in self.ids if i != leader])
            self.members[leader].raft.transfer_leadership(to)
            self.history.append(f"{self.now}: transfer {leader} -> {to}")
            self._handle_ready(leader)

    def _read(self) -> None:
        i = self.rng.choice(self.ids)
        m = self.members[i]
        if m.up:
            try:
                m.raft.read_index(f"r{self.now}".encode())
            except ProposalDropped:
                return
            self._handle_ready(i)

    def _some_leader(self) -> str | None:
        leaders = [i for i, m in self.members.items() if m.up and m.raft.role == raft.LEADER]
        return max(leaders, key=lambda i: self.members[i].raft.term) if leaders else None

    # --- One member's Ready ---------------------------------------------------------
    def _handle_ready(self, i: str) -> None:
        m = self.members[i]
        while m.up and m.raft.has_ready():
            rd = m.raft.ready()
            # As the member does: a follower persists before anything leaves; a leader sends
            # first, and a crash between the two (below) loses what it had not yet written.
            if rd.role == raft.LEADER:
                for msg in rd.messages:
                    self._send(msg)
                if self.rng.random() < self.crash_mid_ready:
                    m.up = False
                    self.history.append(f"{self.now}: crash {i} after sending, before persisting")
                    return
                m.disk.save(rd)
            else:
                m.disk.save(rd)
                for msg in rd.messages:
                    self._send(msg)
            if rd.snapshot is not None:
                m.state = rd.snapshot.data
                m.applied = []
            for e in rd.committed:
                if m.applied and e.index != m.applied[-1].index + 1:
                    self.fail(f"{i} applies {e.index} right after {m.applied[-1].index}")
                self._check_apply(i, e)
                m.applied.append(e)
                if e.data:
                    m.state = m.state + (e.data,)
            for rs in rd.read_states:
                # A read point must be an index some member had committed (the leader's, when asked).
                if rs.index > max(self.committed, default=0):
                    self.fail(f"{i} got read index {rs.index}, beyond any commit")
            m.raft.advance(rd)
            self._maybe_snapshot(i)

    def _send(self, msg: RaftMessage) -> None:
        rng = self.rng
        if rng.random() < self.loss:
            return
        if msg.entries:
            # What the wire does: entries travel as arrays and the member turns them back.
            msg = _rebuilt(msg)
        for _ in range(2 if rng.random() < self.dup else 1):
            self._seq += 1
            self.net.append((self.now + rng.randrange(self.max_delay + 1), self._seq, msg))

    def _maybe_snapshot(self, i: str) -> None:
        m = self.members[i]
        r = m.raft
        base = r.snapshot.meta.index if r.snapshot else 0
        if r.log.applied - base >= self.snapshot_every:
            snap = Snapshot(SnapshotMeta(r.log.applied, r.log.term(r.log.applied), self.ids), m.state)
            m.disk.compact(snap)
            r.create_snapshot(snap, keep_entries=self.rng.randrange(3))

    # --- Invariants -----------------------------------------------------------------
    def fail(self, what: str) -> None:
        raise InvariantBroken(f"seed {self.seed} at t={self.now}: {what}\n  recent: {self.history[-8:]}")

    def check(self) -> None:
        live = {i: m for i, m in self.members.items() if m.up}
        for i, m in live.items():
            r = m.raft
            if r.role == raft.LEADER:
                holder = self.leaders.setdefault(r.term, i)
                if holder != i:
                    self.fail(f"two leaders in term {r.term}: {holder} and {i}")
            self._record_committed(i, r)
        for i, m in live.items():
            if m.raft.role == raft.LEADER:
                self._check_leader_complete(i, m.raft)
        ids = sorted(live)
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                self._check_log_matching(ids[a], live[ids[a]].raft, ids[b], live[ids[b]].raft)
        for i, m in self.members.items():
            self._check_disk(i, m.disk)

    def _record_committed(self, i: str, r: Raft) -> None:
        log = r.log
        for idx in range(log.first_index(), log.committed + 1):
            e = log.entries[idx - log.offset - 1]
            seen = self.committed.setdefault(idx, e)
            self.committed_in.setdefault(idx, r.term)
            if seen != e:
                self.fail(f"{i} holds {e} at committed index {idx}, but {seen} was committed there")

    def _check_leader_complete(self, i: str, r: Raft) -> None:
        for idx, e in self.committed.items():
            if self.committed_in.get(idx, r.term) < r.term:
                if idx > r.log.last_index():
                    self.fail(f"leader {i} of term {r.term} lacks committed entry {e}")
                t = r.log.term(idx)
                if t is not None and t != e.term:
                    self.fail(f"leader {i} of term {r.term} has term {t} at committed {e}")

    def _check_log_matching(self, a: str, ra: Raft, b: str, rb: Raft) -> None:
        lo = max(ra.log.first_index(), rb.log.first_index())
        hi = min(ra.log.last_index(), rb.log.last_index())
        matched = False
        for idx in range(hi, lo - 1, -1):
            ea = ra.log.entries[idx - ra.log.offset - 1]
            eb = rb.log.entries[idx - rb.log.offset - 1]
            if matched and ea != eb:
                self.fail(f"logs of {a} and {b} match further on but differ at {idx}: {ea} / {eb}")
            if ea.term == eb.term:
                if ea != eb:
                    self.fail(f"{a} and {b} hold different entries of term {ea.term} at {idx}")
                matched = True

    def _check_disk(self, i: str, disk: Disk) -> None:
        hs = disk.hard_state
        last = disk.entries[-1].index if disk.entries else (disk.snapshot.meta.index if disk.snapshot else 0)
        if hs.commit > last:
            self.fail(f"{i} persisted commit {hs.commit} beyond its persisted log end {last}")
        for e in disk.entries:
            if e.index <= hs.commit and self.committed.get(e.index, e) != e:
                self.fail(f"{i} has {e} on disk at committed index {e.index}, not {self.committed[e.index]}")

    def _check_apply(self, i: str, e: Entry) -> None:
        want = self.committed.setdefault(e.index, e)
        if want != e:
            self.fail(f"{i} applies {e} but {want} was committed at {e.index}")

    # --- Recovery ---------------------------------------------------------------------
    def heal_and_settle(self, max_steps: int = 5000) -> None:
        """End every fault; the cluster must elect a leader and agree on a new entry."""
        self.cut.clear()
        self.loss = self.dup = self.crash_mid_ready = 0.0
        for i, m in self.members.items():
            if not m.up:
                self._restart(i)
        marker = b"final"
        proposed = False
        for step in range(max_steps):
            if step % 300 == 299:
                proposed = False  # the proposal may have died with its leader: propose again
            if not proposed:
                leader = self._some_leader()
                if leader is not None:
                    try:
                        self.members[leader].raft.propose([marker])
                        self._handle_ready(leader)
                        proposed = True
                    except ProposalDropped:
                        pass  # a transfer is under way
            if self.net and self.rng.random() < 0.5:
                self._deliver_some()
            else:
                self._tick_all()
            self.check()
            if proposed and all(marker in m.state for m in self.members.values()):
                states = sorted((m.state for m in self.members.values()), key=len)
                for s in states[1:]:
                    if s[:len(states[0])] != states[0]:
                        self.fail("members' state machines diverge")
                return
        self.fail(f"no agreement within {max_steps} steps after healing: "
                  f"{[(i, m.raft.role, m.raft.term, m.raft.log.committed) for i, m in self.members.items()]}")


def _rebuilt(msg: RaftMessage) -> RaftMessage:
    return RaftMessage(msg.type, msg.to, msg.frm, msg.term, msg.log_term, msg.index,
                       tuple(Entry(*e) for e in msg.entries), msg.commit, msg.reject, msg.reject_hint,
                       msg.snapshot, msg.context)


if __name__ == "__main__":
    import ast
    import sys

    # python -m tests.raft_sim SEED [members=5] [loss=0.2] ...
    seed = int(sys.argv[1])
    options = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])}
    sim = Sim(seed, **options)
    try:
        sim.run(3000)
        sim.heal_and_settle()
    finally:
        print("\n".join(sim.history))
        print(f"leaders by term: {sim.leaders}")
        print(f"committed: {len(sim.committed)} entries")
