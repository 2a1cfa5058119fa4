"""``kubesim chaos run FILE``: one experiment against a running cluster, start to verdict.

The run, in order:

1. **setup** — apply the experiment's manifests;
2. **before** — probe until the steady state holds (if it never does, the
   verdict is *unknown*: there is nothing to judge);
3. **faults** — start the workloads and the watches, then walk the planned
   timeline: inject each occurrence, heal it when its time is up, probe every
   ``interval_s``, give up if an abort condition holds;
4. **recovery** — heal everything, then probe until every probe passes (the
   time this takes is the "steady state" recovery time) within
   ``recovery.within_s``;
5. **after** — the probes must keep passing for ``recovery.hold_s``;
6. **checks** — stop the workloads, read the register keys and the add set
   back, read every member's log, list Services, EndpointSlices and pods; run
   the checkers; write ``journal.json``, ``history.jsonl`` and
   ``report.html``.

Whatever ends the run early — an error, an abort, Ctrl-C, SIGTERM — every
fault still active is healed before the runner exits (``finally``).

The runner is one bus runtime: an API client, a store client and the
:class:`Conductor` actor whose coroutines drive the phases. It runs on the
cluster's clock, so every time in the journal is cluster seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from random import Random
from typing import Any, Callable

from actors.apiserver.client import ApiClient, ApiError, Informer
from actors.controllers.nodelifecycle import ready_status
from actors.messages import StoreLogTerms, StoreLogTermsReply
from actors.store.client import StoreClient, StoreError, StoreUnavailable
from bus.clock import make_clock
from bus.runtime import Actor, RequestFailed
from kubesim.chaos import invariants, report
from kubesim.chaos.experiment import MIN_PROBE_INTERVAL_REAL_S, Experiment
from kubesim.chaos.history import History
from kubesim.chaos.injectors import InjectionFailed, Injector, gather
from kubesim.chaos.probes import Prober, Result, Streaks
from kubesim.chaos.recovery import LEADER_LEASES, RecoveryClock
from kubesim.chaos.schedule import Plan, PlanError, plan
from kubesim.chaos.workloads import Churn, Register, ServiceRequests
from kubesim.config import ClusterConfig

#: Components that are not part of the cluster a fault can pick from "rest" or a role (the demo pair).
NOT_TARGETS = ("demo-ping", "demo-pong")
#: Real seconds a Service's endpoints may lag its pods' readiness at the end before it counts as a mismatch.
ENDPOINTS_SETTLE_S = 5.0
#: Real seconds a fault aimed at a leader waits for there to be one.
LEADER_WAIT_S = 10.0
#: Real seconds to heal everything when a run ends early (an error, Ctrl-C).
HEAL_TIMEOUT_S = 60.0


class Conductor(Actor):
    """The runner's actor: its coroutines run the phases; it reaches ``<process>.bus`` actors and members."""

    def __init__(self, name: str, api: ApiClient, cfg: ClusterConfig) -> None:
        super().__init__(name)
        self.api = api
        self.cfg = cfg

    def on_start(self) -> None:
        from kubesim.store import server_keys

        keys = server_keys(cfg=self.cfg) or {}
        link = self.runtime.direct_link()
        for member, port in sorted(self.cfg.store.members.items()):
            # A member is not on the broker's bus: its bus-control actor is reached over a direct link.
            link.connect([f"{member}.bus"], self.cfg.store.host, port, keys.get(member))


