"""The fault filter every send and receive passes through.

A rule matches messages by sending actor, destination actor and kind (shell
globs, ``*`` by default; ``a|b`` matches either, and a leading ``!`` matches
what the rest does not, so ``!node-1|node-1.*`` is "anyone but node-1") in one
direction or both, and does one thing to them with a probability:

``drop``       the message vanishes;
``blackhole``  every matching message vanishes (a cut cable: probability 1);
``delay``      delivered after ``delay_s`` ± ``jitter_s``;
``duplicate``  delivered ``1 + copies`` times;
``reorder``    held until ``window`` messages are held (or ``max_hold_s``
               passes), then released in a shuffled order.

Rules are tried in order and the first that acts decides; a rule that
passes on its probability lets the next matching one decide, so ``drop 20 %``
then ``delay 100 ms`` loses a fifth of the messages and delays the rest (as
one netem qdisc with loss and delay would). Every choice comes from one
``random.Random`` seeded by the caller, so the same seed and the same
messages give the same drops, delays and orders on every run. With no rules
the filter is skipped by one ``if filter.active`` branch in the runtime.

The fault-control messages themselves are never filtered: a partition must
always be healable.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from random import Random
from typing import Any, Callable, Generic, TypeVar

ACTIONS = ("drop", "blackhole", "delay", "duplicate", "reorder")
DIRECTIONS = ("send", "recv", "both")
#: Kinds that always pass, so faults (and a clock skew) can be set and cleared through any fault.
EXEMPT_KINDS = frozenset({"bus.SetFaults", "bus.ClearFaults", "bus.FaultsState", "bus.SetClockSkew",
                          "bus.ClockState"})
#: Longest a rule may hold a message (delay, jitter, reorder), in seconds: nothing is held forever.
MAX_HOLD_S = 3600

T = TypeVar("T")


class RuleError(ValueError):
    """A fault rule that cannot be used, with the field that is wrong."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One fault: what it matches and what it does."""

    action: str
    src: str = "*"
    dst: str = "*"
    kind: str = "*"
    direction: str = "both"
    probability: float = 1.0
    delay_s: float = 0.0
    jitter_s: float = 0.0
    copies: int = 1
    window: int = 2
    max_hold_s: float = 0.5

    @classmethod
    def from_dict(cls, d: Any) -> FaultRule:
        """Read a rule from plain data, naming the field that is wrong."""
        if not isinstance(d, dict):
            raise RuleError(f"a rule is a map, got {type(d).__name__}")
        unknown = [str(k) for k in d if k not in cls.__dataclass_fields__]
        if unknown:
            raise RuleError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        if "action" not in d:
            raise RuleError("rule.action is required (one of " + ", ".join(ACTIONS) + ")")
        rule = cls(**d)
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.action not in ACTIONS:
            raise RuleError(f"rule.action: {self.action!r} is not one of {', '.join(ACTIONS)}")
        if self.direction not in DIRECTIONS:
            raise RuleError(f"rule.direction: {self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        for name in ("src", "dst", "kind"):
            if not isinstance(getattr(self, name), str):
                raise RuleError(f"rule.{name}: expected a glob string")
        for name in ("probability", "delay_s", "jitter_s", "max_hold_s"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not 0 <= value <= MAX_HOLD_S:
                raise RuleError(f"rule.{name}: expected a number within 0..{MAX_HOLD_S}, got {value!r}")
        if self.probability > 1:
            raise RuleError(f"rule.probability: {self.probability!r} is not within 0..1")
        if not (type(self.copies) is int and 1 <= self.copies <= 100):
            raise RuleError(f"rule.copies: expected an integer within 1..100, got {self.copies!r}")
        if not (type(self.window) is int and 2 <= self.window <= 1000):
            raise RuleError(f"rule.window: expected an integer within 2..1000, got {self.window!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def matches(self, direction: str, src: str, dst: str, kind: str) -> bool:
        return (
            (self.direction == "both" or self.direction == direction)
            and matcher(self.kind)(kind)
            and matcher(self.src)(src)
            and matcher(self.dst)(dst)
        )


@lru_cache(maxsize=1024)
def matcher(pattern: str) -> Callable[[str], bool]:
    """A compiled test for one rule field: globs joined by ``|``, the whole negated by a leading ``!``."""
    negate = pattern.startswith("!")
    alternatives = (pattern[1:] if negate else pattern).split("|")
    regex = re.compile("|".join(f"(?:{fnmatch.translate(a)})" for a in alternatives))
    if negate:
        return lambda name: regex.match(name) is None
    return lambda name: regex.match(name) is not None


def action_is_probabilistic(rule: FaultRule) -> bool:
    """A black hole swallows everything it matches; other actions happen with their probability."""
    return rule.action != "blackhole" and rule.probability < 1.0


@dataclass(slots=True)
class _Held(Generic[T]):
    items: list[T] = field(default_factory=list)
    since: float = 0.0


class FaultFilter(Generic[T]):
    """Decides what happens to each message; holds nothing but reorder buffers.

    :meth:`apply` returns the deliveries to make now or later as
    ``(delay_s, item)`` pairs: ``[]`` is a drop, ``[(0.0, item)]`` is a normal
    delivery. Items are opaque to the filter (the runtime passes frames).
    """

    def __init__(self, seed: int = 0) -> None:
        self.rules: tuple[FaultRule, ...] = ()
        self.active = False
        self._rng = Random(seed)
        self._held: dict[int, _Held[T]] = {}
        #: What the filter did, by action, for metrics.
        self.applied: dict[str, int] = {a: 0 for a in ACTIONS}

    def set_rules(self, rules: list[FaultRule], seed: int | None = None) -> list[tuple[float, T]]:
        """Replace the rules; returns anything a reorder buffer still held."""
        released = self.release_all()
        if seed is not None:
            self._rng.seed(seed)
        self.rules = tuple(rules)
        self.active = bool(self.rules)
        return released

    def clear(self) -> list[tuple[float, T]]:
        return self.set_rules([])

    def apply(self, direction: str, src: str, dst: str, kind: str, item: T, now: float) -> list[tuple[float, T]]:
        if kind in EXEMPT_KINDS:
            return [(0.0, item)]
        for index, rule in enumerate(self.rules):
            if rule.matches(direction, src, dst, kind) and not (
                    action_is_probabilistic(rule) and self._rng.random() >= rule.probability):
                break
        else:
            return [(0.0, item)]
        self.applied[rule.action] += 1
        action = rule.action
        if action in ("drop", "blackhole"):
            return []
        if action == "delay":
            jitter = self._rng.uniform(-rule.jitter_s, rule.jitter_s) if rule.jitter_s else 0.0
            return [(max(0.0, rule.delay_s + jitter), item)]
        if action == "duplicate":
            return [(0.0, item)] * (1 + rule.copies)
        # reorder
        held = self._held.setdefault(index, _Held())
        if not held.items:
            held.since = now
        held.items.append(item)
        if len(held.items) >= rule.window:
            return self._release(index)
        return []

    def due(self, now: float) -> list[tuple[float, T]]:
        """Release reorder buffers held longer than their rule allows."""
        out: list[tuple[float, T]] = []
        for index in [i for i, h in self._held.items() if h.items and now - h.since >= self.rules[i].max_hold_s]:
            out.extend(self._release(index))
        return out

    def release_all(self) -> list[tuple[float, T]]:
        out: list[tuple[float, T]] = []
        for index in list(self._held):
            out.extend(self._release(index))
        return out

    def _release(self, index: int) -> list[tuple[float, T]]:
        held = self._held.pop(index)
        self._rng.shuffle(held.items)
        return [(0.0, item) for item in held.items]
