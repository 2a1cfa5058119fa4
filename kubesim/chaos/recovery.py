"""How long the cluster took to react to each fault, beside what Kubernetes (and raft) promise.

The runner tells :class:`RecoveryClock` when a fault went in and what it
hit, then feeds it what it sees anyway (store members' status, node and pod
watch events, leader Leases, probe rounds). It answers with measured times:

============================  ===============================================
measure                       expected (the defaults kubesim runs with)
============================  ===============================================
new store leader              up to 2 election timeouts (etcd: 1 s, randomized
                              up to twice that), real seconds; + the restart
                              backoff when no quorum was left running; timed
                              from the heal when none could be elected before
node NotReady                 node-monitor-grace-period 50 s (+ the 5 s
                              monitor period)
pods evicted                  that, + tolerationSeconds 300 s (the default
                              not-ready/unreachable toleration)
pods replaced                 that, + the 5 s pod startup SLO (every
                              Deployment probed is available again)
standby took over             the leader Lease's duration 15 s + two 2 s retries
steady state                  the experiment's ``recovery.within_s``
============================  ===============================================

All times are cluster seconds since the fault phase started.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.apiserver.defaults import DEFAULT_TOLERATION_SECONDS
from actors.controllers.nodelifecycle import (
    NODE_MONITOR_GRACE_PERIOD_S,
    NODE_MONITOR_PERIOD_S,
)
from actors.leaderelection import LEASE_DURATION_S, RETRY_PERIOD_S

#: Faults after which the store must elect a new leader, if they hit its leader.
LEADER_LOSING = ("kill", "stop", "pause", "restart", "isolate", "partition", "bridge", "lose-unfsynced",
                 "fsync-error")
#: Faults that cut a node's kubelet off from the API server for as long as they last.
NODE_SILENCING = ("kill", "stop", "pause", "isolate", "partition", "terminate-instance")
#: The supervisor's first restart backoff (config supervisor.restart_backoff_initial_s's default), seconds.
RESTART_BACKOFF_S = 0.5
#: Kubernetes' pod startup SLO (p99 from creation to Running), seconds.
POD_STARTUP_SLO_S = 5.0
#: Leases of the components that stand by: role -> (namespace, name).
LEADER_LEASES = {"scheduler": ("kube-system", "kube-scheduler"),
                 "controller-manager": ("kube-system", "kube-controller-manager"),
                 "cloud-controller-manager": ("kube-system", "cloud-controller-manager")}


@dataclass
class Measure:
    measure: str
    fault: str | None
    subject: str
    started: float
    expected_s: float
    expected: str
    ended: float | None = None

    def to_dict(self, scale: float) -> dict:
        seconds = None if self.ended is None else round(self.ended - self.started, 3)
        return {"measure": self.measure, "fault": self.fault, "subject": self.subject, "seconds": seconds,
                "real_seconds": None if seconds is None else round(seconds / scale, 3),
                "expected_s": self.expected_s, "expected": self.expected}


@dataclass
class RecoveryClock:
    scale: float
    """Cluster seconds per real second (raft's timers are real seconds)."""
    election_timeout_s: float
    """The store's election timeout, real seconds."""
    measures: list[Measure] = field(default_factory=list)
    _leader: tuple[str, int] | None = None
    _pods_on: dict[str, dict[str, bool]] = field(default_factory=dict)
    """node -> uid -> still active (not terminating, not deleted) for pods there at injection."""
    _holders: dict[tuple[str, str], str] = field(default_factory=dict)

    # --- what happened ------------------------------------------------------------------
    def injected(self, fault: str, action: str, targets: list[str], roles: dict[str, str], time: float,
                 pods_by_node: dict[str, list[str]], lasts_s: float | None = None) -> None:
        """A fault went in: start the clocks it should set off. ``lasts_s``: how long it is planned to last (None:
        until the end); an eviction that cannot come before the heal is not waited for."""
        hit_roles = {roles.get(t) for t in targets}
        members = sum(1 for r in roles.values() if r == "store")
        hit_members = sum(1 for t in targets if roles.get(t) == "store")
        quorum = members // 2 + 1
        # The leader loses its office when it is hit, or when an isolation leaves it fewer peers than a quorum.
        cut_off = action == "isolate" and members - hit_members < quorum
        if action in LEADER_LOSING and self._leader is not None and (
                self._leader[0] in targets or cut_off or (action in ("partition", "bridge") and "store" in hit_roles)):
            limit = 2 * self.election_timeout_s * self.scale
            why = f"≤ 2 election timeouts ({self.election_timeout_s:g} s real, randomized)"
            if action in ("kill", "stop", "restart", "lose-unfsynced", "fsync-error") and \
                    hit_members > members - quorum:
                # No quorum is left running: members must restart (the supervisor's first backoff) first.
                limit += RESTART_BACKOFF_S * self.scale
                why = f"a quorum restarts first (backoff {RESTART_BACKOFF_S:g} s + start-up), then {why}"
            self.measures.append(Measure("new store leader", fault, f"after {self._leader[0]} (term "
                                         f"{self._leader[1]})", time, limit, why))
        for t in targets:
            if roles.get(t) == "node" and action in NODE_SILENCING:
                grace = NODE_MONITOR_GRACE_PERIOD_S + NODE_MONITOR_PERIOD_S
                self.measures.append(Measure("node NotReady", fault, t, time, grace,
                                             f"node-monitor-grace-period {NODE_MONITOR_GRACE_PERIOD_S:g} s "
                                             f"+ monitor period {NODE_MONITOR_PERIOD_S:g} s"))
                pods = pods_by_node.get(t, [])
                if pods and (lasts_s is None or lasts_s > grace + DEFAULT_TOLERATION_SECONDS):
                    self._pods_on[t] = {uid: True for uid in pods}
                    evicted = grace + DEFAULT_TOLERATION_SECONDS
                    self.measures.append(Measure("pods evicted", fault, f"{len(pods)} pods of {t}", time, evicted,
                                                 f"grace + tolerationSeconds {DEFAULT_TOLERATION_SECONDS} s"))
                    self.measures.append(Measure("pods replaced", fault, f"{len(pods)} pods of {t}", time,
                                                 evicted + POD_STARTUP_SLO_S,
                                                 f"evicted + pod startup SLO {POD_STARTUP_SLO_S:g} s (every "
                                                 "Deployment available again)"))
            lease = LEADER_LEASES.get(roles.get(t, ""))
            if lease is not None and action in ("kill", "stop", "pause", "isolate") \
                    and self._holders.get(lease) == t:
                self.measures.append(Measure("standby took over", fault, f"{lease[1]} lease from {t}", time,
                                             LEASE_DURATION_S + 2 * RETRY_PERIOD_S,
                                             f"lease duration {LEASE_DURATION_S:g} s from when the standby saw "
                                             f"the last renewal (≤ one {RETRY_PERIOD_S:g} s retry late) + its "
                                             f"next retry"))

    def fault_healed(self, fault: str, time: float) -> None:
        """A fault that left the store without a quorum for as long as it lasted: its new leader is timed from the
        heal (there could be none before)."""
        for m in self.measures:
            if m.measure == "new store leader" and m.fault == fault and m.ended is None:
                m.started = time
                m.subject += ", from the heal (no quorum while the fault lasted)"

    def healed(self, time: float, within_s: float) -> None:
        """Every fault is out: the clock to steady state starts."""
        self.measures.append(Measure("steady state", None, "every probe passing", time, within_s,
                                     "recovery.within_s"))

    # --- what the runner sees -----------------------------------------------------------
    def store_leader(self, time: float, leader: str | None, term: int) -> None:
        if leader is None:
            return
        if self._leader is None or term > self._leader[1]:
            self._end("new store leader", time)
            self._leader = (leader, term)

    def node(self, time: float, node: str, ready: bool) -> None:
        if not ready:
            self._end("node NotReady", time, subject=node)

    def pod(self, time: float, node: str, uid: str, active: bool) -> None:
        pods = self._pods_on.get(node)
        if pods is None or uid not in pods or active:
            return
        pods[uid] = False
        if not any(pods.values()):
            self._end("pods evicted", time, subject_prefix=f"{len(pods)} pods of {node}")
            del self._pods_on[node]

    def lease(self, time: float, namespace: str, name: str, holder: str) -> None:
        key = (namespace, name)
        before = self._holders.get(key)
        self._holders[key] = holder
        if before and holder and holder != before:
            self._end("standby took over", time, subject=f"{name} lease from {before}")

    def available(self, time: float) -> None:
        """Every Deployment probed is available: replacements are Running wherever their pods were evicted."""
        evicted = {m.subject for m in self.measures if m.measure == "pods evicted" and m.ended is not None}
        for m in self.measures:
            if m.measure == "pods replaced" and m.ended is None and m.subject in evicted:
                m.ended = time

    def steady(self, time: float) -> None:
        self._end("steady state", time)

    def _end(self, measure: str, time: float, subject: str | None = None, subject_prefix: str | None = None) -> None:
        for m in self.measures:
            if m.measure == measure and m.ended is None and (subject is None or m.subject == subject) \
                    and (subject_prefix is None or m.subject == subject_prefix):
                m.ended = time

    def results(self) -> list[dict]:
        return [m.to_dict(self.scale) for m in self.measures]
