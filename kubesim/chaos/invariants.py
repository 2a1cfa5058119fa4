"""Safety invariants of a chaos run, checked from what the run observed.

A chaos experiment breaks things on purpose (partitions, crashes, slow disks,
killed processes) and then asks whether anything broke that must *never*
break, however the faults fell. This module is that question, as pure
checkers: the runner feeds them what it already collects (store members'
status replies, watch events, lists taken after recovery), each with the time
in seconds since the run started, and each checker answers with its
violations as plain JSON-able dicts that carry a human ``"detail"`` naming the
objects, so the report can quote them as they are.

The store (Raft, the paper's §5 safety properties):

- :class:`LeadersPerTerm`: at most one leader per term (Election Safety), and
  every member that names a leader for a term names the same one.
- :class:`CommittedPrefixes`: committed entries agree across members (State
  Machine Safety) and never change once committed (Leader Completeness).

Kubernetes:

- :class:`PodBindings`: a pod (one uid) is bound to one node for its life.
- :class:`SurgeBound`: a Deployment's ReplicaSets never ask for more than
  ``replicas + maxSurge`` pods in all (the rolling update's upper fencepost,
  as the deployment controller keeps it), and a ReplicaSet never runs more
  active pods than its ``spec.replicas`` (as the ReplicaSet controller keeps
  it). Not active pods against the Deployment's bound: the ReplicaSet
  controller lags the deployment controller, legitimately.
- :func:`endpoints_match_ready_pods`: once the cluster has recovered, every
  Service's ready endpoints are exactly its ready pods.

The Kubernetes semantics (how ``"25%"`` resolves, which pod counts as ready
for a Service, which ownerReference is the controller) come from the
controllers' own pure helpers, imported rather than restated, so a checker
and the controller it judges cannot quietly disagree about what a word means.
Nothing here reads a clock or does I/O.

Every violation has at least ``check`` (the checker), ``kind``, ``time`` (the
run time it was seen, or ``None`` for the after-recovery check) and ``detail``.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors.controllers.base import controller_of
from actors.controllers.deployment import is_rolling, max_surge, replicas_of
from actors.controllers.endpoints import (
    SERVICE_NAME_LABEL,
    is_pod_ready,
    manages,
    pod_ipv4,
    service_selector,
)

Obj = dict[str, Any]
Violation = dict[str, Any]
Run = tuple[int, int, int]
"""A stretch of a Raft log whose entries share a term: ``(first_index, last_index, term)``, inclusive."""

DELETED = "DELETED"
FINISHED_PHASES = ("Succeeded", "Failed")


def _at(time: float) -> str:
    return f"t={time:.1f} s"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    ns = meta.get("namespace") or ""
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


class _Checker:
    """What every checker shares: the violations, in the order found, handed out as copies."""

    name = ""

    def __init__(self) -> None:
        self._violations: list[Violation] = []

    def _add(self, kind: str, time: float, detail: str, **fields: Any) -> Violation:
        violation: Violation = {"check": self.name, "kind": kind, "time": time, "detail": detail, **fields}
        self._violations.append(violation)
        return violation

    def violations(self) -> list[Violation]:
        # Copies: the report may annotate them without changing what the checker remembers.
        return copy.deepcopy(self._violations)


# === Raft: one leader per term ==========================================================================

class LeadersPerTerm(_Checker):
    """Election Safety: at most one member leads a given term, and all who name a leader name the same.

    Fed each member's status (``role``, ``term``, ``leader``). A member only
    learns a leader's name from that term's leader (its AppendEntries or
    heartbeat), or names itself on winning, so two names for one term mean
    two members believed they led it: when both said so themselves it is a
    ``split_brain``; when at least one name comes only from other members'
    say-so it is a ``leader_disagreement``. Empty ``leader`` (not known yet,
    or campaigning) says nothing.
    """

    name = "leaders_per_term"

    def __init__(self) -> None:
        super().__init__()
        self._claims: dict[int, dict[str, float]] = {}
        """term -> member that said role=leader -> when it first said so."""
        self._named: dict[int, dict[str, tuple[str, float]]] = {}
        """term -> leader name -> (the first member that named it, when)."""
        self._members: set[str] = set()
        self._observations = 0

    def observe(self, time: float, member: str, term: int, role: str, leader: str) -> None:
        self._observations += 1
        self._members.add(member)
        term = int(term)
        claims = self._claims.setdefault(term, {})
        if role == "leader":
            if member not in claims:
                for other, since in claims.items():
                    self._add("split_brain", time,
                              f"term {term} has two leaders: {other} said it led at {_at(since)} "
                              f"and {member} at {_at(time)}",
                              term=term, leaders=[other, member], times=[since, time])
                claims[member] = time
            leader = member  # whatever the field says, a leader's own word is that it leads
        if not leader:
            return
        named = self._named.setdefault(term, {})
        if leader in named:
            return
        for other, (by, since) in named.items():
            if other in claims and leader in claims:
                continue  # both claimed it themselves: split_brain says it, with their own words
            self._add("leader_disagreement", time,
                      f"term {term} has two leaders named: {self._said(other, by, since)} "
                      f"and {self._said(leader, member, time)}",
                      term=term, leaders=[other, leader], named_by=[by, member], times=[since, time])
        named[leader] = (member, time)

    @staticmethod
    def _said(leader: str, by: str, time: float) -> str:
        if leader == by:
            return f"{leader} said it led at {_at(time)}"
        return f"{by} named {leader} at {_at(time)}"

    def summary(self) -> str:
        terms = sum(1 for named in self._named.values() if named)
        return (f"leaders per term: {self._observations} observations of {len(self._members)} members, "
                f"{terms} terms with a known leader, {len(self._violations)} violations")


# === Raft: committed prefixes ===========================================================================

def _normal_runs(runs: Iterable[Sequence[int]], above: int) -> list[Run]:
    """The runs as sorted int tuples, only the indices above ``above`` (the snapshot: no terms known there)."""
    out: list[Run] = []
    for first, last, term in runs:
        first, last, term = max(int(first), above + 1), int(last), int(term)
        if first <= last:
            out.append((first, last, term))
    out.sort()
    return out


def _clip(runs: Sequence[Run], last: int) -> list[Run]:
    return [(a, min(b, last), t) for a, b, t in runs if a <= last]


def _differences(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> list[tuple[int, int, Any, Any]]:
    """Where two sorted, non-overlapping run lists both hold entries with different terms.

    Items are ``(first, last, term, ...)``; each answer is ``(first, last,
    item_of_a, item_of_b)`` for one stretch. A walk of both lists at once:
    the cost is in terms (runs), not in entries, so logs of 100 000 entries
    compare as fast as logs of ten.
    """
    out: list[tuple[int, int, Any, Any]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        lo, hi = max(x[0], y[0]), min(x[1], y[1])
        if lo <= hi and x[2] != y[2]:
            out.append((lo, hi, x, y))
        if x[1] < y[1]:
            i += 1
        else:
            j += 1
    return out


@dataclass
class _MemberLog:
    time: float
    commit_index: int
    snapshot_index: int
    runs: list[Run]


@dataclass
class _Committed:
    """A stretch of entries seen committed with one term, and who showed it first."""

    first: int
    last: int
    term: int
    member: str
    time: float


class CommittedPrefixes(_Checker):
    """State Machine Safety: committed entries agree everywhere and forever.

    Fed each member's status: ``commit_index``, ``snapshot_index`` and its log
    as term runs ``[first_index, last_index, term]`` (indices up to the
    snapshot are compacted away, so nothing is said about them). Two checks:

    - ``committed_prefix_mismatch``: two members' latest observations both hold
      an index at or below both commit indices, with different terms;
    - ``committed_entry_changed``: an entry once seen committed as ``(index,
      term)`` on any member is later seen committed with another term on any
      member (committed entries are never overwritten).

    Only entries a member calls committed *now* are compared. An uncommitted
    entry may legally differ (a cut-off follower keeps a stale entry of an old
    term until the new leader overwrites it); and a restarted member may
    recover a commit index lower than it reported before (the hard state on
    disk lags the one in memory), which is not a violation either: its
    entries are checked again once its commit index passes them. The highest
    commit index ever seen per member is kept for the report
    (:meth:`highest_commit`).

    A conflict is reported once, at the lowest index of the stretch where the
    terms differ (the stretch is in ``first``/``last``).
    """

    name = "committed_prefixes"

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[str, _MemberLog] = {}
        self._highest: dict[str, int] = {}
        self._committed: list[_Committed] = []
        """Every stretch seen committed, sorted, non-overlapping: the cluster's committed log as far as seen."""
        self._reported: set[tuple[int, int, int]] = set()
        self._observations = 0

    def highest_commit(self, member: str) -> int:
        """The highest commit index ``member`` ever reported (0 if never observed)."""
        return self._highest.get(member, 0)

    def observe(self, time: float, member: str, commit_index: int, snapshot_index: int,
                runs: Iterable[Sequence[int]]) -> None:
        self._observations += 1
        commit_index, snapshot_index = int(commit_index), int(snapshot_index)
        log = _MemberLog(time, commit_index, snapshot_index, _normal_runs(runs, snapshot_index))
        self._highest[member] = max(self._highest.get(member, 0), commit_index)
        committed = _clip(log.runs, commit_index)
        for other, their in sorted(self._latest.items()):
            if other != member:
                self._compare(time, member, log, other, their)
        registry = [(c.first, c.last, c.term, c) for c in self._committed]
        for lo, hi, (_, _, _, seen), mine in _differences(registry, committed):
            if self._first_report(lo, seen.term, mine[2]):
                self._add("committed_entry_changed", time,
                          f"committed entry changed: index {lo} was seen committed with term {seen.term} "
                          f"(on {seen.member} at {_at(seen.time)}) but {member} has it committed with term "
                          f"{mine[2]} at {_at(time)} (commit index {commit_index})"
                          + (f"; indices {lo}..{hi} differ" if hi > lo else ""),
                          index=lo, first=lo, last=hi, members=[seen.member, member],
                          terms=[seen.term, mine[2]], times=[seen.time, time])
        self._remember(member, time, committed)
        self._latest[member] = log

    def _compare(self, time: float, member: str, log: _MemberLog, other: str, their: _MemberLog) -> None:
        # Both logs only up to the lower commit index: beyond it one of them may hold uncommitted entries.
        both = min(log.commit_index, their.commit_index)
        for lo, hi, mine, theirs in _differences(_clip(log.runs, both), _clip(their.runs, both)):
            if self._first_report(lo, mine[2], theirs[2]):
                self._add("committed_prefix_mismatch", time,
                          f"committed prefixes disagree at index {lo}: {member} (commit index "
                          f"{log.commit_index}, {_at(time)}) has term {mine[2]}, {other} (commit index "
                          f"{their.commit_index}, {_at(their.time)}) has term {theirs[2]}"
                          + (f"; indices {lo}..{hi} differ" if hi > lo else ""),
                          index=lo, first=lo, last=hi, members=[member, other], terms=[mine[2], theirs[2]],
                          times=[time, their.time])

    def _first_report(self, index: int, term_a: int, term_b: int) -> bool:
        # One report per fact "index N was committed as term A and as term B", whichever check saw it first:
        # a split write is otherwise seen again at every later observation of every member pair.
        key = (index, min(term_a, term_b), max(term_a, term_b))
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    def _remember(self, member: str, time: float, committed: Sequence[Run]) -> None:
        """Add the stretches of ``committed`` not seen committed before (what was seen first stays)."""
        pieces = list(self._committed)
        for first, last, term in committed:
            cursor = first
            for seen in self._committed:
                if seen.last < cursor or seen.first > last:
                    continue
                if seen.first > cursor:
                    pieces.append(_Committed(cursor, seen.first - 1, term, member, time))
                cursor = seen.last + 1
            if cursor <= last:
                pieces.append(_Committed(cursor, last, term, member, time))
        pieces.sort(key=lambda p: p.first)
        # Adjacent stretches of one term merge, so the list stays about as long as the number of terms.
        merged: list[_Committed] = []
        for p in pieces:
            if merged and merged[-1].term == p.term and merged[-1].last + 1 == p.first:
                merged[-1].last = p.last
            else:
                merged.append(_Committed(p.first, p.last, p.term, p.member, p.time))
        self._committed = merged

    def summary(self) -> str:
        highest = ", ".join(f"{m} {c}" for m, c in sorted(self._highest.items()))
        return (f"committed prefixes: {self._observations} observations, highest commit index {highest or 'none'}; "
                f"{len(self._violations)} violations")


