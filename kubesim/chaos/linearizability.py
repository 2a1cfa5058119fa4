"""Is the register history of a chaos run linearizable, and if not, which operation shows it?

A chaos run's register workload has clients read, write and compare-and-set
keys while faults hit the cluster, and records every operation as a
Jepsen-style ``invoke`` event followed by an ``ok`` / ``fail`` / ``info``
completion. The store promises linearizability: every operation seems to take
effect at one instant between its invoke and its completion, in an order a
single register could have produced. This module decides that promise for a
recorded history, so a run can fail on it and its report can name the
offending operations.

How: a history is linearizable iff each key's sub-history is
(P-compositionality), so keys are checked apart. For one key it runs Wing &
Gong's search -- linearize any pending call whose register step is legal,
back up when an operation's return is reached before it was linearized --
with Lowe's memoization ("Testing for linearizability", 2017; as in
Porcupine): a configuration, the set of linearized operations (a Python int
as bitset) plus the register's value, is explored at most once. Both are
loops with explicit stacks, so keys of 10,000+ operations meet no recursion
limit. An ``info`` operation (a timeout) may take effect at any point after
its invoke or never: its return is at +infinity, so it never blocks, and the
search succeeds once every ``ok`` operation is linearized. Fewer info ops
linearized is never worse, so a configuration is also skipped when one with
the same ok ops and value and a subset of its info ops was seen. Two
reductions keep it quick: a read that fits the current value is taken at once
with no alternatives (it could move to the front of any linearization), and
an info op is tried only where its value is what a pending op reads or
compares against. Depth first finds a linearization fast; when it has not
settled the question within a budget, a sweep over the returns in time order
(the same search, breadth first, info ops fewest first) is much faster at
showing there is none. Either way the culprit is the operation whose return
no order gets past: the result names it, the values the register held where
it was tried and who wrote them, and the operations concurrent with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The cap on configurations generated per key before the answer is "unknown"
#: (a few microseconds each: 2,000,000 is some 10 seconds).
DEFAULT_MAX_STATES = 2_000_000

#: The operations of the register workload; other ``f`` values are not ours.
FUNCTIONS = ("read", "write", "cas")

_READ, _WRITE, _CAS = 0, 1, 2
_KIND = {"read": _READ, "write": _WRITE, "cas": _CAS}
_COMPLETIONS = ("ok", "fail", "info")

#: How many distinct register values to remember per read or cas that did not
#: fit them (the stuck op's are reported; more would not help a reader).
_VALUES_KEPT = 8
#: The budget of the depth-first search before the sweep takes over (see
#: check_key): per operation, and at least.
_DEPTH_FIRST_STATES_PER_OP = 25
_DEPTH_FIRST_STATES_MIN = 50_000
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
        if comp is None or status != "ok":
            return None  # an unknown read observed nothing
        value = _freeze(comp.get("value"))
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
        done = f"outcome unknown (info), invoked at {_fmt_time(writer['time'])}"
    return (f"{_fmt_value(value)} ({_label(writer['f'], writer['value'])} by process "
            f"{writer['process']}, invoke #{writer['index']}, {done})")


@dataclass
class KeyResult:
    """The verdict for one key.

    ``valid`` is True (linearizable), False (not), or None (the search gave up
    after ``max_states`` configurations); ``states`` is how many it generated
    (its work), ``ops`` and ``info_ops`` what it checked. When False: ``stuck_at`` is the
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
        counts = f"{self.ops:,} operations, {self.info_ops:,} of them info; {self.states:,} states searched"
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
            stuck = self.keys[bad[0]].stuck_at or {}
            culprit = (f"{_label(stuck.get('f', '?'), stuck.get('value'))} by process {stuck.get('process')} "
                       f"(invoke #{stuck.get('invoke_index')}) cannot be linearized")
            if len(bad) == 1:
                return f"NOT linearizable: key {bad[0]} ({len(bad)} of {total} keys): {culprit}"
            names = ", ".join(str(k) for k in bad)
            return f"NOT linearizable: keys {names} ({len(bad)} of {total} keys); key {bad[0]}: {culprit}"
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
#
# A configuration ("node") is the tuple (m, w, value, infos, op, parent):
# ok ops 0..m-1 are linearized and bit t of w is ok op m+t (ok ops are
# numbered in invoke order and taken roughly in that order, so w stays small
# whatever the history's length); `infos` is the bit set of the info ops
# linearized; `op` is the op linearized last (ok op i as i, info op j as
# -1-j) and `parent` the configuration before it, kept to report the path.
# Two configurations with the same (m, w, value) and info sets S <= S' are
# in Lowe's sense the same or better: the one with fewer info ops linearized
# can do all the other can, since an info op may take effect later or never.
# So each search keeps, per (m, w, value), the minimal info sets seen (an
# antichain) and skips a configuration another one there dominates.


