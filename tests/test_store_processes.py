"""The store as real processes on loopback: kill -9, restarts, and no acknowledged write lost.

Each test starts three ``kubesim child store-N`` processes (fsync on unless
it says otherwise), writes through the client library with writes in
flight, and breaks something. Afterwards every member must hold every write
that was acknowledged, with its value, read from that member alone.
"""

from __future__ import annotations

import pytest

from actors.messages import RaftMessage, StorePut
from actors.store.client import StoreError
from actors.store.mvcc import prefix_end
from tests.helpers import kubesim_out, metric, wait_until
from tests.store_cluster import PREFIX, StoreCluster, Writer, missing_acked

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    c = StoreCluster(tmp_path)
    c.start_all()
    yield c
    c.close()


def test_status_shows_one_leader_and_writes_reach_every_member(cluster):
    lead = cluster.leader()
    done = kubesim_out("store", "status", "--config", str(cluster.config))
    assert done.returncode == 0, done.stderr
    assert f"leader: {lead}" in done.stdout
    assert done.stdout.count("yes") == 3  # every member reachable
    assert kubesim_out("store", "put", "/test/a", "1", "--config", str(cluster.config)).returncode == 0
    got = kubesim_out("store", "get", "/test/", "--prefix", "--config", str(cluster.config))
    assert got.stdout.strip() == "/test/a = 1"
    for name in cluster.names:
        wait_until(lambda name=name: cluster.contents(name).get(b"/test/a") == b"1", 10, f"{name} to apply")


def test_killing_the_leader_mid_stream_loses_no_acknowledged_write(cluster):
    old = cluster.leader()
    writer = Writer(cluster, window=30)
    writer.run_until(lambda: len(writer.acked) >= 300, 60, "300 writes before the kill")
    cluster.kill(old)
    before_kill = len(writer.acked)
    writer.run_until(lambda: len(writer.acked) >= before_kill + 300, 60, "300 writes after the kill")
    writer.drain()
    new = cluster.leader()
    assert new != old
    cluster.start(old)
    cluster.caught_up(old)
    assert missing_acked(cluster, writer) == {}
    # The writes that ended unknown were sent to the dying leader, and only those.
    assert len(writer.indeterminate) <= writer.window
    assert writer.failed == []
    text = cluster.metrics(new)
    assert metric(text, "kubesim_store_is_leader", member=new) == 1
    assert metric(text, "kubesim_store_proposals_committed_total", member=new) > 0


def kill_every_member_mid_stream(cluster: StoreCluster) -> dict[str, list[bytes]]:
    """Write with 50 in flight, kill -9 all members at once, restart them: what acknowledged writes are gone?"""
    cluster.leader()
    writer = Writer(cluster, window=50)
    writer.run_until(lambda: len(writer.acked) >= 500, 60, "500 acknowledged writes")
    for name in list(cluster.procs):
        cluster.kill(name)
    cluster.start_all()
    writer.drain()  # writes never sent are retried on the restarted members
    cluster.leader()
    for name in cluster.names:
        cluster.caught_up(name)
    return missing_acked(cluster, writer)


def test_killing_every_member_mid_stream_with_fsync_on_loses_no_acknowledged_write(cluster):
    assert kill_every_member_mid_stream(cluster) == {}


def test_the_check_catches_a_member_that_acknowledges_before_its_writes_are_durable(tmp_path):
    """The same test against a planted bug (tests/store_planted.py) must fail: the check can fail."""
    planted = StoreCluster(tmp_path, module="tests.store_planted")
    planted.start_all()
    try:
        lost = kill_every_member_mid_stream(planted)
    finally:
        planted.close()
    assert lost, "writes acknowledged before they were durable survived a kill of every member"


