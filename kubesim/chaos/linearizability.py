"""Is the register history of a chaos run linearizable, and if not, which operation shows it?

A chaos run's register workload has clients read, write and compare-and-set
keys while faults hit the cluster, and records every operation as a
Jepsen-style ``invoke`` event followed by its ``ok`` / ``fail`` / ``info``
completion. The store promises linearizability: every operation appears to take
effect at one instant between its invoke and its completion, in an order that
a single register would have produced. This module decides that promise for a
recorded history. A history is linearizable iff each key's sub-history is
(P-compositionality, Herlihy & Wing), so keys are checked apart. For one key it
runs Wing & Gong's search: walk the "entry list" of calls and returns in
real-time order, linearize any pending call whose model step is legal, and back
up when a return is reached whose operation is not yet linearized. Lowe's
memoization ("Testing for linearizability", 2017; also Porcupine by Anish
Athalye) makes it practical: a configuration -- which operations are linearized
plus the register's value -- is explored at most once. The search is a loop
with an explicit stack, so 10,000-operation keys do not meet Python's recursion
limit. An ``info`` operation (a timeout) may take effect at any point after its
invoke or never, so it never blocks the search (its return is at +infinity) and
it need not be linearized for the search to succeed. When a key is not
linearizable the result names the operation the search could never get past,
what the register held there and who wrote it, and the operations concurrent
with it, so that a person can read the offending operations in the report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The cap on explored configurations per key before the answer is "unknown".
DEFAULT_MAX_STATES = 2_000_000

#: The operations of the register workload; other ``f`` values are not ours.
FUNCTIONS = ("read", "write", "cas")

_READ, _WRITE, _CAS = 0, 1, 2
_KIND = {"read": _READ, "write": _WRITE, "cas": _CAS}
_COMPLETIONS = ("ok", "fail", "info")

#: How many distinct register values to remember per read or cas that did not
#: fit them (the stuck op's are reported; more would not help a reader).
_VALUES_KEPT = 8
#: The budget of the first, eager search (see check_key), per operation and at least.
_EAGER_STATES_PER_OP = 10
_EAGER_STATES_MIN = 20_000
#: How many concurrent operations ``describe()`` spells out.
_CONCURRENT_SHOWN = 8


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True, eq=False)
class Op:
    """One operation of one key: an invoke and what became of it.

    ``value`` is what the model needs: the value read (read), written (write),
    or ``(expected, new)`` (cas). ``status`` is ``"ok"`` or ``"info"`` (``fail``
    operations and info reads never get here: they constrain nothing).
    ``invoke_pos`` / ``complete_pos`` are positions in the history list, which
    is the real-time order; ``complete_pos`` is None when the history ended
    before a completion.
    """

    key: Any
    process: Any
    f: str
    value: Any
    status: str
    invoke_pos: int
    complete_pos: int | None
    invoke: Mapping[str, Any]
    completion: Mapping[str, Any] | None

    @property
    def invoke_index(self) -> Any:
        return self.invoke.get("index", self.invoke_pos)

    @property
    def invoke_time(self) -> Any:
        return self.invoke.get("time")

    @property
    def complete_index(self) -> Any:
        if self.completion is None:
            return None
        return self.completion.get("index", self.complete_pos)

    @property
    def complete_time(self) -> Any:
        return None if self.completion is None else self.completion.get("time")

    def to_dict(self) -> dict[str, Any]:
        """The operation as the report and the journal show it."""
        return {
            "index": self.invoke_index,
            "time": self.invoke_time,
            "process": self.process,
            "f": self.f,
            "value": list(self.value) if self.f == "cas" else self.value,
            "type": self.status,
            "completed_index": self.complete_index,
            "completed_time": self.complete_time,
        }


def _is_register_event(event: Mapping[str, Any]) -> bool:
    return (
        event.get("f") in FUNCTIONS
        and "key" in event
        and event.get("workload", "register") == "register"
    )


def _freeze(value: Any) -> Any:
    # Register values are ints or None, but the model state is a cache key, so
    # anything list-like that slips in must be hashable.
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _make_op(inv_pos: int, inv: Mapping[str, Any], comp_pos: int | None,
             comp: Mapping[str, Any] | None) -> Op | None:
    """The operation for an invoke and its completion, or None if it constrains nothing."""
    status = "info" if comp is None else comp.get("type")
    if status == "fail":
        return None  # it certainly did not happen
    if status != "ok":
        status = "info"  # a timeout, or a completion type we do not know: unknown outcome
    f = inv["f"]
    if f == "read":
        if status != "ok":
            return None  # an unknown read observed nothing
        value = _freeze(comp.get("value"))  # type: ignore[union-attr]
    else:
        value = inv.get("value")
        if value is None and comp is not None:
            value = comp.get("value")
        value = _freeze(value)
        if f == "cas" and not (isinstance(value, tuple) and len(value) == 2):
            raise ValueError(f"cas at history position {inv_pos} has value {value!r}, not [expected, new]")
    return Op(key=inv["key"], process=inv.get("process"), f=f, value=value, status=status,
              invoke_pos=inv_pos, complete_pos=comp_pos, invoke=inv, completion=comp)


def _key_order(key: Any) -> tuple[str, str]:
    return (type(key).__name__, str(key))


def operations(history: Iterable[Mapping[str, Any]]) -> dict[Any, list[Op]]:
    """The register operations of a history, per key (keys sorted), each key's in invoke order.

    Invokes and completions are paired by ``process`` (a process does one
    operation at a time). An invoke without a completion is ``info``. ``fail``
    operations and reads that did not complete ``ok`` are left out.
    """
    pending: dict[Any, tuple[int, Mapping[str, Any]]] = {}
    pairs: list[tuple[int, Mapping[str, Any], int | None, Mapping[str, Any] | None]] = []
    for pos, event in enumerate(history):
        if not _is_register_event(event):
            continue
        kind = event.get("type")
        process = event.get("process")
        if kind == "invoke":
            if process in pending:
                # A process must not invoke twice; if it did, the first never completed.
                pairs.append((*pending.pop(process), None, None))
            pending[process] = (pos, event)
        elif kind in _COMPLETIONS:
            started = pending.pop(process, None)
            if started is not None:  # a completion without an invoke is noise
                pairs.append((started[0], started[1], pos, event))
    pairs.extend((pos, event, None, None) for pos, event in pending.values())
    pairs.sort(key=lambda pair: pair[0])

    by_key: dict[Any, list[Op]] = {}
    for pair in pairs:
        op = _make_op(*pair)
        if op is not None:
            by_key.setdefault(op.key, []).append(op)
    return {key: by_key[key] for key in sorted(by_key, key=_key_order)}


# --------------------------------------------------------------------------- results


def _fmt_value(value: Any) -> str:
    return "None" if value is None else repr(value)


def _label(f: str, value: Any) -> str:
    if f == "read":
        return f"read -> {_fmt_value(value)}"
    if f == "cas" and isinstance(value, list | tuple) and len(value) == 2:
        return f"cas {_fmt_value(value[0])} -> {_fmt_value(value[1])}"
    return f"{f} {_fmt_value(value)}"


def _fmt_time(t: Any) -> str:
    return f"t={t:.3f} s" if isinstance(t, int | float) else "t=?"


def _fmt_op(op: Mapping[str, Any]) -> str:
    """``write 5 by process 2 (invoke #810 at t=12.050 s, ok #814 at t=12.100 s)``."""
    text = f"{_label(op['f'], op['value'])} by process {op['process']} (invoke #{op['index']} at {_fmt_time(op['time'])}"
    if op["type"] == "ok":
        return f"{text}, ok #{op['completed_index']} at {_fmt_time(op['completed_time'])})"
    if op.get("completed_index") is None:
        return f"{text}, never completed)"
    return f"{text}, timed out (info) #{op['completed_index']} at {_fmt_time(op['completed_time'])})"


def _fmt_writer(value: Any, writer: Mapping[str, Any] | None) -> str:
    if writer is None:
        return f"{_fmt_value(value)} (nothing had been written: the key did not exist)"
    if writer["type"] == "ok":
        done = f"ok at {_fmt_time(writer['completed_time'])}"
    else:
        done = f"timed out, invoked at {_fmt_time(writer['time'])}"
    return (f"{_fmt_value(value)} ({_label(writer['f'], writer['value'])} by process "
            f"{writer['process']}, invoke #{writer['index']}, {done})")


@dataclass
class KeyResult:
    """The verdict for one key.

    ``valid`` is True (linearizable), False (not), or None (the search gave up
    after ``max_states`` configurations). When False: ``stuck_at`` is the
    operation the search could never linearize at the furthest point it
    reached (its completion event, plus ``invoke_index`` / ``invoke_time``);
    ``linearized_prefix`` the operations it had linearized before getting
    stuck there, in order; ``concurrent`` the operations whose intervals
    overlap the stuck one's (an info operation overlaps everything after its
    invoke); ``register_values`` the values the register held wherever the
    search tried the stuck operation, each with the operation that wrote it
    (``written_by``, None for the initial absent value) -- it fits none of them.
    """

    key: Any
    valid: bool | None
    ops: int = 0
    info_ops: int = 0
    states: int = 0
    stuck_at: dict[str, Any] | None = None
    linearized_prefix: list[dict[str, Any]] = field(default_factory=list)
    concurrent: list[dict[str, Any]] = field(default_factory=list)
    register_values: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = field(default=0.0, compare=False)

    def describe(self) -> str:
        """One paragraph a person can act on: the verdict and, if bad, the offending operations."""
        counts = f"{self.ops:,} operations, {self.info_ops:,} of them info; {self.states:,} states explored"
        if self.valid is True:
            return f"key {self.key}: linearizable ({counts})"
        if self.valid is None:
            return f"key {self.key}: unknown, the search gave up after {self.states:,} states ({self.ops:,} operations)"
        stuck = self.stuck_at or {}
        text = (f"key {self.key}: {_label(stuck.get('f', '?'), stuck.get('value'))} by process "
                f"{stuck.get('process')} at {_fmt_time(stuck.get('invoke_time'))} "
                f"(invoke #{stuck.get('invoke_index')}, ok #{stuck.get('index')} at {_fmt_time(stuck.get('time'))}) "
                "cannot be linearized")
        values = [_fmt_writer(v["value"], v["written_by"]) for v in self.register_values]
        if len(values) == 1:
            text += f": the last value written before it was {values[0]}"
        elif values:
            text += (": depending on the order of the operations concurrent with it, the last value "
                     f"written before it was {' or '.join(values)}")
        if self.concurrent:
            shown = "; ".join(_fmt_op(op) for op in self.concurrent[:_CONCURRENT_SHOWN])
            more = len(self.concurrent) - _CONCURRENT_SHOWN
            text += f". Concurrent with it: {shown}" + (f"; and {more} more" if more > 0 else "")
        text += f". {len(self.linearized_prefix):,} operations were linearized before it"
        return text + "."


@dataclass
class Result:
    """The verdict for a whole history: ``valid`` is False if any key is not
    linearizable, else None if any key is unknown, else True."""

    valid: bool | None
    keys: dict[Any, KeyResult] = field(default_factory=dict)

    @property
    def invalid_keys(self) -> list[Any]:
        return [key for key, r in self.keys.items() if r.valid is False]

    @property
    def unknown_keys(self) -> list[Any]:
        return [key for key, r in self.keys.items() if r.valid is None]

    def summary(self) -> str:
        """One line: the verdict and, when there is one, the first offending operation."""
        total = len(self.keys)
        if not total:
            return "linearizable: no register operations"
        ops = sum(r.ops for r in self.keys.values())
        info = sum(r.info_ops for r in self.keys.values())
        bad = self.invalid_keys
        if bad:
            first = self.keys[bad[0]]
            stuck = first.stuck_at or {}
            names = ", ".join(str(k) for k in bad)
            return (f"NOT linearizable: key {names} ({len(bad)} of {total} keys); key {first.key}: "
                    f"{_label(stuck.get('f', '?'), stuck.get('value'))} by process {stuck.get('process')} "
                    f"(invoke #{stuck.get('invoke_index')}) cannot be linearized")
        unknown = self.unknown_keys
        if unknown:
            names = ", ".join(str(k) for k in unknown)
            return (f"unknown: key {names} ({len(unknown)} of {total} keys) too hard to decide "
                    f"within the state limit; the others are linearizable")
        return f"linearizable: {total} keys, {ops:,} operations ({info:,} info)"

    def describe(self) -> str:
        """The summary, then every key's verdict, the bad ones in full."""
        return "\n".join([self.summary(), *(r.describe() for r in self.keys.values())])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def to_jsonable(result: Result, *, prefix_limit: int | None = 20) -> dict[str, Any]:
    """The result as plain JSON data for the journal.

    The linearized prefix can be as long as the key's history, so only its
    last ``prefix_limit`` operations are kept (None keeps all), with its length.
    """
    keys: dict[str, Any] = {}
    for key, r in result.keys.items():
        entry: dict[str, Any] = {"key": key, "valid": r.valid, "ops": r.ops, "info_ops": r.info_ops,
                                 "states": r.states, "seconds": round(r.seconds, 6)}
        if r.valid is False:
            prefix = r.linearized_prefix
            kept = prefix if prefix_limit is None else prefix[max(0, len(prefix) - prefix_limit):]
            entry.update(stuck_at=r.stuck_at, linearized_prefix_length=len(prefix), linearized_prefix=kept,
                         concurrent=r.concurrent, register_values=r.register_values)
        entry["description"] = r.describe()
        keys[str(key)] = entry
    return _jsonable({"valid": result.valid, "summary": result.summary(), "keys": keys})


# --------------------------------------------------------------------------- the search


@dataclass
class _Outcome:
    valid: bool | None
    states: int
    stuck: int = -1  # index into the ok operations of the one the search could not get past
    prefix: list[Op] = field(default_factory=list)  # what it had linearized when it got there
    # the values the register held where that op was tried and did not fit,
    # each with the op that wrote it (None: nothing had been written)
    values: list[tuple[Any, Op | None]] = field(default_factory=list)


def _search(oks: Sequence[Op], infos: Sequence[Op], max_states: int, *, levels: bool) -> _Outcome:
    """Wing & Gong's search with Lowe's memoization over one key's operations.

    ``oks`` must be in invoke order and non-empty; ``infos`` likewise (reads
    excluded). Decides whether every ok operation can be linearized together
    with some subset of the info operations, each at some point after its
    invoke. ``levels`` chooses the order info ops are tried in (see below);
    the answer is the same, only the time to reach it differs.
    """
    n = len(oks)
    inv = [op.invoke_pos for op in oks]
    ret = [op.complete_pos for op in oks]
    kind = [_KIND[op.f] for op in oks]
    arg_a = [op.value[0] if op.f == "cas" else op.value for op in oks]
    arg_b = [op.value[1] if op.f == "cas" else None for op in oks]
    k = len(infos)
    info_pos = [op.invoke_pos for op in infos]
    info_cas = [op.f == "cas" for op in infos]
    info_a = [op.value[0] if op.f == "cas" else op.value for op in infos]
    info_b = [op.value[1] if op.f == "cas" else None for op in infos]
    # Identical info ops (same f and value) are interchangeable once both are
    # invoked, so only the earliest one still free is ever offered.
    twins = [0] * k  # bit set of the earlier info ops identical to this one
    seen_sig: dict[tuple[str, Any], int] = {}
    for j, op in enumerate(infos):
        twins[j] = seen_sig.get((op.f, op.value), 0)
        seen_sig[(op.f, op.value)] = twins[j] | (1 << j)

    # A configuration ("node") is (m, w, value, infos, op, parent): ok ops
    # 0..m-1 are linearized and bit t of w is ok op m+t (ok ops are numbered
    # in invoke order and taken roughly in order, so w stays small whatever
    # the history's length); `infos` is the bit set of info ops linearized;
    # `op` is the op linearized last (ok i as i, info j as -1-j) and `parent`
    # the configuration before it, kept to report the linearized prefix.
    #
    # Which ok calls may take effect next follows from (m, w) alone: those not
    # linearized and invoked before the "barrier", the first return of an op
    # not linearized. (Wing & Gong walk a linked "entry list" for this; a scan
    # over the few ops from m on is as quick and needs no undo on backtrack.)
    #
    # Lowe's cache maps (m, w, value) to the info sets it was visited with. A
    # configuration with fewer info ops linearized can do all that one with
    # more can (an info op may take effect later, or never), so one is skipped
    # when a configuration with the same (m, w, value) and a subset of its
    # info ops was visited. Every configuration visited is expanded before
    # the answer is "no", so skipping loses no linearization.
    #
    # Info ops are tried only where the ok calls alone cannot go on, and only
    # when they can matter: the value left must differ from the current one
    # and be what some op that may come next reads or compares against (right
    # after it, anything else fails or overwrites it, and then it might as
    # well never have taken effect). Without `levels`, they are tried right
    # there, depth first: quick to find a linearization. With `levels`, each
    # is a seed of the next level, taken when no configuration with fewer info
    # ops is left, so the subsets are met first and prune their supersets:
    # quick to exhaust a history that has no linearization.
    root: tuple = (0, 0, None, 0, None, None)
    cache: dict[tuple[int, int, Any], list[int]] = {(0, 0, None): [0]}
    states = 1
    best_barrier: float = -1
    best_op = -1
    best_node: tuple = root
    # For each read or cas: the values it was tried at and did not fit, with a
    # configuration where that happened (to name the write that left it).
    misfits: dict[int, dict[Any, tuple]] = {}

    # DFS frames: [node, candidate codes (ok i, info -1-j), next candidate,
    # barrier, whether the info ops were offered yet].
    stack: list[list[Any]] = [[root, None, 0, 0, False]]
    seeds: list[tuple[tuple, int]] = []
    next_seeds: list[tuple[tuple, int]] = []
    next_seed = 0
    while True:
        if not stack:
            if next_seed == len(seeds):
                if not next_seeds:
                    values = []
                    for value, node in misfits.get(best_op, {}).items():
                        path = _path(node, oks, infos)
                        values.append((value, next((op for op in reversed(path) if op.f != "read"), None)))
                    return _Outcome(False, states, best_op, _path(best_node, oks, infos), values)
                seeds, next_seeds, next_seed = next_seeds, [], 0
            parent, j = seeds[next_seed]
            next_seed += 1
            stack.append([parent, [-1 - j], 0, 0, True])  # a frame that only offers the seed

        frame = stack[-1]
        node = frame[0]
        m, w, value, linearized = node[0], node[1], node[2], node[3]
        candidates = frame[1]
        if candidates is None:
            # First visit: the ok calls that may take effect next, and the barrier.
            barrier: float = math.inf
            barrier_op = -1
            candidates = []
            i = m
            while i < n and inv[i] < barrier:
                if not (w >> (i - m)) & 1:
                    if kind[i] == _READ and arg_a[i] == value:
                        # A read that fits now may as well take effect now: in
                        # any linearization from here it can move to the front
                        # (it changes nothing, and taking it only lifts its
                        # return from the barrier). So it is the only choice,
                        # which keeps highly concurrent histories from
                        # branching on every order of their reads.
                        candidates = [i]
                        frame[4] = True  # nor any info op first
                        break
                    candidates.append(i)
                    if ret[i] < barrier:
                        barrier, barrier_op = ret[i], i
                i += 1
            else:
                # The furthest barrier any configuration had: no order of the
                # operations linearizes the op returning there (else a
                # configuration past it would exist), so that op is the
                # culprit. (A configuration cut short by a fitting read has a
                # child at least as far.)
                if barrier > best_barrier:
                    best_barrier, best_op, best_node = barrier, barrier_op, node
            frame[1], frame[3] = candidates, barrier

        index = frame[2]
        if index < len(candidates):
            frame[2] = index + 1
            code = candidates[index]
            new_m, new_w, new_linearized = m, w, linearized
            if code >= 0:  # an ok call
                op_kind = kind[code]
                if op_kind == _WRITE:
                    new_value = arg_a[code]
                elif arg_a[code] == value:
                    new_value = value if op_kind == _READ else arg_b[code]
                else:  # a read of another value, or a cas whose compare fails
                    misfit = misfits.get(code)
                    if misfit is None:
                        misfits[code] = {value: node}
                    elif value not in misfit and len(misfit) < _VALUES_KEPT:
                        misfit[value] = node
                    continue
                new_w = w | (1 << (code - m))
                if new_w & 1:  # slide the window past the now-contiguous linearized prefix
                    shift = (~new_w & (new_w + 1)).bit_length() - 1
                    new_w >>= shift
                    new_m += shift
            else:  # an info op, already found legal and worth trying
                j = -1 - code
                new_value = info_b[j] if info_cas[j] else info_a[j]
                new_linearized = linearized | (1 << j)
            cache_key = (new_m, new_w, new_value)
            seen = cache.get(cache_key)
            if seen is None:
                cache[cache_key] = [new_linearized]
            elif any(s & ~new_linearized == 0 for s in seen):
                continue
            else:
                seen[:] = [s for s in seen if new_linearized & ~s] + [new_linearized]
            states += 1
            if states > max_states:
                return _Outcome(None, states)
            if new_m == n:
                return _Outcome(True, states)
            stack.append([(new_m, new_w, new_value, new_linearized, code, node), None, 0, 0, False])
            continue

        if frame[4] or not k:
            stack.pop()
            continue
        # Every ok call was tried from here: offer the info ops that can matter.
        frame[4] = True
        barrier = frame[3]
        offered: list[int] = []
        observed: set[Any] | None = None
        for j in range(k):
            if info_pos[j] > barrier:
                break
            if (linearized >> j) & 1 or twins[j] & ~linearized:
                continue
            if info_cas[j]:
                if info_a[j] != value:
                    continue
                new_value = info_b[j]
            else:
                new_value = info_a[j]
            if new_value == value:
                continue
            if observed is None:
                observed = {arg_a[c] for c in candidates if c >= 0 and kind[c] != _WRITE}
                observed.update(info_a[q] for q in range(k) if info_cas[q] and info_pos[q] < barrier
                                and not (linearized >> q) & 1)
            if new_value in observed:
                offered.append(j)
        if levels:
            next_seeds.extend((node, j) for j in offered)
            stack.pop()
        else:
            candidates.extend(-1 - j for j in offered)


def _path(node: tuple | None, oks: Sequence[Op], infos: Sequence[Op]) -> list[Op]:
    """The operations linearized on the way to a configuration, oldest first."""
    out: list[Op] = []
    while node is not None and node[4] is not None:
        code = node[4]
        out.append(oks[code] if code >= 0 else infos[-1 - code])
        node = node[5]
    out.reverse()
    return out


def _explain(result: KeyResult, outcome: _Outcome, ops: Sequence[Op], oks: Sequence[Op]) -> None:
    """Fill in what a person needs to see why the key is not linearizable."""
    stuck = oks[outcome.stuck]
    result.stuck_at = {**(stuck.completion or {}), "invoke_index": stuck.invoke_index,
                       "invoke_time": stuck.invoke_time}
    result.stuck_at.setdefault("value", stuck.value)
    result.linearized_prefix = [op.to_dict() for op in outcome.prefix]
    result.register_values = [{"value": value, "written_by": None if writer is None else writer.to_dict()}
                              for value, writer in outcome.values]
    end = stuck.complete_pos if stuck.complete_pos is not None else math.inf
    result.concurrent = [
        op.to_dict() for op in ops
        if op is not stuck and op.invoke_pos < end
        and (op.status != "ok" or (op.complete_pos is not None and op.complete_pos > stuck.invoke_pos))
    ]


def check_key(ops: Sequence[Op], *, max_states: int = DEFAULT_MAX_STATES) -> KeyResult:
    """Check one key's operations (as :func:`operations` returns them)."""
    started = time.perf_counter()
    ops = sorted(ops, key=lambda op: op.invoke_pos)
    key = ops[0].key if ops else None
    oks = [op for op in ops if op.status == "ok"]
    infos = [op for op in ops if op.status != "ok" and op.f != "read"]
    result = KeyResult(key=key, valid=True, ops=len(ops), info_ops=sum(op.status != "ok" for op in ops))
    if oks:
        # Depth first with info ops taken eagerly finds a linearization fast
        # when there is one; if that has not settled it within a budget, the
        # search in levels (see _search) is far quicker to show there is none.
        budget = min(max_states, _EAGER_STATES_PER_OP * len(ops) + _EAGER_STATES_MIN)
        outcome = _search(oks, infos, budget, levels=False)
        if outcome.valid is None and budget < max_states:
            spent = outcome.states
            outcome = _search(oks, infos, max_states - spent, levels=True)
            outcome.states += spent
        result.valid, result.states = outcome.valid, outcome.states
        if outcome.valid is False:
            _explain(result, outcome, ops, oks)
    result.seconds = time.perf_counter() - started
    return result


def check(history: Iterable[Mapping[str, Any]], *, max_states: int = DEFAULT_MAX_STATES) -> Result:
    """Check a whole history (events of other workloads are ignored), key by key."""
    keys = {key: check_key(ops, max_states=max_states) for key, ops in operations(history).items()}
    verdicts = [r.valid for r in keys.values()]
    valid = False if False in verdicts else None if None in verdicts else True
    return Result(valid=valid, keys=keys)