# === Kubernetes: a pod is bound once ====================================================================

class PodBindings(_Checker):
    """A pod is bound to one node for its life: the scheduler's bind is a one-shot ``pods/binding``.

    Tracked by uid, not by name: a StatefulSet's replacement pod has the old
    name, a new uid, and may well land elsewhere. Empty ``spec.nodeName``
    (not scheduled yet) says nothing.
    """

    name = "pod_bindings"

    def __init__(self) -> None:
        super().__init__()
        self._nodes: dict[str, dict[str, float]] = {}
        """pod uid -> node -> when first seen bound there."""
        self._names: dict[str, str] = {}

    def observe(self, time: float, event_type: str, pod: Obj) -> None:
        uid = str(_meta(pod).get("uid") or "")
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not uid or not node:
            return
        self._names.setdefault(uid, _key(pod))
        nodes = self._nodes.setdefault(uid, {})
        if node in nodes:
            return
        if nodes:
            first, since = next(iter(nodes.items()))
            self._add("pod_rebound", time,
                      f"pod {self._names[uid]} (uid {uid}) bound to {first} at {_at(since)} "
                      f"and to {node} at {_at(time)}",
                      pod=self._names[uid], uid=uid, nodes=[first, node], times=[since, time])
        nodes[node] = time

    def summary(self) -> str:
        return f"pod bindings: {len(self._nodes)} pods seen bound, {len(self._violations)} violations"


