"""The fault timeline, planned from the seed before the run starts; and who each fault hits.

:func:`plan` turns an experiment's faults into occurrences (``every``/``times``
expanded, heal times fixed) and gives each one a seed of its own, drawn from
the experiment's seed. Everything random about an occurrence — which store
member "one" or "minority" picks, which messages a 20 % drop loses — comes
from that seed, so the same seed gives the same fault schedule; a run's
journal names the seed and the command that replays it.

:func:`select` and the ``*_rules`` functions are the pure decisions behind the
injectors: candidates in, processes or bus fault rules out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from random import Random

from kubesim.chaos.experiment import INSTANT_ACTIONS, Experiment, Fault, Target

#: Added after the last planned event when the experiment gives no duration_s.
TAIL_S = 1.0


class PlanError(ValueError):
    """The timeline cannot be planned (a repeat without an end, a target that names no process)."""


@dataclass(frozen=True)
class Occurrence:
    """One injection of a fault: when, when it is healed (None: it is over at once), and its own seed."""

    id: str
    index: int
    """The fault's position in the experiment's ``faults``."""
    fault: Fault
    at: float
    heal_at: float | None
    seed: int

    def to_dict(self) -> dict:
        return {"id": self.id, "fault": self.index, "name": self.fault.label, "action": self.fault.action,
                "at": self.at, "heal_at": self.heal_at, "seed": self.seed}


@dataclass(frozen=True)
class Plan:
    occurrences: tuple[Occurrence, ...]
    duration_s: float
    """The fault phase's length: at its end every fault still active is healed."""


def plan(exp: Experiment, seed: int) -> Plan:
    rng = Random(seed)
    raw: list[tuple[float, int, Fault, float | None]] = []
    for index, fault in enumerate(exp.faults):
        if fault.every is not None and fault.times is None and exp.duration_s is None:
            raise PlanError(f"faults.{index}: 'every' without 'times' repeats until duration_s, which is not given")
        count = fault.times or (1 if fault.every is None else
                                int((exp.duration_s - fault.at) // fault.every) + 1)
        for k in range(max(count, 0)):
            at = fault.at + k * (fault.every or 0.0)
            if exp.duration_s is not None and at >= exp.duration_s:
                break
            heal = None if fault.action in INSTANT_ACTIONS or (fault.action == "kill" and fault.for_s is None) \
                else (at + fault.for_s if fault.for_s is not None else -1.0)
            raw.append((at, index, fault, heal))
    ends = [h if h is not None and h >= 0 else at for at, _, _, h in raw]
    duration = exp.duration_s if exp.duration_s is not None else (max(ends, default=0.0) + TAIL_S)
    raw.sort(key=lambda r: (r[0], r[1]))
    occurrences = []
    for n, (at, index, fault, heal) in enumerate(raw, 1):
        if heal is not None and (heal < 0 or heal > duration):
            heal = duration  # no 'for' (or past the end): healed when the fault phase ends
        occurrences.append(Occurrence(f"f{n}", index, fault, at, heal, rng.getrandbits(32)))
    return Plan(tuple(occurrences), duration)


def candidates(target: Target, processes: dict[str, str]) -> list[str]:
    """The processes a target names before ``select`` narrows them (``processes``: name -> component)."""
    if target.name is not None:
        names = [target.name]
    elif target.names is not None:
        names = list(target.names)
    else:
        names = [p for p, component in processes.items() if component == target.role]
        if not names:
            roles = sorted(set(processes.values()))
            raise PlanError(f"no process has role {target.role!r} (roles: {', '.join(roles)})")
    unknown = [n for n in names if n not in processes]
    if unknown:
        raise PlanError(f"no process {unknown[0]!r} in the cluster (have: {', '.join(processes)})")
    return sorted(names)


def select(target: Target, processes: dict[str, str], rng: Random, leader: str | None = None) -> list[str]:
    """The processes hit: ``leader`` needs the current leader among the candidates."""
    names = candidates(target, processes)
    n = len(names)
    how = target.select
    if how == "all":
        return names
    if how == "leader":
        if leader is None or leader not in names:
            raise PlanError(f"no leader among {', '.join(names)} right now")
        return [leader]
    if how == "one":
        k = 1
    elif how == "minority":
        k = max(1, (n - 1) // 2)
    elif how == "majority":
        k = n // 2 + 1
    else:  # random: any non-empty subset
        k = rng.randint(1, n)
    return sorted(rng.sample(names, k))


def bridge_sides(members: list[str], rng: Random) -> tuple[list[str], list[str]]:
    """Jepsen's bridge: two halves that cannot talk, and one member (the bridge) that talks to both.

    Returned as the two sides to cut: ``(left, right)``; the bridge is in neither, so it reaches both.
    """
    if len(members) < 3:
        raise PlanError(f"a bridge needs 3 or more members, have {len(members)}")
    shuffled = sorted(members)
    rng.shuffle(shuffled)
    half = (len(shuffled) - 1) // 2
    return sorted(shuffled[:half]), sorted(shuffled[half + 1:])


def actors_of(processes: list[str], actor: str | None = None) -> str:
    """A fault-rule glob for every actor of these processes (or only their ``actor``)."""
    if actor is not None:
        return "|".join(f"{p}.{actor}" for p in processes)
    return "|".join(f"{p}|{p}.*" for p in processes)


def cut_rules(side_a: list[str], side_b: list[str], *, one_way: bool = False) -> dict[str, list[dict]]:
    """Black-hole rules, per process, so nothing passes from A to B (and, unless ``one_way``, from B to A).

    Both ends get rules: each process filters its own traffic, direct links included, and a rule on each end
    keeps the cut whole while either end is being restarted without its rules.
    """
    a, b = actors_of(side_a), actors_of(side_b)
    rules: dict[str, list[dict]] = {}
    for p in side_a:
        rules[p] = [{"action": "blackhole", "direction": "send", "dst": b}]
        if not one_way:
            rules[p].append({"action": "blackhole", "direction": "recv", "src": b})
    for p in side_b:
        rules[p] = [{"action": "blackhole", "direction": "recv", "src": a}]
        if not one_way:
            rules[p].append({"action": "blackhole", "direction": "send", "dst": a})
    return rules


def message_rules(fault: Fault, side_a: list[str], side_b: list[str] | None) -> dict[str, list[dict]]:
    """Drop/delay/duplicate/reorder rules on side A's processes for its messages to and from side B
    (None: anyone else), of ``fault.kinds``, narrowed to ``fault.actor`` on side A."""
    params = {"action": fault.action, "probability": fault.probability}
    if fault.action == "delay":
        params |= {"delay_s": fault.delay_s, "jitter_s": fault.jitter_s}
    elif fault.action == "duplicate":
        params["copies"] = fault.copies
    elif fault.action == "reorder":
        params["window"] = fault.window
    rules: dict[str, list[dict]] = {}
    for p in side_a:
        mine = actors_of([p], fault.actor)
        others = actors_of(side_b) if side_b is not None else "!" + actors_of([p])
        rules[p] = [
            {**params, "direction": d, "kind": kind, "src": src, "dst": dst}
            for kind in fault.kinds
            for d, src, dst in (("send", mine, others), ("recv", others, mine))
        ]
    return rules


def process_seed(occurrence_seed: int, process: str) -> int:
    """The fault filter seed one process gets for one occurrence: the same for the same run."""
    return (occurrence_seed ^ zlib.crc32(process.encode())) & 0xFFFFFFFF
