"""A sample of the messages the broker routes: who is talking to whom, for the dashboard's message flow.

The broker relays envelopes without decoding them, and most of the cluster's
traffic passes through it (every API request, every watch event, every
message between components); the store members' raft traffic does not (they
talk to each other directly). When someone asks for the flow
(``bus.FlowQuery`` to the broker's ``<process>.bus``), the broker keeps one
message in :attr:`FlowTap.every`, decoding only that one's header to learn
its kind, in a bounded ring; nobody asking for a while turns it off again,
so a broker nobody watches pays one attribute test per message.

Pure: no sockets, no clock.
"""

from __future__ import annotations

from collections import deque

#: Samples kept for askers that fall behind.
KEEP = 4096
#: One message in this many is sampled.
EVERY = 10
#: Seconds without a query after which sampling stops.
IDLE_S = 15.0


class FlowTap:
    def __init__(self, every: int = EVERY, keep: int = KEEP) -> None:
        assert every >= 1 and keep >= 1
        self.every = every
        self._countdown = 1  # the first message is sampled
        self._ring: deque[list] = deque(maxlen=keep)
        self.seq = 0
        self.asked_at = 0.0

    def hit(self) -> bool:
        """Whether the message at hand is one to sample."""
        self._countdown -= 1
        if self._countdown > 0:
            return False
        self._countdown = self.every
        return True

    def record(self, t: float, src: str, dst: str, kinds: list[str]) -> None:
        for kind in kinds:
            self.seq += 1
            self._ring.append([self.seq, t, src, dst, kind])

    def after(self, seq: int, limit: int = 1000) -> list[list]:
        """Samples newer than ``seq``, oldest first, at most the newest ``limit`` (``seq`` 0: the newest 50)."""
        if seq <= 0:
            return list(self._ring)[-50:]
        newer = [s for s in self._ring if s[0] > seq] if self._ring and self._ring[-1][0] > seq else []
        return newer[-limit:]
