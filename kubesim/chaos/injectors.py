"""Putting faults into a running cluster and taking them out again.

Every fault goes in through something the cluster already has, the way an
operator's tooling would reach a real one:

- process faults (kill -9, pause, stop, restart) through each process's
  supervisor, on its control socket — which works while the bus is down;
- network faults (partitions, isolation, bridges, message loss, delay,
  duplication, reordering) as rules of the bus fault filter of the processes
  concerned (``<process>.bus``), which every send and receive passes through;
- disk faults (a failing fsync, a power cut that loses what was not fsynced)
  and actor crashes (a node's kubelet alone) by messages to the actor;
- clock skew by moving one process's wall clock;
- cloud faults through the simulated provider (an instance terminated).

:class:`Injector` keeps what it did, so :meth:`Injector.heal_all` can undo
every fault still active whatever ended the run. Fault rules live in a
process's memory: one restarted while a partition holds comes back without
them, so :meth:`Injector.reassert` sends them again every probe round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable

from actors.messages import KubeletRestart, StoreDiskFault
from bus.messages import ClearFaults, SetClockSkew, SetFaults
from bus.runtime import Actor, Indeterminate, RequestFailed, UndeliverableError
from bus.transport.control import ControlUnreachable, request
from kubesim.chaos.experiment import MESSAGE_ACTIONS, Fault
from kubesim.chaos.schedule import (
    Occurrence,
    bridge_sides,
    cut_rules,
    message_rules,
    process_seed,
    select,
)
from kubesim.config import ClusterConfig

#: Seconds to wait for a supervisor or a process to take an order.
ORDER_TIMEOUT_S = 5.0
#: Real seconds a fault waits for its target process to be reachable (it may be restarting after an earlier one).
UP_WAIT_S = 30.0


class InjectionFailed(RuntimeError):
    """A fault could not be put in (or taken out); the message says where."""


@dataclass
class Active:
    occurrence: Occurrence
    targets: list[str]
    heal: Callable[[], Any] | None
    """A coroutine function that undoes the fault (None: nothing to undo)."""
    detail: str = ""
    extra: dict = field(default_factory=dict)


class Injector:
    def __init__(self, cfg: ClusterConfig, host: Actor, processes: dict[str, str]) -> None:
        self.cfg, self.host, self.processes = cfg, host, processes
        self.active: dict[str, Active] = {}
        self._rules: dict[str, dict[str, list[dict]]] = {}
        """process -> occurrence id -> its rules: a process's rule set is the union of its active faults'."""
        self._seeds: dict[str, int] = {}
        self.touched: set[str] = set()
        """Processes ever given rules or a skew: cleared again at the end, whatever happened."""

    # --- choosing targets -------------------------------------------------------------
    def targets(self, occ: Occurrence, leaders: dict[str, str | None]) -> tuple[list[str], list[str]]:
        """The processes an occurrence hits (sides A and B for network faults; B empty otherwise)."""
        rng = Random(occ.seed)
        f = occ.fault

        def pick(t) -> list[str]:
            role = t.role or self.processes.get(t.name or "", "")
            return select(t, self.processes, rng, leaders.get(role))

        if f.action == "partition":
            a, b = f.groups
            side_a = pick(a) if a != "rest" else []
            side_b = pick(b) if b != "rest" else []
            everyone = sorted(self.processes)
            if a == "rest":
                side_a = [p for p in everyone if p not in side_b]
            if b == "rest":
                side_b = [p for p in everyone if p not in side_a]
            # Two sides never share a process: [{role: store, select: leader}, {role: store}] cuts the leader
            # from the other members.
            return side_a, [p for p in side_b if p not in side_a]
        if f.action in MESSAGE_ACTIONS:
            side_a = pick(f.between[0])
            side_b = pick(f.between[1]) if len(f.between) > 1 and f.between[1] != "rest" else []
            return side_a, side_b
        if f.action == "bridge":
            return list(bridge_sides(pick(f.target), rng))
        return pick(f.target), []

    # --- injecting ------------------------------------------------------------------
    async def inject(self, occ: Occurrence, side_a: list[str], side_b: list[str]) -> Active:
        f = occ.fault
        a = f.action
        if a in ("kill", "pause", "stop", "restart"):
            active = await self._process_fault(occ, f, side_a)
        elif a in ("partition", "isolate", "bridge"):
            if a == "isolate":
                # Each target alone, cut from every other process (the other targets too).
                rules: dict[str, list[dict]] = {}
                for t in side_a:
                    for p, rs in cut_rules([t], [q for q in sorted(self.processes) if q != t]).items():
                        rules.setdefault(p, []).extend(rs)
                side_b = []
            else:
                rules = cut_rules(side_a, side_b, one_way=f.one_way and a == "partition")
            down = await self._add_rules(occ, rules)
            arrow = "->" if f.one_way and a == "partition" else "|"
            what = (f"{','.join(side_a)} isolated" if a == "isolate" else
                    f"{','.join(side_a)} {arrow} {','.join(side_b)}")
            active = Active(occ, side_a + side_b, lambda: self._drop_rules(occ), what + _later(down))
        elif a in MESSAGE_ACTIONS:
            rules = message_rules(f, side_a, side_b or None)
            down = await self._add_rules(occ, rules)
            what = f"{a} p={f.probability:g}" + (f" {f.delay_s:g}s±{f.jitter_s:g}" if a == "delay" else "")
            active = Active(occ, side_a, lambda: self._drop_rules(occ),
                            f"{what} between {','.join(side_a)} and {','.join(side_b) or 'everyone else'}"
                            + (f" ({f.actor})" if f.actor else "") + _later(down))
        elif a in ("fsync-error", "lose-unfsynced"):
            for p in side_a:
                if self.processes[p] != "store":
                    raise InjectionFailed(f"{a}: {p} is not a store member")
                await self._ask_when_up(p, StoreDiskFault(a))
            active = Active(occ, side_a, None, f"{a} on {','.join(side_a)}")
        elif a == "crash-actor":
            for p in side_a:
                await self._ask_when_up(f"{p}.{f.actor}", KubeletRestart(), repeatable=False)
            active = Active(occ, side_a, None, f"{f.actor} of {','.join(side_a)} crashed and restarted")
        elif a == "clock-skew":
            for p in side_a:
                self.touched.add(p)
                await self._ask_when_up(f"{p}.bus", SetClockSkew(f.skew_s))
            active = Active(occ, side_a, lambda: self._unskew(side_a), f"wall clock {f.skew_s:+g}s on "
                                                                         f"{','.join(side_a)}")
        elif a == "terminate-instance":
            from kubesim.cloud import terminate

            for p in side_a:
                await self._api_retrying(lambda: terminate(self.host.api, p))
            active = Active(occ, side_a, lambda: self._new_instance(side_a),
                            f"instance of {','.join(side_a)} terminated")
        else:  # pragma: no cover - the experiment's schema lists every action
            raise InjectionFailed(f"unknown action {a!r}")
        if active.heal is not None:
            self.active[occ.id] = active
        return active

    async def heal(self, occ_id: str) -> None:
        active = self.active.pop(occ_id, None)
        if active is not None and active.heal is not None:
            await active.heal()

    async def heal_all(self) -> list[str]:
        """Undo every active fault, then clear every rule and skew ever set; returns what went wrong."""
        errors = []
        for occ_id in list(self.active):
            try:
                await self.heal(occ_id)
            except (InjectionFailed, RequestFailed) as exc:
                errors.append(f"{occ_id}: {exc}")
        self._rules.clear()
        for p in sorted(self.touched):
            try:
                await self._ask(f"{p}.bus", ClearFaults(), retries=3)
                await self._ask(f"{p}.bus", SetClockSkew(0.0), retries=1)
            except UndeliverableError:
                pass  # not running (or restarting): a process starts with no rules and its own clock
            except RequestFailed as exc:
                errors.append(f"{p}: {exc}")
        for p in sorted(self.processes):
            try:
                reply = self._ctl(p, "status", check=False)
            except InjectionFailed as exc:
                errors.append(str(exc))
                continue
            if reply.get("state") == "paused":
                self._ctl(p, "resume", check=False)
            elif reply.get("state") == "stopped":
                self._ctl(p, "start", check=False)
        return errors

    # --- process faults -------------------------------------------------------------
    async def _process_fault(self, occ: Occurrence, f: Fault, targets: list[str]) -> Active:
        a = f.action
        if a == "kill":
            for p in targets:
                self._ctl(p, "kill")
                if f.for_s is not None:
                    self._ctl(p, "stop")  # stays down: a power-off, healed by a start
            heal = (lambda: self._each(targets, "start")) if f.for_s is not None else None
            return Active(occ, targets, heal, f"kill -9 {','.join(targets)}"
                          + (" (kept down)" if f.for_s is not None else " (the supervisor restarts it)"))
        if a == "pause":
            for p in targets:
                self._ctl(p, "pause")
            return Active(occ, targets, lambda: self._each(targets, "resume"), f"SIGSTOP {','.join(targets)}")
        if a == "stop":
            for p in targets:
                self._ctl(p, "stop")
            return Active(occ, targets, lambda: self._each(targets, "start"), f"stopped {','.join(targets)}")
        for p in targets:
            self._ctl(p, "restart")
        return Active(occ, targets, None, f"restarted {','.join(targets)}")

    async def _each(self, targets: list[str], cmd: str) -> None:
        for p in targets:
            self._ctl(p, cmd, check=False)

    def _ctl(self, process: str, cmd: str, check: bool = True) -> dict:
        try:
            reply = request(self.cfg.control_socket(process), {"command": cmd}, ORDER_TIMEOUT_S)
        except ControlUnreachable as exc:
            raise InjectionFailed(f"{process}'s supervisor: {exc}") from None
        if check and not reply.get("ok"):
            raise InjectionFailed(f"{process}'s supervisor refused {cmd}: {reply.get('error')}")
        return reply

    # --- bus fault rules --------------------------------------------------------------
    async def _add_rules(self, occ: Occurrence, rules: dict[str, list[dict]]) -> list[str]:
        """Give each process its share of the rules; returns the processes that did not answer.

        A process that is down (killed, restarting) cannot send or receive anything anyway: its rules are kept
        and :meth:`reassert` gives them to it when it is back, so the fault is in force either way.
        """
        for p, rs in rules.items():
            self._rules.setdefault(p, {})[occ.id] = rs
            self._seeds.setdefault(p, process_seed(occ.seed, p))
        return await self._send_all(list(rules))

    async def _drop_rules(self, occ: Occurrence) -> None:
        changed = [p for p, by_occ in self._rules.items() if by_occ.pop(occ.id, None) is not None]
        await self._send_all(changed)  # one that is down comes back with no rules at all

    async def _send_all(self, processes: list[str]) -> list[str]:
        results = await gather(self.host, [self._send_rules(p) for p in processes])
        return [p for p, r in zip(processes, results) if isinstance(r, RequestFailed)]

    async def _send_rules(self, process: str) -> None:
        rules = [r for _, rs in sorted(self._rules.get(process, {}).items()) for r in rs]
        self.touched.add(process)
        msg = SetFaults(rules, self._seeds.get(process)) if rules else ClearFaults()
        await self._ask(f"{process}.bus", msg, retries=2)

    async def reassert(self) -> list[str]:
        """Send every process its rules again (one restarted meanwhile lost them); returns what failed."""
        errors = []
        for p, by_occ in list(self._rules.items()):
            if any(by_occ.values()):
                try:
                    await self._send_rules(p)
                except RequestFailed as exc:
                    errors.append(f"{p}: {exc}")
        return errors

    async def _unskew(self, targets: list[str]) -> None:
        for p in targets:
            await self._ask(f"{p}.bus", SetClockSkew(0.0), retries=2)

    async def _new_instance(self, nodes: list[str]) -> None:
        """Heal a terminated instance: the cloud has a new one for the node, and its machine boots again."""
        from actors.cloud.controllers import INVENTORY_NAME, INVENTORY_NAMESPACE

        await self._api_retrying(lambda: self.host.api.patch(
            "configmaps", INVENTORY_NAME, {"data": {n: None for n in nodes}}, INVENTORY_NAMESPACE,
            patch_type="merge"))
        await self._each(nodes, "restart")

    async def _api_retrying(self, call: Callable[[], Any], attempts: int = 5) -> Any:
        """An API call, tried again while the API server answers 5xx (its store is electing, say)."""
        from actors.apiserver.client import ApiError

        for attempt in range(attempts):
            try:
                return await call()
            except ApiError as exc:
                if exc.code < 500 or attempt == attempts - 1:
                    raise
                await self.host.sleep(1.0 * self.host.clock.scale)

    async def _ask_when_up(self, dst: str, msg, *, repeatable: bool = True) -> Any:
        """Ask an actor whose process may be restarting (an earlier fault): wait up to UP_WAIT_S real seconds for
        it to be reachable. An unanswered request is sent again only if it is ``repeatable`` (a skew, a disk
        fault: twice is as once); a kubelet restart is sent again only if it certainly was not delivered."""
        scale = self.host.clock.scale
        deadline = self.host.clock.monotonic() + UP_WAIT_S * scale
        while True:
            try:
                return await self.host.request(dst, msg, timeout_s=2.0 * scale, retries=0)
            except (UndeliverableError, Indeterminate) as exc:
                if self.host.clock.monotonic() >= deadline or (isinstance(exc, Indeterminate) and not repeatable):
                    raise
                await self.host.sleep(0.5 * scale)

    async def _ask(self, dst: str, msg, retries: int = 1) -> Any:
        # Timeouts are cluster seconds: a real second or two per attempt at any time_scale.
        per_attempt = ORDER_TIMEOUT_S / (retries + 1) * self.host.clock.scale
        return await self.host.request(dst, msg, timeout_s=per_attempt, retries=retries)


def _later(down: list[str]) -> str:
    return f" ({', '.join(down)} down: given the rules when back)" if down else ""


async def gather(host: Actor, coros: list) -> list:
    """Run the coroutines together on the host's loop; each one's result or the exception it raised."""
    results: list = [None] * len(coros)

    async def capture(i: int, coro) -> None:
        try:
            results[i] = await coro
        except Exception as exc:  # collected: one unreachable process must not leave the others unset
            results[i] = exc

    for task in [host.spawn(capture(i, c)) for i, c in enumerate(coros)]:
        await task.future
    return results


