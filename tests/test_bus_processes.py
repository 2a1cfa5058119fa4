"""The bus between real processes: routing, errors, fuzzing, faults, broker restarts, metrics.

Each test starts ``kubesim`` processes on 127.0.0.1 (a broker, a ponger)
and talks to them from a :class:`~tests.helpers.BusClient` in the test
process.
"""

from __future__ import annotations

import json
import random

import msgpack
import pytest
import zmq

from actors.messages import Ping, Pong
from bus.codec import pack_body, pack_header, seal
from bus.messages import BROKER_B, ClearFaults, FaultsState, Register, SetFaults
from bus.runtime import Indeterminate, MessageTooLarge, RemoteError, UndeliverableError
from bus.runtime.loop import _Request
from kubesim.config import load
from tests.helpers import (
    BusClient,
    free_port,
    kubesim,
    kubesim_out,
    metric,
    scrape,
    stop,
    wait_until,
    write_cluster,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    """A broker and a ponger as real child processes, with fixed metrics ports."""
    ports = {"broker": free_port(), "pong": free_port()}
    path = write_cluster(tmp_path, {
        "broker": {"component": "broker", "metrics_port": ports["broker"]},
        "pong": {"component": "demo-pong", "metrics_port": ports["pong"]},
    })
    cfg = load(path)
    procs = {name: kubesim("child", name, "--config", str(path)) for name in ("broker", "pong")}
    client = BusClient("tester", cfg.bus.port)
    client.registered()
    wait_until(lambda: _answers(client), 20, "the ponger to answer")
    yield cfg, path, procs, client, ports
    client.close()
    for proc in procs.values():
        stop(proc)


def _answers(client: BusClient) -> bool:
    try:
        return isinstance(client.call("ponger", Ping(0), timeout_s=0.5), Pong)
    except (Indeterminate, UndeliverableError):
        return False


def test_request_reply_through_the_broker(cluster):
    _, _, _, client, _ = cluster
    for seq in range(1, 51):
        pong = client.call("ponger", Ping(seq, b"x" * 100))
        assert pong.seq == seq and pong.served_by == "ponger"


def test_unknown_destination_is_undeliverable_not_a_timeout(cluster):
    _, _, _, client, _ = cluster
    with pytest.raises(UndeliverableError, match="unknown_dst"):
        client.call("nobody-here", Ping(1), timeout_s=5)


def test_a_bad_request_body_is_answered_with_an_error(cluster):
    """The ponger rejects a Ping whose field has the wrong type, and says why."""
    _, _, _, client, _ = cluster
    rt = client.rt
    # A pending request whose frames we write by hand: seq is a string.
    req = _Request(client.probe, "ponger", Ping(1), rt._new_id(), rt._traceparent(), 0, 5.0)
    req.attempts = 1
    req.timer = rt.call_later(5.0, rt._attempt_timed_out, req)
    rt._pending[req.id] = req
    header = pack_header("demo.Ping", req.id, 0, True, client.probe.name, req.traceparent, 0.0)
    rt.link.send(b"ponger", header, msgpack.packb({"seq": "one", "payload": b""}))
    wait_until(req.future.done, 10, "the error reply", client.step)
    with pytest.raises(RemoteError, match="bad_request: demo.Ping.seq is a str"):
        req.future.result()


def test_fuzzed_frames_never_stop_good_traffic(cluster):
    """Thousands of random and mutated frames while a good client keeps asking."""
    cfg, _, procs, client, ports = cluster
    rng = random.Random(1234)
    ctx = zmq.Context()
    fuzzers = []
    good_header = pack_header("demo.Ping", 1, 0, True, "fuzzer", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", 0.0)
    good_body = pack_body(Ping(1))
    for registered in (False, True):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{cfg.bus.port}")
        if registered:
            reg_h = pack_header("bus.Register", 1, 0, False, "fuzzer", "00-" + "c" * 32 + "-" + "d" * 16 + "-01", 0.0)
            # It also tries to take the broker's own names: refused, as the routes show below.
            sock.send(seal(BROKER_B, reg_h, pack_body(Register("fuzzer", ["fuzzer", "broker", "broker.bus"], 1))))
        fuzzers.append(sock)

    def mutate(frame: bytes) -> bytes:
        b = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            if choice < 0.4 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif choice < 0.7 and b:
                del b[rng.randrange(len(b)):]
            else:
                b.extend(rng.randbytes(rng.randint(1, 20)))
        return bytes(b)

    batch_header = pack_header("bus.Batch", 2, 0, False, "fuzzer", "00-" + "e" * 32 + "-" + "f" * 16 + "-01", 0.0)
    limit = cfg.bus.max_frame_bytes

    def garbage() -> list[bytes]:
        """The ZeroMQ frames of one message: mostly an envelope of parts, some of them mutated."""
        kind = rng.random()
        if kind < 0.1:
            return [rng.randbytes(rng.randint(0, 64)) for _ in range(rng.randint(0, 6))]
        if kind < 0.2:
            return [mutate(seal(b"ponger", good_header, good_body))]
        return [seal(*parts())]

    def parts() -> list[bytes]:
        kind = rng.random()
        if kind < 0.4:
            return [b"ponger", mutate(good_header), good_body]
        if kind < 0.6:
            return [b"ponger", good_header, mutate(good_body)]
        if kind < 0.7:  # batches: good, mutated, nested, odd
            inner = [good_header, good_body] * rng.randint(1, 3)
            body = msgpack.packb(rng.choice([inner, inner[:-1], [batch_header, msgpack.packb(inner)], "x"]))
            return [b"ponger", batch_header, mutate(body) if rng.random() < 0.5 else body]
        if kind < 0.75:  # a body whose unknown key is nearly as large as a frame may be
            return [b"ponger", good_header, msgpack.packb({"seq": 1, "K" * (limit - 64): 0})]
        return [rng.choice([b"ponger", b"broker", b"broker.bus", b"nobody", b""]), mutate(good_header),
                mutate(good_body)]

    sent = answered = 0
    for round_ in range(40):
        for _ in range(100):
            frames = garbage()
            if frames:
                try:
                    rng.choice(fuzzers).send_multipart(frames, zmq.NOBLOCK)
                    sent += 1
                except zmq.Again:
                    pass
        pong = client.call("ponger", Ping(round_ + 1), timeout_s=5)
        assert pong.seq == round_ + 1
        answered += 1
    for sock in fuzzers:
        sock.close(0)
    ctx.term()
    assert sent > 3000 and answered == 40
    assert procs["broker"].poll() is None and procs["pong"].poll() is None
    broker_metrics = scrape(ports["broker"])
    pong_metrics = scrape(ports["pong"])
    rejected_at_broker = sum(
        metric(broker_metrics, "kubesim_bus_rejected_frames_total", reason=r)
        for r in ("unregistered", "frame_count", "bad_envelope", "bad_header", "bad_body", "unknown_kind")
    )
    rejected_at_pong = sum(
        metric(pong_metrics, "kubesim_bus_rejected_frames_total", reason=r)
        for r in ("bad_header", "bad_body", "unknown_kind", "oversize")
    )
    assert rejected_at_broker > 100, broker_metrics
    assert rejected_at_pong > 100, pong_metrics
    # After all that, still serving; and the broker's own actor still answers for its name.
    assert client.call("ponger", Ping(999)).seq == 999
    assert client.call("broker.bus", ClearFaults()).rules == []


def test_fault_rules_set_and_cleared_at_run_time(cluster):
    _, _, _, client, ports = cluster
    state = client.call("pong.bus", SetFaults([{"action": "drop", "kind": "demo.Ping", "direction": "recv"}], 1))
    assert isinstance(state, FaultsState) and state.rules[0]["action"] == "drop"
    with pytest.raises(Indeterminate):
        client.call("ponger", Ping(1), timeout_s=0.3, retries=1)
    assert metric(scrape(ports["pong"]), "kubesim_bus_fault_actions_total", action="drop") == 2
    with pytest.raises(RemoteError, match="rule.action"):
        client.call("pong.bus", SetFaults([{"action": "explode"}]))
    assert client.call("pong.bus", ClearFaults()).rules == []
    assert client.call("ponger", Ping(2)).seq == 2


def test_delay_rule_delays_but_delivers(cluster):
    _, _, _, client, _ = cluster
    client.call("pong.bus", SetFaults([{"action": "delay", "kind": "demo.Pong", "delay_s": 0.3}]))
    started = client.rt.clock.monotonic()
    assert client.call("ponger", Ping(5), timeout_s=5).seq == 5
    assert client.rt.clock.monotonic() - started >= 0.3
    client.call("pong.bus", ClearFaults())


def test_metrics_endpoint_and_file_sd_targets(cluster):
    cfg, _, _, client, ports = cluster
    client.call("ponger", Ping(1))
    text = scrape(ports["pong"])
    assert metric(text, "kubesim_bus_messages_received_total", kind="demo.Ping") >= 1
    assert metric(text, "kubesim_bus_messages_sent_total", kind="demo.Pong") >= 1
    assert 'kubesim_bus_handler_duration_seconds_bucket{kind="demo.Ping",le="0.0001"}' in text
    assert metric(scrape(ports["broker"]), "kubesim_bus_peers_alive") >= 2
    for name in ("broker", "pong"):
        doc = json.loads((cfg.targets_dir / f"{name}.json").read_text())
        assert doc[0]["targets"] == [f"127.0.0.1:{ports[name]}"]
        assert doc[0]["labels"]["process"] == name


def test_broker_kill_and_restart_peers_reregister(tmp_path):
    """kill -9 the broker under its supervisor: it comes back and every peer registers again."""
    path = write_cluster(tmp_path)
    cfg = load(path)
    sup = kubesim("run", "broker", "--config", str(path))
    pong = kubesim("child", "pong", "--config", str(path))
    client = BusClient("tester", cfg.bus.port)
    try:
        client.registered()
        wait_until(lambda: _answers(client), 20, "the ponger to answer")
        wait_until(lambda: kubesim_out("ctl", "broker", "status", "--config", str(path)).returncode == 0, 10,
                   "the supervisor's control socket")
        before = json.loads(kubesim_out("ctl", "broker", "status", "--config", str(path)).stdout)
        killed = kubesim_out("ctl", "broker", "kill", "--config", str(path))
        assert killed.returncode == 0, killed.stderr
        assert json.loads(killed.stdout)["state"] in ("backoff", "running")

        def restarted():
            status = json.loads(kubesim_out("ctl", "broker", "status", "--config", str(path)).stdout)
            return status["restarts"] == before["restarts"] + 1 and status["state"] == "running" and status

        status = wait_until(restarted, 20, "the supervisor to restart the broker", client.step)
        assert status["pid"] != before["pid"]
        # Peers notice (Reregister or silence) and register with the new broker.
        wait_until(lambda: _answers(client), 30, "the ponger to answer through the restarted broker",
                   client.step)
    finally:
        client.close()
        stop(pong)
        stop(sup)


def test_kubesim_faults_sets_and_clears_rules_from_the_command_line(cluster):
    _, path, _, client, ports = cluster
    done = kubesim_out("faults", "pong", "set", '{"action": "drop", "kind": "demo.Ping"}', "--seed", "3",
                       "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rules"][0]["kind"] == "demo.Ping"
    with pytest.raises(Indeterminate):
        client.call("ponger", Ping(1), timeout_s=0.5, retries=2)
    assert metric(scrape(ports["pong"]), "kubesim_bus_fault_actions_total", action="drop") >= 1
    bad = kubesim_out("faults", "pong", "set", '{"action": "melt"}', "--config", str(path))
    assert bad.returncode == 1 and "rule.action: 'melt' is not one of" in bad.stderr
    cleared = kubesim_out("faults", "pong", "clear", "--config", str(path))
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["rules"] == []
    # The client sat idle while the CLI ran, long enough to be declared dead and
    # re-register; a retry covers the request that arrived before it did.
    assert client.call("ponger", Ping(2), timeout_s=1, retries=3).seq == 2


def test_many_requests_in_one_turn_travel_as_batches_and_all_are_answered(cluster):
    _, _, _, client, ports = cluster
    rt = client.rt
    futures = [rt._request(client.probe, "ponger", Ping(i), 10.0, 0) for i in range(600)]
    lost = [rt._request(client.probe, "nobody", Ping(i), 10.0, 0) for i in range(5)]
    wait_until(lambda: all(f.done() for f in futures + lost), 30, "600 answers and 5 bounces", client.step)
    assert [f.result().seq for f in futures] == list(range(600))
    for f in lost:  # a batch to an unknown destination bounces message by message
        assert isinstance(f.exception(), UndeliverableError)
    assert rt.metrics.batches_sent >= 1 and rt.metrics.batched_messages >= 600
    text = scrape(ports["pong"])
    assert metric(text, "kubesim_bus_batches_sent_total") >= 1  # the replies were batched too
    assert metric(text, "kubesim_bus_messages_received_total", kind="demo.Ping") >= 600


def test_oversized_bodies_are_refused_at_both_ends(cluster):
    cfg, _, procs, client, ports = cluster
    limit = cfg.bus.max_frame_bytes
    with pytest.raises(MessageTooLarge, match=f"> max_frame_bytes {limit}"):
        client.call("ponger", Ping(1, b"x" * limit))
    # A peer that does not check its own sends gets its frame rejected by the receiver.
    header = pack_header("demo.Ping", 77, 0, False, client.probe.name, client.rt._traceparent(), 0.0)
    client.rt.link.send(b"ponger", header, msgpack.packb({"seq": 1, "payload": b"x" * limit}))
    wait_until(lambda: metric(scrape(ports["pong"]), "kubesim_bus_rejected_frames_total", reason="oversize") >= 1,
               20, "the ponger to reject the oversized body", client.step)
    assert procs["pong"].poll() is None
    assert client.call("ponger", Ping(2)).seq == 2