def test_a_member_far_behind_catches_up_from_a_snapshot(tmp_path):
    c = StoreCluster(tmp_path, snapshot_count=100, catch_up_entries=10)
    c.start_all()
    try:
        lead = c.leader()
        behind = next(n for n in c.names if n != lead)
        c.kill(behind)
        writer = Writer(c, window=20)
        writer.run_until(lambda: len(writer.acked) >= 400, 60, "400 writes while a member is down")
        writer.drain()
        c.start(behind)
        c.caught_up(behind)
        assert missing_acked(c, writer) == {}
        assert metric(c.metrics(behind), "kubesim_store_snapshots_installed_total", member=behind) >= 1
    finally:
        c.close()


def test_bad_messages_are_refused_counted_and_harmless(cluster):
    lead = cluster.leader()
    client = cluster.session.client
    # A raft message from something that is not a member, pretending to be one.
    client.send(lead, RaftMessage("app", lead, "store-9", term=99, index=5))
    client.send(lead, RaftMessage("hup", lead, "store-1"))
    with pytest.raises(StoreError, match="bad_op|key is not provided"):
        cluster.session.run(client.put(b"", b"x"))
    with pytest.raises(StoreError, match="request_too_large"):
        cluster.session.run(client.put(b"/test/big", b"x" * 2_000_000))
    wait_until(lambda: metric(cluster.metrics(lead), "kubesim_store_rejected_messages_total", member=lead,
                              reason="bad_raft_message") >= 2, 10, "the raft messages to be refused")
    assert cluster.status(lead).term < 99 and cluster.leader() == lead
    assert cluster.session.run(client.put(b"/test/after", b"ok"))["revision"] > 1
    reply = cluster.session.run(client.request(lead, StorePut(b"/test/direct", b"1"), timeout_s=5, retries=0))
    assert reply.body["revision"] > 1


def test_corruption_before_the_tail_stops_the_member_naming_file_and_offset(cluster):
    cluster.leader()
    writer = Writer(cluster, window=10)
    writer.run_until(lambda: len(writer.acked) >= 50, 60, "50 writes")
    writer.drain()
    victim = cluster.names[0]
    cluster.kill(victim)
    wal_dir = cluster.tmp / "store" / victim / "wal"
    segment = sorted(wal_dir.iterdir())[-1]
    data = bytearray(segment.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    segment.write_bytes(bytes(data))
    done = kubesim_out("child", victim, "--config", str(cluster.config), timeout_s=30)
    assert done.returncode != 0
    assert segment.name in done.stderr and "offset" in done.stderr, done.stderr[-2000:]


def test_a_watch_sees_every_change_in_order_with_no_gap_even_when_its_member_dies(cluster):
    cluster.leader()
    session, client = cluster.session, cluster.session.client
    events, ended = [], []
    watch = client.watch(PREFIX, prefix_end(PREFIX), start_revision=1, prev_kv=True,
                         on_events=lambda evs, revision: events.extend(evs), on_end=ended.append)
    session.run(client.put(PREFIX + b"a", b"1"))
    txn = session.run(client.txn(
        [{"key": PREFIX + b"a", "target": "version", "result": "=", "value": 1}],
        [{"op": "put", "key": PREFIX + b"b", "value": b"2"}, {"op": "delete", "key": PREFIX + b"a"}]))
    assert txn["succeeded"]
    wait_until(lambda: len(events) >= 3, 10, "the first events", step=lambda: session.poll(0.01))
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events[:3]] == [
        ("PUT", PREFIX + b"a", 2), ("PUT", PREFIX + b"b", 3), ("DELETE", PREFIX + b"a", 3)]
    assert events[2].prev_kv.value == b"1"
    cluster.kill(watch.member)  # the watch must resume elsewhere, from where it was
    writer = Writer(cluster, window=20)
    writer.run_until(lambda: len(writer.acked) >= 200, 60, "200 writes after the watch's member died")
    writer.drain()
    final = session.run(client.get(PREFIX, prefix_end(PREFIX), count_only=True))["revision"]
    wait_until(lambda: events and events[-1].kv.mod_revision >= final, 30, "the watch to reach the last write",
               step=lambda: session.poll(0.01))
    revisions = [e.kv.mod_revision for e in events]
    assert revisions == sorted(revisions), "events out of order"
    assert set(revisions) == set(range(2, final + 1)), "a revision was skipped or reported twice"
    assert len({(e.kv.key, e.kv.mod_revision) for e in events}) == len(events), "an event was reported twice"
    watched = {e.kv.key for e in events if e.type == "PUT"}
    assert set(writer.acked) <= watched
    assert ended == []


