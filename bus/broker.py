"""The broker's registry of live peers: who is connected, what they host, who is dead.

A pure core with no sockets and no clock of its own (``now`` is passed in),
so re-registration and name ownership are tested with a manual clock. The
runtime's broker link (:mod:`bus.runtime`) feeds it and does the I/O; it
removes a peer when the transport says its connection is gone.

The rules:

- A peer is known by the id ZeroMQ gave its connection (``rid``). It becomes
  routable only by registering; until then the broker answers anything it
  sends with ``Reregister``.
- Any traffic from a peer counts as a sign of life (``last_seen``); a peer
  silent for ``liveness`` intervals no longer holds its names against
  another identity (below). Its routes are dropped only when its connection
  is gone: a peer that is busy is not dead.
- Actor names route to the peer that registered them. A newer registration
  by the *same identity* takes the names over (a restarted process reconnects
  before its old connection is declared dead); a *different* identity cannot
  take a name that a live peer holds (one silent past the expiry is not
  live, and loses the name).
- Nobody may register the broker's own address or its own actors' names.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Peer:
    """One registered connection."""

    rid: bytes
    """ZeroMQ's id of the connection."""
    name: str
    """The process name the peer gave."""
    identity: bytes
    """Who the broker believes it is: its CURVE key's name, else its claimed name."""
    pid: int
    last_seen: float
    actors: set[bytes] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Registration:
    peer: Peer
    refused: list[str]
    """Actor names held by a live peer of another identity."""
    replaced: list[Peer]
    """Older connections of the same identity that this one supersedes."""


class BrokerCore:
    """Peers by connection id and routes by actor name."""

    def __init__(self, heartbeat_interval_s: float, liveness: int) -> None:
        assert heartbeat_interval_s > 0 and liveness >= 1
        self.interval_s = heartbeat_interval_s
        self.liveness = liveness
        self.peers: dict[bytes, Peer] = {}
        self.routes: dict[bytes, Peer] = {}

    @property
    def expiry_s(self) -> float:
        return self.interval_s * self.liveness

    def register(self, rid: bytes, name: str, identity: bytes, actors: list[str], pid: int, now: float,
                 reserved: frozenset[bytes] = frozenset()) -> Registration:
        """Route ``actors`` to connection ``rid``; names in ``reserved`` (the broker's own) are refused."""
        replaced = [p for p in self.peers.values() if p.identity == identity and p.name == name and p.rid != rid]
        for old in replaced:
            self.remove(old.rid)
        peer = self.peers.get(rid)
        if peer is None:
            peer = self.peers[rid] = Peer(rid, name, identity, pid, now)
        else:
            peer.name, peer.identity, peer.pid, peer.last_seen = name, identity, pid, now
        wanted = {actor.encode() for actor in actors}
        for stale in peer.actors - wanted:  # names this connection no longer hosts
            if self.routes.get(stale) is peer:
                del self.routes[stale]
        peer.actors &= wanted
        refused = []
        for actor in actors:
            key = actor.encode()
            if key in reserved:
                refused.append(actor)
                continue
            holder = self.routes.get(key)
            if (holder is not None and holder is not peer and holder.identity != identity
                    and now - holder.last_seen <= self.expiry_s):
                refused.append(actor)
                continue
            if holder is not None and holder is not peer:
                holder.actors.discard(key)
            self.routes[key] = peer
            peer.actors.add(key)
        return Registration(peer, refused, replaced)

    def remove(self, rid: bytes) -> Peer | None:
        peer = self.peers.pop(rid, None)
        if peer is not None:
            for key in peer.actors:
                if self.routes.get(key) is peer:
                    del self.routes[key]
        return peer

    def route(self, actor: bytes) -> Peer | None:
        """The peer ``actor`` routes to (the broker's hot loop reads ``routes`` directly)."""
        return self.routes.get(actor)