# === Kubernetes: replicas + maxSurge ====================================================================

def is_active_pod(pod: Obj) -> bool:
    """Counts against its ReplicaSet's replicas: not terminating and not finished (controller.FilterActivePods)."""
    return (not _meta(pod).get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in FINISHED_PHASES)


def surge_bound(deployment: Obj) -> int:
    """``replicas + maxSurge`` as the Deployment controller resolves it (surge rounds up; 25% by default;
    Recreate has no surge)."""
    return replicas_of(deployment) + max_surge(deployment)


def _generation(obj: Obj) -> int | None:
    generation = _meta(obj).get("generation")
    return None if generation is None else int(generation)


def _observed_generation(obj: Obj) -> int:
    return int((obj.get("status") or {}).get("observedGeneration") or 0)


@dataclass
class _SpecVersion:
    """One spec of a Deployment or a ReplicaSet, kept while it may still bound what runs."""

    generation: int | None
    replicas: int
    surge: int = 0
    strategy: str = ""
    released: float | None = None
    """When the checker saw the controller observe a newer version; it bounds for ``settle_s`` more from then."""

    @property
    def bound(self) -> int:
        return self.replicas + self.surge

    def same_spec(self, other: _SpecVersion) -> bool:
        return ((self.generation, self.replicas, self.surge, self.strategy)
                == (other.generation, other.replicas, other.surge, other.strategy))


