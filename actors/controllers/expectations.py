"""Controller expectations: "I just asked for N pods; don't act again until I have seen them".

A controller acts on its *cache*, and its own writes reach the cache only
when the informer hears them back. Without a memory of what it asked for, a
ReplicaSet that created 3 pods would, on its next sync a millisecond later,
still see 0 pods and create 3 more. Kubernetes' answer
(``pkg/controller/controller_utils.go``: ``ControllerExpectations`` and
``UIDTrackingControllerExpectations``) is kept here:

- before it creates N pods, the sync records ``expect_creations(key, N)``;
  before it deletes pods, ``expect_deletions(key, [pod keys])``;
- the informer's events lower them: a pod ADDED with that controller as its
  owner is ``creation_observed``; a pod DELETED — or updated with a
  ``deletionTimestamp``, which is how a graceful delete first shows — is
  ``deletion_observed``. Deletions are tracked by pod key, so the update that
  sets the timestamp and the later delete count once between them;
- a create or delete that failed will never be heard of: the sync lowers the
  expectation itself;
- the sync acts only when :meth:`ControllerExpectations.satisfied`: both
  counts ≤ 0, or the record is older than :data:`EXPECTATIONS_TIMEOUT_S`
  (a dropped watch event must not put the controller to sleep for ever), or
  there is no record at all.

Pure and single-threaded: times are the caller's monotonic seconds, nothing
here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT_S = 5 * 60.0
"""Kubernetes' ExpectationsTimeout: after this, expectations not met are given up on."""


@dataclass(slots=True)
class Expectation:
    """What one controller (one key) still waits to see."""

    add: int
    """Creations not yet observed (may go below zero: an orphan adopted, a late event)."""
    delete: int
    """Deletions not yet observed."""
    set_at: float
    """Monotonic seconds when the expectation was recorded (for the timeout)."""
    pending_deletes: set[str] = field(default_factory=set)
    """Keys (``namespace/name``) of the pods whose deletion is still awaited."""

    @property
    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0

    def expired(self, now: float) -> bool:
        return now - self.set_at > EXPECTATIONS_TIMEOUT_S


class ControllerExpectations:
    """Expectations per controller key; see the module docstring for the protocol."""

    def __init__(self) -> None:
        self._by_key: dict[str, Expectation] = {}

    # --- recorded by the sync ------------------------------------------------------------
    def expect_creations(self, key: str, adds: int, now: float) -> None:
        """About to create ``adds`` pods: forget any earlier expectation of ``key``."""
        assert adds >= 0, adds
        self._by_key[key] = Expectation(add=adds, delete=0, set_at=now)

    def expect_deletions(self, key: str, pod_keys: Iterable[str], now: float) -> None:
        """About to delete these pods (``namespace/name``): forget any earlier expectation of ``key``."""
        pending = set(pod_keys)
        self._by_key[key] = Expectation(add=0, delete=len(pending), set_at=now, pending_deletes=pending)

    def lower(self, key: str, add: int = 0, delete: int = 0) -> None:
        """Lower the counts (nothing happens if ``key`` has no expectation)."""
        exp = self._by_key.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def raise_(self, key: str, add: int = 0, delete: int = 0) -> None:
        """Raise the counts of an existing expectation (Kubernetes' RaiseExpectations)."""
        exp = self._by_key.get(key)
        if exp is not None:
            exp.add += add
            exp.delete += delete

    def delete(self, key: str) -> None:
        """The controller is gone: a new one with the same name starts clean."""
        self._by_key.pop(key, None)

    # --- lowered by informer events --------------------------------------------------------
    def creation_observed(self, key: str) -> None:
        self.lower(key, add=1)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """``pod_key`` was seen deleted (or being deleted); counted once per awaited pod."""
        exp = self._by_key.get(key)
        if exp is not None and pod_key in exp.pending_deletes:
            exp.pending_deletes.discard(pod_key)
            exp.delete -= 1

    # --- read by the sync --------------------------------------------------------------------
    def satisfied(self, key: str, now: float) -> bool:
        """May the controller of ``key`` act now? (no record, fulfilled, or expired)."""
        exp = self._by_key.get(key)
        return exp is None or exp.fulfilled or exp.expired(now)

    def get(self, key: str) -> Expectation | None:
        return self._by_key.get(key)

    def __len__(self) -> int:
        return len(self._by_key)
