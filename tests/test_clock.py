"""Clocks (bus.clock): ManualClock, ScaledClock, RealClock and make_clock.

ManualClock advance/monotonic/wall/perf and its refusal to go back;
ScaledClock's scaling of monotonic/wall (on a fake time source, no sleeping)
and of real_delay; make_clock's choice of clock.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import bus.clock
from bus.clock import ManualClock, RealClock, ScaledClock, make_clock

# --- ManualClock ------------------------------------------------------------------


def test_manual_clock_starts_where_told():
    c = ManualClock()
    assert c.monotonic() == 1000.0
    assert c.wall() == 1_700_000_000.0
    assert c.scale == 1.0
    c2 = ManualClock(start=5.0, wall_start=100.0)
    assert (c2.monotonic(), c2.wall()) == (5.0, 100.0)


def test_manual_clock_moves_only_when_advanced():
    c = ManualClock()
    assert c.monotonic() == c.monotonic() == 1000.0
    c.advance(2.5)
    assert c.monotonic() == 1002.5
    assert c.wall() == 1_700_000_002.5
    assert c.perf() == 1002.5
    c.advance(0)
    assert c.monotonic() == 1002.5
    c.advance(0.25)
    c.advance(0.25)
    assert c.monotonic() == 1003.0 and c.wall() == 1_700_000_003.0


def test_manual_clock_refuses_to_go_back_and_stays_put():
    c = ManualClock()
    c.advance(1.0)
    with pytest.raises(AssertionError, match="never goes back"):
        c.advance(-0.5)
    assert c.monotonic() == 1001.0
    assert c.wall() == 1_700_000_001.0


def test_manual_clock_never_asks_for_a_real_wait():
    c = ManualClock()
    assert c.real_delay(0) == 0.0
    assert c.real_delay(3600.0) == 0.0
    assert c.real_delay(-5.0) == 0.0


# --- RealClock ----------------------------------------------------------------------


def test_real_clock_waits_real_seconds_never_negative():
    c = RealClock()
    assert c.scale == 1.0
    assert c.real_delay(2.5) == 2.5
    assert c.real_delay(-1.0) == 0.0


def test_real_clock_reads_the_time_module(monkeypatch):
    fake = SimpleNamespace(monotonic=lambda: 12.0, time=lambda: 1_600_000_000.0, perf_counter=lambda: 3.5)
    monkeypatch.setattr(bus.clock, "time", fake)
    c = RealClock()
    assert (c.monotonic(), c.wall(), c.perf()) == (12.0, 1_600_000_000.0, 3.5)


# --- ScaledClock ----------------------------------------------------------------------


class FakeTime:
    """Stands in for the ``time`` module inside bus.clock."""

    def __init__(self) -> None:
        self.mono = 500.0
        self.wall = 1_650_000_000.0
        self.perf = 7.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def perf_counter(self) -> float:
        return self.perf


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(bus.clock, "time", fake)
    return fake


@pytest.mark.parametrize("scale", [0, -1, -0.5, math.nan])
def test_scaled_clock_refuses_a_nonpositive_scale(scale):
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        ScaledClock(scale)


def test_scaled_clock_starts_at_the_real_values(fake_time):
    c = ScaledClock(10)
    assert c.scale == 10.0 and isinstance(c.scale, float)
    assert c.monotonic() == 500.0
    assert c.wall() == 1_650_000_000.0


def test_scaled_clock_runs_scale_times_faster(fake_time):
    c = ScaledClock(10)
    fake_time.mono += 2.0  # two real seconds
    fake_time.wall += 2.0
    assert c.monotonic() == 520.0
    assert c.wall() == 1_650_000_020.0
    fake_time.mono += 0.5
    assert c.monotonic() == 525.0


def test_scaled_clock_can_run_slower(fake_time):
    c = ScaledClock(0.5)
    fake_time.mono += 4.0
    assert c.monotonic() == 502.0
    assert c.wall() == 1_650_000_002.0


def test_scaled_clock_wall_follows_monotonic_not_a_jumping_system_clock(fake_time):
    c = ScaledClock(4)
    fake_time.wall -= 3600.0  # someone set the system clock back an hour
    fake_time.mono += 1.0
    assert c.wall() == 1_650_000_004.0


def test_scaled_clock_perf_is_real(fake_time):
    c = ScaledClock(10)
    fake_time.perf += 1.0
    assert c.perf() == 8.0


@pytest.mark.parametrize("scale, cluster_s, real_s", [(10, 10.0, 1.0), (10, 0.5, 0.05), (0.5, 1.0, 2.0),
                                                      (4, 0.0, 0.0), (4, -3.0, 0.0)])
def test_scaled_clock_real_delay_divides_by_the_scale(scale, cluster_s, real_s):
    assert ScaledClock(scale).real_delay(cluster_s) == pytest.approx(real_s)


# --- make_clock -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 1.0])
def test_make_clock_scale_one_is_real(scale):
    assert type(make_clock(scale)) is RealClock


@pytest.mark.parametrize("scale", [10, 0.5, 2.0])
def test_make_clock_other_scales_are_scaled(scale):
    c = make_clock(scale)
    assert type(c) is ScaledClock and c.scale == scale
    assert c.real_delay(scale) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [0, -2])
def test_make_clock_refuses_a_nonpositive_scale(scale):
    with pytest.raises(ValueError):
        make_clock(scale)
