"""Steady-state probes: is the cluster doing what it is for, right now?

Each probe asks the cluster one question a person running it would ask —
are the nodes Ready, does the Deployment have its replicas available, does
the store have exactly one leader, does the Service answer — and compares the
answer with the experiment's expectation. The runner runs them all before the
faults (the hypothesis must hold to begin with), every ``interval_s`` while
faults are active, and after recovery. :class:`Streaks` turns the results into
"failing for how long", for tolerances and abort conditions.

:func:`judge` is the pure part: an answer and an expectation in, ok and a
sentence out.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.apiserver.client import ApiClient, ApiError
from actors.controllers.nodelifecycle import ready_status
from actors.messages import StoreStatusReply
from actors.store.client import StoreClient, StoreUnavailable
from bus.runtime import Actor
from kubesim.chaos.experiment import Probe
from kubesim.chaos.injectors import gather
from kubesim.chaos.workloads import ServiceAddress, request


@dataclass(frozen=True)
class Result:
    probe: str
    time: float
    ok: bool
    detail: str
    phase: str = ""

    def to_dict(self) -> dict:
        return {"name": self.probe, "phase": self.phase, "time": round(self.time, 3), "ok": self.ok,
                "detail": self.detail}


def judge(value: int, expect: dict[str, int], default_min: int, what: str) -> tuple[bool, str]:
    """Compare a count with ``expect`` (``min``/``equals``; none given: at least ``default_min``)."""
    if "equals" in expect:
        ok = value == expect["equals"]
        return ok, f"{value} {what} (expected {expect['equals']})"
    want = expect.get("min", default_min)
    return value >= want, f"{value} {what} (expected at least {want})"


def store_leader_verdict(statuses: dict[str, StoreStatusReply | None]) -> tuple[bool, str, str | None]:
    """Exactly one leader, in the newest term, recognised by a quorum: ``(ok, detail, leader)``."""
    answered = {m: s for m, s in statuses.items() if s is not None}
    quorum = len(statuses) // 2 + 1
    if len(answered) < quorum:
        down = sorted(set(statuses) - set(answered))
        return False, f"only {len(answered)} of {len(statuses)} members answer ({', '.join(down)} silent)", None
    top = max(s.term for s in answered.values())
    leaders = sorted(m for m, s in answered.items() if s.role == "leader" and s.term == top)
    if len(leaders) != 1:
        return False, f"{len(leaders)} leaders in term {top} ({', '.join(leaders) or 'an election is under way'})", None
    leader = leaders[0]
    followers = [m for m, s in answered.items() if s.leader == leader]
    if len(followers) < quorum:
        return False, f"{leader} leads term {top} but only {len(followers)} members follow it", None
    return True, f"{leader} leads term {top}", leader


class Prober:
    """Runs the experiment's probes against the cluster (one round at a time)."""

    def __init__(self, probes: list[Probe], api: ApiClient, store: StoreClient, host: Actor, nodes: list[str],
                 members: list[str]) -> None:
        self.probes, self.api, self.store, self.host = probes, api, store, host
        self.nodes, self.members = nodes, members
        self._addresses: dict[tuple[str, str], ServiceAddress] = {}
        self.statuses: dict[str, StoreStatusReply | None] = {}
        """Every member's last answer (None: it did not answer), for the raft checks and leader targets."""
        self.store_leader: str | None = None
        self.node_ready: dict[str, bool] = {}

    async def store_status(self) -> dict[str, StoreStatusReply | None]:
        async def one(m: str):
            try:
                return await self.store.status(m, timeout_s=1.0 * self.host.clock.scale)
            except StoreUnavailable:
                return None

        answers = await gather(self.host, [one(m) for m in self.members])
        self.statuses = {m: (a if isinstance(a, StoreStatusReply) else None) for m, a in zip(self.members, answers)}
        ok, _, leader = store_leader_verdict(self.statuses)
        self.store_leader = leader if ok else None
        return self.statuses

    async def run_one(self, probe: Probe, now: float) -> Result:
        try:
            ok, detail = await self._ask(probe)
        except ApiError as exc:
            ok, detail = False, f"API: {exc.code} {exc.reason}: {exc.message}"
        return Result(probe.label, now, ok, detail)

    async def _ask(self, p: Probe) -> tuple[bool, str]:
        if p.type == "store-leader":
            ok, detail, _ = store_leader_verdict(await self.store_status())
            return ok, detail
        if p.type == "nodes-ready":
            nodes = (await self.api.list("nodes"))["items"]
            self.node_ready = {n["metadata"]["name"]: ready_status(n) == "True" for n in nodes}
            ready = sum(self.node_ready.values())
            not_ready = sorted(n for n, r in self.node_ready.items() if not r)
            ok, detail = judge(ready, p.expect, len(self.nodes), "nodes Ready")
            return ok, detail + (f"; not Ready: {', '.join(not_ready)}" if not_ready else "")
        if p.type == "deployment-available":
            d = await self.api.get("deployments", p.deployment, p.namespace)
            available = (d.get("status") or {}).get("availableReplicas") or 0
            return judge(available, p.expect, (d.get("spec") or {}).get("replicas", 1),
                         f"of deployment {p.namespace}/{p.deployment} available")
        # service-answers: one request through the first Ready node's kube-proxy
        key = (p.namespace, p.service)
        target = self._addresses.setdefault(key, ServiceAddress(self.api, p.namespace, p.service, p.port))
        ready = sorted(n for n, r in self.node_ready.items() if r) or sorted(self.nodes)
        outcome, what = await request(self.api, target, ready[0], 2.0 * self.host.clock.scale)
        if outcome == "ok":
            return True, f"{p.namespace}/{p.service} answered from pod {what} (via {ready[0]})"
        return False, f"{p.namespace}/{p.service} via {ready[0]}: {what}"


class Streaks:
    """How long each probe has been failing, at a stretch (the last result decides)."""

    def __init__(self) -> None:
        self.failing_since: dict[str, float] = {}

    def add(self, r: Result) -> None:
        if r.ok:
            self.failing_since.pop(r.probe, None)
        else:
            self.failing_since.setdefault(r.probe, r.time)

    def failing_for(self, probe: str, now: float) -> float:
        since = self.failing_since.get(probe)
        return 0.0 if since is None else now - since

    def reset(self) -> None:
        self.failing_since.clear()
