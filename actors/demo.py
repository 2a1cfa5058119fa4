"""Two small demo actors that exchange requests through the broker.

They stand in for the components until those exist, so that `honcho start`
shows real traffic: the pinger asks the ponger every ``interval_s`` and logs
the round trip; the ponger answers. Both show the shape every component will
have: handlers per message kind, timers from the clock, requests with
deadlines whose failures are told apart (indeterminate vs. undeliverable).
"""

from __future__ import annotations

from actors.messages import Ping, Pong
from bus.runtime import Actor, Envelope, RequestFailed, handles


class Ponger(Actor):
    """Answers every Ping."""

    def __init__(self, name: str = "ponger") -> None:
        super().__init__(name)
        self.served = 0

    @handles(Ping)
    def on_ping(self, msg: Ping, env: Envelope) -> None:
        self.served += 1
        self.log.debug("ping served", seq=msg.seq, sender=env.sender, identity=env.identity)
        self.reply(env, Pong(msg.seq, self.name, self.served))


class Pinger(Actor):
    """Sends a Ping to ``target`` every ``interval_s`` and logs what happened."""

    def __init__(self, name: str = "pinger", target: str = "ponger", interval_s: float = 1.0) -> None:
        super().__init__(name)
        self.target = target
        self.interval_s = interval_s
        self.seq = 0
        self.answered = 0
        self.failed = 0

    def on_start(self) -> None:
        self.call_every(self.interval_s, lambda: self.spawn(self.ping_once()))

    async def ping_once(self) -> None:
        self.seq += 1
        seq = self.seq
        started = self.clock.monotonic()
        try:
            pong = await self.request(self.target, Ping(seq), timeout_s=self.interval_s, retries=1)
        except RequestFailed as exc:
            self.failed += 1
            self.log.warning("ping failed", seq=seq, target=self.target, outcome=type(exc).__name__,
                             error=str(exc))
            return
        self.answered += 1
        self.log.info("pong", seq=seq, served_by=pong.served_by, served=pong.served,
                      rtt_ms=round((self.clock.monotonic() - started) * 1000, 3))
