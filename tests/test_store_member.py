"""Store members at work, one message at a time: regressions of the store review (commit 991177a).

Each test drives real :class:`StoreMember` actors through
:mod:`tests.store_harness` (a fake network on a hand-moved clock, no sockets,
no sleeps) into the moment a reviewer found wrong, and asserts what the
member must do there. ``tests/test_store_member_recovery.py`` covers
``_recover`` on hand-made disks; the crash test here gets its disk from a
running cluster instead.
"""

from __future__ import annotations

import pytest

from actors.messages import (
    RaftMessage,
    StoreDelete,
    StoreNotLeader,
    StorePut,
    StoreRange,
    StoreResult,
    StoreTransferLeader,
    StoreTxn,
    StoreWatch,
    StoreWatchEvents,
)
from actors.store.client import StoreClient
from actors.store.mvcc import prefix_end
from bus.messages import Error
from tests.store_harness import Cluster, Crash

#: StoreOptions defaults: 0.1 s ticks, 10 ticks to an election timeout.
ELECTION_TIMEOUT_S = 1.0


@pytest.fixture
def make_cluster(tmp_path):
    made: list[Cluster] = []

    def make(**kw) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def get(key: bytes, range_end: bytes = b"", count_only: bool = False) -> StoreRange:
    """A linearizable range read."""
    return StoreRange(key, range_end, 0, 0, False, count_only, False)


def put_one_by_one(c: Cluster, leader: str, keys_values, client: str = "writer") -> list:
    """Each write alone (one entry per append), each answered before the next; returns the answers."""
    cli = c.client(client)
    answers = []
    for key, value in keys_values:
        rid = cli.request(leader, StorePut(key, value, False))
        c.advance(0.05)
        answers.append(cli.answer(rid))
    return answers


def value_of(answer) -> bytes | None:
    assert isinstance(answer, StoreResult), answer
    kvs = answer.body["kvs"]
    return kvs[0][4] if kvs else None


def revisions(msg: StoreWatchEvents) -> list[int]:
    return [kv[2] for _, kv, _ in msg.events]  # kv on the wire: [key, create, mod_revision, version, value, lease]


# --- 1. a crash between an installed snapshot's file and its WAL marker ----------------------


def test_crash_between_snapshot_file_and_wal_marker_keeps_what_the_member_acknowledged_after(make_cluster):
    c = make_cluster(snapshot_count=20, catch_up_entries=5)
    lead = c.elect()
    victim, other = (m.name for m in c.followers())
    cut = c.isolate(victim)
    assert all(isinstance(a, StoreResult)
               for a in put_one_by_one(c, lead.name, [(b"/k%03d" % i, b"v") for i in range(60)]))
    assert lead.raft.snapshot.meta.index >= 40  # the victim is behind the leader's log: it needs the snapshot

    def killed_after_the_file(meta):
        raise Crash(f"kill -9 after the snapshot file at {meta.index}, before its WAL marker")

    c.members[victim].wal.save_snapshot = killed_after_the_file
    c.remove(*cut)
    c.advance(0.5)
    assert [name for name, _ in c.crashes] == [victim]
    assert (c.tmp / victim / "snap").exists() and any((c.tmp / victim / "snap").iterdir())

    # Restart #1 from that disk; the member must catch up and take part again. With the
    # other follower cut off, every later write is committed only because it acknowledged it.
    c.start(victim)
    c.advance(1.0)
    assert c.members[victim].raft.log.applied == lead.raft.log.applied
    c.isolate(other)
    answers = put_one_by_one(c, lead.name, [(b"/after/%02d" % i, b"acked") for i in range(10)])
    assert all(isinstance(a, StoreResult) for a in answers), answers
    acked_index = lead.raft.log.committed

    # Restart #2: everything it acknowledged is still in its log...
    c.restart(victim)
    again = c.members[victim]
    assert again.raft.log.last_index() >= acked_index
    assert again.raft.log.term(acked_index) == lead.raft.log.term(acked_index)
    # ...and it is what keeps those writes once the leader is gone and the other follower
    # (which never saw them) comes back: only a member holding them can win.
    c.kill(lead.name)
    c.heal()
    new_lead = c.elect()
    assert new_lead.name == victim
    cli = c.client("reader")
    rid = cli.request(new_lead.name, get(b"/after/", prefix_end(b"/after/"), count_only=True))
    c.advance(0.5)
    assert cli.answer(rid).body["count"] == 10


# --- 2. messages over the frame limit never stop a member -----------------------------------


