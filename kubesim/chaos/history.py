"""What the workloads did, as Jepsen records it: every operation an ``invoke`` and one completion.

A completion is ``ok`` (it happened), ``fail`` (it certainly did not) or
``info`` (nobody knows: a timeout, a lost answer). A timeout is never a
failure: a write whose answer was lost may still have been applied, and the
checkers must allow for both. A logical client (``process``) does one
operation at a time; after an ``info`` it is retired and its worker goes on
under a new process number, because the old operation may still be in
flight (Jepsen's rule), which the linearizability checker relies on.

Times are cluster seconds since the fault phase's clock started.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

TYPES = ("invoke", "ok", "fail", "info")


class Op:
    """An operation in flight: complete it exactly once."""

    __slots__ = ("history", "process", "f", "key", "value", "workload", "invoked_at", "index", "done")

    def __init__(self, history: History, process: int, f: str, key: Any, value: Any, workload: str,
                 invoked_at: float, index: int) -> None:
        self.history, self.process, self.f, self.key, self.value = history, process, f, key, value
        self.workload, self.invoked_at, self.index, self.done = workload, invoked_at, index, False

    def ok(self, value: Any = None) -> None:
        self.history._complete(self, "ok", value, None)

    def fail(self, error: str = "") -> None:
        """It certainly did not happen; the completion carries the invoked value (what did not happen)."""
        self.history._complete(self, "fail", self.value, error)

    def info(self, error: str = "") -> None:
        """Nobody knows whether it happened; the completion carries the invoked value."""
        self.history._complete(self, "info", self.value, error)


class History:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.events: list[dict] = []
        self._processes = itertools.count()
        self.counts: dict[str, Counter] = {}

    def new_process(self) -> int:
        return next(self._processes)

    def invoke(self, process: int, f: str, value: Any = None, *, key: Any = None, workload: str) -> Op:
        t = round(self._now(), 6)
        event = {"index": len(self.events), "time": t, "process": process, "type": "invoke", "f": f,
                 "value": value, "workload": workload}
        if key is not None:
            event["key"] = key
        self.events.append(event)
        return Op(self, process, f, key, value, workload, t, event["index"])

    def _complete(self, op: Op, type_: str, value: Any, error: str | None) -> None:
        assert not op.done, f"operation #{op.index} completed twice"
        op.done = True
        t = round(self._now(), 6)
        event = {"index": len(self.events), "time": t, "process": op.process, "type": type_, "f": op.f,
                 "value": value, "workload": op.workload, "latency": round(t - op.invoked_at, 6)}
        if op.key is not None:
            event["key"] = op.key
        if error:
            event["error"] = error
        self.events.append(event)
        self.counts.setdefault(op.workload, Counter())[type_] += 1

    def summary(self) -> dict[str, dict[str, int]]:
        return {w: {t: c[t] for t in TYPES[1:]} for w, c in sorted(self.counts.items())}

    def of(self, workload: str) -> list[dict]:
        return [e for e in self.events if e["workload"] == workload]

    def write(self, path: Path) -> None:
        with open(path, "w") as f:
            for e in self.events:
                f.write(json.dumps(e, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def read(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
