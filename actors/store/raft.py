"""The raft core: consensus with no I/O, in the shape of etcd-io/raft.

The member actor drives it with four calls and does everything else itself:

- ``step(msg)`` hands it a message from a peer (or a local one: ``HUP``, ``BEAT``);
- ``tick()`` says one heartbeat interval passed (time is counted in ticks);
- ``propose(datas)`` appends commands, on the leader;
- ``ready()`` returns what to do now, and ``advance(ready)`` says it is done:

    1. persist ``hard_state``, ``snapshot`` and ``entries`` (one fsync: group commit);
    2. only then send ``messages`` — a vote or an acknowledgement must never
       leave before what it promises is on disk;
    3. apply ``committed`` entries (and install ``snapshot`` first, if any),
       answer ``read_states`` once the applied index reaches theirs.

What is implemented (Ongaro's thesis and etcd's names): leader election with
randomized timeouts, pre-vote (§9.6: a member cut off and rejoining does not
disrupt a healthy leader), check-quorum (a leader that has not heard a quorum
for an election timeout steps down, and followers that hear a leader ignore
vote requests: the leader lease), log replication with flow control (probe /
replicate / snapshot states per follower, a bound on messages in flight,
bounded entries per message), commit by a quorum of the current term only
(§5.4.2), leadership transfer (§3.10), read index for linearizable reads
(§6.4), and install-snapshot for a follower behind the compacted log.
Membership is static: the members named in the cluster config.

Roles are swapped behaviour: ``become_*`` sets the step and tick functions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from random import Random

from actors.messages import RaftMessage as Message
from actors.store.raft_log import RaftLog
from actors.store.types import (
    EMPTY_HARD_STATE,
    Entry,
    HardState,
    Snapshot,
    SnapshotMeta,
)

# --- Message types ----------------------------------------------------------------
HUP = "hup"                          # local: start an election now
BEAT = "beat"                        # local (leader): send heartbeats now
APP = "app"                          # leader -> follower: entries to append (maybe none)
APP_RESP = "app_resp"
VOTE = "vote"
VOTE_RESP = "vote_resp"
PRE_VOTE = "pre_vote"
PRE_VOTE_RESP = "pre_vote_resp"
SNAP = "snap"                        # leader -> follower: install this snapshot
HEARTBEAT = "heartbeat"
HEARTBEAT_RESP = "heartbeat_resp"
TIMEOUT_NOW = "timeout_now"          # leader -> transferee: campaign now
READ_INDEX = "read_index"            # local, or a follower forwarding to the leader
READ_INDEX_RESP = "read_index_resp"

#: Types a peer may send; anything else arriving from the network is refused by the member.
NETWORK_TYPES = frozenset({APP, APP_RESP, VOTE, VOTE_RESP, PRE_VOTE, PRE_VOTE_RESP, SNAP, HEARTBEAT,
                           HEARTBEAT_RESP, TIMEOUT_NOW, READ_INDEX, READ_INDEX_RESP})

#: ``context`` of the votes of an election forced by a leadership transfer.
TRANSFER = b"transfer"

LEADER, FOLLOWER, CANDIDATE, PRE_CANDIDATE = "leader", "follower", "candidate", "pre_candidate"


class ProposalDropped(Exception):
    """This member cannot take the proposal now (not the leader, or handing leadership over)."""


@dataclass(frozen=True)
class Config:
    """How one member behaves; timings in ticks (one tick = one heartbeat interval)."""

    id: str
    peers: tuple[str, ...]
    """Every member, this one included."""
    election_ticks: int = 10
    """Followers wait a random [election_ticks, 2 * election_ticks) ticks for a leader."""
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 256
    """Append messages a leader keeps unanswered per follower before it waits."""
    max_entries_per_msg: int = 4096
    max_bytes_per_msg: int = 1024 * 1024

    def __post_init__(self) -> None:
        assert self.id in self.peers, f"{self.id} is not one of the members {self.peers}"
        assert 0 < self.heartbeat_ticks < self.election_ticks, "heartbeats must come well inside a timeout"


@dataclass
class ReadState:
    """Reads with ``context`` may be served once the applied index reaches ``index``."""

    index: int
    context: bytes


@dataclass
class Ready:
    """What the member must do now; see the module docstring for the order."""

    hard_state: HardState | None
    entries: list[Entry]
    snapshot: Snapshot | None
    committed: list[Entry]
    messages: list[Message]
    read_states: list[ReadState]
    role: str
    leader: str
    term: int


class Progress:
    """The leader's view of one follower (etcd's ``tracker.Progress``)."""

    PROBE, REPLICATE, SNAPSHOT = "probe", "replicate", "snapshot"

    __slots__ = ("match", "next", "state", "probe_sent", "inflight", "pending_snapshot", "recent_active",
                 "snapshot_ticks")

    def __init__(self, next_index: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = self.PROBE
        self.probe_sent = False
        """Probing: one append is out; wait for its answer or the next heartbeat."""
        self.inflight: deque[int] = deque()
        """Replicating: last index of each unanswered append, oldest first."""
        self.pending_snapshot = 0
        self.recent_active = True
        self.snapshot_ticks = 0

    def paused(self, max_inflight: int) -> bool:
        if self.state == self.PROBE:
            return self.probe_sent
        if self.state == self.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def maybe_update(self, index: int) -> bool:
        """The follower holds everything up to ``index``."""
        self.next = max(self.next, index + 1)
        if index > self.match:
            self.match = index
            self.probe_sent = False
            return True
        return False

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """An append at ``rejected`` was refused; back ``next`` off (False if the answer is stale)."""
        if self.state == self.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), 1)
        self.probe_sent = False
        return True

    def become_probe(self) -> None:
        if self.state == self.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._reset(self.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._reset(self.REPLICATE)

    def become_snapshot(self, index: int) -> None:
        self._reset(self.SNAPSHOT)
        self.pending_snapshot = index

    def _reset(self, state: str) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflight.clear()

    def free_to(self, index: int) -> None:
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()


@dataclass
class _ReadRequest:
    index: int
    frm: str
    context: bytes
    acks: set[str] = field(default_factory=set)


class Raft:
    """One member's raft state machine. Not thread-safe; the member's loop owns it."""

    def __init__(self, config: Config, rng: Random, *, hard_state: HardState = EMPTY_HARD_STATE,
                 snapshot: Snapshot | None = None, entries: list[Entry] | None = None) -> None:
        """Start (or restart from exactly what was persisted: hard state, snapshot, entries)."""
        self.cfg = config
        self.id = config.id
        self.peers = tuple(sorted(config.peers))
        self.quorum = len(self.peers) // 2 + 1
        self.rng = rng
        self.snapshot = snapshot
        """The newest snapshot, sent to followers behind the compacted log."""
        meta = snapshot.meta if snapshot else SnapshotMeta()
        self.log = RaftLog(meta, entries, hard_state.commit)
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.lead = ""
        self.role = FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.prs: dict[str, Progress] = {}
        self.votes: dict[str, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = 0
        self.lead_transferee = ""
        self.pending_snapshot: Snapshot | None = None
        """A snapshot from the leader, to be persisted and installed by the member."""
        self._reads: deque[_ReadRequest] = deque()
        self._pending_reads: list[Message] = []
        """Read-index requests waiting for this leader's first commit in its term."""
        self._prev_hard_state = hard_state
        self.campaigns = 0
        """Elections (pre-vote rounds included) this member started: a metric."""
        self.become_follower(self.term, "")

    # --- The interface --------------------------------------------------------------
    def tick(self) -> None:
        self._tick()

    def propose(self, datas: list[bytes]) -> list[Entry]:
        """Append commands to the log; returns their entries (index and term to wait for)."""
        if self.role != LEADER:
            raise ProposalDropped(f"not the leader (leader: {self.lead or 'unknown'})")
        if self.lead_transferee:
            raise ProposalDropped(f"leadership is being handed to {self.lead_transferee}")
        last = self.log.last_index()
        entries = [Entry(self.term, last + 1 + i, d) for i, d in enumerate(datas)]
        self.log.append(entries)
        self._bcast_append()
        return entries

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point; a :class:`ReadState` with ``context`` comes in a Ready."""
        if self.role != LEADER and not self.lead:
            raise ProposalDropped("no leader to confirm a read with")
        self.step(Message(READ_INDEX, self.id, self.id, context=context))

    def transfer_leadership(self, to: str) -> None:
        """Hand leadership to ``to`` (on the leader; the member forwards the ask otherwise)."""
        if self.role != LEADER:
            raise ProposalDropped(f"not the leader (leader: {self.lead or 'unknown'})")
        self._transfer(to)

    def campaign(self) -> None:
        self.step(Message(HUP, self.id, self.id))

    def has_ready(self) -> bool:
        return bool(self.msgs or self.read_states or self.pending_snapshot or self.log.unstable()
                    or self.log.to_apply() or self._hard_state() != self._prev_hard_state)

    def ready(self) -> Ready:
        """What to persist, send and apply now (messages are handed out once)."""
        hs = self._hard_state()
        rd = Ready(
            hard_state=hs if hs != self._prev_hard_state else None,
            entries=self.log.unstable(),
            snapshot=self.pending_snapshot,
            committed=[] if self.pending_snapshot else self.log.to_apply(),
            messages=self.msgs,
            read_states=self.read_states,
            role=self.role, leader=self.lead, term=self.term,
        )
        self.msgs = []
        self.read_states = []
        return rd

    def advance(self, rd: Ready) -> None:
        """The member did what ``rd`` asked: it is on disk, sent and applied."""
        if rd.hard_state is not None:
            self._prev_hard_state = rd.hard_state
        if rd.snapshot is not None:
            self.log.applied = max(self.log.applied, rd.snapshot.meta.index)
            if self.pending_snapshot is rd.snapshot:
                self.pending_snapshot = None
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
        if rd.committed:
            self.log.applied_to(rd.committed[-1].index)
        if self.role == LEADER and rd.entries:
            # The leader counts its own copy only once it is durable.
            if self.prs[self.id].maybe_update(self.log.stable) and self._maybe_commit():
                self._release_pending_reads()
                self._bcast_append()

    def create_snapshot(self, snapshot: Snapshot, keep_entries: int = 0) -> None:
        """The member saved the state machine as of ``snapshot.meta.index``: compact the log.

        ``keep_entries`` stay in memory below the snapshot, so a follower that
        is only a little behind catches up by appends rather than a snapshot.
        """
        assert snapshot.meta.index <= self.log.applied, "snapshot of entries not yet applied"
        self.snapshot = snapshot
        self.log.compact(snapshot.meta.index - keep_entries)


    # --- Step: what every role does first ------------------------------------------
    def step(self, m: Message) -> None:
        if m.term == 0:
            pass  # local message, or a forwarded read index
        elif m.term > self.term:
            if m.type in (VOTE, PRE_VOTE):
                force = m.context == TRANSFER
                in_lease = self.cfg.check_quorum and self.lead and self.election_elapsed < self.cfg.election_ticks
                if in_lease and not force:
                    # We hear a leader: a member that cannot is probably the one cut off.
                    return
            if m.type == PRE_VOTE or (m.type == PRE_VOTE_RESP and not m.reject):
                pass  # a pre-vote is about a future term; it changes nobody's term
            elif m.type in (APP, HEARTBEAT, SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, "")
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and m.type in (HEARTBEAT, APP):
                # A stale leader, perhaps cut off and back: tell it our term so it steps down.
                self._send(Message(APP_RESP, m.frm, self.id, term=self.term))
            elif m.type == PRE_VOTE:
                self._send(Message(PRE_VOTE_RESP, m.frm, self.id, term=self.term, reject=True))
            return

        if m.type == HUP:
            if self.role != LEADER:
                self._hup(transfer=False)
        elif m.type in (VOTE, PRE_VOTE):
            self._handle_vote_request(m)
        else:
            self._step(m)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (self.vote == m.frm or (not self.vote and not self.lead)
                    or (m.type == PRE_VOTE and m.term > self.term))
        resp = VOTE_RESP if m.type == VOTE else PRE_VOTE_RESP
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # Granting answers in the candidate's term, so it can count the vote.
            self._send(Message(resp, m.frm, self.id, term=m.term))
            if m.type == VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(Message(resp, m.frm, self.id, term=self.term, reject=True))

    # --- Roles --------------------------------------------------------------------
    def become_follower(self, term: int, lead: str) -> None:
        self._reset(term)
        self._step, self._tick = self._step_follower, self._tick_election
        self.lead = lead
        self.role = FOLLOWER

    def _become_pre_candidate(self) -> None:
        assert self.role != LEADER, "a leader cannot become a pre-candidate"
        # Neither the term nor the vote changes: that is the point of a pre-vote.
        self._step, self._tick = self._step_candidate, self._tick_election
        self.votes = {}
        self.lead = ""
        self.role = PRE_CANDIDATE

    def _become_candidate(self) -> None:
        assert self.role != LEADER, "a leader cannot become a candidate"
        self._reset(self.term + 1)
        self._step, self._tick = self._step_candidate, self._tick_election
        self.vote = self.id
        self.role = CANDIDATE

    def _become_leader(self) -> None:
        assert self.role != FOLLOWER, "a follower must campaign before it leads"
        self._reset(self.term)
        self._step, self._tick = self._step_leader, self._tick_heartbeat
        self.lead = self.id
        self.role = LEADER
        self.prs[self.id].become_replicate()
        # An entry of its own term lets the leader commit (and learn) everything before it (§5.4.2).
        self.log.append([Entry(self.term, self.log.last_index() + 1, b"")])

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = ""
        self.lead = ""
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.cfg.election_ticks + self.rng.randrange(self.cfg.election_ticks)
        self.lead_transferee = ""
        self.votes = {}
        last = self.log.last_index()
        self.prs = {p: Progress(last + 1) for p in self.peers}
        self.prs[self.id].match = self.log.stable
        self._reads.clear()
        self._pending_reads.clear()

    # --- Elections -------------------------------------------------------------------
    def _hup(self, transfer: bool) -> None:
        if self.cfg.pre_vote and not transfer:
            self._campaign(PRE_CANDIDATE, transfer)
        else:
            self._campaign(CANDIDATE, transfer)

    def _campaign(self, kind: str, transfer: bool) -> None:
        self.campaigns += 1
        if kind == PRE_CANDIDATE:
            self._become_pre_candidate()
            vote_type, term = PRE_VOTE, self.term + 1
        else:
            self._become_candidate()
            vote_type, term = VOTE, self.term
        if self._poll(self.id, True) == "won":
            self._won()
            return
        context = TRANSFER if transfer else b""
        for p in self.peers:
            if p != self.id:
                self._send(Message(vote_type, p, self.id, term=term, index=self.log.last_index(),
                                   log_term=self.log.last_term(), context=context))

    def _poll(self, voter: str, granted: bool) -> str:
        self.votes.setdefault(voter, granted)
        yes = sum(1 for v in self.votes.values() if v)
        no = len(self.votes) - yes
        if yes >= self.quorum:
            return "won"
        if no > len(self.peers) - self.quorum:
            return "lost"
        return "pending"

    def _won(self) -> None:
        if self.role == PRE_CANDIDATE:
            self._campaign(CANDIDATE, False)
        else:
            self._become_leader()
            self._bcast_append()

    # --- Ticks ----------------------------------------------------------------------
    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(HUP, self.id, self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_ticks:
            self.election_elapsed = 0
            if self.cfg.check_quorum and not self._quorum_active():
                self.become_follower(self.term, "")
                return
            self.lead_transferee = ""  # a transfer that took an election timeout has failed
        for p, pr in self.prs.items():
            if pr.state == Progress.SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks >= self.cfg.election_ticks:
                    pr.become_probe()  # the snapshot was probably lost: offer it again
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat(b"")

    def _quorum_active(self) -> bool:
        active = 0
        for p, pr in self.prs.items():
            if p == self.id or pr.recent_active:
                active += 1
            pr.recent_active = False
        return active >= self.quorum

    # --- Followers and candidates -------------------------------------------------
    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_heartbeat(m)
        elif t == SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == TIMEOUT_NOW:
            self._hup(transfer=True)
        elif t == READ_INDEX:
            if self.lead:
                self._send(Message(READ_INDEX, self.lead, m.frm, context=m.context))
        elif t == READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t in (APP, HEARTBEAT, SNAP):
            self.become_follower(m.term, m.frm)  # someone won this term
            self._step(m)
        elif t == (PRE_VOTE_RESP if self.role == PRE_CANDIDATE else VOTE_RESP):
            result = self._poll(m.frm, not m.reject)
            if result == "won":
                self._won()
            elif result == "lost":
                self.become_follower(self.term, "")

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(Message(APP_RESP, m.frm, self.id, term=self.term, index=log.committed))
            return
        last = log.maybe_append(m.index, m.log_term, m.commit, list(m.entries))
        if last is not None:
            self._send(Message(APP_RESP, m.frm, self.id, term=self.term, index=last))
            return
        hint, hint_term = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
        self._send(Message(APP_RESP, m.frm, self.id, term=self.term, index=m.index, reject=True,
                           reject_hint=hint, log_term=hint_term))

    def _handle_heartbeat(self, m: Message) -> None:
        self.log.commit_to(min(m.commit, self.log.last_index()))
        self._send(Message(HEARTBEAT_RESP, m.frm, self.id, term=self.term, context=m.context))

    def _handle_snapshot(self, m: Message) -> None:
        (index, term, members), data = m.snapshot
        snap = Snapshot(SnapshotMeta(index, term, tuple(members)), data)
        log = self.log
        if index <= log.committed:
            pass  # old news
        elif log.match_term(index, term):
            log.commit_to(index)  # we already hold the entry: just move the commit
        else:
            log.restore(snap.meta)
            self.pending_snapshot = self.snapshot = snap
        # Either way we now hold everything up to our commit index.
        self._send(Message(APP_RESP, m.frm, self.id, term=self.term, index=log.committed))

    # --- The leader -----------------------------------------------------------------
    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == BEAT:
            self._bcast_heartbeat(b"")
            return
        if t == READ_INDEX:
            if self.log.term(self.log.committed) != self.term:
                self._pending_reads.append(m)  # until our no-op commits we do not know the commit index
            else:
                self._start_read(m)
            return
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        if t == APP_RESP:
            pr.recent_active = True
            self._handle_append_response(m, pr)
        elif t == HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == Progress.REPLICATE and len(pr.inflight) >= self.cfg.max_inflight:
                pr.inflight.popleft()  # let at least one more append out, the pipe may have drained
            if pr.match < self.log.last_index():
                self._send_append(m.frm)
            if m.context:
                self._ack_read(m.frm, m.context)

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state == Progress.REPLICATE:
                    pr.become_probe()
                self._send_append(m.frm)
            return
        was_paused = pr.paused(self.cfg.max_inflight)
        if not pr.maybe_update(m.index):
            return
        if pr.state == Progress.PROBE:
            pr.become_replicate()
        elif pr.state == Progress.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        else:
            pr.free_to(m.index)
        # A new commit index reaches the followers with the next append or heartbeat (within one
        # heartbeat interval), not with an append of its own: that would double the leader's
        # messages per write, on the path of every client's answer.
        if self._maybe_commit():
            self._release_pending_reads()
        if was_paused:
            self._send_append(m.frm)
        while self._send_append(m.frm, send_empty=False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self._send(Message(TIMEOUT_NOW, m.frm, self.id, term=self.term))

    def _maybe_commit(self) -> bool:
        matches = sorted((pr.match for pr in self.prs.values()), reverse=True)
        return self.log.maybe_commit(matches[self.quorum - 1], self.term)


    def _bcast_append(self) -> None:
        for p in self.peers:
            if p != self.id:
                self._send_append(p)

    def _send_append(self, to: str, send_empty: bool = True) -> bool:
        """Send ``to`` what it lacks (or a snapshot); False if nothing could be sent."""
        pr = self.prs[to]
        if pr.paused(self.cfg.max_inflight):
            return False
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        entries = log.slice(pr.next, log.last_index() + 1, self.cfg.max_entries_per_msg,
                            self.cfg.max_bytes_per_msg)
        if prev_term is None or entries is None:
            return self._send_snapshot(to, pr)
        if not entries and not send_empty:
            return False
        self._send(Message(APP, to, self.id, term=self.term, index=prev, log_term=prev_term,
                           entries=entries, commit=log.committed))
        if pr.state == Progress.REPLICATE:
            if entries:
                pr.next = entries[-1].index + 1
                pr.inflight.append(entries[-1].index)
        else:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: str, pr: Progress) -> bool:
        snap = self.snapshot
        if snap is None or not pr.recent_active:
            return False  # an unreachable follower gets its snapshot once it answers again
        meta = snap.meta
        self._send(Message(SNAP, to, self.id, term=self.term,
                           snapshot=((meta.index, meta.term, list(meta.members)), snap.data)))
        pr.become_snapshot(meta.index)
        return True

    def _bcast_heartbeat(self, context: bytes) -> None:
        for p in self.peers:
            if p != self.id:
                # Never tell a follower to commit beyond what it is known to hold.
                commit = min(self.prs[p].match, self.log.committed)
                self._send(Message(HEARTBEAT, p, self.id, term=self.term, commit=commit, context=context))

    def _transfer(self, to: str) -> None:
        if to not in self.prs or to == self.id or to == self.lead_transferee:
            return
        self.lead_transferee = to
        self.election_elapsed = 0  # the transfer must finish within an election timeout
        if self.prs[to].match == self.log.last_index():
            self._send(Message(TIMEOUT_NOW, to, self.id, term=self.term))
        else:
            self._send_append(to)

    # --- Read index ---------------------------------------------------------------
    def _start_read(self, m: Message) -> None:
        req = _ReadRequest(self.log.committed, m.frm, m.context, {self.id})
        if len(self.peers) == 1:
            self._answer_read(req)
            return
        self._reads.append(req)
        # A heartbeat round proves we are still the leader as of now (ReadOnlySafe).
        self._bcast_heartbeat(m.context)

    def _ack_read(self, frm: str, context: bytes) -> None:
        for i, req in enumerate(self._reads):
            if req.context == context:
                req.acks.add(frm)
                if len(req.acks) >= self.quorum:
                    # Every earlier request is confirmed by the same round.
                    for _ in range(i + 1):
                        self._answer_read(self._reads.popleft())
                return

    def _answer_read(self, req: _ReadRequest) -> None:
        if req.frm == self.id:
            self.read_states.append(ReadState(req.index, req.context))
        else:
            self._send(Message(READ_INDEX_RESP, req.frm, self.id, term=self.term, index=req.index,
                               context=req.context))

    def _release_pending_reads(self) -> None:
        if self._pending_reads and self.log.term(self.log.committed) == self.term:
            pending, self._pending_reads = self._pending_reads, []
            for m in pending:
                self._start_read(m)

    # --- Helpers ------------------------------------------------------------------
    def _send(self, m: Message) -> None:
        self.msgs.append(m)

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)