def test_a_snapshot_over_the_frame_limit_is_not_sent_and_the_leader_goes_on(make_cluster):
    # Appends (at most raft's 1 MiB per message) fit in the frame; a snapshot of 45 values of 40 kB does not.
    c = make_cluster(max_frame=1_200_000, snapshot_count=20, catch_up_entries=5)
    lead = c.elect()
    behind = c.followers()[0].name
    cut = c.isolate(behind)
    put_one_by_one(c, lead.name, [(b"/big/%02d" % i, b"x" * 40_000) for i in range(45)])
    assert lead.raft.snapshot is not None and len(lead.raft.snapshot.data) > c.max_frame

    c.remove(*cut)
    c.advance(3 * ELECTION_TIMEOUT_S)  # the follower asks for it; the leader offers it again each timeout
    snaps = [m for src, _, m in c.too_large if src == lead.name and isinstance(m, RaftMessage) and m.type == "snap"]
    assert len(snaps) >= 2  # tried, refused by the frame limit, tried again: no exception escaped _process
    assert lead.raft.role == "leader" and c.leader() is lead
    [answer] = put_one_by_one(c, lead.name, [(b"/small", b"still serving")])
    assert isinstance(answer, StoreResult)
    assert c.members[behind].raft.log.applied < lead.raft.log.applied  # it cannot be sent; that is all


def test_watch_events_over_the_frame_limit_cancel_the_watch_and_the_member_goes_on(make_cluster):
    c = make_cluster(max_frame=256 * 1024)
    lead = c.elect()
    put_one_by_one(c, lead.name, [(b"/big/%02d" % i, b"x" * 40_000) for i in range(10)])
    watcher = c.client("watcher")
    for name in c.names:  # a watch with prev_kv on every member: the delete's events carry 400 kB
        watcher.send(name, StoreWatch(f"w-{name}", b"/big/", prefix_end(b"/big/"), 0, True))
    c.advance(0.1)
    assert all(len(m._watches) == 1 for m in c.members.values())

    writer = c.client("writer")
    rid = writer.request(lead.name, StoreDelete(b"/big/", prefix_end(b"/big/"), False))
    c.advance(0.5)
    assert isinstance(writer.answer(rid), StoreResult) and writer.answer(rid).body["deleted"] == 10

    for name, m in c.members.items():
        ends = [e for e in watcher.of_type(StoreWatchEvents) if e.member == name and e.canceled]
        assert len(ends) == 1 and ends[0].canceled.startswith("too large"), (name, ends)
        assert not m._watches
    # Every member keeps serving: writes, reads, new watches.
    [answer] = put_one_by_one(c, lead.name, [(b"/big/again", b"small")])
    assert isinstance(answer, StoreResult)
    watcher.send(c.followers()[0].name, StoreWatch("w-new", b"/big/", prefix_end(b"/big/"), 0, True))
    [answer] = put_one_by_one(c, lead.name, [(b"/big/again", b"small 2")])
    c.advance(0.1)
    assert any(e.watch_id == "w-new" and e.events for e in watcher.of_type(StoreWatchEvents))


# --- 3. a read-index answer delayed across a restart ------------------------------------------


def test_a_read_index_answer_of_a_previous_incarnation_does_not_serve_a_new_read(make_cluster):
    c = make_cluster()
    lead = c.elect()
    f = c.followers()[0].name
    cli = c.client("c")
    rid = cli.request(lead.name, StorePut(b"/x", b"old", False))
    c.advance(0.3)
    assert isinstance(cli.answer(rid), StoreResult)

    # A linearizable read on the follower; the leader's answer to it is delayed in the network...
    stale = c.hold(dst=f, raft_type="read_index_resp")
    cli.request(f, get(b"/x"))
    c.advance(0.3)
    assert len(stale.held) == 1
    c.remove(stale)  # (still held)
    # ...while the follower is killed and restarted (same term on disk). Appends to it are slow.
    c.kill(f)
    slow = c.drop(dst=f, raft_type="app")
    fresh = c.hold(dst=f, raft_type="read_index_resp")
    c.start(f)
    c.advance(0.5)
    assert c.members[f].raft.lead == lead.name

    wid = cli.request(lead.name, StorePut(b"/x", b"NEW", False))
    c.advance(0.3)
    assert isinstance(cli.answer(wid), StoreResult)  # acknowledged: a later linearizable read must see it
    rid2 = cli.request(f, get(b"/x"))
    c.advance(0.1)
    assert len(fresh.held) == 1

    c.release(stale)  # the old incarnation's answer arrives first
    c.advance(0.05)
    assert cli.answer(rid2) is None or value_of(cli.answer(rid2)) == b"NEW"
    c.release(fresh)
    c.remove(slow)
    c.advance(0.5)
    assert value_of(cli.answer(rid2)) == b"NEW"


# --- 4. a renewal of a watch the member does not hold -----------------------------------------


