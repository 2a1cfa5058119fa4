"""A store member: the actor that gives the raft core a disk, a network and a state machine.

Each member is its own process (``store-0``, ``store-1``, ...), listening on
its own port for the other members and for clients (DESIGN §3: the members
talk directly, not through the API server). One turn of the loop:

1. handlers turn client requests into proposals and read-index requests,
   collected for the turn, and step raft messages into the core;
2. :meth:`StoreMember._process` proposes everything collected at once, then
   for each Ready: writes the snapshot file (if the leader sent one), appends
   to the WAL with **one fsync for the whole turn** (group commit), and only
   then sends the messages (a leader sends first: nothing it sends depends on
   its own disk); applies committed entries to the MVCC state,
   answers the clients whose writes they were, and serves reads whose read
   index has been applied;
3. watch events gathered during the turn go out, one message per watch.

A write is answered only once its entry is applied on this member, which
needs it committed, which needs it fsynced on a quorum. A write whose entry
is replaced by another leader's is answered ``proposal_lost`` (it will never
apply); one whose fate this member cannot know (a snapshot replaced its log)
is answered ``indeterminate``. The client never has to guess.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from random import Random
from typing import Any

from actors.messages import (
    RaftMessage,
    StoreCancelWatch,
    StoreCompact,
    StoreDelete,
    StoreDiskFault,
    StoreDiskFaultSet,
    StoreLogTerms,
    StoreLogTermsReply,
    StoreNotLeader,
    StorePut,
    StoreRange,
    StoreResult,
    StoreStatus,
    StoreStatusReply,
    StoreTransferLeader,
    StoreTxn,
    StoreWatch,
    StoreWatchEvents,
)
from actors.store import raft as R
from actors.store.metrics import StoreMetrics
from actors.store.mvcc import (
    MVCC,
    BadOp,
    Compacted,
    Event,
    FutureRevision,
    check_op,
    in_range,
)
from actors.store.raft import Config, ProposalDropped, Raft, Ready
from actors.store.snapfile import load_newest, save_snapshot
from actors.store.snapshotter import SnapshotFailed, Snapshotter
from actors.store.types import Entry, Snapshot, SnapshotMeta
from actors.store.wal import WAL
from bus.codec import Rejected, pack_value, unpack_value
from bus.messages import Error
from bus.runtime import Actor, Envelope, handles
from bus.runtime.futures import MessageTooLarge

#: What :class:`~actors.messages.StoreDiskFault` can do to a member's disk.
DISK_FAULTS = ("fsync-error", "lose-unfsynced")
#: Writes accepted and not yet applied, per member; beyond it clients are told to slow down.
MAX_PENDING = 100_000
#: Watches one member serves.
MAX_WATCHES = 10_000
#: Read-index rounds waiting at once (each holds the reads that arrived in one turn).
MAX_READ_BATCHES = 10_000
#: Events per WatchEvents message (a catch-up from an old revision is sent in pieces).
WATCH_CHUNK = 1000
#: Cluster seconds between a watch's progress notices; a watch not renewed for 3 of them is dropped.
WATCH_PROGRESS_S = 2.0


class StoreFailed(Exception):
    """The member cannot go on with its data (e.g. its WAL refers to a snapshot that is gone)."""


@dataclass
class StoreOptions:
    """How a member runs; the ``kubesim`` layer fills it from the cluster file's ``store`` section."""

    data_dir: Path
    fsync: bool = True
    tick_s: float = 0.1
    """Cluster seconds per raft tick (the heartbeat interval)."""
    election_ticks: int = 10
    snapshot_count: int = 10_000
    """Applied entries between two snapshots (etcd's --snapshot-count)."""
    background_snapshots: bool = False
    """Write snapshots from a forked child (:mod:`actors.store.snapshotter`) instead of in the loop: a store of
    hundreds of megabytes takes seconds to write, and a leader that stops for that long loses its term."""
    catch_up_entries: int = 5_000
    """Entries kept in memory below a snapshot for followers slightly behind."""
    max_request_bytes: int = 1_572_864
    """Largest write accepted (etcd's default, 1.5 MiB)."""
    seed: int | None = None


@dataclass
class _Pending:
    term: int
    env: Envelope


@dataclass
class _Watch:
    owner: str
    watch_id: str
    key: bytes
    range_end: bytes
    prev_kv: bool
    next_revision: int
    renewed: float
    seq: int = 0
    events: list = field(default_factory=list)