@dataclass
class _Scaled:
    """A Deployment or a ReplicaSet: its spec versions, what its controller has observed, its one violation."""

    uid: str
    key: str
    versions: list[_SpecVersion] = field(default_factory=list)
    observed_generation: int = 0
    deleted: bool = False
    violation: Violation | None = None
    blind: bool = False
    """Its controller still acts on a spec from before the watch began (unknown here)."""
    judged_from: float = 0.0

    def update(self, time: float, version: _SpecVersion, observed_generation: int) -> None:
        last = self.versions[-1] if self.versions else None
        if last is None or not last.same_spec(version):
            self.versions.append(version)
        self.observed_generation = max(self.observed_generation, observed_generation)
        for v in self.versions[:max(self._observed_index(), 0)]:
            if v.released is None:
                v.released = time

    def _observed_index(self) -> int:
        """Where the newest version the controller has observed sits (-1: none of those kept)."""
        observed = -1
        for i, v in enumerate(self.versions):
            if v.generation is None or v.generation <= self.observed_generation:
                observed = i
        return observed

    def widest(self, time: float, settle_s: float) -> _SpecVersion | None:
        """The version with the highest bound at ``time`` (the newest of equals); forgets those that never
        bound again (observedGeneration and time only grow). None while the controller has observed none of the
        versions seen: it still acts on a spec from before the watch began, whose bound nobody here knows."""
        first = self._observed_index()
        if first < 0:
            self.blind = True
            return None
        if self.blind:  # the controller has just observed a spec we saw: it gets the settle window to act on it
            self.blind, self.judged_from = False, time + settle_s
        if time < self.judged_from:
            return None
        self.versions = [v for i, v in enumerate(self.versions)
                         if i >= first or (v.released is not None and time < v.released + settle_s)]
        return max(reversed(self.versions), key=lambda v: v.bound)


