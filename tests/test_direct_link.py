"""Direct links (bus.runtime.direct_link): process to process without the broker, on real sockets.

Two standalone runtimes in the test process: one listens, one connects. The
store's members and clients rely on what is checked here: replies find
their way back over the connection a request came in on, a peer that is
not there fails a request at once, fault rules apply as on broker traffic,
and garbage on the listening socket is counted and changes nothing.
"""

from __future__ import annotations

import pytest
import zmq

from actors.messages import Ping, Pong
from bus.clock import RealClock
from bus.codec import seal
from bus.faults import FaultRule
from bus.runtime import Indeterminate, Runtime, UndeliverableError
from bus.settings import BusSettings
from tests.helpers import Probe, free_port, wait_until


def runtime(name: str) -> tuple[Runtime, Probe]:
    rt = Runtime(name, BusSettings(request_timeout_s=0.5), RealClock(), standalone=True, seed=3)
    probe = rt.add(Probe(f"{name}-probe"))
    rt.start()
    return rt, probe


def call(rt: Runtime, actor: Probe, dst: str, msg, timeout_s: float = 1.0):
    fut = rt._request(actor, dst, msg, timeout_s, 0)
    wait_until(fut.done, timeout_s + 5, f"the reply from {dst}", step=lambda: rt.run_once(0.01))
    return fut.result()


@pytest.fixture
def pair():
    server, server_probe = runtime("server")
    port = server.direct_link().listen("127.0.0.1", free_port())
    client, client_probe = runtime("client")
    client.direct_link().connect([server_probe.name], "127.0.0.1", port)
    yield server, server_probe, client, client_probe
    client.shutdown()
    server.shutdown()


def step_both(server: Runtime, client: Runtime):
    def step():
        server.run_once(0.005)
        client.run_once(0.005)
    return step


def test_a_request_and_its_reply_travel_without_a_broker(pair):
    server, server_probe, client, client_probe = pair
    fut = client._request(client_probe, server_probe.name, Ping(1, b"x"), 2.0, 5)
    wait_until(fut.done, 10, "the pong", step=step_both(server, client))
    pong = fut.result()
    assert isinstance(pong, Pong) and pong.served_by == server_probe.name
    # The server learnt the way back to the client's actor from the request itself.
    assert client_probe.name.encode() in server.direct.learned
    msg, env = server_probe.seen[0]
    assert env.sender == client_probe.name and env.identity == client_probe.name


def test_a_peer_that_is_not_there_fails_a_request_at_once():
    client, probe = runtime("lonely")
    try:
        client.direct_link().connect(["nobody"], "127.0.0.1", free_port())
        fut = client._request(probe, "nobody", Ping(1), 30.0, 0)
        wait_until(fut.done, 5, "the request to fail", step=lambda: client.run_once(0.01))
        with pytest.raises(UndeliverableError, match="unreachable"):
            fut.result()
        assert client.metrics.dropped_outbound["unreachable"] >= 1
    finally:
        client.shutdown()


def test_fault_rules_apply_to_direct_links(pair):
    server, server_probe, client, client_probe = pair
    fut = client._request(client_probe, server_probe.name, Ping(1), 2.0, 5)
    wait_until(fut.done, 10, "a first pong", step=step_both(server, client))
    client.set_faults([FaultRule.from_dict({"action": "drop", "dst": server_probe.name})], seed=1)
    fut = client._request(client_probe, server_probe.name, Ping(2), 0.3, 0)
    wait_until(fut.done, 5, "the request to time out", step=step_both(server, client))
    with pytest.raises(Indeterminate):
        fut.result()
    assert len(server_probe.seen) == 1


def test_garbage_on_the_listening_socket_is_counted_and_harmless(pair):
    server, server_probe, client, client_probe = pair
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{server.direct.port}")
    try:
        name = server_probe.name.encode()
        for frames in ([b"not an envelope"], [seal(name, b"\xc1not msgpack", b"x")], [seal(b"no-such-actor", b"h", b"b")],
                       [seal(name, b"h", b"b"), b"an extra frame"], [seal(name, b"h")[:-1]]):
            sock.send_multipart(frames)
        wait_until(lambda: sum(server.metrics.rejected.values()) >= 5, 10, "five rejections",
                   step=step_both(server, client))
        fut = client._request(client_probe, server_probe.name, Ping(3), 2.0, 5)
        wait_until(fut.done, 10, "a pong after the garbage", step=step_both(server, client))
        assert fut.result().seq == 3
    finally:
        sock.close()
        ctx.term()
