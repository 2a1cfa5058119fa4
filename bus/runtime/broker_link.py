"""The broker's side of the bus: a ROUTER, the registry of peers, routing by ``dst``.

Envelopes from a registered peer are relayed untouched (the broker reads
``dst``, seals the sender's authenticated identity in front and never
decodes the message); messages for
the broker's own actors are delivered in-process; everything else is
bounced with ``bus.Undeliverable`` to a sender that waits for a reply.
Unregistered connections are told to register. Whether a peer is alive is
the transport's call (ZMTP heartbeats in ZeroMQ's I/O thread, see
:mod:`bus.transport.sockets`), not the broker loop's: when a peer's
connection is gone, the heartbeat the broker sends every interval fails with
``EHOSTUNREACH`` and the peer and its routes are dropped. A peer whose own
loop is busy, or a broker that is, loses nothing: their I/O threads go on
answering each other. The decisions live in :class:`bus.broker.BrokerCore`.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import zmq

from bus.broker import BrokerCore, Peer
from bus.codec import (
    Rejected,
    check_name,
    first_part,
    pack_body,
    pack_header,
    seal,
    unpack_batch,
    unpack_header,
    unseal,
)
from bus.messages import (
    BATCH_KIND,
    BATCH_SLACK_BYTES,
    BROKER,
    BROKER_B,
    MAX_ACTORS_PER_PEER,
    MAX_NAME_BYTES,
    PEER_PARTS,
    Heartbeat,
    Register,
    Registered,
    Reregister,
    Undeliverable,
    Unregister,
)
from bus.metrics import UNDELIVERABLE_REASONS
from bus.transport.sockets import bind_router

if TYPE_CHECKING:
    from bus.runtime.loop import Runtime

class BrokerLink:
    """The broker's side: a ROUTER, the registry of peers, routing by ``dst``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        s = rt.settings
        rt.metrics.peers_alive = lambda: len(self.core.peers)
        for reason in UNDELIVERABLE_REASONS:  # the broker's own counter: every reason from 0
            rt.metrics.undeliverable.setdefault(reason, 0)
        self.core = BrokerCore(s.heartbeat_interval_s * rt.clock.scale, s.heartbeat_liveness)
        self.sock: zmq.Socket | None = None
        self.port = 0
        self._auth = None

    def open(self) -> None:
        rt, s = self.rt, self.rt.settings
        self.sock, self.port, self._auth = bind_router(rt._ctx, s.broker_host, s.broker_port, rt.security,
                                                       s.peer_frame_limit, liveness=s.liveness)
        rt.log.info("broker listening", endpoint=f"tcp://{s.broker_host}:{self.port}",
                    curve=rt.security.curve)

    def send(self, dst_b: bytes, header: bytes, body: bytes) -> None:
        """A message from one of the broker's own actors to a peer."""
        peer = self.core.routes.get(dst_b)
        if len(body) > self.rt.settings.peer_frame_limit + BATCH_SLACK_BYTES:  # what the peer's socket takes
            failed = "too_large"  # the peer's socket would drop the connection rather than take it
        else:
            failed = "unknown_dst" if peer is None else self._forward(peer, seal(self.rt.identity, dst_b, header,
                                                                                  body))
        if failed:
            self._bounce(None, dst_b, header, body, failed)
        elif self.rt.flow_tap is not None and self.rt.flow_tap.hit():
            self._sample(self.rt.process, peer.name, header, body)

    def _sample_envelope(self, src: str, dst: str, envelope: bytes) -> None:
        """A relayed envelope, sampled: the broker never decoded it, and a malformed one is the receiver's to
        refuse, not the tap's to count."""
        try:
            _, header_b, body_b = unseal(envelope, PEER_PARTS)
        except Rejected:
            return
        self._sample(src, dst, header_b, body_b)

    def _sample(self, src: str, dst: str, header_b: bytes, body_b: bytes) -> None:
        """Record a sampled message (each message of a batch) in the flow tap: the kind is all it decodes."""
        rt = self.rt
        try:
            kind = unpack_header(header_b).kind
            if kind == BATCH_KIND:
                frames = unpack_batch(body_b, rt.settings.max_frame_bytes + BATCH_SLACK_BYTES)
                kinds = [unpack_header(frames[i]).kind for i in range(0, len(frames), 2)]
            else:
                kinds = [kind]
        except Rejected:
            return  # counted where the message itself is decoded
        rt.flow_tap.record(rt.clock.wall(), src, dst, kinds)

    def _forward(self, peer: Peer, envelope: bytes) -> str | None:
        """Send a delivered envelope (sender, dst, header, body) to a peer; why it could not be, or None."""
        try:
            self.sock.send_multipart((peer.rid, envelope), zmq.NOBLOCK)
            return None
        except zmq.Again:
            return "overloaded"  # its pipe is full: the broker never blocks on one peer
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self._peer_gone(peer, "connection closed")
            return "unreachable"

    @property
    def broker_identity(self) -> bytes:
        return self.rt.identity

    def want_write(self) -> None:
        """The broker never holds messages back (a full peer gets a bounce), so it never waits to write."""

    def flush(self) -> None:
        pass

    def drain(self, budget: int) -> None:
        rt = self.rt
        curve = rt.security.curve
        recv = self.sock.recv_multipart
        forward = self._forward
        peers = self.core.peers
        routes = self.core.routes
        actors = rt._actors
        m = rt.metrics
        now = rt.clock.monotonic()
        n = 0
        while n < budget:
            try:
                if curve:
                    raw = recv(zmq.NOBLOCK, copy=False)
                    frames = [f.bytes for f in raw]
                else:
                    raw = None
                    frames = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
            rid = frames[0]
            peer = peers.get(rid)
            if peer is None:
                self._from_unknown(frames, raw)
                continue
            peer.last_seen = now
            try:
                if len(frames) != 2:
                    raise Rejected("frame_count", f"{len(frames) - 1} frames, expected one envelope")
                envelope = frames[1]
                dst = first_part(envelope)
                target = routes.get(dst)
                if target is not None:
                    failed = forward(target, seal(peer.identity, envelope))
                    if not failed:
                        m.relayed += 1
                        m.relayed_bytes += len(envelope)
                        if rt.flow_tap is not None and rt.flow_tap.hit():
                            self._sample_envelope(peer.name, target.name, envelope)
                        continue
                    reason = failed
                elif dst == BROKER_B or dst in actors:
                    reason = ""
                else:
                    reason = "unknown_dst"
                _, header, body = unseal(envelope, PEER_PARTS)
            except Rejected as exc:
                rt.reject(exc, peer.identity)
                continue
            if reason:
                self._bounce(peer, dst, header, body, reason)
            elif dst == BROKER_B:
                self._control(peer, header, body)
            else:
                if rt.flow_tap is not None and rt.flow_tap.hit():
                    self._sample(peer.name, rt.process, header, body)
                rt._deliver(dst, peer.identity, header, body)

    def _bounce(self, peer: Peer | None, dst_b: bytes, header_b: bytes, body_b: bytes | None,
                reason: str) -> None:
        """Tell each waiting sender of a message (or of a batch's messages) that it reached nobody."""
        rt = self.rt
        sender = peer.identity if peer else rt.identity
        try:
            header = unpack_header(header_b)
            if header.kind == BATCH_KIND and body_b is not None:
                frames = unpack_batch(body_b, rt.settings.max_frame_bytes + BATCH_SLACK_BYTES)
                for i in range(0, len(frames), 2):
                    self._bounce(peer, dst_b, frames[i], None, reason)
                return
        except Rejected as exc:
            rt.metrics.undeliverable[reason] += 1
            rt.reject(exc, sender)
            return
        rt.metrics.undeliverable[reason] += 1
        if not header.wants_reply:
            return
        dst = dst_b.decode("utf-8", "replace")
        reply_h = pack_header(Undeliverable.KIND, rt._new_id(), header.id, False, BROKER, header.traceparent,
                              rt.clock.wall())
        reply_b = pack_body(Undeliverable(dst, reason))
        back = header.sender.encode()
        if peer is None:
            if back in rt._actors:
                rt._local.append((back, rt.identity, reply_h, reply_b))
            return
        try:
            self.sock.send_multipart((peer.rid, seal(rt.identity, back, reply_h, reply_b)), zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the sender is gone too; its request will time out

    def _control(self, peer: Peer, header: bytes, body: bytes) -> None:
        decoded = self.rt._decode(header, body, peer.identity)
        if decoded is None:
            return
        _, msg = decoded
        if isinstance(msg, Register):
            self._register(peer.rid, msg, peer.identity)
        elif isinstance(msg, Unregister):
            self.core.remove(peer.rid)
            self.rt.log.info("peer left", peer=peer.name)
        elif not isinstance(msg, Heartbeat):
            self.rt.reject(Rejected("no_handler", f"the broker does not handle {msg.KIND}"), peer.identity)

    def _from_unknown(self, frames: list[bytes], raw) -> None:
        rt = self.rt
        rid = frames[0]
        parts = None
        if len(frames) == 2:
            try:
                parts = unseal(frames[1], PEER_PARTS)
            except Rejected:
                pass
        if parts is not None and parts[0] == BROKER_B:
            decoded = rt._decode(parts[1], parts[2], b"unregistered:" + rid.hex().encode())
            if decoded is not None and isinstance(decoded[1], Register):
                msg = decoded[1]
                if rt.security.curve:
                    identity = raw[-1].get("User-Id").encode()
                else:
                    identity = msg.peer.encode()
                self._register(rid, msg, identity)
                return
            if decoded is not None and isinstance(decoded[1], Unregister):
                return
        rt.reject(Rejected("unregistered", "traffic from a connection that has not registered"),
                  b"unregistered:" + rid.hex().encode())
        header, body = rt._control_frames(Reregister("unknown connection"))
        try:
            self.sock.send_multipart((rid, seal(rt.identity, BROKER_B, header, body)), zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        if parts is not None and parts[0] != BROKER_B:
            # A peer the broker forgot (it restarted, or the peer was silent too long) sent a request:
            # say it went nowhere, so the sender may safely send it again once registered.
            self._bounce_to(rid, *parts)

    def _bounce_to(self, rid: bytes, dst_b: bytes, header_b: bytes, body_b: bytes) -> None:
        rt = self.rt
        try:
            header = unpack_header(header_b)
            if header.kind == BATCH_KIND:
                frames = unpack_batch(body_b, rt.settings.max_frame_bytes + BATCH_SLACK_BYTES)
                pairs = [(frames[i], frames[i + 1]) for i in range(0, len(frames), 2)]
            else:
                pairs = [(header_b, body_b)]
            headers = [unpack_header(h) for h, _ in pairs]
        except Rejected:
            return
        for h in headers:
            if not h.wants_reply:
                continue
            rt.metrics.undeliverable["unregistered"] += 1
            reply_h = pack_header(Undeliverable.KIND, rt._new_id(), h.id, False, BROKER, h.traceparent,
                                  rt.clock.wall())
            reply_b = pack_body(Undeliverable(dst_b.decode("utf-8", "replace"), "unregistered"))
            try:
                self.sock.send_multipart((rid, seal(rt.identity, h.sender.encode(), reply_h, reply_b)),
                                         zmq.NOBLOCK)
            except zmq.ZMQError:
                return

    def _register(self, rid: bytes, msg: Register, identity: bytes) -> None:
        rt = self.rt
        if not identity or len(identity) > MAX_NAME_BYTES:
            # The identity rides in every envelope the peer receives; the sockets' size cap allows for a name.
            rt.reject(Rejected("bad_body", f"Register.peer must be 1..{MAX_NAME_BYTES} bytes"), identity[:64])
            return
        if not all(isinstance(a, str) for a in msg.actors) or len(msg.actors) > MAX_ACTORS_PER_PEER:
            rt.reject(Rejected("bad_body", f"Register.actors must be at most {MAX_ACTORS_PER_PEER} names"),
                      identity)
            return
        names, invalid = [], []
        for actor in msg.actors:
            try:
                check_name(actor.encode())
                names.append(actor)
            except Rejected:
                invalid.append(actor[:64])
        reserved = frozenset(rt._actors) | {BROKER_B}
        reg = self.core.register(rid, msg.peer, identity, names, msg.pid, rt.clock.monotonic(), reserved)
        reg.refused.extend(invalid)
        rt.metrics.registrations += 1
        if reg.refused:
            rt.log.warning("actor names refused: held by another identity", peer=msg.peer,
                           identity=identity.decode(), refused=reg.refused)
        rt.log.info("peer registered", peer=msg.peer, identity=identity.decode(), pid=msg.pid,
                    actors=len(msg.actors), replaced=len(reg.replaced))
        header, body = rt._control_frames(Registered(identity.decode(), rt.settings.heartbeat_interval_s,
                                                     reg.refused))
        try:
            self.sock.send_multipart((rid, seal(rt.identity, BROKER_B, header, body)), zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def _peer_gone(self, peer: Peer, why: str) -> None:
        if self.core.remove(peer.rid) is not None:
            self.rt.metrics.peer_deaths += 1
            self.rt.log.warning("peer dropped", peer=peer.name, why=why)

    def tick(self) -> None:
        """Every heartbeat interval: let the living hear from us, and bury those whose connection is gone."""
        rt = self.rt
        header, body = rt._control_frames(Heartbeat())
        envelope = seal(rt.identity, BROKER_B, header, body)
        for peer in list(self.core.peers.values()):
            try:
                self.sock.send_multipart((peer.rid, envelope), zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                if exc.errno == errno.EHOSTUNREACH:
                    self._peer_gone(peer, "connection closed")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=200)
            self.sock = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
