"""Direct links: messages that go process to process without the broker.

The store's members talk to each other directly, as etcd's do: the API server
is the broker, and the store it keeps its state in cannot depend on it
(DESIGN §3). A process may *listen* on a ROUTER of its own and *connect*
DEALERs to other processes' ROUTERs; the runtime sends a message over a
direct link when one leads to its destination, and through the broker
otherwise. Everything else is the same: the codec, batching per destination,
the fault filter (so chaos can partition store members), requests and
replies, metrics.

Envelopes (one frame each, see :mod:`bus.codec`), as on the broker's sockets::

    DEALER -> ROUTER:  [dst, header, body]
    ROUTER -> DEALER:  [sender, dst, header, body]

A ROUTER learns a route back to each actor that sent it something (by the
``s`` field of each header), so a client connected to a member gets its
replies and watch events on the connection it opened. With CURVE on, the
ROUTER admits only known keys and stamps the key's identity as the sender;
without it the sender is what the header claims (loopback only).

There is no outbox: a message for a process that is not connected is dropped
at once (raft and the store client expect that and retry), and a request is
answered locally with ``bus.Undeliverable`` so its caller does not wait out a
timeout for nothing.
"""

from __future__ import annotations

import errno
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING

import zmq

from bus.codec import Rejected, seal, unseal
from bus.messages import DELIVERED_PARTS, PEER_PARTS
from bus.transport.sockets import bind_router, connect_dealer

if TYPE_CHECKING:
    from bus.runtime.loop import Runtime

#: Messages queued towards one direct peer before sends fail: raft resends, so keep it short.
DIRECT_HWM = 10_000
#: Most reply routes a listening process remembers (clients come and go).
MAX_LEARNED_ROUTES = 100_000


class DirectLink:
    """This process's direct sockets: at most one ROUTER it listens on, and DEALERs by destination."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.router: zmq.Socket | None = None
        self.port = 0
        self._auth = None
        self.routes: dict[bytes, zmq.Socket] = {}
        """Actor name -> the DEALER connected to the process hosting it."""
        self._dealers: dict[str, zmq.Socket] = {}
        self.learned: OrderedDict[bytes, bytes] = OrderedDict()
        """Actor name -> routing id of the connection it last wrote to our ROUTER from."""
        self._rid = b""

    # --- Set-up -----------------------------------------------------------------
    def listen(self, host: str, port: int) -> int:
        """Accept direct connections on host:port (0: any free port); returns the port."""
        rt = self.rt
        self.router, self.port, self._auth = bind_router(rt._ctx, host, port, rt.security,
                                                         rt.settings.max_frame_bytes, DIRECT_HWM)
        rt._poller.register(self.router, zmq.POLLIN)
        rt.log.info("listening for direct links", endpoint=f"tcp://{host}:{self.port}")
        return self.port

    def connect(self, names: list[str], host: str, port: int, server_public: bytes | None = None) -> None:
        """Send messages for the actors ``names`` straight to the process listening on host:port."""
        rt = self.rt
        endpoint = f"{host}:{port}"
        sock = self._dealers.get(endpoint)
        if sock is None:
            security = rt.security
            if security.curve:
                if server_public is None:
                    raise ValueError(f"CURVE is on: the public key of {endpoint} is needed to connect")
                security = replace(security, broker_public=server_public)
            sock = connect_dealer(rt._ctx, host, port, security, rt.settings.max_frame_bytes, DIRECT_HWM)
            rt._poller.register(sock, zmq.POLLIN)
            self._dealers[endpoint] = sock
        for name in names:
            self.routes[name.encode()] = sock

    def sockets(self) -> list[zmq.Socket]:
        out = list(self._dealers.values())
        if self.router is not None:
            out.append(self.router)
        return out

    # --- Sending ----------------------------------------------------------------
    def has_route(self, dst_b: bytes) -> bool:
        return dst_b in self.routes or dst_b in self.learned

    def send(self, dst_b: bytes, header: bytes, body: bytes) -> str | None:
        """Send one message; the reason it could not be sent, or None."""
        sock = self.routes.get(dst_b)
        try:
            if sock is not None:
                sock.send(seal(dst_b, header, body), zmq.NOBLOCK)
            else:
                rid = self.learned[dst_b]
                self.router.send_multipart((rid, seal(self.rt.identity, dst_b, header, body)), zmq.NOBLOCK)
            return None
        except zmq.Again:
            # A DEALER with IMMEDIATE has no connection (the peer is down), or its pipe is full.
            return "unreachable" if sock is not None else "overloaded"
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self.learned.pop(dst_b, None)  # that connection is gone
            return "unreachable"

    # --- Receiving --------------------------------------------------------------
    def drain(self, sock: zmq.Socket, budget: int) -> None:
        if sock is self.router:
            self._drain_router(budget)
        else:
            self._drain_dealer(sock, budget)

    def _drain_dealer(self, sock: zmq.Socket, budget: int) -> None:
        deliver = self.rt._deliver
        for _ in range(budget):
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                identity, dst, header, body = unseal(frame, DELIVERED_PARTS)
            except Rejected as exc:
                self.rt.reject(exc, "direct link")
                continue
            deliver(dst, identity, header, body)

    def _drain_router(self, budget: int) -> None:
        rt = self.rt
        curve = rt.security.curve
        recv = self.router.recv_multipart
        actors = rt._actors
        for _ in range(budget):
            try:
                if curve:
                    raw = recv(zmq.NOBLOCK, copy=False)
                    frames = [f.bytes for f in raw]
                    identity = raw[-1].get("User-Id").encode()
                else:
                    frames = recv(zmq.NOBLOCK)
                    identity = None  # the runtime takes the sender each header claims
            except zmq.Again:
                return
            try:
                if len(frames) != 2:
                    raise Rejected("frame_count", f"{len(frames) - 1} frames, expected one envelope")
                dst, header, body = unseal(frames[1], PEER_PARTS)
                if dst not in actors:
                    raise Rejected("unknown_dst", f"no actor {dst[:64]!r} in {rt.process}")
            except Rejected as exc:
                rt.reject(exc, "direct link")
                continue
            self._rid = frames[0]
            rt._deliver(dst, identity, header, body, learn=self._learn_route)

    def _learn_route(self, sender: str) -> None:
        key = sender.encode()
        learned = self.learned
        learned[key] = self._rid
        learned.move_to_end(key)  # least recently heard from goes first when the table is full
        if len(learned) > MAX_LEARNED_ROUTES:
            learned.popitem(last=False)

    def close(self) -> None:
        for sock in self.sockets():
            sock.close(linger=200)
        self._dealers.clear()
        self.routes.clear()
        self.router = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


class NoLink:
    """The broker link of a process that has none: it only speaks over direct links."""

    sock = None
    broker_identity = None

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def open(self) -> None:
        pass

    def send(self, dst_b: bytes, header: bytes, body: bytes) -> None:
        self.rt.metrics.dropped_outbound["no_route"] += 1

    def tick(self) -> None:
        pass

    def want_write(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
