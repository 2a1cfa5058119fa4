"""Chaos by hand: one fault at a time, put in and healed from the dashboard, through the chaos runner's injectors.

An experiment schedules faults on a timeline; a person at the dashboard
wants one now — this node killed, that scheduler paused — and healed when
they say. :class:`ChaosConsole` turns such a request into the same
:class:`~kubesim.chaos.schedule.Occurrence` an experiment's schedule makes
and hands it to the same :class:`~kubesim.chaos.injectors.Injector`, so a
fault from the page is exactly the fault an experiment would put in, and
is listed until it is healed:

- ``kill``: kill -9, and the process is kept down (its supervisor stopped)
  until it is healed, as a machine that lost power (a node turns NotReady);
- ``pause``: SIGSTOP until healed (a hung process: its connections stay up);
- ``restart``: kill -9, and its supervisor starts it again (nothing to heal);
- ``partition``: the process cut off from every other (no message in or
  out, either way), until healed.

The console runs on its host actor's loop (the dashboard's).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from kubesim.chaos.experiment import Fault
from kubesim.chaos.injectors import InjectionFailed, Injector
from kubesim.chaos.schedule import Occurrence

if TYPE_CHECKING:
    from bus.runtime import Actor
    from kubesim.config import ClusterConfig

#: What the page offers, and the experiment action each one is (a restart is a kill the supervisor recovers
#: from: the supervisor's own restart waits out the process's graceful stop, and the page would wait with it).
ACTIONS = {"kill": "kill", "pause": "pause", "restart": "kill", "partition": "isolate"}
#: Processes the page does not offer (the demo pair is not part of the cluster).
NOT_TARGETS = ("demo-ping", "demo-pong")
#: Processes no fault may hit: the dashboard's own would take the page down with it.
SELF = ("dashboard",)


class ConsoleError(ValueError):
    """A request the console cannot carry out; says why."""


class ChaosConsole:
    def __init__(self, cfg: ClusterConfig, host: Actor) -> None:
        self.processes = {n: p.component for n, p in cfg.processes.items()
                          if p.component not in NOT_TARGETS + SELF}
        self.injector = Injector(cfg, host, self.processes)
        self.host = host
        self._ids = itertools.count(1)

    @property
    def actions(self) -> list[str]:
        return list(ACTIONS)

    def targets(self) -> list[dict]:
        return [{"name": n, "component": c} for n, c in sorted(self.processes.items())]

    async def inject(self, action: str, target: str) -> dict | None:
        """Put one fault in; what is now in force (None for a restart, which is over at once)."""
        if action not in ACTIONS:
            raise ConsoleError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
        if target not in self.processes:
            raise ConsoleError(f"target: {target!r} is not a process the dashboard can break "
                               f"(one of {', '.join(sorted(self.processes))})")
        n = next(self._ids)
        # A kill kept down until healed, as an experiment's `kill` with `for` is (a power-off).
        fault = Fault.model_validate({"action": ACTIONS[action], "target": {"name": target},
                                      **({"for": 1e9} if action == "kill" else {})})
        occ = Occurrence(f"f{n}", 0, fault, 0.0, None if action == "restart" else 1e9, n)
        side_a, side_b = self.injector.targets(occ, {})
        try:
            active = await self.injector.inject(occ, side_a, side_b)
        except InjectionFailed as exc:
            raise ConsoleError(str(exc)) from None
        if active.heal is None:
            return None
        active.extra.update(action=action, since=self.host.clock.monotonic())  # kept with the fault itself
        return self._describe(occ.id)

    async def heal(self, fault_id: str | None = None) -> list[str]:
        """Heal one fault, or every one (None); what went wrong, if anything."""
        if fault_id is None:
            return await self.injector.heal_all()
        if fault_id not in self.injector.active:
            raise ConsoleError(f"no fault {fault_id!r} is in force")
        try:
            await self.injector.heal(fault_id)
        except InjectionFailed as exc:
            return [str(exc)]
        return []

    def active(self) -> list[dict]:
        return [self._describe(i) for i in self.injector.active]

    def _describe(self, fault_id: str) -> dict:
        a = self.injector.active[fault_id]
        now = self.host.clock.monotonic()
        return {"id": fault_id, "action": a.extra.get("action", a.occurrence.fault.action), "targets": a.targets,
                "detail": a.detail,
                "since_s": round(now - a.extra.get("since", now), 1)}  # cluster seconds, as every age shown