class StoreMember(Actor):
    """One member of the replicated store; its actor name is its member name."""

    def __init__(self, name: str, members: dict[str, tuple[str, int]], options: StoreOptions,
                 metrics: StoreMetrics | None = None, server_keys: dict[str, bytes] | None = None) -> None:
        super().__init__(name)
        assert name in members, f"{name} is not one of the store's members {sorted(members)}"
        self.members = members
        self.opt = options
        self.metrics = metrics or StoreMetrics(name)
        self._server_keys = server_keys or {}
        self.raft: Raft | None = None
        self.mvcc = MVCC()
        self.wal: WAL | None = None
        self._proposals: list[tuple[bytes, Envelope]] = []
        self._pending: dict[int, _Pending] = {}
        self._reads: list[tuple[StoreRange, Envelope]] = []
        self._reads_waiting: dict[bytes, tuple[float, list[tuple[StoreRange, Envelope]]]] = {}
        self._reads_ready: list[tuple[int, list[tuple[StoreRange, Envelope]]]] = []
        self._read_seq = 0
        # One generator for everything random in the member: seeded in tests, fresh otherwise.
        seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(8), "big")
        self._rng = Random(seed)
        # A read-index answer delayed across a restart must not match a read of this incarnation.
        self._read_nonce = f"{self._rng.getrandbits(48):012x}"
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._scheduled = False
        self._heartbeat_sent: dict[str, float] = {}
        self._soft = ("", 0, "")
        self._campaigns_counted = 0
        self._snapshotter: Snapshotter | None = None
        """The forked child writing a snapshot, while one is."""
        self._snapshot_started = 0.0

    # --- Start-up: recover from disk, then join the others ------------------------
    def on_start(self) -> None:
        self._recover()
        link = self.runtime.direct_link()
        host, port = self.members[self.name]
        link.listen(host, port)
        for other, (h, p) in sorted(self.members.items()):
            if other != self.name:
                link.connect([other], h, p, self._server_keys.get(other))
        self.call_every(self.opt.tick_s, self._tick)
        self.call_every(WATCH_PROGRESS_S, self._watch_progress)
        self._schedule()

    def _recover(self) -> None:
        opt = self.opt
        snap_dir, wal_dir = opt.data_dir / "snap", opt.data_dir / "wal"
        snap_dir.mkdir(parents=True, exist_ok=True)
        snap = load_newest(snap_dir)
        self.wal = WAL.open(wal_dir, fsync=opt.fsync)
        self.wal.on_fsync = self.metrics.fsync.observe
        marker = self.wal.snapshot
        entries = self.wal.entries
        if marker.index and (snap is None or snap.meta.index < marker.index):
            raise StoreFailed(f"{wal_dir}: the WAL refers to a snapshot at index {marker.index}, but the newest "
                              f"snapshot file in {snap_dir} is {'missing' if snap is None else snap.meta.index}")
        if snap is not None and snap.meta.index > marker.index:
            # The member died between writing a snapshot file and recording it in the WAL:
            # record it now, so the WAL's log and raft's agree from here on (etcd loads only
            # recorded snapshots; the file is durable, so recording it is as good).
            entries = _after_snapshot(entries, snap.meta)
            self.wal.save_snapshot(snap.meta)
        hard_state = self.wal.hard_state
        if self.wal.torn_tail_truncated:
            self.log.warning("WAL torn tail truncated (a crash mid-write)", bytes=self.wal.torn_tail_truncated)
        if snap is not None:
            self.mvcc = MVCC.restore(snap.data)
        members = tuple(sorted(self.members))
        # An append must fit in one bus message: at most a quarter of it in entries (one entry
        # alone may be bigger, up to max_request_bytes, which the config keeps under half of it).
        frame = self.runtime.settings.max_frame_bytes if self.runtime is not None else 64 * 1024 * 1024
        cfg = Config(id=self.name, peers=members, election_ticks=opt.election_ticks, heartbeat_ticks=1,
                     max_bytes_per_msg=max(64 * 1024, min(1024 * 1024, frame // 4)))
        self.raft = Raft(cfg, Random(self._rng.getrandbits(64)), hard_state=hard_state, snapshot=snap, entries=entries)
        self.wal.entries = []  # raft holds the log from here on
        self.log.info("store member recovered", term=hard_state.term, vote=hard_state.vote,
                      commit=hard_state.commit, snapshot_index=snap.meta.index if snap else 0,
                      entries=len(entries), revision=self.mvcc.revision, fsync=opt.fsync)

    def on_stop(self) -> None:
        if self._snapshotter is not None:
            self._snapshotter.abandon()
            self._snapshotter = None
        if self.wal is not None:
            self.wal.close()

    # --- Raft traffic ---------------------------------------------------------
    def _tick(self) -> None:
        if self._snapshotter is not None:
            self._reap_snapshot()
        self.raft.tick()
        self._expire_reads()
        # Gauges once a tick, not once a turn: a dozen gauge sets cost as much as a raft step.
        self._gauges()
        self._schedule()

    @handles(RaftMessage)
    def on_raft(self, m: RaftMessage, env: Envelope) -> None:
        problem = self._check_raft(m, env)
        if problem:
            self.metrics.reject("bad_raft_message")
            self.log.warning("raft message refused", problem=problem, sender=env.sender, type=m.type)
            return
        try:
            if m.entries:
                m = replace(m, entries=tuple(_entry(e) for e in m.entries))
            if m.snapshot is not None:
                _check_snapshot(m.snapshot)
        except ValueError as exc:
            self.metrics.reject("bad_raft_message")
            self.log.warning("raft message refused", problem=str(exc), sender=env.sender, type=m.type)
            return
        if m.type == R.HEARTBEAT_RESP:
            sent = self._heartbeat_sent.pop(m.frm, None)
            if sent is not None:
                self.metrics.rtt(m.frm, self.clock.perf() - sent)
        self.raft.step(m)
        self._schedule()

    def _check_raft(self, m: RaftMessage, env: Envelope) -> str:
        if m.type not in R.NETWORK_TYPES:
            return f"type {m.type!r} is not one a peer may send"
        if m.frm not in self.members or m.frm == self.name:
            return f"from {m.frm!r}, not another member"
        if env.sender != m.frm or env.identity != m.frm:
            # With CURVE on, the identity comes from the sender's key: a member cannot be impersonated.
            return f"claims to be from {m.frm!r} but was sent by {env.sender!r} (identity {env.identity!r})"
        if m.to != self.name:
            return f"addressed to {m.to!r}"
        if m.term <= 0 and m.type != R.READ_INDEX:
            # Term 0 means "local" to the core: only a forwarded read index travels without one.
            return f"a {m.type} needs a term, got {m.term}"
        return ""

    # --- Client requests ------------------------------------------------------
    @handles(StorePut)
    def on_put(self, msg: StorePut, env: Envelope) -> None:
        self._write({"op": "put", "key": msg.key, "value": msg.value, "prev_kv": msg.prev_kv}, env)

    @handles(StoreDelete)
    def on_delete(self, msg: StoreDelete, env: Envelope) -> None:
        self._write({"op": "delete", "key": msg.key, "range_end": msg.range_end, "prev_kv": msg.prev_kv}, env)

    @handles(StoreTxn)
    def on_txn(self, msg: StoreTxn, env: Envelope) -> None:
        self._write({"op": "txn", "compare": msg.compare, "success": msg.success, "failure": msg.failure}, env)

    @handles(StoreCompact)
    def on_compact(self, msg: StoreCompact, env: Envelope) -> None:
        self._write({"op": "compact", "revision": msg.revision}, env)

    def _write(self, op: dict, env: Envelope) -> None:
        r = self.raft
        if r.role != R.LEADER or r.lead_transferee:
            self.reply(env, StoreNotLeader(r.lead if r.lead != self.name else "", r.term))
            return
        if len(self._pending) + len(self._proposals) >= MAX_PENDING:
            self.metrics.reject("too_many_requests")
            self.reply(env, Error("too_many_requests", f"{self.name} has {MAX_PENDING} writes in flight; retry later"))
            return
        try:
            check_op(op)
        except BadOp as exc:
            self.metrics.reject("bad_request")
            self.reply(env, Error(exc.code, str(exc)))
            return
        data = pack_value(op)
        limit = min(self.opt.max_request_bytes, self.runtime.settings.max_frame_bytes // 2)
        if len(data) > limit:
            self.metrics.reject("request_too_large")
            self.reply(env, Error("request_too_large", f"{op['op']} of {len(data)} bytes > max_request_bytes "
                                                       f"{limit}"))
            return
        self._proposals.append((data, env))
        self._schedule()

    @handles(StoreRange)
    def on_range(self, msg: StoreRange, env: Envelope) -> None:
        if msg.serializable:
            self._answer_range(msg, env)
            return
        self._reads.append((msg, env))
        self._schedule()

    @handles(StoreStatus)
    def on_status(self, msg: StoreStatus, env: Envelope) -> None:
        self.reply(env, self.status())

    def status(self) -> StoreStatusReply:
        r = self.raft
        return StoreStatusReply(
            member=self.name, role=r.role, term=r.term, leader=r.lead, commit_index=r.log.committed,
            applied_index=r.log.applied, last_index=r.log.last_index(),
            snapshot_index=r.snapshot.meta.index if r.snapshot else 0, revision=self.mvcc.revision,
            compact_revision=self.mvcc.compact_revision, db_size_bytes=self.mvcc.size_bytes,
            members=sorted(self.members))

    @handles(StoreLogTerms)
    def on_log_terms(self, msg: StoreLogTerms, env: Envelope) -> None:
        log = self.raft.log
        self.reply(env, StoreLogTermsReply(self.name, self.raft.term, log.committed, log.offset, log.offset_term,
                                           log.term_runs()))

    @handles(StoreDiskFault)
    def on_disk_fault(self, msg: StoreDiskFault, env: Envelope) -> None:
        """Chaos on this member's disk (only the chaos runner sends this; see DISK_FAULTS)."""
        if msg.fault == "fsync-error":
            self.wal.fail_next_fsync = True
            self.log.warning("disk fault: the next fsync fails")
            self.reply(env, StoreDiskFaultSet(self.name, msg.fault, "the next WAL fsync raises EIO"))
        elif msg.fault == "lose-unfsynced":
            self.log.warning("disk fault: power cut; unfsynced WAL writes are lost")
            self.reply(env, StoreDiskFaultSet(self.name, msg.fault, "power cut: the member dies, losing what "
                                                                    "was not fsynced"))
            # Die a moment later, so the answer is on its way; whatever is written meanwhile is lost with the rest.
            self.call_later(0.05, self._power_cut)
        else:
            self.reply(env, Error("bad_request", f"StoreDiskFault.fault: {msg.fault!r} is not one of "
                                                 f"{', '.join(DISK_FAULTS)}"))

    def _power_cut(self) -> None:
        lost = self.wal.lose_unfsynced()
        self.log.critical("power cut", lost_bytes=lost)
        os.kill(os.getpid(), signal.SIGKILL)

    @handles(StoreTransferLeader)
    def on_transfer(self, msg: StoreTransferLeader, env: Envelope) -> None:
        r = self.raft
        if msg.to not in self.members:
            self.reply(env, Error("bad_request", f"{msg.to!r} is not a member ({', '.join(sorted(self.members))})"))
            return
        try:
            r.transfer_leadership(msg.to)
        except ProposalDropped:
            self.reply(env, StoreNotLeader(r.lead if r.lead != self.name else "", r.term))
            return
        self.log.info("handing leadership over", to=msg.to)
        self._schedule()
        self.reply(env, self.status())

    # --- The turn's work ------------------------------------------------------
    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.runtime.call_soon(self._process)

    def _process(self) -> None:
        self._scheduled = False
        try:
            self._turn()
        except AssertionError:
            raise
        except Exception as exc:
            # A failed write or fsync leaves the disk in doubt: stop, and let the supervisor
            # restart the member from what is really on disk.
            self.log.critical("store member cannot go on", error=f"{type(exc).__name__}: {exc}")
            raise AssertionError(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    def _turn(self) -> None:
        r = self.raft
        if self._proposals:
            self._propose()
        if self._reads:
            self._start_reads()
        while r.has_ready():
            rd = r.ready()
            if rd.role == R.LEADER:
                # A leader's messages promise nothing about its own disk (its term and vote were
                # durable before it could win; it counts its own copy only once written, in
                # advance()), so it replicates while it writes: raft thesis §10.2.1, etcd's server.
                self._send_all(rd.messages)
                self._persist(rd)
            else:
                self._persist(rd)
                self._send_all(rd.messages)
            if rd.snapshot is not None:
                self._install(rd.snapshot)
            self._apply(rd.committed)
            for rs in rd.read_states:
                waiting = self._reads_waiting.pop(rs.context, None)
                if waiting:
                    self._reads_ready.append((rs.index, waiting[1]))
            r.advance(rd)
            self._soft_state(rd)
        self._serve_reads()
        self._maybe_snapshot()
        self._flush_watches()
        if r.campaigns != self._campaigns_counted:  # counted at once: a scrape must not miss an election
            self.metrics.elections.inc(r.campaigns - self._campaigns_counted)
            self._campaigns_counted = r.campaigns

    def _propose(self) -> None:
        props, self._proposals = self._proposals, []
        try:
            entries = self.raft.propose([data for data, _ in props])
        except ProposalDropped:
            r = self.raft
            for _, env in props:
                self.reply(env, StoreNotLeader(r.lead if r.lead != self.name else "", r.term))
            return
        for entry, (_, env) in zip(entries, props):
            old = self._pending.get(entry.index)
            if old is not None:
                # Another leader's entries replaced ours at this index since: ours will never apply.
                self.metrics.proposals_failed.inc()
                self.reply(old.env, Error("proposal_lost", "leadership changed before the write was committed; "
                                                           "it was not applied"))
            self._pending[entry.index] = _Pending(entry.term, env)

    def _start_reads(self) -> None:
        reads, self._reads = self._reads, []
        if len(self._reads_waiting) >= MAX_READ_BATCHES:
            for _, env in reads:
                self.reply(env, Error("too_many_requests", f"{self.name} has {MAX_READ_BATCHES} reads waiting"))
            return
        self._read_seq += 1
        ctx = f"{self.name}/{self._read_nonce}/{self._read_seq}".encode()
        try:
            self.raft.read_index(ctx)
        except ProposalDropped:
            for _, env in reads:
                self.reply(env, StoreNotLeader("", self.raft.term))
            return
        self._reads_waiting[ctx] = (self.clock.monotonic(), reads)

    def _expire_reads(self) -> None:
        """Reads whose read-index round got lost (a dropped heartbeat, a lost forward) are answered
        "not leader" after an election timeout, so their clients ask again rather than wait out."""
        if not self._reads_waiting:
            return
        limit = self.clock.monotonic() - self.opt.tick_s * self.opt.election_ticks
        for ctx in [c for c, (t, _) in self._reads_waiting.items() if t < limit]:
            self._fail_reads(self._reads_waiting.pop(ctx)[1])

    def _fail_reads(self, reads: list[tuple[StoreRange, Envelope]]) -> None:
        r = self.raft
        for _, env in reads:
            self.reply(env, StoreNotLeader(r.lead if r.lead != self.name else "", r.term))

    def _persist(self, rd: Ready) -> None:
        """Everything ``rd`` promises goes to disk before any of its messages leave."""
        if rd.snapshot is not None:
            started = self.clock.perf()
            save_snapshot(self.opt.data_dir / "snap", rd.snapshot, fsync=self.opt.fsync)
            self.wal.save_snapshot(rd.snapshot.meta)
            self.metrics.snapshot.observe(self.clock.perf() - started)
        if rd.entries or rd.hard_state is not None:
            hs = rd.hard_state
            # Only new entries, a new term or a new vote must be durable now; a commit index is learnt again.
            must_sync = bool(rd.entries) or (hs is not None and (hs.term, hs.vote) != self._last_term_vote())
            self.wal.save(hs, rd.entries, sync=must_sync)
            self.metrics.wal_writes.inc()

    def _last_term_vote(self) -> tuple[int, str]:
        hs = self.wal.hard_state
        return hs.term, hs.vote

    def _send_all(self, messages: list[RaftMessage]) -> None:
        now = self.clock.perf()
        for m in messages:
            if m.type == R.HEARTBEAT:
                self._heartbeat_sent.setdefault(m.to, now)
            try:
                self.send(m.to, m)
            except MessageTooLarge as exc:
                # Raft treats it as lost and offers it again later; the member must not stop over it.
                self.metrics.reject("message_too_large")
                self.log.error("raft message too large to send; raise store.max_message_bytes",
                               type=m.type, to=m.to, error=str(exc))

    def _apply(self, committed: list[Entry]) -> None:
        mvcc = self.mvcc
        writes = sum(1 for e in committed if e.data)  # an empty entry is a new leader's no-op, not a proposal
        if writes:
            self.metrics.proposals_applied.inc(writes)
        for e in committed:
            response: dict[str, Any] | None = None
            if e.data:
                try:
                    op = unpack_value(e.data, len(e.data))
                except Rejected as exc:
                    raise AssertionError(f"committed entry {e.index} does not decode: {exc.detail}") from None
                response, events = mvcc.apply(op)
                if events:
                    self._notify(events)
            pending = self._pending.pop(e.index, None)
            if pending is None:
                continue
            if pending.term != e.term:
                self.metrics.proposals_failed.inc()
                self.reply(pending.env, Error("proposal_lost", "leadership changed before the write was "
                                                               "committed; it was not applied"))
            elif response is not None and "error" in response:
                self.metrics.proposals_failed.inc()
                self.reply(pending.env, Error(response["error"], response.get("message", "")))
            else:
                self.metrics.proposals_committed.inc()
                body = response or {}
                self._reply_result(pending.env, body.get("revision", mvcc.revision), body, write=True)

    def _install(self, snap: Snapshot) -> None:
        """The leader sent a snapshot: it replaces the state machine and everything we were waiting on."""
        self.mvcc = MVCC.restore(snap.data)
        self.metrics.snapshots_installed.inc()
        self.log.info("snapshot installed", index=snap.meta.index, term=snap.meta.term, revision=self.mvcc.revision)
        for index in [i for i in self._pending if i <= snap.meta.index]:
            pending = self._pending.pop(index)
            self.metrics.proposals_failed.inc()
            self.reply(pending.env, Error("indeterminate", "a snapshot replaced this member's log; the write "
                                                           "may or may not have been applied"))
        for w in list(self._watches.values()):
            self._cancel_watch(w, "the member installed a snapshot; watch again from your last revision")

    def _soft_state(self, rd: Ready) -> None:
        soft = (rd.leader, rd.term, rd.role)
        if soft == self._soft:
            return
        old_leader, old_term, _ = self._soft
        self._soft = soft
        if rd.leader != old_leader:
            if rd.leader:
                self.metrics.leader_changes.inc()
            self.log.info("leader changed", leader=rd.leader or None, term=rd.term, role=rd.role)
        if rd.term != old_term or rd.leader != old_leader:
            # Read-index requests made under another leader will never be answered: let their clients retry.
            for _, reads in self._reads_waiting.values():
                self._fail_reads(reads)
            self._reads_waiting.clear()

    def _serve_reads(self) -> None:
        if not self._reads_ready:
            return
        applied = self.raft.log.applied
        still = []
        for index, reads in self._reads_ready:
            if index <= applied:
                for msg, env in reads:
                    self.metrics.reads.inc()
                    self._answer_range(msg, env)
            else:
                still.append((index, reads))
        self._reads_ready = still

    def _answer_range(self, msg: StoreRange, env: Envelope) -> None:
        try:
            body = self.mvcc.range(msg.key, msg.range_end, msg.revision, msg.limit, msg.keys_only, msg.count_only)
        except Compacted as exc:
            self.reply(env, Error("compacted", str(exc)))
            return
        except FutureRevision as exc:
            self.reply(env, Error("future_revision", str(exc)))
            return
        self._reply_result(env, body["revision"], body)

    def _reply_result(self, env: Envelope, revision: int, body: dict, write: bool = False) -> None:
        try:
            self.reply(env, StoreResult(revision, body, self.name))
        except MessageTooLarge as exc:
            if not write:
                self.reply(env, Error("response_too_large", f"{exc}; ask with a limit"))
                return
            # The write was applied: say so, without the previous values that made the answer too big.
            slim = {k: body[k] for k in ("revision", "deleted", "succeeded") if k in body}
            slim["truncated"] = f"the answer was too large to send ({exc}); prev_kv/responses left out"
            self.reply(env, StoreResult(revision, slim, self.name))

    def _maybe_snapshot(self) -> None:
        r = self.raft
        applied = r.log.applied
        base = r.snapshot.meta.index if r.snapshot else 0
        if applied - base < self.opt.snapshot_count or self._snapshotter is not None:
            return
        started = self.clock.perf()
        meta = SnapshotMeta(applied, r.log.term(applied), tuple(sorted(self.members)))
        directory = self.opt.data_dir / "snap"
        if self.opt.background_snapshots:
            self._snapshotter = Snapshotter.start(directory, meta, self.mvcc, fsync=self.opt.fsync)
            self._snapshot_started = started
            return
        snap = Snapshot(meta, self.mvcc.snapshot())
        save_snapshot(directory, snap, fsync=self.opt.fsync)
        self._snapshot_saved(snap, started)

    def _reap_snapshot(self) -> None:
        """A forked snapshot is done: take it as if written here, unless it failed or a newer one came."""
        job = self._snapshotter
        try:
            snap = job.finished()
        except SnapshotFailed as exc:
            self._snapshotter = None
            self.log.error("snapshot failed; the next turn tries again", index=job.meta.index, error=str(exc))
            return
        if snap is None:
            return
        self._snapshotter = None
        current = self.raft.snapshot
        if current is not None and current.meta.index >= snap.meta.index:
            return  # a newer one arrived from the leader meanwhile
        self._snapshot_saved(snap, self._snapshot_started)

    def _snapshot_saved(self, snap: Snapshot, started: float) -> None:
        """The snapshot file is durable: mark it in the WAL (releasing the segments it covers), compact the log."""
        self.wal.save_snapshot(snap.meta)
        self.raft.create_snapshot(snap, keep_entries=self.opt.catch_up_entries)
        self.metrics.snapshot.observe(self.clock.perf() - started)
        self.log.info("snapshot saved", index=snap.meta.index, revision=self.mvcc.revision, bytes=len(snap.data),
                      background=self.opt.background_snapshots)

    def _gauges(self) -> None:
        m, r = self.metrics, self.raft
        m.has_leader.set(1 if r.lead else 0)
        m.is_leader.set(1 if r.role == R.LEADER else 0)
        m.term.set(r.term)
        m.commit_index.set(r.log.committed)
        m.applied_index.set(r.log.applied)
        m.last_index.set(r.log.last_index())
        m.revision.set(self.mvcc.revision)
        m.compact_revision.set(self.mvcc.compact_revision)
        m.proposals_pending.set(len(self._pending))
        m.db_size.set(self.mvcc.size_bytes)
        m.wal_size.set(self.wal.size_bytes)
        m.watchers.set(len(self._watches))

    # --- Watches --------------------------------------------------------------
    @handles(StoreWatch)
    def on_watch(self, msg: StoreWatch, env: Envelope) -> None:
        key = (env.sender, msg.watch_id)
        now = self.clock.monotonic()
        w = self._watches.get(key)
        if w is not None:
            w.renewed = now  # a renewal
            return
        if msg.renew:
            # A renewal of a watch we do not hold (we restarted, or its first message was lost):
            # starting it "from now" would skip events; tell the watcher to start it again instead.
            self.send(env.sender, StoreWatchEvents(msg.watch_id, [], self.mvcc.revision, self.name, seq=1,
                                                   canceled=f"unknown watch: {self.name} does not hold it"))
            return
        if len(self._watches) >= MAX_WATCHES:
            self.metrics.reject("too_many_watches")
            self.send(env.sender, StoreWatchEvents(msg.watch_id, [], self.mvcc.revision, self.name,
                                                   canceled=f"too_many_watches: {self.name} serves {MAX_WATCHES}"))
            return
        mvcc = self.mvcc
        start = msg.start_revision if msg.start_revision > 0 else mvcc.revision + 1
        w = _Watch(env.sender, msg.watch_id, msg.key, msg.range_end, msg.prev_kv, start, now)
        try:
            backlog = mvcc.events(start, msg.key, msg.range_end) if start <= mvcc.revision else []
        except Compacted as exc:
            self._cancel_watch(w, f"compacted: {exc}")
            return
        w.next_revision = mvcc.revision + 1 if start <= mvcc.revision else start
        # An empty first message tells the watcher it is in place, and at which revision.
        if self._send_chunks(w, backlog) if backlog else self._send_events(w, []):
            self._watches[key] = w

    @handles(StoreCancelWatch)
    def on_cancel_watch(self, msg: StoreCancelWatch, env: Envelope) -> None:
        w = self._watches.get((env.sender, msg.watch_id))
        if w is not None:
            self._cancel_watch(w, "canceled by the watcher")

    def _notify(self, events: list[Event]) -> None:
        for w in self._watches.values():
            for ev in events:
                key = ev.kv.key
                if ev.kv.mod_revision >= w.next_revision and in_range(key, w.key, w.range_end):
                    w.events.append(ev)

    def _flush_watches(self) -> None:
        revision = self.mvcc.revision
        for w in list(self._watches.values()):
            if w.events:
                events, w.events = w.events, []
                self._send_chunks(w, events)
            w.next_revision = revision + 1

    def _send_chunks(self, w: _Watch, events: list[Event]) -> bool:
        """Send events in messages that fit, never splitting one revision's events (a watcher
        resumes after the last revision it saw, so half a revision would be lost); False if
        one revision alone is too big, and the watch is then cancelled."""
        budget = self.runtime.settings.max_frame_bytes // 2
        chunk: list[Event] = []
        size = 0
        i = 0
        while i < len(events):
            j = i
            group_size = 0
            while j < len(events) and events[j].kv.mod_revision == events[i].kv.mod_revision:
                group_size += _event_size(events[j], w.prev_kv)
                j += 1
            if chunk and (size + group_size > budget or len(chunk) + (j - i) > WATCH_CHUNK):
                # More follows: this message vouches only for the revisions it carries.
                if not self._send_events(w, chunk, chunk[-1].kv.mod_revision):
                    return False
                chunk, size = [], 0
            chunk.extend(events[i:j])
            size += group_size
            i = j
        return self._send_events(w, chunk) if chunk else True

    def _send_events(self, w: _Watch, events: list[Event], revision: int = 0) -> bool:
        """Send one message; ``revision`` (default: the member's) is what it vouches for: every
        change up to it has now been reported."""
        w.seq += 1
        wire = [[ev.type, ev.kv, ev.prev_kv if w.prev_kv else None] for ev in events]
        try:
            self.send(w.owner, StoreWatchEvents(w.watch_id, wire, revision or self.mvcc.revision, self.name,
                                                seq=w.seq))
        except MessageTooLarge:
            self.metrics.reject("message_too_large")
            self._cancel_watch(w, f"too large: the changes of revision {events[0].kv.mod_revision} do not fit "
                                  f"in one message (store.max_message_bytes)")
            return False
        return True

    def _cancel_watch(self, w: _Watch, why: str) -> None:
        self._watches.pop((w.owner, w.watch_id), None)
        w.seq += 1
        self.send(w.owner, StoreWatchEvents(w.watch_id, [], self.mvcc.revision, self.name, seq=w.seq, canceled=why))

    def _watch_progress(self) -> None:
        """Every few seconds: a progress notice to each watch; watches nobody renewed are dropped."""
        now = self.clock.monotonic()
        for w in list(self._watches.values()):
            if now - w.renewed > 3 * WATCH_PROGRESS_S:
                self._watches.pop((w.owner, w.watch_id), None)
                self.log.info("watch expired", owner=w.owner, watch_id=w.watch_id)
            elif not w.events:
                self._send_events(w, [])


def _event_size(ev: Event, prev_kv: bool) -> int:
    """About what an event costs on the wire."""
    size = 48 + len(ev.kv.key) + len(ev.kv.value)
    if prev_kv and ev.prev_kv is not None:
        size += 48 + len(ev.prev_kv.key) + len(ev.prev_kv.value)
    return size


def _entry(raw: Any) -> Entry:
    if (type(raw) is list and len(raw) == 3 and type(raw[0]) is int and type(raw[1]) is int
            and type(raw[2]) is bytes):
        return Entry(raw[0], raw[1], raw[2])
    raise ValueError(f"an entry must be [term, index, data], got {str(raw)[:80]}")


def _check_snapshot(raw: Any) -> None:
    ok = (isinstance(raw, (list, tuple)) and len(raw) == 2 and type(raw[1]) is bytes
          and isinstance(raw[0], (list, tuple)) and len(raw[0]) == 3
          and type(raw[0][0]) is int and type(raw[0][1]) is int and isinstance(raw[0][2], (list, tuple)))
    if not ok:
        raise ValueError("a snapshot must be [[index, term, members], data]")


def _after_snapshot(entries: list[Entry], meta: SnapshotMeta) -> list[Entry]:
    """The WAL's entries after a snapshot the WAL did not record (none if the two disagree)."""
    at = next((e for e in entries if e.index == meta.index), None)
    if at is not None and at.term != meta.term:
        return []  # the snapshot came from a leader whose log replaced ours
    kept = [e for e in entries if e.index > meta.index]
    if kept and kept[0].index != meta.index + 1:
        raise StoreFailed(f"the WAL's entries from {kept[0].index} do not follow the snapshot at {meta.index}")
    return kept
