"""The controllers' work queue: client-go's ``workqueue``, with time passed in.

Every controller is one reconcile function fed by a queue of keys
(``namespace/name``). The queue is what makes that simple and safe
(``k8s.io/client-go/util/workqueue``):

- **Deduplicating.** A key added ten times before a worker takes it is
  handed out once: reconcile reads the *current* state, so one pass covers
  every event that arrived meanwhile.
- **One worker per key.** A key being processed is not handed out again; if
  it is added meanwhile it is marked dirty and comes back after ``done``.
- **Rate-limited retries.** A failed reconcile re-adds its key after the
  longer of two delays, as client-go's ``DefaultControllerRateLimiter``: a
  per-key exponential backoff (5 ms doubling to 1000 s,
  ``ItemExponentialFailureRateLimiter``), reset by ``forget`` after a
  success, and an overall token bucket (10 retries/s, bursts of 100,
  ``BucketRateLimiter``) so that many keys failing at once — the API server
  is down — do not retry in a storm.
- **Delayed adds** (``add_after``) for "check again in 30 s" (a Deployment's
  progress deadline, a pod's toleration running out).

Pure: ``now`` (cluster seconds) is an argument, so tests drive it with a
manual clock. The numbers a controller exports (depth, adds, retries, queue
latency) are kept here for the actor to publish.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable

from actors.ratelimit import TokenBucket

BASE_DELAY_S = 0.005
MAX_DELAY_S = 1000.0
BUCKET_QPS = 10.0
BUCKET_BURST = 100


class WorkQueue:
    """Keys waiting to be reconciled; see the module docstring for the rules."""

    def __init__(self, name: str, *, base_delay_s: float = BASE_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 bucket: TokenBucket | None = None) -> None:
        assert 0 < base_delay_s <= max_delay_s
        self.name = name
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.bucket = bucket if bucket is not None else TokenBucket(BUCKET_QPS, BUCKET_BURST)
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        """Keys waiting (in ``_queue``, or to be re-queued when their processing ends)."""
        self._processing: set[Hashable] = set()
        self._added_at: dict[Hashable, float] = {}
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._waiting_at: dict[Hashable, float] = {}
        self._seq = itertools.count()
        self._failures: dict[Hashable, int] = {}
        self.adds = 0
        """Keys put in the queue (a key already waiting is not put in again); delayed ones when they are due."""
        self.retries = 0
        self.latencies: list[float] = []
        """Seconds each key waited between add and get, since the actor last took them."""

    # --- adding -------------------------------------------------------------------------
    def add(self, key: Hashable, now: float) -> None:
        """Queue ``key`` now (a no-op if it is already waiting, and not counted: client-go's adds)."""
        if key in self._dirty:
            return
        self.adds += 1
        self._dirty.add(key)
        self._added_at[key] = now
        if key not in self._processing:
            self._queue.append(key)

    def add_after(self, key: Hashable, delay_s: float, now: float) -> None:
        """Queue ``key`` once ``delay_s`` has passed; an earlier pending time for it wins."""
        if delay_s <= 0:
            self.add(key, now)
            return
        at = now + delay_s
        if self._waiting_at.get(key, float("inf")) <= at:
            return
        self._waiting_at[key] = at
        heapq.heappush(self._waiting, (at, next(self._seq), key))

    def add_rate_limited(self, key: Hashable, now: float) -> float:
        """Queue ``key`` after its backoff (a reconcile failed); returns the delay chosen."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.retries += 1
        delay = max(min(self.base_delay_s * 2 ** failures, self.max_delay_s), self.bucket.reserve(now))
        self.add_after(key, delay, now)
        return delay

    def forget(self, key: Hashable) -> None:
        """The key reconciled cleanly: its next failure starts the backoff again from the bottom."""
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    # --- taking ---------------------------------------------------------------------------
    def _promote(self, now: float) -> None:
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            at, _, key = heapq.heappop(waiting)
            if self._waiting_at.get(key) == at:
                del self._waiting_at[key]
                self.add(key, now)  # counted as an add now, as client-go's delaying queue counts it

    def get(self, now: float) -> Hashable | None:
        """The next key to reconcile (now marked as being processed), or None if none is ready."""
        self._promote(now)
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self.latencies.append(now - self._added_at.pop(key, now))
        return key

    def done(self, key: Hashable, now: float) -> None:
        """Processing of ``key`` ended; if it was added meanwhile, it goes back in the queue."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)

    def next_wakeup(self) -> float | None:
        """When the earliest delayed key becomes ready (for the actor's timer), if any."""
        while self._waiting and self._waiting_at.get(self._waiting[0][2]) != self._waiting[0][0]:
            heapq.heappop(self._waiting)  # superseded by an earlier time
        return self._waiting[0][0] if self._waiting else None

    # --- what the metrics show ------------------------------------------------------------------
    def __len__(self) -> int:
        """Keys ready to be handed out (client-go's depth)."""
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    @property
    def delayed(self) -> int:
        return len(self._waiting_at)
