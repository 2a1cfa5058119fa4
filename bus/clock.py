"""Where every component gets its time from.

Kubernetes' timings (node lease 40 s, eviction 300 s, backoff 10 s...300 s)
are written in Kubernetes seconds. A cluster runs on *cluster time*: real time
multiplied by ``time_scale``, so ``time_scale: 10`` runs every timer in the
cluster ten times faster, consistently. Tests use :class:`ManualClock` and
move time by hand (the model is trio's ``MockClock.jump()``).

Nothing outside this module reads the wall clock or sleeps: components ask a
``Clock`` for ``monotonic()`` (cluster seconds, for timers and deadlines) and
``wall()`` (cluster epoch seconds, for timestamps people read), and the
runtime asks it how long to *really* wait for the next timer.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """The time source handed to every runtime, actor and pure core."""

    #: How many cluster seconds pass per real second.
    scale: float
    #: Seconds added to ``wall()``: a process whose clock is off (chaos sets it; ``monotonic()`` is untouched,
    #: as NTP stepping a machine's clock leaves its monotonic clock alone).
    skew_s: float

    def monotonic(self) -> float:
        """Cluster seconds since an arbitrary origin; never goes back."""

    def wall(self) -> float:
        """Cluster time as seconds since the Unix epoch (for timestamps)."""

    def real_delay(self, cluster_seconds: float) -> float:
        """How many real seconds to wait for ``cluster_seconds`` to pass."""

    def perf(self) -> float:
        """Real seconds from a high-resolution counter, for measuring work."""


class RealClock:
    """Cluster time is real time."""

    scale = 1.0
    skew_s = 0.0

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time() + self.skew_s

    def real_delay(self, cluster_seconds: float) -> float:
        return max(0.0, cluster_seconds)

    def perf(self) -> float:
        return time.perf_counter()


class ScaledClock:
    """Cluster time runs ``scale`` times faster than real time.

    Both views start at the real values when the clock is made, so log
    timestamps stay close to the real date while timers run faster.
    """

    def __init__(self, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"time_scale must be > 0, got {scale!r}")
        self.scale = float(scale)
        self.skew_s = 0.0
        self._mono0 = time.monotonic()
        self._wall0 = time.time()

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.scale

    def wall(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) * self.scale + self.skew_s

    def real_delay(self, cluster_seconds: float) -> float:
        return max(0.0, cluster_seconds) / self.scale

    def perf(self) -> float:
        return time.perf_counter()


class ManualClock:
    """A clock that moves only when a test says so."""

    scale = 1.0
    skew_s = 0.0

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset + self.skew_s

    def real_delay(self, cluster_seconds: float) -> float:
        # Nobody waits in real time for a manual clock: due timers fire
        # when the test advances it and runs the loop.
        return 0.0

    def perf(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; moving it back is a bug in the test."""
        assert seconds >= 0, "a clock never goes back"
        self._now += seconds


def make_clock(time_scale: float) -> Clock:
    """The clock a process runs on, from the cluster's ``time_scale``."""
    return RealClock() if time_scale == 1 else ScaledClock(time_scale)