@dataclass
class _ReplicaSet(_Scaled):
    owner: str = ""
    """The uid of the Deployment that controls it, "" when none does (bare or orphaned)."""
    owner_key: str = ""


class SurgeBound(_Checker):
    """A Deployment's ReplicaSets never ask for more than ``replicas + maxSurge``; a ReplicaSet never runs
    more pods than its ``spec.replicas``.

    Fed the watch events of Deployments, ReplicaSets and Pods, it holds two
    invariants, each against the controller that keeps it:

    - ``surge_exceeded`` (per Deployment): the *current* ``spec.replicas`` of
      the ReplicaSets the Deployment controls (their controller
      ownerReference names its uid) sum to at most its ``replicas +
      maxSurge`` (Recreate: ``replicas``). A deleted ReplicaSet stops
      counting, and so does an orphaned one (its ownerReference removed).
    - ``pods_exceed_replicas`` (per ReplicaSet, owned by a Deployment or
      not): the active pods (:func:`is_active_pod`) whose controller is the
      ReplicaSet number at most its ``spec.replicas``. This is what catches a
      ReplicaSet controller creating duplicate pods (after a failover that
      lost its expectations, say). A deleted ReplicaSet's pods stop counting
      (the garbage collector is about to terminate them).

    Why not the Deployment's active pods against its ``replicas + maxSurge``:
    the deployment controller only promises the ReplicaSets' sizes; the
    ReplicaSet controller then brings the pods to them, with a lag. A
    Deployment scaled from 4 to 1 while no controller manager leads has its
    ReplicaSet cut from 4 to 1 when a new leader takes over, and for a moment
    its 4 pods are all still there, above 1 + 1, legitimately.

    Both specs move (a workload scales the Deployment, the deployment
    controller resizes the ReplicaSets), and each controller acts on the
    spec it has *observed*. So each bound at a time is the highest over the
    spec versions from the newest one the responsible controller had
    observed (its object's ``status.observedGeneration`` >= the version's
    ``metadata.generation``: the Deployment's for the first invariant, the
    ReplicaSet's for the second) up to the current one. A version without a
    generation counts as observed at once. A version that leaves that range
    keeps counting for ``settle_s`` more seconds, counted from when the
    checker saw the controller observe a newer one (not from when it was
    replaced, which after a failover may be long before): a controller
    resizes the ReplicaSets, or deletes the pods, before it writes the status
    saying it observed the new spec, and the other watch may deliver those
    writes after that status.

    Checked after every observation for the Deployments and ReplicaSets it
    touches, and for all by :meth:`check` (so a breach that outlives the
    settle window without further events is still seen). Reported once per
    Deployment and once per ReplicaSet, at the first breach, with ``count``
    (how many checks found it over), ``peak`` and ``last_time`` kept up to
    date.
    """

    name = "surge_bound"

    def __init__(self, settle_s: float = 0.0) -> None:
        super().__init__()
        self.settle_s = settle_s
        self._deployments: dict[str, _Scaled] = {}
        self._replicasets: dict[str, _ReplicaSet] = {}
        self._dep_rs: dict[str, set[str]] = {}
        """Deployment uid -> the uids of the (not deleted) ReplicaSets it controls."""
        self._rs_pods: dict[str, set[str]] = {}
        """ReplicaSet uid -> uids of its active pods (kept for unknown ReplicaSets too: events come in any order)."""
        self._pods: dict[str, tuple[str, str]] = {}
        """Active pod uid -> (its ReplicaSet's uid, its name)."""
        self._checks = 0

    def observe(self, time: float, kind: str, event_type: str, obj: Obj) -> None:
        uid = str(_meta(obj).get("uid") or "")
        if not uid:
            return
        if kind == "Deployment":
            self._observe_deployment(time, uid, event_type, obj)
            deployments, replicasets = [uid], []
        elif kind == "ReplicaSet":
            deployments, replicasets = self._observe_replicaset(time, uid, event_type, obj), [uid]
        elif kind == "Pod":
            deployments, replicasets = [], self._observe_pod(uid, event_type, obj)
        else:
            return
        for dep_uid in dict.fromkeys(deployments):
            if dep_uid:
                self._evaluate_deployment(time, dep_uid)
        for rs_uid in dict.fromkeys(replicasets):
            if rs_uid:
                self._evaluate_replicaset(time, rs_uid)

    def check(self, time: float) -> None:
        """Evaluate every Deployment and ReplicaSet at ``time``, e.g. once the settle window after a scale
        has passed."""
        for dep_uid in list(self._deployments):
            self._evaluate_deployment(time, dep_uid)
        for rs_uid in list(self._replicasets):
            self._evaluate_replicaset(time, rs_uid)

    def _observe_deployment(self, time: float, uid: str, event_type: str, d: Obj) -> None:
        dep = self._deployments.setdefault(uid, _Scaled(uid, _key(d)))
        if event_type == DELETED:
            dep.deleted = True  # its ReplicaSets and pods go with the garbage collector; nothing to bound
            return
        dep.update(time, _SpecVersion(_generation(d), replicas_of(d), max_surge(d),
                                      "RollingUpdate" if is_rolling(d) else "Recreate"),
                   _observed_generation(d))

    def _observe_replicaset(self, time: float, uid: str, event_type: str, obj: Obj) -> list[str]:
        """Returns the Deployments whose sum it may have changed: its owner before and after."""
        rs = self._replicasets.setdefault(uid, _ReplicaSet(uid, _key(obj)))
        before = rs.owner
        self._dep_rs.get(before, set()).discard(uid)
        rs.owner = rs.owner_key = ""
        if event_type == DELETED:
            rs.deleted = True
            return [before]
        ref = controller_of(obj)
        if ref is not None and ref.get("kind") == "Deployment" and ref.get("uid"):
            rs.owner = str(ref["uid"])
            ns = _meta(obj).get("namespace") or ""
            rs.owner_key = f"{ns}/{ref.get('name', '')}" if ns else str(ref.get("name", ""))
            self._dep_rs.setdefault(rs.owner, set()).add(uid)
        rs.update(time, _SpecVersion(_generation(obj), replicas_of(obj)), _observed_generation(obj))
        return [before, rs.owner]

    def _observe_pod(self, uid: str, event_type: str, pod: Obj) -> list[str]:
        """Returns the ReplicaSets whose count it may have changed: its controller before and after."""
        before = self._pods.pop(uid, None)
        if before is not None:
            self._rs_pods.get(before[0], set()).discard(uid)
        ref = controller_of(pod)
        rs_uid = str(ref.get("uid") or "") if ref is not None and ref.get("kind") == "ReplicaSet" else ""
        if event_type != DELETED and rs_uid and is_active_pod(pod):
            self._pods[uid] = (rs_uid, str(_meta(pod).get("name") or ""))
            self._rs_pods.setdefault(rs_uid, set()).add(uid)
        return [before[0] if before else "", rs_uid]

    def _evaluate_deployment(self, time: float, dep_uid: str) -> None:
        dep = self._deployments.get(dep_uid)
        if dep is None or dep.deleted or not dep.versions:
            return
        self._checks += 1
        widest = dep.widest(time, self.settle_s)
        if widest is None:
            return
        specs = {rs_uid: self._replicasets[rs_uid].versions[-1].replicas for rs_uid in self._dep_rs.get(dep_uid, ())}
        total = sum(specs.values())
        if total <= widest.bound:
            return
        if dep.violation is None:
            dep.violation = self._add(
                "surge_exceeded", time, "", deployment=dep.key, uid=dep_uid, total=total, bound=widest.bound,
                replicas=widest.replicas, max_surge=widest.surge, strategy=widest.strategy,
                generation=widest.generation, observed_generation=dep.observed_generation,
                replicasets=dict(sorted((self._replicasets[rs].key, n) for rs, n in specs.items() if n)),
                count=1, peak=total, last_time=time)
        else:
            dep.violation.update(count=dep.violation["count"] + 1, last_time=time,
                                 peak=max(dep.violation["peak"], total))
        dep.violation["detail"] = self._deployment_detail(dep.violation)

    def _evaluate_replicaset(self, time: float, rs_uid: str) -> None:
        rs = self._replicasets.get(rs_uid)
        if rs is None or rs.deleted or not rs.versions:
            return
        self._checks += 1
        widest = rs.widest(time, self.settle_s)
        if widest is None:
            return
        pods = self._rs_pods.get(rs_uid, set())
        if len(pods) <= widest.bound:
            return
        if rs.violation is None:
            rs.violation = self._add(
                "pods_exceed_replicas", time, "", replicaset=rs.key, uid=rs_uid, deployment=rs.owner_key or None,
                active=len(pods), bound=widest.bound, replicas=rs.versions[-1].replicas,
                generation=widest.generation, observed_generation=rs.observed_generation,
                pods=sorted(self._pods[p][1] for p in pods), count=1, peak=len(pods), last_time=time)
        else:
            rs.violation.update(count=rs.violation["count"] + 1, last_time=time,
                                peak=max(rs.violation["peak"], len(pods)))
        rs.violation["detail"] = self._replicaset_detail(rs.violation)

    @staticmethod
    def _deployment_detail(v: Violation) -> str:
        if v["strategy"] == "Recreate":
            bound = f"replicas = {v['replicas']} (Recreate: no surge)"
        else:
            bound = f"replicas + maxSurge = {v['replicas']} + {v['max_surge']} = {v['bound']}"
        by_rs = ", ".join(f"{name} {n}" for name, n in v["replicasets"].items())
        text = (f"deployment {v['deployment']} (uid {v['uid']}): its ReplicaSets' spec.replicas summed to "
                f"{v['total']} at {_at(v['time'])}, above {bound} (generation {v['generation']}, "
                f"observedGeneration {v['observed_generation']}); by ReplicaSet: {by_rs}")
        if v["count"] > 1:
            text += (f"; over the bound at {v['count']} checks, at most {v['peak']} replicas, "
                     f"last at {_at(v['last_time'])}")
        return text

    @staticmethod
    def _replicaset_detail(v: Violation) -> str:
        of = f", of deployment {v['deployment']}" if v["deployment"] else ""
        text = (f"replicaset {v['replicaset']} (uid {v['uid']}{of}) had {v['active']} active pods at "
                f"{_at(v['time'])}, above spec.replicas = {v['bound']} (generation {v['generation']}, "
                f"observedGeneration {v['observed_generation']})")
        if v["replicas"] != v["bound"]:
            text += f", spec.replicas now {v['replicas']}"
        text += f"; pods: {', '.join(v['pods'])}"
        if v["count"] > 1:
            text += f"; over the bound at {v['count']} checks, at most {v['peak']} pods, last at {_at(v['last_time'])}"
        return text

    def summary(self) -> str:
        over = [v["kind"] for v in self._violations]
        return (f"surge bound: {len(self._deployments)} deployments, {len(self._replicasets)} replicasets, "
                f"{self._checks} checks; {over.count('surge_exceeded')} deployments went over replicas + maxSurge "
                f"(summing their ReplicaSets' spec.replicas), {over.count('pods_exceed_replicas')} replicasets ran "
                f"more active pods than spec.replicas")