def test_a_renewal_of_an_unknown_watch_is_canceled_not_started_from_now(make_cluster):
    c = make_cluster()
    lead = c.elect()
    w = c.client("w")
    w.send(lead.name, StoreWatch("lost-1", b"/k", b"", 0, False, renew=True))
    c.advance(0.1)
    [answer] = w.of_type(StoreWatchEvents)
    assert answer.canceled.startswith("unknown watch") and answer.seq == 1
    assert not lead._watches


def test_a_watch_whose_first_request_was_lost_still_gets_every_event_from_its_start(make_cluster):
    c = make_cluster()
    lead = c.elect()
    put_one_by_one(c, lead.name, [(b"/k", b"v%d" % i) for i in range(4)])  # revisions 2..5
    assert lead.mvcc.revision == 5
    client = c.add_client(StoreClient("cli", c.addresses, timeout_s=1.0, deadline_s=5.0))
    seen: list[int] = []
    lost = c.drop(src="cli", kind=StoreWatch)
    client.watch(b"/k", start_revision=2, on_events=lambda evs, rev: seen.extend(e.kv.mod_revision for e in evs))
    c.advance(0.01)
    assert lost.matched == 1  # the first StoreWatch never arrived
    c.remove(lost)
    c.advance(2.5)  # the client's renewal (at 2 s) is answered "unknown watch"; it watches again from 2
    put_one_by_one(c, lead.name, [(b"/k", b"later")])  # revision 6
    c.advance(0.5)
    assert seen == [2, 3, 4, 5, 6]


# --- 5. one revision's events are never split ---------------------------------------------------


def test_the_events_of_one_revision_are_never_split_across_messages(make_cluster):
    c = make_cluster()
    lead = c.elect()
    follower = c.followers()[0].name
    w = c.client("w")
    w.send(follower, StoreWatch("live", b"/p/", prefix_end(b"/p/"), 0, False))
    writer = c.client("writer")
    for b in range(12):  # 1200 keys, 100 per txn: revisions 2..13
        ops = [{"op": "put", "key": b"/p/%05d" % (b * 100 + i), "value": b"v"} for i in range(100)]
        writer.request(lead.name, StoreTxn([], ops, []))
        c.advance(0.05)
    rid = writer.request(lead.name, StoreDelete(b"/p/", prefix_end(b"/p/"), False))  # 1200 events, revision 14
    c.advance(0.5)
    assert writer.answer(rid).body["deleted"] == 1200
    w.send(follower, StoreWatch("catch-up", b"/p/", prefix_end(b"/p/"), 2, False))  # the same from its backlog
    c.advance(0.1)

    for watch_id in ("live", "catch-up"):
        batches = [m for m in w.of_type(StoreWatchEvents) if m.watch_id == watch_id and m.events]
        assert not any(m.canceled for m in w.of_type(StoreWatchEvents) if m.watch_id == watch_id)
        assert sum(len(m.events) for m in batches) == 2400
        owner: dict[int, int] = {}
        for m in batches:
            for rev in set(revisions(m)):
                assert rev not in owner, f"{watch_id}: revision {rev} in messages {owner[rev]} and {m.seq}"
                owner[rev] = m.seq
        assert sorted(owner) == list(range(2, 15))


# --- 6. a write whose answer is too big to send ----------------------------------------------


def test_an_applied_write_whose_answer_is_too_large_is_answered_truncated(make_cluster):
    c = make_cluster(max_frame=256 * 1024)
    lead = c.elect()
    put_one_by_one(c, lead.name, [(b"/big/%02d" % i, b"x" * 30_000) for i in range(12)])  # 360 kB of values
    cli = c.client("c")
    rid = cli.request(lead.name, StoreDelete(b"/big/", prefix_end(b"/big/"), True))  # prev_kv: all of them
    c.advance(0.5)
    answer = cli.answer(rid)
    assert isinstance(answer, StoreResult), answer  # not an error: the delete was applied
    assert answer.body["deleted"] == 12 and answer.body["truncated"] and "prev_kvs" not in answer.body
    assert answer.revision == lead.mvcc.revision
    for m in c.members.values():
        assert m.mvcc.range(b"/big/", prefix_end(b"/big/"), count_only=True)["count"] == 0


# --- 7. a read whose read-index round was lost ----------------------------------------------