@dataclass
class _Outcome:
    valid: bool | None
    states: int
    stuck: int = -1  # index into the ok operations of the one no order gets past
    prefix: list[Op] = field(default_factory=list)  # what was linearized when it was tried
    # the values the register held where that op was tried and did not fit,
    # each with the op that wrote it (None: nothing had been written)
    values: list[tuple[Any, Op | None]] = field(default_factory=list)


def _keep(table: dict[tuple[int, int, Any], list[tuple]], node: tuple) -> bool:
    """Add a configuration unless one with a subset of its info ops is there; False if not added."""
    key = (node[0], node[1], node[2])
    linearized = node[3]
    kept = table.get(key)
    if kept is None:
        table[key] = [node]
        return True
    if any(other[3] & ~linearized == 0 for other in kept):
        return False
    kept[:] = [other for other in kept if linearized & ~other[3]] + [node]
    return True


class _Problem:
    """One key's operations as the arrays the searches index, and the moves from a configuration."""

    def __init__(self, oks: Sequence[Op], infos: Sequence[Op]) -> None:
        self.oks, self.infos = oks, infos
        self.n = len(oks)
        self.inv = [op.invoke_pos for op in oks]
        self.ret = [op.complete_pos for op in oks]
        self.kind = [_KIND[op.f] for op in oks]
        self.arg_a = [op.value[0] if op.f == "cas" else op.value for op in oks]
        self.arg_b = [op.value[1] if op.f == "cas" else None for op in oks]
        self.k = len(infos)
        self.info_pos = [op.invoke_pos for op in infos]
        self.info_cas = [op.f == "cas" for op in infos]
        self.info_a = [op.value[0] if op.f == "cas" else op.value for op in infos]
        self.info_b = [op.value[1] if op.f == "cas" else None for op in infos]
        self.info_cases = [j for j in range(self.k) if self.info_cas[j]]
        # Identical info ops (same f and value) are interchangeable once both
        # are invoked, so only the earliest one still free is ever offered.
        self.twins = [0] * self.k  # bit set of the earlier info ops identical to this one
        signatures: dict[tuple[str, Any], int] = {}
        for j, op in enumerate(infos):
            self.twins[j] = signatures.get((op.f, op.value), 0)
            signatures[(op.f, op.value)] = self.twins[j] | (1 << j)

    def expand(self, node: tuple) -> tuple[list[int], float, int, bool]:
        """The ok ops that may take effect next from `node`: (ops, barrier, barrier op, fits).

        Those are the ops not linearized and invoked before the "barrier",
        the first return of an op not linearized. (Wing & Gong walk a linked
        "entry list" for this; a scan over the few ops from m on is as quick
        and needs no undo on backtracking.) If one of them is a read that fits
        the current value, it alone is returned (fits=True): it may as well
        take effect now -- in any linearization from here it can move to the
        front, as it changes nothing and taking it only lifts its return from
        the barrier -- which spares highly concurrent histories from trying
        every order of their reads. Info ops are then not worth trying either.
        """
        m, w, value = node[0], node[1], node[2]
        inv, ret, kind, arg_a = self.inv, self.ret, self.kind, self.arg_a
        barrier: float = math.inf
        barrier_op = -1
        ops: list[int] = []
        i = m
        while i < self.n and inv[i] < barrier:
            if not (w >> (i - m)) & 1:
                if kind[i] == _READ and arg_a[i] == value:
                    return [i], barrier, barrier_op, True
                ops.append(i)
                if ret[i] < barrier:
                    barrier, barrier_op = ret[i], i
            i += 1
        return ops, barrier, barrier_op, False

    def info_moves(self, node: tuple, barrier: float, ops: list[int]) -> list[int]:
        """The info ops worth linearizing next from `node` (as codes -1-j).

        Only those invoked before the barrier, whose compare holds (cas), and
        that matter now: the value they leave must differ from the current one
        and be what one of `ops` (or another info cas) reads or compares
        against. Right after it, anything else fails or overwrites the value,
        and then the info op might as well never have taken effect.
        """
        value, linearized = node[2], node[3]
        moves: list[int] = []
        observed: set[Any] | None = None
        for j in range(self.k):
            if self.info_pos[j] > barrier:
                break
            if (linearized >> j) & 1 or self.twins[j] & ~linearized:
                continue
            if self.info_cas[j]:
                if self.info_a[j] != value:
                    continue
                new_value = self.info_b[j]
            else:
                new_value = self.info_a[j]
            if new_value == value:
                continue
            if observed is None:
                observed = {self.arg_a[i] for i in ops if self.kind[i] != _WRITE}
                for q in self.info_cases:
                    if self.info_pos[q] > barrier:
                        break
                    if not (linearized >> q) & 1:
                        observed.add(self.info_a[q])
            if new_value in observed:
                moves.append(-1 - j)
        return moves

    def apply(self, code: int, node: tuple) -> tuple | None:
        """The configuration after linearizing op `code` at `node`, or None if the register forbids it."""
        m, w, value, linearized = node[0], node[1], node[2], node[3]
        if code < 0:  # an info op, already found legal by info_moves
            j = -1 - code
            return (m, w, self.info_b[j] if self.info_cas[j] else self.info_a[j], linearized | (1 << j), code, node)
        kind = self.kind[code]
        if kind == _WRITE:
            new_value = self.arg_a[code]
        elif self.arg_a[code] == value:
            new_value = value if kind == _READ else self.arg_b[code]
        else:
            return None  # a read of another value, or a cas whose compare fails
        w |= 1 << (code - m)
        if w & 1:  # slide the window past the now-contiguous linearized prefix
            shift = (~w & (w + 1)).bit_length() - 1
            w >>= shift
            m += shift
        return (m, w, new_value, linearized, code, node)

    def path(self, node: tuple | None) -> list[Op]:
        """The operations linearized on the way to a configuration, oldest first."""
        out: list[Op] = []
        while node is not None and node[4] is not None:
            code = node[4]
            out.append(self.oks[code] if code >= 0 else self.infos[-1 - code])
            node = node[5]
        out.reverse()
        return out

    def failure(self, states: int, stuck: int, prefix_node: tuple, misfits: dict[Any, tuple]) -> _Outcome:
        values = []
        for value, node in misfits.items():
            # Reads do not change the register: its value is the last write's (or cas's).
            writer = next((op for op in reversed(self.path(node)) if op.f != "read"), None)
            values.append((value, writer))
        return _Outcome(False, states, stuck, self.path(prefix_node), values)


