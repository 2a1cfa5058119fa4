"""The bus's own settings, filled from the cluster config by the ``kubesim`` layer."""

from __future__ import annotations

from dataclasses import dataclass

from bus.transport.sockets import Liveness


@dataclass(frozen=True)
class BusSettings:
    broker_host: str = "127.0.0.1"
    broker_port: int = 5555
    heartbeat_interval_s: float = 1.0
    """Real seconds between heartbeats; transport liveness is not scaled with time_scale."""
    heartbeat_liveness: int = 3
    """A connection whose other end has not answered the transport's pings for this many intervals is dead."""
    max_frame_bytes: int = 1024 * 1024
    """Largest body accepted; larger frames are rejected (and ZeroMQ disconnects the sender)."""
    peer_max_frame_bytes: int = 0
    """Largest frame on the broker's socket, to and from peers (0: ``max_frame_bytes``). The API
    server's broker takes whole store ranges over its direct links, so its own limit is larger."""
    request_timeout_s: float = 5.0
    """Default deadline of one request attempt, in cluster seconds."""
    request_retries: int = 2
    """Default extra attempts after a timed-out or undeliverable attempt."""
    outbox_limit: int = 100_000
    """Messages held while the socket or the broker cannot take them; beyond it sends are dropped."""
    max_batch: int = 1024
    """Most messages to one destination coalesced into one frame; 1 sends every message alone."""
    drain_budget: int = 1_000
    """Most messages handled per wake-up before timers get their turn."""

    @property
    def liveness(self) -> Liveness:
        """The ZMTP heartbeats of the broker's socket and its peers' (real seconds)."""
        return Liveness(self.heartbeat_interval_s, self.heartbeat_liveness)

    @property
    def peer_frame_limit(self) -> int:
        return self.peer_max_frame_bytes or self.max_frame_bytes
