"""One token bucket for every rate limit in kubesim: golang.org/x/time/rate's Limiter, time passed in.

Kubernetes limits rates with token buckets in several places that users can
observe: the controllers' work queues retry at most 10 keys a second after a
burst of 100 (client-go's ``BucketRateLimiter``), the node lifecycle
controller taints at most 0.1 nodes a second per zone. Both are this bucket:
it starts full, refills at ``rate_per_s`` up to ``burst``, and either

- :meth:`try_accept` takes a token if one is there (the eviction queue's
  "may this node go now?"), or
- :meth:`reserve` takes one *now* and says how long to wait until it would
  have been there (tokens go negative; each caller waits its turn), which is
  how client-go's work queue delays a retry.

Pure: ``now`` is the caller's monotonic seconds.
"""

from __future__ import annotations

import math

_EPSILON = 1e-9
"""Float slack when comparing tokens: 10 refills of 0.1 must make a whole token."""


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate_per_s``; a rate of 0 never gives a token."""

    def __init__(self, rate_per_s: float, burst: int, now: float | None = None) -> None:
        assert rate_per_s >= 0 and burst >= 1
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst) if rate_per_s > 0 else 0.0
        self._at = now
        """When the tokens were last counted (None: not yet; the first call's time starts the count)."""

    def _refill(self, now: float) -> None:
        if self._at is None or now <= self._at:
            self._at = now if self._at is None else self._at
            return
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now

    def try_accept(self, now: float) -> bool:
        """Take a token if there is one."""
        if self.rate_per_s <= 0:
            return False
        self._refill(now)
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there (inf at rate 0)."""
        if self.rate_per_s <= 0:
            return math.inf
        self._refill(now)
        return max(0.0, (1 - self._tokens) / self.rate_per_s)

    def reserve(self, now: float) -> float:
        """Take a token now, owed if need be; the seconds until it is really there (inf at rate 0)."""
        if self.rate_per_s <= 0:
            return math.inf
        self._refill(now)
        self._tokens -= 1
        return 0.0 if self._tokens >= -_EPSILON else -self._tokens / self.rate_per_s
