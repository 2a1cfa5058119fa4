"""Sockets for the bus, made with the options the rest of the bus relies on.

- Every socket binds 127.0.0.1 unless CURVE is on: a bus without encryption
  and authentication is never reachable from another host.
- The broker's ROUTER has ``ROUTER_MANDATORY`` (an unroutable message is an
  error the broker sees, not a silent drop) and lets ZeroMQ pick connection
  ids, so a peer cannot claim another peer's id: the broker binds each id to
  an identity when the peer registers.
- Peers' DEALERs set ``IMMEDIATE``: while the broker is away, sends fail at
  once and wait in the runtime's bounded outbox instead of piling up inside
  ZeroMQ towards a broker that may never come back. Every message on these
  sockets is a single frame (see :mod:`bus.codec`): libzmq aborts when an
  ``IMMEDIATE`` DEALER reconnects while its owner is between the frames of
  a multipart message.
- ``MAXMSGSIZE`` caps every inbound message; a peer that exceeds it is
  disconnected by ZeroMQ before Python sees a byte.
- Liveness is the transport's (ZMTP heartbeats, ``HEARTBEAT_IVL`` and
  ``HEARTBEAT_TIMEOUT``): ZeroMQ's I/O thread pings and answers pings on its
  own, so a connection is closed when the process at the other end is gone,
  stopped or cut off, and never merely because its Python loop was busy (a
  long turn of work, a garbage-collection pause). A closed DEALER connects
  again by itself; the broker learns of a closed peer connection from
  ``ROUTER_MANDATORY`` (``EHOSTUNREACH``) on its next send to it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import zmq

from bus.messages import BATCH_SLACK_BYTES, ENVELOPE_SLACK_BYTES
from bus.transport.curve import ZAP_DOMAIN, KeyPair, start_authenticator

#: Messages queued per connection before sends fail (bounded memory, room for bursts).
DEFAULT_HWM = 100_000


@dataclass(frozen=True, slots=True)
class Liveness:
    """ZMTP heartbeats: a ping every ``interval_s``; a connection silent ``intervals`` times that is closed."""

    interval_s: float
    intervals: int


class BindRefused(ValueError):
    """Binding a non-loopback address without CURVE."""


class BindFailed(OSError):
    """The operating system would not let the broker listen (e.g. the port is taken)."""


@dataclass(frozen=True)
class Security:
    """How a process secures its bus sockets."""

    curve: bool = False
    keypair: KeyPair | None = None
    """This process's own keys (required when ``curve``)."""
    broker_public: bytes | None = None
    """The broker's public key, for peers (required when ``curve``)."""
    allowed: dict[bytes, str] | None = None
    """Broker only: public key (z85) -> identity name of every admitted peer."""


def check_bind_host(host: str, curve: bool) -> None:
    """Refuse to expose an unencrypted bus beyond this machine."""
    if curve:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BindRefused(
            f"refusing to bind {host!r}: the bus binds 127.0.0.1 unless security.curve is true"
        )


def endpoint(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


def new_context() -> zmq.Context:
    return zmq.Context()


def bind_router(ctx: zmq.Context, host: str, port: int, sec: Security, max_frame_bytes: int,
                hwm: int = DEFAULT_HWM, liveness: Liveness | None = None) -> tuple[zmq.Socket, int, object | None]:
    """The broker's ROUTER; returns (socket, bound port, authenticator or None)."""
    check_bind_host(host, sec.curve)
    auth = None
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    _common(sock, max_frame_bytes, hwm, liveness)
    if sec.curve:
        if sec.keypair is None or sec.allowed is None:
            raise ValueError("security.curve is on but the broker has no keys or allow-list")
        auth = start_authenticator(ctx, sec.allowed)
        sock.curve_server = True
        sock.curve_secretkey = sec.keypair.secret
        sock.curve_publickey = sec.keypair.public
        sock.zap_domain = ZAP_DOMAIN.encode()
    try:
        if port == 0:
            port = sock.bind_to_random_port(f"tcp://{host}")
        else:
            sock.bind(endpoint(host, port))
    except zmq.ZMQError as exc:
        sock.close(0)
        if auth is not None:
            auth.stop()
        raise BindFailed(f"cannot listen on {endpoint(host, port)}: {exc}") from None
    return sock, port, auth


def connect_dealer(ctx: zmq.Context, host: str, port: int, sec: Security, max_frame_bytes: int,
                   hwm: int = DEFAULT_HWM, liveness: Liveness | None = None) -> zmq.Socket:
    """A peer's DEALER towards the broker."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    _common(sock, max_frame_bytes, hwm, liveness)
    if sec.curve:
        if sec.keypair is None or sec.broker_public is None:
            raise ValueError("security.curve is on but this process has no keys or broker key")
        sock.curve_secretkey = sec.keypair.secret
        sock.curve_publickey = sec.keypair.public
        sock.curve_serverkey = sec.broker_public
    sock.connect(endpoint(host, port))
    return sock


def _common(sock: zmq.Socket, max_frame_bytes: int, hwm: int, liveness: Liveness | None) -> None:
    if liveness is not None:
        interval_ms = max(1, round(liveness.interval_s * 1000))
        timeout_ms = max(1, round(liveness.interval_s * liveness.intervals * 1000))
        sock.setsockopt(zmq.HEARTBEAT_IVL, interval_ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, timeout_ms)
        sock.setsockopt(zmq.HEARTBEAT_TTL, timeout_ms)  # the other end, too, gives up on us after that
    sock.setsockopt(zmq.LINGER, 200)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    # A message is one envelope (bus.codec.seal): the body and a few small parts.
    sock.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes + BATCH_SLACK_BYTES + ENVELOPE_SLACK_BYTES)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
