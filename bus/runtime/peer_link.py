"""A peer process's link to the broker: a DEALER, registration, liveness, the outbox.

The peer registers its actors and repeats ``Register`` until the broker
answers, and sends a heartbeat in any interval in which it sent nothing else,
so that a broker that restarted (and forgot it) asks it to register again.
Whether the broker is alive is the transport's call (ZMTP heartbeats, see
:mod:`bus.transport.sockets`): ZeroMQ closes a connection to a broker that is
gone and connects again by itself, while a broker that is merely busy keeps
its connection, and every reply in flight on it. While the peer is not
registered (or the socket cannot take more) sends wait in a bounded outbox.
"""

from __future__ import annotations

import os
from collections import deque
from typing import TYPE_CHECKING

import zmq

from bus.codec import (
    Rejected,
    seal,
    unseal,
)
from bus.messages import (
    BROKER_B,
    DELIVERED_PARTS,
    Heartbeat,
    Message,
    Register,
    Registered,
    Reregister,
    Unregister,
)
from bus.runtime.futures import Timer
from bus.transport.sockets import connect_dealer

if TYPE_CHECKING:
    from bus.runtime.loop import Runtime

class PeerLink:
    """A peer process's side: a DEALER to the broker, registration and liveness."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.sock: zmq.Socket | None = None
        self.registered = False
        self.broker_identity: bytes | None = None
        """The identity the broker stamps on its own messages, learnt from ``Registered``."""
        self.refused: list[str] = []
        """Actor names the broker would not route here; asked for again every heartbeat."""
        self.outbox: deque[tuple[bytes, bytes, bytes]] = deque()
        """Messages (dst, header, body) waiting for the broker."""
        rt.metrics.outbox_depth = lambda: len(self.outbox)
        self._sent_since_tick = False
        self._writing = False
        self._register_timer: Timer | None = None
        self._forgotten = False
        """The broker asked us to register again: once we have, our actors hear of it."""
        self._register_delay_s = 0.0
        self._register_since = 0.0
        self._register_warned = False

    def open(self) -> None:
        rt, s = self.rt, self.rt.settings
        self.sock = connect_dealer(rt._ctx, s.broker_host, s.broker_port, rt.security, s.max_frame_bytes,
                                   liveness=s.liveness)
        self.register()

    def register(self) -> None:
        """Announce this process and its actors; repeated, backing off, until the broker answers."""
        if self._register_timer is not None:
            self._register_timer.cancel()
        self._register_delay_s = min(0.05 * self.rt.clock.scale, self.rt._heartbeat_s)
        self._register_since = self.rt.clock.monotonic()
        self._register_warned = False
        self._register_again()

    def _register_again(self) -> None:
        rt = self.rt
        waited = rt.clock.monotonic() - self._register_since
        if not self._register_warned and waited > rt._heartbeat_s * rt.settings.heartbeat_liveness:
            self._register_warned = True  # once per registration: the user learns why nothing happens
            rt.log.warning("broker not answering; still registering",
                           broker=f"{rt.settings.broker_host}:{rt.settings.broker_port}",
                           waited_s=round(waited / rt.clock.scale, 1))
        self._send_register()
        self._register_timer = self.rt.call_later(self._register_delay_s, self._register_again)
        # A Register lists every actor (thousands in a hollow node): do not flood a slow broker.
        self._register_delay_s = min(self._register_delay_s * 2, self.rt._heartbeat_s)

    def _send_register(self) -> None:
        rt = self.rt
        names = [k.decode() for k in rt._actors]
        self._direct(Register(rt.process, names, os.getpid()))

    def _direct(self, msg: Message) -> None:
        header, body = self.rt._control_frames(msg)
        try:
            self.sock.send(seal(BROKER_B, header, body), zmq.NOBLOCK)
        except zmq.Again:
            pass  # not connected yet: the register timer or the next tick tries again

    def send(self, dst_b: bytes, header: bytes, body: bytes) -> None:
        self._sent_since_tick = True
        if self.registered and not self.outbox:
            try:
                self.sock.send(seal(dst_b, header, body), zmq.NOBLOCK)
                return
            except zmq.Again:
                pass
        if len(self.outbox) >= self.rt.settings.outbox_limit:
            self.rt.metrics.dropped_outbound["outbox_full"] += 1
            return
        self.outbox.append((dst_b, header, body))

    def want_write(self) -> None:
        """Ask the poller for writability only while there is something to write."""
        want = bool(self.outbox) and self.registered
        if want != self._writing:
            self._writing = want
            self.rt._poller.modify(self.sock, zmq.POLLIN | (zmq.POLLOUT if want else 0))

    def flush(self) -> None:
        outbox, send = self.outbox, self.sock.send
        while outbox and self.registered:
            try:
                send(seal(*outbox[0]), zmq.NOBLOCK)
            except zmq.Again:
                return
            outbox.popleft()

    def drain(self, budget: int) -> None:
        recv = self.sock.recv
        deliver = self.rt._deliver
        n = 0
        while n < budget:
            try:
                frame = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
            try:
                identity, dst, header, body = unseal(frame, DELIVERED_PARTS)
            except Rejected as exc:
                self.rt.reject(exc, "broker")
                continue
            if dst == BROKER_B:
                self._from_broker(identity, header, body)
            else:
                deliver(dst, identity, header, body)

    def _from_broker(self, identity: bytes, header: bytes, body: bytes) -> None:
        decoded = self.rt._decode(header, body, identity)
        if decoded is None:
            return
        _, msg = decoded
        if isinstance(msg, Registered):
            self.broker_identity = identity
            if not self.registered:
                self.rt.log.info("registered with broker", identity=msg.identity,
                                 actors=len(self.rt._actors))
            if msg.refused and msg.refused != self.refused:
                self.rt.log.error("broker refused actor names", refused=msg.refused)
            self.refused = msg.refused
            self.registered = True
            if self._forgotten:
                self._forgotten = False
                self.rt._reregistered()
            if self._register_timer is not None:
                self._register_timer.cancel()
                self._register_timer = None
            self.flush()
        elif isinstance(msg, Reregister):
            if self._register_timer is not None:
                return  # already registering: one answer per frame sent meanwhile is no news
            self.rt.log.info("broker asks to register again", reason=msg.reason)
            self.rt.metrics.reregistrations += 1
            self._forgotten = True
            self.registered = False
            self.register()

    def tick(self) -> None:
        """Every heartbeat interval: keep the broker aware of us."""
        if self.registered and self.refused:
            self._send_register()  # the holder of a refused name may be gone by now
        elif self.registered and not self._sent_since_tick:
            self._direct(Heartbeat())
        self._sent_since_tick = False

    def close(self) -> None:
        if self.sock is None:
            return
        if self.registered:
            self._direct(Unregister())
        self.sock.close(linger=200)
        self.sock = None