# === Kubernetes: endpoints after recovery ===============================================================

def _ip_order(ip: str) -> tuple[int, Any]:
    try:
        return (0, ipaddress.ip_address(ip))
    except ValueError:
        return (1, ip)


def _canonical_ip(text: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return str(text)


def endpoint_exclusion(pod: Obj, *, publish_not_ready: bool = False) -> str | None:
    """Why ``pod`` (selected by a Service) is not a *ready* endpoint of it, or None if it is one.

    The EndpointSlice controller's rule (``should_be_in_endpoints`` then
    ``pod_to_endpoint`` in :mod:`actors.controllers.endpoints`): finished
    pods and pods without an IPv4 address are left out; the rest are listed,
    ready when the pod's Ready condition is True and it is not terminating,
    or always when the Service publishes not-ready addresses. The phase
    itself is not asked for: a pod with Ready True is listed ready, as
    Kubernetes does.
    """
    phase = (pod.get("status") or {}).get("phase")
    if phase in FINISHED_PHASES:
        return f"phase {phase}"
    if pod_ipv4(pod) is None:
        return "no IPv4 address"
    if publish_not_ready:
        return None
    if _meta(pod).get("deletionTimestamp"):
        return "terminating"
    if not is_pod_ready(pod):
        return "not Ready"
    return None


def _selects(selector: Mapping[str, str], pod: Obj) -> bool:
    labels = _meta(pod).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _names(pods: Iterable[str]) -> str:
    names = sorted(set(pods))
    return f"pod{'s' if len(names) > 1 else ''} {', '.join(names)}" if names else ""


def endpoints_match_ready_pods(services: Iterable[Obj], slices: Iterable[Obj], pods: Iterable[Obj],
                               *, time: float | None = None) -> list[Violation]:
    """Every Service's ready endpoint addresses are exactly its ready pods' IPs (once, after recovery).

    For each Service the endpoint controllers manage (a non-empty selector,
    not ExternalName; headless ones included), the addresses of endpoints
    whose ``conditions.ready`` is not false (the API reads a missing one as
    ready), across its IPv4 EndpointSlices (label
    ``kubernetes.io/service-name``, same namespace: what kube-proxy reads),
    must equal the IPv4 addresses of the namespace's pods its selector
    matches that :func:`endpoint_exclusion` accepts. A mismatch is one
    ``endpoints_mismatch`` per Service, naming the missing and extra IPs with
    the pods behind them and why an extra one should not be there.
    """
    pods = list(pods)
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for s in slices:
        name = (_meta(s).get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name and s.get("addressType", "IPv4") == "IPv4":
            by_service.setdefault((_meta(s).get("namespace") or "", name), []).append(s)
    out: list[Violation] = []
    for svc in sorted(services, key=_key):
        if not manages(svc):
            continue
        ns, name = _meta(svc).get("namespace") or "", str(_meta(svc).get("name") or "")
        selector = service_selector(svc) or {}
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        listed: dict[str, set[str]] = {}
        for s in by_service.get((ns, name), []):
            for ep in s.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                pod_name = (ep.get("targetRef") or {}).get("name")
                for addr in ep.get("addresses") or []:
                    listed.setdefault(_canonical_ip(addr), set()).update([pod_name] if pod_name else [])
        expected: dict[str, set[str]] = {}
        why_not: dict[str, list[str]] = {}
        for pod in pods:
            if (_meta(pod).get("namespace") or "") != ns:
                continue
            pod_name, ip = str(_meta(pod).get("name") or ""), pod_ipv4(pod)
            if not _selects(selector, pod):
                reason: str | None = "not selected by the Service"
            else:
                reason = endpoint_exclusion(pod, publish_not_ready=publish)
            if reason is None and ip is not None:
                expected.setdefault(ip, set()).add(pod_name)
            elif ip is not None:
                why_not.setdefault(ip, []).append(f"{pod_name}: {reason}")
        missing = [{"ip": ip, "pods": sorted(expected[ip])}
                   for ip in sorted(expected.keys() - listed.keys(), key=_ip_order)]
        extra = [{"ip": ip, "pods": sorted(listed[ip]),
                  "why": "; ".join(sorted(why_not.get(ip, []))) or f"no pod in {ns} has this IP"}
                 for ip in sorted(listed.keys() - expected.keys(), key=_ip_order)]
        if not missing and not extra:
            continue
        parts = []
        if missing:
            parts.append("lack " + ", ".join(f"{m['ip']} ({_names(m['pods'])})" for m in missing))
        if extra:
            parts.append("list " + ", ".join(
                f"{e['ip']} ({(_names(e['pods']) + ', ') if e['pods'] else ''}{e['why']})" for e in extra))
        service = f"{ns}/{name}"
        out.append({"check": "endpoints_ready_pods", "kind": "endpoints_mismatch", "time": time,
                    "service": service, "missing": missing, "extra": extra,
                    "detail": f"service {service}: ready endpoints {' and '.join(parts)}"})
    return out