def test_with_curve_on_only_known_keys_reach_the_store(tmp_path):
    from actors.store.client import StoreSession, StoreUnavailable
    from bus.transport.curve import generate, load_keypair, load_public
    from bus.transport.sockets import Security

    c = StoreCluster(tmp_path, curve=True)
    assert kubesim_out("keys", "--config", str(c.config)).returncode == 0
    c.start_all()
    keys = tmp_path / "keys"
    members = {n: ("127.0.0.1", p) for n, p in c.ports.items()}
    server_keys = {n: load_public(keys, n) for n in c.names}
    generate(tmp_path / "stranger", ["stranger"])
    try:
        with StoreSession(members, security=Security(curve=True, keypair=load_keypair(keys, "admin")),
                          server_keys=server_keys, timeout_s=1, deadline_s=20) as admin:
            c.session = admin
            assert admin.run(admin.client.put(b"/test/k", b"v"))["revision"] == 2
            # A known key, but not a member's: its raft messages are refused even under a member's name.
            lead = c.leader()
            other = next(n for n in c.names if n != lead)
            impostor = StoreSession(members, security=Security(curve=True, keypair=load_keypair(keys, "admin")),
                                    server_keys=server_keys, name=other)


            def impersonate():  # again until one gets through: a new connection takes a moment
                impostor.client.send(lead, RaftMessage("heartbeat", lead, other, term=50))
                impostor.poll(0.05)

            wait_until(lambda: metric(c.metrics(lead), "kubesim_store_rejected_messages_total", member=lead,
                                      reason="bad_raft_message") >= 1, 10, "the impersonation to be refused",
                       step=impersonate)
            impostor.close()
            assert c.status(lead).term < 50
            c.session = None
        stranger = Security(curve=True, keypair=load_keypair(tmp_path / "stranger", "stranger"))
        with StoreSession(members, security=stranger, server_keys=server_keys, timeout_s=0.5,
                          deadline_s=3) as session:
            with pytest.raises(StoreUnavailable):
                session.run(session.client.put(b"/test/k", b"stolen"))
    finally:
        c.close()


def test_bus_faults_on_a_member_cut_it_off_and_healing_brings_it_back(cluster):
    """`kubesim faults` reaches store members over their direct port: isolate the leader, then heal."""
    old = cluster.leader()
    cut = kubesim_out("faults", old, "set", '{"action": "drop", "kind": "store.Raft"}', "--config",
                      str(cluster.config))
    assert cut.returncode == 0, cut.stderr
    others = [n for n in cluster.names if n != old]

    def new_leader():
        seen = [cluster.status(n) for n in others]
        leaders = {s.leader for s in seen if s is not None}
        return leaders.pop() if len(leaders) == 1 and old not in leaders and "" not in leaders else None

    new = wait_until(new_leader, 30, "the others to elect a leader of their own")
    # Cut off, the old leader hears no quorum and steps down (check-quorum) within an election timeout.
    wait_until(lambda: cluster.status(old).role != "leader", 10, "the isolated leader to step down")
    assert cluster.session.run(cluster.session.client.put(b"/test/while-cut", b"1"))["revision"] > 1
    healed = kubesim_out("faults", old, "clear", "--config", str(cluster.config))
    assert healed.returncode == 0, healed.stderr
    cluster.caught_up(old)
    assert cluster.contents(old).get(b"/test/while-cut") == b"1"
    assert cluster.leader() == new  # pre-vote and check-quorum: the returning member does not disrupt