_ROOT: tuple = (0, 0, None, 0, None, None)


def _depth_first(problem: _Problem, max_states: int) -> _Outcome:
    """Wing & Gong's search, depth first, with Lowe's cache: fast to find a linearization.

    From each configuration it tries the ok ops that may come next in invoke
    order, then the info ops worth trying, backing up when none leads on. A
    configuration is visited once (see _keep), and every configuration
    visited is expanded before the answer is "no", so skipping loses no
    linearization. The answer "no" can take long, though, when configurations
    are first met with more info ops than needed and again with fewer; see
    _sweep.
    """
    p = problem
    cache: dict[tuple[int, int, Any], list[tuple]] = {}
    _keep(cache, _ROOT)
    states = 1
    best_barrier: float = -1
    best_op = -1
    best_node = _ROOT
    # For each read or cas: the values it was tried at and did not fit, with a
    # configuration where that happened (to name the write that left it).
    misfits: dict[int, dict[Any, tuple]] = {}
    # DFS frames: [node, moves, next move, barrier, info ops still to offer?]
    stack: list[list[Any]] = [[_ROOT, None, 0, 0, False]]
    while stack:
        frame = stack[-1]
        node = frame[0]
        if frame[1] is None:
            moves, barrier, barrier_op, fits = p.expand(node)
            frame[1], frame[3], frame[4] = moves, barrier, not fits and p.k > 0
            # The furthest barrier any configuration had: no order of the
            # operations linearizes the op returning there (else a
            # configuration past it would exist), so that op is the culprit.
            # (One cut short by a fitting read has a child at least as far.)
            if not fits and barrier > best_barrier:
                best_barrier, best_op, best_node = barrier, barrier_op, node
        moves = frame[1]
        index = frame[2]
        if index < len(moves):
            frame[2] = index + 1
            child = p.apply(moves[index], node)
            if child is None:
                tried = misfits.setdefault(moves[index], {})
                if len(tried) < _VALUES_KEPT:
                    tried.setdefault(node[2], node)
                continue
            states += 1
            if states > max_states:
                return _Outcome(None, states)
            if not _keep(cache, child):
                continue
            if child[0] == p.n:
                return _Outcome(True, states)
            stack.append([child, None, 0, 0, False])
        elif frame[4]:
            # Every ok op was tried from here: now the info ops worth trying.
            frame[4] = False
            moves.extend(p.info_moves(node, frame[3], moves))
        else:
            stack.pop()
    return p.failure(states, best_op, best_node, misfits.get(best_op, {}))