class Run:
    def __init__(self, cfg: ClusterConfig, config_path: Path, exp: Experiment, seed: int, out_dir: Path,
                 experiment_file: Path, say: Callable[[str], None] = print, started_cluster: bool = False) -> None:
        self.started_cluster = started_cluster
        self.cfg, self.config_path, self.exp, self.seed = cfg, config_path, exp, seed
        self.out_dir, self.experiment_file, self._say = out_dir, experiment_file, say
        self.processes = {n: p.component for n, p in cfg.processes.items() if p.component not in NOT_TARGETS}
        self.nodes = sorted(n for n, c in self.processes.items() if c == "node")
        self.members = sorted(cfg.store.members)
        self.plan: Plan = plan(exp, seed)
        self.journal: dict[str, Any] = {}
        self.probe_results: list[Result] = []
        self.fault_log: list[dict] = []
        self.reasons: list[str] = []
        self.phases: list[dict] = []
        self.checks: list[dict] = []
        self.t0 = 0.0
        self.started_at = datetime.now(timezone.utc)
        self.phase = "setup"
        self._quiet_until = 0.0

    # --- the synchronous shell ------------------------------------------------------------
    def execute(self) -> dict:
        from kubesim.process import runtime_for

        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.apply_setup()
        name = f"kubesim-cli-chaos-{os.getpid()}"  # a CLI identity: the API server maps it to admin
        clock = make_clock(self.cfg.cluster.time_scale)
        self.rt = rt = runtime_for(self.cfg, name, broker=False, key_name="admin", clock=clock)
        from kubesim.store import server_keys

        scale = clock.scale
        self.api = rt.add(ApiClient(f"{name}.api", timeout_s=5 * scale, deadline_s=10 * scale))
        # Probes answer within a couple of real seconds, whatever the API server is going through.
        self.probe_api = rt.add(ApiClient(f"{name}.probes", timeout_s=1 * scale, deadline_s=2 * scale))
        self.store = rt.add(StoreClient(f"{name}.store", self.cfg.store.endpoints(), timeout_s=2 * scale,
                                        deadline_s=5 * scale, server_keys=server_keys(self.cfg)))
        register = self.exp.register
        # One store client per register client, each with its own idea of who leads (as separate programs would).
        self.reg_stores = [] if register is None else [
            rt.add(StoreClient(f"{name}.register-{i}", self.cfg.store.endpoints(), timeout_s=register.timeout_s,
                               deadline_s=register.timeout_s, server_keys=server_keys(self.cfg)))
            for i in range(register.keys * register.clients)]
        self.reg_readers: list[StoreClient] = []
        if register is not None and register.read_from == "any":
            endpoints = self.cfg.store.endpoints()
            members = sorted(endpoints)
            self.reg_readers = [
                rt.add(StoreClient(f"{name}.reader-{i}", {members[i % len(members)]: endpoints[members[i % len(members)]]},
                                   timeout_s=register.timeout_s, deadline_s=register.timeout_s,
                                   server_keys=server_keys(self.cfg)))
                for i in range(register.keys * register.clients)]
        self.host = rt.add(Conductor(f"{name}.conductor", self.api, self.cfg))
        self.clock = clock
        self.history = History(lambda: clock.monotonic() - self.t0)
        self.injector = Injector(self.cfg, self.host, self.processes)
        rt.start()
        self.t0 = clock.monotonic()
        outcome: list = []
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.host.spawn(self._capture(self.main(), outcome))
            while not outcome:
                rt.run_once(0.05)
            if outcome[0] is not None:
                raise outcome[0]
        except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 -- any end must heal, then be reported
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            self.reasons.append(f"the run stopped early: {what}")
            self.say(f"stopping: {what}")
            self._heal_everything()
            self._finish(verdict_override="unknown")
            if isinstance(exc, KeyboardInterrupt):
                raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            rt.shutdown()
        return self.journal

    async def _capture(self, coro, outcome: list) -> None:
        try:
            await coro
        except BaseException as exc:  # handed to execute(), which heals and reports
            outcome.append(exc)
        else:
            outcome.append(None)

    def _heal_everything(self) -> None:
        done: list = []
        self.host.spawn(self._capture(self._heal_all(), done))
        if not self.rt.run_until(lambda: bool(done), HEAL_TIMEOUT_S * self.clock.scale):
            self.reasons.append(f"healing did not finish within {HEAL_TIMEOUT_S:g} s")

    def apply_setup(self) -> None:
        for manifest in self.exp.setup.manifests:
            cmd = [sys.executable, "-m", "kubesim", "--config", str(self.config_path), "apply", "-f", str(manifest)]
            for attempt in range(30):
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                if proc.returncode == 0:
                    self.say(f"setup: applied {manifest}")
                    break
                time.sleep(1.0)  # the API server may still be starting (a cluster just started)
            else:
                raise RuntimeError(f"setup: cannot apply {manifest}: {proc.stderr.strip()}")

    # --- the phases ---------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.monotonic() - self.t0

    def say(self, text: str) -> None:
        self._say(f"[{self.now():8.1f}s] {text}" if self.t0 else text)

    def _enter(self, phase: str) -> None:
        if self.phases:
            self.phases[-1]["end"] = round(self.now(), 3)
        self.phase = phase
        self.phases.append({"name": phase, "start": round(self.now(), 3), "end": None})
        self.say(f"== {phase}")

    async def main(self) -> None:
        exp = self.exp
        self.prober = Prober(list(exp.steady_state.probes), self.probe_api, self.store, self.host, self.nodes,
                             self.members)
        self.streaks = Streaks()
        self.leaders_inv = invariants.LeadersPerTerm()
        self.prefixes_inv = invariants.CommittedPrefixes()
        self.bindings_inv = invariants.PodBindings()
        self.surge_inv = invariants.SurgeBound(settle_s=2 * max(exp.steady_state.interval_s,
                                                                 MIN_PROBE_INTERVAL_REAL_S * self.clock.scale))
        self.recovery = RecoveryClock(self.clock.scale, self.cfg.store.election_timeout_ms / 1000)
        interval = self.interval = max(exp.steady_state.interval_s, MIN_PROBE_INTERVAL_REAL_S * self.clock.scale)

        self._enter("before")
        if not await self._until_steady(exp.steady_state.before_within_s):
            self.reasons.append(f"the steady state did not hold within {exp.steady_state.before_within_s:g} s "
                                "before the faults: nothing to judge")
            self._finish(verdict_override="unknown")
            return

        if self._needs_api_view():
            self._start_watches()
        workloads = self._start_workloads()
        self._enter("faults")
        start = self.now()
        events = sorted([(start + o.at, 0, o) for o in self.plan.occurrences]
                        + [(start + o.heal_at, 1, o) for o in self.plan.occurrences if o.heal_at is not None],
                        key=lambda e: (e[0], e[1]))
        end = start + self.plan.duration_s
        self.aborted: str | None = None
        prober = self.host.spawn(self._probe_loop())
        while self.now() < end and self.aborted is None:
            while events and events[0][0] <= self.now():
                _, kind, occ = events.pop(0)
                await (self._inject(occ) if kind == 0 else self._heal(occ))
            wake = min([end, self.now() + interval] + [e[0] for e in events[:1]])
            await self.host.sleep(max(0.0, wake - self.now()))
        self._probing = False
        await prober.future
        aborted = self.aborted
        self._enter("recovery")
        await self._heal_all()
        self.recovery.healed(self.now(), exp.recovery.within_s)
        if aborted is not None:
            self.reasons.append(f"aborted: {aborted}")
        stable_since = await self._until_stable(exp.recovery.within_s, exp.recovery.hold_s)
        recovered = stable_since is not None
        if recovered:
            self.recovery.steady(stable_since)
            # The phases as they turned out: recovering until the steady state began to hold, then holding it.
            self.phases[-1]["end"] = round(stable_since, 3)
            self.phases.append({"name": "after", "start": round(stable_since, 3), "end": None})
            for i, r in enumerate(self.probe_results):
                if r.phase == "recovery" and r.time >= stable_since:
                    self.probe_results[i] = Result(r.probe, r.time, r.ok, r.detail, "after")
        else:
            self.reasons.append(f"the cluster did not recover: the steady state did not hold for "
                                f"{exp.recovery.hold_s:g} s within {exp.recovery.within_s:g} s of healing")
        self._enter("checks")
        for w in workloads:
            w.stop()
        deadline = self.now() + max([getattr(w.spec, "timeout_s", 5.0) for w in workloads] + [5.0]) * 2
        while not all(w.idle for w in workloads) and self.now() < deadline:
            await self.host.sleep(interval / 4)
        await self._final_reads(recovered)
        self._stop_watches()
        self._finish()

    async def _probe_loop(self) -> None:
        """While faults are active: a probe round every interval (never delaying the fault timeline), the abort
        conditions, and the fault rules sent again to any process that restarted without them."""
        self._probing = True
        next_round = self.now()
        while self._probing:
            await self._probe_round(during=True)
            self.aborted = self.aborted or self._abort_reason()
            await self.injector.reassert()
            next_round += self.interval
            await self.host.sleep(max(0.0, next_round - self.now()))

    async def _until_stable(self, within_s: float, hold_s: float) -> float | None:
        """Probe until every probe has passed for ``hold_s`` at a stretch; when that stretch began, or None if it
        did not happen within ``within_s`` (plus the hold)."""
        deadline = self.now() + within_s
        since: float | None = None
        while True:
            now = self.now()
            if await self._probe_round():
                since = now if since is None else since
                if now - since >= hold_s:
                    return since
            else:
                since = None
                if now >= deadline:
                    return None
            await self.host.sleep(self.interval)

    async def _until_steady(self, within_s: float) -> bool:
        deadline = self.now() + within_s
        while True:
            if await self._probe_round():
                return True
            if self.now() >= deadline:
                return False
            await self.host.sleep(self.interval)

    async def _probe_round(self, during: bool = False) -> bool:
        now = self.now()
        probes = self.exp.steady_state.probes
        results = await gather(self.host, [self.prober.run_one(p, now) for p in probes])
        ok = True
        for p, r in zip(probes, results):
            if isinstance(r, Exception):
                r = Result(p.label, now, False, f"{type(r).__name__}: {r}")
            r = Result(r.probe, r.time, r.ok, r.detail, self.phase)
            self.probe_results.append(r)
            self.streaks.add(r)
            ok &= r.ok
            if during and p.tolerate_s is not None and self.streaks.failing_for(p.label, now) > p.tolerate_s:
                msg = f"{p.label} failed for longer than its tolerance ({p.tolerate_s:g} s) during the faults"
                if msg not in self.reasons:
                    self.reasons.append(msg + f": {r.detail}")
        # The raft view, every round: who leads which term, and every member's log.
        if not any(p.type == "store-leader" for p in probes):
            await self.prober.store_status()
        for m, s in self.prober.statuses.items():
            if s is not None:
                self.leaders_inv.observe(now, m, s.term, s.role, s.leader)
        deployments = [r.ok for p, r in zip(probes, self.probe_results[-len(probes):]) if p.type ==
                       "deployment-available"] if probes else []
        if deployments and all(deployments):
            self.recovery.available(now)
        leader = self.prober.store_leader
        if leader is not None:
            self.recovery.store_leader(now, leader, self.prober.statuses[leader].term)
        await self._read_logs(now)
        failing = [r for r in self.probe_results[-len(probes):] if not r.ok] if probes else []
        if failing and (self.phase != "before" or now >= self._quiet_until):
            self._quiet_until = now + 10 * self.interval  # waiting to begin: say so now and then
            self.say("probe failing: " + "; ".join(f"{r.probe}: {r.detail}" for r in failing))
        return ok

    async def _read_logs(self, now: float) -> None:
        async def one(m: str):
            return await self.host.request(m, StoreLogTerms(), timeout_s=1.0 * self.clock.scale, retries=0)

        for m, reply in zip(self.members, await gather(self.host, [one(m) for m in self.members])):
            if isinstance(reply, StoreLogTermsReply):
                self.prefixes_inv.observe(now, m, reply.commit_index, reply.snapshot_index, reply.runs)

    def _abort_reason(self) -> str | None:
        now = self.now()
        for a in self.exp.abort:
            failing = self.streaks.failing_for(a.probe, now)
            if failing >= a.failing_for_s:
                return f"{a.probe} failed for {failing:.1f} s (abort after {a.failing_for_s:g} s)"
        return None

    # --- faults ---------------------------------------------------------------------------
    def _fault(self, occ_id: str) -> dict:
        return next(f for f in self.fault_log if f["id"] == occ_id)

    async def _inject(self, occ) -> None:
        entry = {**occ.to_dict(), "targets": [], "selected_at": round(self.now(), 3), "injected_at": None,
                 "healed_at": None, "detail": "", "error": None}
        self.fault_log.append(entry)
        try:
            leaders = await self._leaders(self._leader_roles(occ.fault))
            side_a, side_b = self.injector.targets(occ, leaders)
            entry["targets"] = side_a + side_b
            pods_by_node = self._pods_by_node()
            active = await self.injector.inject(occ, side_a, side_b)
        except (InjectionFailed, PlanError, RequestFailed, ApiError) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            self.reasons.append(f"fault {occ.id} ({occ.fault.label}) could not be injected: {exc}")
            self.say(f"fault {occ.id} {occ.fault.label}: NOT injected: {exc}")
            return
        entry["injected_at"] = round(self.now(), 3)
        entry["detail"] = active.detail
        if occ.heal_at is None:
            entry["healed_at"] = entry["injected_at"]
        self.recovery.injected(occ.id, occ.fault.action, entry["targets"], self.processes, self.now(), pods_by_node,
                               None if occ.heal_at is None else occ.heal_at - occ.at)
        self.say(f"fault {occ.id} {occ.fault.label}: {active.detail}")

    async def _heal(self, occ) -> None:
        entry = next((f for f in self.fault_log if f["id"] == occ.id), None)
        if entry is None or entry["injected_at"] is None or entry["healed_at"] is not None:
            return
        entry["heal_started_at"] = round(self.now(), 3)
        try:
            await self.injector.heal(occ.id)
        except (InjectionFailed, RequestFailed, ApiError) as exc:
            entry["error"] = f"healing: {exc}"
            self.say(f"fault {occ.id}: healing failed ({exc}); healed again at the end")
            return
        entry["healed_at"] = round(self.now(), 3)
        self.say(f"healed {occ.id} {occ.fault.label}")
        if self.prober.store_leader is None:
            self.recovery.fault_healed(occ.id, self.now())

    async def _heal_all(self) -> None:
        """Heal every fault still active (at the end of the faults, or however the run ended), and note when."""
        still = [f for f in self.fault_log if f["injected_at"] is not None and f["healed_at"] is None]
        for f in still:
            f["heal_started_at"] = round(self.now(), 3)
        errors = await self.injector.heal_all()
        no_leader = getattr(self, "prober", None) is None or self.prober.store_leader is None
        for f in still:
            f["healed_at"] = round(self.now(), 3)
            if no_leader and hasattr(self, "recovery"):
                self.recovery.fault_healed(f["id"], self.now())
        self.reasons.extend(f"healing: {e}" for e in errors)

    async def _leaders(self, roles: set[str]) -> dict[str, str | None]:
        """The current leader of each role a fault may target by ``select: leader``: the store's raft leader, the
        holder of a component's leader Lease. Asked again for up to LEADER_WAIT_S real seconds while there is none
        (an election under way, a watch not synced yet): a fault aimed at the leader waits for one."""
        deadline = self.now() + LEADER_WAIT_S * self.clock.scale
        while True:
            leaders: dict[str, str | None] = {}
            if "store" in roles:
                await self.prober.store_status()
                leaders["store"] = self.prober.store_leader
            for role, (ns, name) in LEADER_LEASES.items():
                if role in roles:
                    try:
                        lease = await self.probe_api.get("leases", name, ns)
                    except ApiError:
                        lease = None
                    leaders[role] = ((lease or {}).get("spec") or {}).get("holderIdentity")
                    if leaders[role]:
                        self.recovery.lease(self.now(), ns, name, leaders[role])  # the takeover is timed from it
            if all(leaders.values()) or self.now() >= deadline:
                return leaders
            await self.host.sleep(0.25 * self.clock.scale)

    def _leader_roles(self, fault) -> set[str]:
        """The roles whose leader this fault's targets pick (``select: leader``)."""
        targets = [fault.target, *(fault.groups or []), *(fault.between or [])]
        return {t.role or self.processes.get(t.name or "", "") for t in targets
                if t is not None and t != "rest" and t.select == "leader"}

    # --- watches ------------------------------------------------------------------------
    def _needs_api_view(self) -> bool:
        """Watch the API (pods, deployments, nodes, leases) unless the experiment is about the store alone."""
        api_checks = {"pod-bindings", "surge-bound", "endpoints"} & set(self.exp.checks_to_run())
        api_probes = any(p.type != "store-leader" for p in self.exp.steady_state.probes)
        return bool(api_checks) or api_probes or any(w.type != "register" for w in self.exp.workloads)

    def _start_watches(self) -> None:
        def pod_event(kind: str):
            def on(obj: dict) -> None:
                now = self.now()
                self.bindings_inv.observe(now, kind, obj)
                self.surge_inv.observe(now, "Pod", kind, obj)
                node = (obj.get("spec") or {}).get("nodeName")
                if node:
                    active = kind != "DELETED" and invariants.is_active_pod(obj)
                    self.recovery.pod(now, node, obj["metadata"].get("uid", ""), active)
            return on

        def owned(kind_name: str, event: str):
            return lambda obj: self.surge_inv.observe(self.now(), kind_name, event, obj)

        def node_event(obj: dict) -> None:
            self.recovery.node(self.now(), obj["metadata"]["name"], ready_status(obj) == "True")

        def lease_event(obj: dict) -> None:
            m = obj["metadata"]
            self.recovery.lease(self.now(), m.get("namespace", ""), m["name"],
                                (obj.get("spec") or {}).get("holderIdentity") or "")

        self.pods = Informer(self.api, "pods", on_add=pod_event("ADDED"),
                             on_update=lambda old, new: pod_event("MODIFIED")(new),
                             on_delete=pod_event("DELETED"))
        self.informers = [
            self.pods,
            Informer(self.api, "deployments", on_add=owned("Deployment", "ADDED"),
                     on_update=lambda o, n: owned("Deployment", "MODIFIED")(n),
                     on_delete=owned("Deployment", "DELETED")),
            Informer(self.api, "replicasets", on_add=owned("ReplicaSet", "ADDED"),
                     on_update=lambda o, n: owned("ReplicaSet", "MODIFIED")(n),
                     on_delete=owned("ReplicaSet", "DELETED")),
            Informer(self.api, "nodes", on_add=node_event, on_update=lambda o, n: node_event(n)),
        ]
        self.leases = Informer(self.api, "leases", "kube-system", on_add=lease_event,
                               on_update=lambda o, n: lease_event(n))
        self.informers.append(self.leases)
        for inf in self.informers:
            inf.start()

    def _stop_watches(self) -> None:
        for inf in getattr(self, "informers", []):
            inf.stop()

    def _pods_by_node(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for pod in self.pods.list() if hasattr(self, "pods") else []:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and invariants.is_active_pod(pod):
                out.setdefault(node, []).append(pod["metadata"].get("uid", ""))
        return out

    # --- workloads ------------------------------------------------------------------------
    def _start_workloads(self) -> list:
        rng = Random(self.seed)
        out: list = []
        for spec in self.exp.workloads:
            wrng = Random(rng.getrandbits(64))
            if spec.type == "register":
                prefix = f"/chaos/{self.exp.name}/{self.out_dir.name}"
                self.register = Register(spec, self.reg_stores, self.reg_readers, self.host, self.history, wrng, prefix)
                w = self.register
            elif spec.type == "deployment-churn":
                w = Churn(spec, self.api, self.host, self.history, wrng)
            else:
                w = ServiceRequests(spec, self.api, self.host, self.history, wrng, self.nodes)
            w.start()
            out.append(w)
            self.say(f"workload {spec.type} started")
        return out

    async def _final_reads(self, recovered: bool) -> None:
        """Read every register key and the add set back (as ordinary operations), and list what the endpoints
        check compares."""
        self.final_set: set[int] | None = None
        reg = getattr(self, "register", None)
        if reg is not None:
            for k in range(reg.spec.keys):
                await reg.one(self.history.new_process(), "read", k)
            try:
                self.final_set = await reg.read_set(self.store)  # the runner's client: a longer deadline
            except (StoreUnavailable, StoreError, RequestFailed) as exc:
                self.reasons.append(f"the add set could not be read back: {exc}")  # the check says unknown
        self.final_lists: dict[str, list[dict]] | None = None
        self.final_endpoints: list[dict] = []
        if recovered and "endpoints" in self.exp.checks_to_run():
            # Endpoints follow pods' readiness a moment later (the EndpointSlice controller's round trip): a
            # mismatch counts only if it is still there after ENDPOINTS_SETTLE_S real seconds.
            deadline = self.now() + ENDPOINTS_SETTLE_S * self.clock.scale
            while True:
                try:
                    lists = {r: (await self.api.list(r))["items"] for r in ("services", "endpointslices", "pods")}
                except ApiError as exc:
                    self.reasons.append(f"the final lists failed: {exc}")
                    break
                self.final_lists = lists
                self.final_endpoints = invariants.endpoints_match_ready_pods(
                    lists["services"], lists["endpointslices"], lists["pods"], time=self.now())
                if not self.final_endpoints or self.now() >= deadline:
                    break
                await self.host.sleep(0.5 * self.clock.scale)
        self.surge_inv.check(self.now())

    # --- the verdict ----------------------------------------------------------------------
    def _run_checks(self) -> None:
        wanted = self.exp.checks_to_run()
        checks = self.checks
        if "linearizable" in wanted:
            from kubesim.chaos import linearizability

            res = linearizability.check(self.history.of("register"))
            checks.append({"name": "linearizable", "result": _result(res.valid), "detail": res.summary(),
                           "operations": [k.describe() for k in res.keys.values() if k.valid is False]})
        if "no-lost-writes" in wanted:
            checks.append(self._lost_writes())
        if any("writes-stop" in o.fault.expect for o in self.plan.occurrences):
            checks.append(self._writes_stopped())
        if "raft" in wanted:
            v = self.leaders_inv.violations() + self.prefixes_inv.violations()
            checks.append({"name": "raft", "result": "fail" if v else "pass",
                           "detail": f"{self.leaders_inv.summary()}; {self.prefixes_inv.summary()}",
                           "operations": [x["detail"] for x in v]})
        for name, inv in (("pod-bindings", self.bindings_inv), ("surge-bound", self.surge_inv)):
            if name in wanted:
                v = inv.violations()
                checks.append({"name": name, "result": "fail" if v else "pass", "detail": inv.summary(),
                               "operations": [x["detail"] for x in v]})
        if "endpoints" in wanted:
            lists = getattr(self, "final_lists", None)
            if lists is None:
                checks.append({"name": "endpoints", "result": "unknown",
                               "detail": "not checked: the cluster did not recover", "operations": []})
            else:
                v = self.final_endpoints
                checks.append({"name": "endpoints", "result": "fail" if v else "pass",
                               "detail": f"{len(lists['services'])} services compared with their ready pods",
                               "operations": [x["detail"] for x in v]})

    def _writes_stopped(self) -> dict:
        """No register write succeeded inside a ``writes-stop`` fault's window (after the election grace)."""
        grace = 2 * self.cfg.store.election_timeout_ms / 1000 * self.clock.scale
        windows = [(f["id"], f["injected_at"] + grace, f.get("heal_started_at", f["healed_at"]))
                   for f in self.fault_log if f["injected_at"] is not None and f["healed_at"] is not None
                   and "writes-stop" in self.plan.occurrences[int(f["id"][1:]) - 1].fault.expect]
        invoked = {}
        bad = []
        for e in self.history.of("register"):
            if e["type"] == "invoke":
                invoked[e["process"]] = e
            elif e["type"] == "ok" and e["f"] in ("write", "cas", "add"):
                inv = invoked.get(e["process"])
                for fid, start, end in windows:
                    if inv is not None and inv["time"] >= start and e["time"] <= end:
                        bad.append(f"{e['f']} {e['value']!r} by process {e['process']} succeeded at "
                                   f"t={e['time']:.3f} s inside {fid}'s window ({start:.1f}–{end:.1f} s)")
        return {"name": "writes-stop", "result": "fail" if bad else ("pass" if windows else "unknown"),
                "detail": f"{len(bad)} writes succeeded while the store had no quorum, in {len(windows)} windows",
                "operations": bad[:50]}

    def _lost_writes(self) -> dict:
        events = self.history.of("register")
        acked = sorted(e["value"] for e in events if e["f"] == "add" and e["type"] == "ok")
        failed = sorted(e["value"] for e in events if e["f"] == "add" and e["type"] == "fail")
        final = getattr(self, "final_set", None)
        if final is None:
            return {"name": "no-lost-writes", "result": "unknown", "detail": "the add set could not be read back",
                    "operations": []}
        lost = [n for n in acked if n not in final]
        phantom = [n for n in failed if n in final]
        ops = [f"add {n} was acknowledged and is missing" for n in lost[:50]]
        ops += [f"add {n} was reported failed (certainly not applied) yet is present" for n in phantom[:50]]
        return {"name": "no-lost-writes", "result": "fail" if lost or phantom else "pass",
                "detail": f"{len(acked)} acknowledged adds, {len(lost)} lost; {len(failed)} failed adds, "
                          f"{len(phantom)} present anyway; {len(final)} in the store",
                "operations": ops}

    def _finish(self, verdict_override: str | None = None) -> None:
        """Decide the verdict (``verdict_override``: the run ended before its checks) and write the report."""
        if self.journal:
            return  # finished already (a failure after the end must not write it twice)
        if self.phases and self.phases[-1]["end"] is None:
            self.phases[-1]["end"] = round(self.now(), 3)
        if verdict_override is None:
            self._run_checks()
        results = [c["result"] for c in self.checks]
        if verdict_override is not None:
            verdict = verdict_override
        elif "fail" in results or self.reasons:
            verdict = "fail"
        elif "unknown" in results:
            verdict = "unknown"
        else:
            verdict = "pass"
        for c in self.checks:
            if c["result"] != "pass":
                self.reasons.append(f"check {c['name']}: {c['result']}: {c['detail']}")
        self.journal = {
            "name": self.exp.name, "description": self.exp.description, "file": str(self.experiment_file),
            "seed": self.seed, "verdict": verdict, "reasons": self.reasons,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "time_scale": self.cfg.cluster.time_scale, "duration_s": round(self.now(), 3),
            "reproduce": f"kubesim --config {self.config_path} chaos run {self.experiment_file} --seed {self.seed}"
                         + (" --start-cluster" if self.started_cluster else ""),
            "phases": self.phases,
            "probes": [r.to_dict() for r in self.probe_results],
            "faults": self.fault_log,
            "plan": [o.to_dict() for o in self.plan.occurrences],
            "recovery": self.recovery.results() if hasattr(self, "recovery") else [],
            "checks": self.checks,
            "workloads": self.history.summary(),
            "cluster": {"config": str(self.config_path), "processes": sorted(self.processes)},
        }
        (self.out_dir / "journal.json").write_text(json.dumps(self.journal, indent=1, default=str))
        self.history.write(self.out_dir / "history.jsonl")
        report.write(self.out_dir, self.journal, self.history.events)
        self.say(f"verdict: {verdict.upper()}" + (f" ({'; '.join(self.reasons[:3])})" if self.reasons else ""))


def _result(valid: bool | None) -> str:
    return {True: "pass", False: "fail", None: "unknown"}[valid]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def run_dir(root: Path, name: str, seed: int) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return root / name / f"{stamp}-seed{seed}"