@pytest.mark.parametrize("where", ["leader", "follower"])
def test_a_read_whose_read_index_round_was_lost_is_answered_not_leader(make_cluster, where):
    c = make_cluster()
    lead = c.elect()
    member = lead if where == "leader" else c.followers()[0]
    if where == "leader":  # the answers to the read's heartbeat round are lost
        lost = c.drop(raft_type="heartbeat_resp", when=lambda src, dst, m: m.context != b"")
    else:  # the follower's forward of the read to the leader is lost
        lost = c.drop(src=member.name, raft_type="read_index")
    cli = c.client("c")
    asked = c.clock.monotonic()
    rid = cli.request(member.name, get(b"/a"))
    c.advance(0.3)
    c.remove(lost)  # the network is fine again; nothing will answer that round
    answer = c.run_until(lambda: cli.answer(rid), within_s=2 * ELECTION_TIMEOUT_S)
    assert isinstance(answer, StoreNotLeader)
    assert c.clock.monotonic() - asked <= ELECTION_TIMEOUT_S + 0.25
    assert not member._reads_waiting and not member._reads_ready
    assert c.leader() is lead  # nothing else happened: a retry is served
    rid2 = cli.request(member.name, get(b"/a"))
    c.advance(0.3)
    assert isinstance(cli.answer(rid2), StoreResult)


# --- 8. (finding 9) an index reused by a later leader ------------------------------------------


def test_a_write_whose_index_is_reused_by_a_later_term_is_answered_proposal_lost(make_cluster):
    c = make_cluster()
    old = c.elect()
    k = old.raft.log.last_index()
    cli = c.client("c")
    # The leader is cut off with three writes it took at k+1..k+3; none reaches anyone.
    cut = c.isolate(old.name)
    lost = [cli.request(old.name, StorePut(b"/lost/%d" % i, b"v", False)) for i in range(3)]
    c.settle()
    assert sorted(old._pending) == [k + 1, k + 2, k + 3]
    second = c.run_until(lambda: c.leader() if c.leader() is not old else None, within_s=5.0)
    assert second.raft.log.last_index() == k + 1  # its no-op replaces the first lost write
    # Back in: the second leader's log truncates the old one's to k+1.
    c.remove(*cut)
    c.advance(0.3)
    assert old.raft.role == "follower" and old.raft.log.last_index() == k + 1
    assert isinstance(cli.answer(lost[0]), Error) and cli.answer(lost[0]).code == "proposal_lost"
    # Leadership goes back to the old member; before its no-op (k+2) commits, a new write lands at k+3.
    slow = c.hold(dst=old.name, raft_type="app_resp")
    t = cli.request(second.name, StoreTransferLeader(old.name))
    c.run_until(lambda: old.raft.role == "leader", within_s=2.0)
    assert cli.answer(t) is not None
    new = cli.request(old.name, StorePut(b"/new", b"v", False))
    c.settle()
    assert old.raft.log.last_index() == k + 3 and old.raft.log.committed < k + 2
    # The write that had index k+3 in the old term can never apply: it is answered now.
    assert isinstance(cli.answer(lost[2]), Error) and cli.answer(lost[2]).code == "proposal_lost"
    c.release(slow)
    c.advance(0.5)
    assert cli.answer(lost[1]).code == "proposal_lost"
    assert isinstance(cli.answer(new), StoreResult)
    assert not old._pending


# --- 9. a write bigger than an append can carry ------------------------------------------------


def test_a_write_that_could_not_travel_in_an_append_is_refused_before_it_is_logged(make_cluster):
    """With a 1 MiB bus frame, a 1 MiB put would make an append nobody can send: refused up front."""
    c = make_cluster(max_frame=1024 * 1024)
    lead = c.elect()
    cli = c.client("c")
    last = lead.raft.log.last_index()
    rid = cli.request(lead.name, StorePut(b"/huge", b"x" * (1024 * 1024 - 200)))
    c.advance(0.2)
    answer = cli.answer(rid)
    assert isinstance(answer, Error) and answer.code == "request_too_large", answer
    assert lead.raft.log.last_index() == last  # nothing went into the log
    small = cli.request(lead.name, StorePut(b"/small", b"ok"))
    c.advance(0.5)
    assert isinstance(cli.answer(small), StoreResult)


# --- 10. metrics -----------------------------------------------------------------------------------


def test_every_member_counts_the_writes_it_applied_the_leader_also_the_ones_it_proposed(make_cluster):
    c = make_cluster()
    lead = c.elect()
    c.advance(0.5)  # the new leader's empty entry is applied everywhere: it is no proposal

    def counts(name: str) -> tuple[float, float]:
        registry, labels = c.members[name].metrics.registry, {"member": name}
        return (registry.get_sample_value("kubesim_store_proposals_applied_total", labels),
                registry.get_sample_value("kubesim_store_proposals_committed_total", labels))

    before = {name: counts(name) for name in c.members}
    assert all(applied == 0 for applied, _ in before.values())
    answers = put_one_by_one(c, lead.name, [(b"/m/%d" % i, b"v") for i in range(3)])
    assert all(isinstance(a, StoreResult) for a in answers)
    c.advance(0.5)  # the followers learn the commit index from the next heartbeat
    for name in c.members:
        applied, committed = counts(name)
        assert applied == 3, name
        assert committed == (3 if name == lead.name else 0), name