def _sweep(problem: _Problem, max_states: int) -> _Outcome:
    """The same search breadth first over time: fast to show there is no linearization.

    It walks the returns of the ok ops in real-time order, holding the
    "frontier": every configuration (up to dominance) in which all ops
    returned so far are linearized. At the return of op o, each frontier
    configuration without o is extended -- by the ok and info ops invoked by
    then -- until o is linearized; the results are the next frontier. Within
    a step, configurations are taken in order of how many info ops they
    linearized, so those with fewer come first and prune the rest (in depth
    first order they need not, and an exhaustive search then meets the same
    configuration again and again with ever fewer info ops). If no
    configuration can linearize o, o is the culprit -- the same op the depth
    first search names -- and nothing later needs looking at.
    """
    p = problem
    frontier: dict[tuple[int, int, Any], list[tuple]] = {}
    _keep(frontier, _ROOT)
    states = 1
    for o in sorted(range(p.n), key=p.ret.__getitem__):
        following: dict[tuple[int, int, Any], list[tuple]] = {}
        by_infos: dict[int, list[tuple]] = {}  # configurations without o, by how many info ops they took
        for nodes in frontier.values():
            for node in nodes:
                m, w = node[0], node[1]
                if o < m or (w >> (o - m)) & 1:
                    _keep(following, node)
                else:
                    by_infos.setdefault(node[3].bit_count(), []).append(node)
        seen: dict[tuple[int, int, Any], list[tuple]] = {}
        misfits: dict[Any, tuple] = {}
        while by_infos:
            level = min(by_infos)
            stack = [node for node in by_infos.pop(level) if _keep(seen, node)]
            while stack:
                node = stack.pop()
                moves, barrier, _, fits = p.expand(node)
                for code in moves:
                    child = p.apply(code, node)
                    if child is None:
                        if code == o and len(misfits) < _VALUES_KEPT:
                            misfits.setdefault(node[2], node)
                        continue
                    states += 1
                    if code != o:
                        if _keep(seen, child):
                            stack.append(child)
                    elif child[0] == p.n:
                        return _Outcome(True, states)
                    else:
                        _keep(following, child)
                if not fits and p.k:
                    moves = p.info_moves(node, barrier, moves)
                    if moves:
                        states += len(moves)
                        by_infos.setdefault(level + 1, []).extend(p.apply(code, node) for code in moves)
                if states > max_states:
                    return _Outcome(None, states)
        if not following:
            first = next(iter(misfits.values()), None) or next(iter(frontier.values()))[0]
            return p.failure(states, o, first, misfits)
        frontier = following
    return _Outcome(True, states)  # the last frontier has every op linearized


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
    infos = [op for op in ops if op.status != "ok" and op.f != "read"]  # an info read observed nothing
    result = KeyResult(key=key, valid=True, ops=len(ops), info_ops=sum(op.status != "ok" for op in ops))
    if oks:
        problem = _Problem(oks, infos)
        # Depth first finds a linearization fast when there is one; if that
        # has not settled it within a budget, the sweep is far quicker to
        # show there is none (and holds only one step's configurations).
        budget = min(max_states, _DEPTH_FIRST_STATES_PER_OP * len(ops) + _DEPTH_FIRST_STATES_MIN)
        outcome = _depth_first(problem, budget)
        if outcome.valid is None and budget < max_states:
            spent = outcome.states
            outcome = _sweep(problem, max_states - spent)
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
