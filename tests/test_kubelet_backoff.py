"""The kubelet's restart and image-pull backoff on a manual clock (flowcontrol/backoff_test.go's cases, kubelet-shaped)."""

from __future__ import annotations

import pytest

from actors.kubelet.backoff import (
    Backoff,
    ImagePullBackoff,
    container_hash,
    container_key,
    do_backoff,
    format_pod,
    go_duration,
)

T0 = 1_750_000_000.0
POD = {"metadata": {"name": "web-0", "namespace": "default", "uid": "uid-1"}}
WEB = {"name": "web", "image": "busybox:1.36"}


def crash_loop(runs_s: list[float]) -> list[tuple[float, float, str]]:
    """Play a container that runs ``runs_s[i]`` seconds each time, restarted as soon as its backoff allows.

    Returns, per restart, (time it exited, time it was restarted, the back-off message seen while waiting).
    """
    backoff = Backoff()
    now = T0
    out = []
    for run_s in runs_s:
        exited = now + run_s
        now = exited
        message = ""
        decision = do_backoff(backoff, POD, WEB, exited, now)
        while decision.in_backoff:
            message = decision.message
            now = decision.retry_at_s  # the actor's timer fires exactly then
            decision = do_backoff(backoff, POD, WEB, exited, now)
        out.append((exited, now, message))
    return out


def test_crash_loop_waits_double_from_ten_seconds_to_five_minutes() -> None:
    waits = [(restarted - exited) for exited, restarted, _ in crash_loop([1.0] * 9)]
    # The first restart is immediate: there is no entry to back off from yet.
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_back_off_message_is_the_kubelets() -> None:
    messages = [m for _, _, m in crash_loop([1.0] * 7)]
    pod = "pod=web-0_default(uid-1)"
    assert messages == [
        "",
        f"back-off 10s restarting failed container=web {pod}",
        f"back-off 20s restarting failed container=web {pod}",
        f"back-off 40s restarting failed container=web {pod}",
        f"back-off 1m20s restarting failed container=web {pod}",
        f"back-off 2m40s restarting failed container=web {pod}",
        f"back-off 5m0s restarting failed container=web {pod}",
    ]


@pytest.mark.parametrize(("ran_s", "wait_s"), [
    (599.0, 300),   # less than 10 minutes since its restart: the 5-minute cap still holds
    (600.0, 300),   # exactly 10 minutes is not "more than twice the max"
    (601.0, 0),     # ran longer: the table forgot it, restart at once...
])
def test_backoff_resets_after_the_container_ran_ten_minutes(ran_s: float, wait_s: float) -> None:
    history = crash_loop([1.0] * 8 + [ran_s, 1.0])
    exited, restarted, _ = history[-2]
    assert restarted - exited == wait_s
    if wait_s == 0:
        # ... and the next crash waits 10 s again.
        exited, restarted, _ = history[-1]
        assert restarted - exited == 10


def test_backoff_is_measured_from_the_exit_not_from_the_sync() -> None:
    backoff = Backoff()
    assert not do_backoff(backoff, POD, WEB, T0, T0).in_backoff          # first restart
    # It crashes at T0+5; the kubelet only syncs at T0+14: 9 s since the exit, 1 s to go.
    decision = do_backoff(backoff, POD, WEB, T0 + 5, T0 + 14)
    assert decision.in_backoff and decision.retry_at_s == T0 + 15
    assert not do_backoff(backoff, POD, WEB, T0 + 5, T0 + 15).in_backoff


def test_a_container_that_never_exited_is_never_in_backoff() -> None:
    backoff = Backoff()
    assert not do_backoff(backoff, POD, WEB, None, T0).in_backoff
    assert len(backoff) == 0


def test_table_primitives() -> None:
    b = Backoff(initial_s=10, max_s=300)
    assert b.get("k") == 0
    b.next("k", T0, T0)
    assert b.get("k") == 10 and b.last_update_s("k") == T0
    b.next("k", T0 + 1, T0 + 1)
    assert b.get("k") == 20
    assert b.in_backoff_since("k", T0 + 1, T0 + 20.9)
    assert not b.in_backoff_since("k", T0 + 1, T0 + 21)
    assert b.in_backoff_since_update("k", T0 + 20.9)
    assert not b.in_backoff_since_update("k", T0 + 21)
    b.reset("k")
    assert "k" not in b


def test_gc_drops_entries_untouched_for_twice_the_max() -> None:
    b = Backoff()
    b.next("old", T0, T0)
    b.next("new", T0 + 100, T0 + 100)
    b.gc(T0 + 600)
    assert "old" in b  # exactly 2 × max: kept
    b.gc(T0 + 601)
    assert "old" not in b and "new" in b


def test_image_pull_backoff_sequence() -> None:
    pulls = ImagePullBackoff()
    now = T0
    attempts = []
    for _ in range(8):
        assert pulls.check("uid-1", "nginx:nope", now) is None  # go ahead and pull
        attempts.append(now)
        pulls.failed("uid-1", "nginx:nope", now)                 # ErrImagePull
        assert pulls.check("uid-1", "nginx:nope", now + 1) == 'Back-off pulling image "nginx:nope"'
        now = pulls.retry_at_s("uid-1", "nginx:nope")
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps == [10, 20, 40, 80, 160, 300, 300]
    # Other pods and other images have their own entries.
    assert pulls.check("uid-2", "nginx:nope", now - 1) is None
    assert pulls.check("uid-1", "nginx:ok", now - 1) is None


def test_image_pull_backoff_forgets_after_ten_minutes_quiet() -> None:
    pulls = ImagePullBackoff()
    for t in (0, 10, 30):
        pulls.failed("uid-1", "img", T0 + t)
    assert pulls.backoff.get("uid-1_img") == 40
    pulls.failed("uid-1", "img", T0 + 30 + 601)
    assert pulls.backoff.get("uid-1_img") == 10
    pulls.succeeded(T0 + 30 + 601 + 601)
    assert len(pulls.backoff) == 0


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (1, "1s"), (10, "10s"), (59, "59s"), (60, "1m0s"), (80, "1m20s"), (160, "2m40s"),
    (300, "5m0s"), (3600, "1h0m0s"), (3661, "1h1m1s"), (1.5, "1.5s"), (0.25, "250ms"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_keys_follow_the_pod_and_the_image() -> None:
    assert format_pod(POD) == "web-0_default(uid-1)"
    key = container_key(POD, WEB)
    assert key.startswith("web-0_default_uid-1_web_")
    # A new image is a new container as far as backoff goes; other fields are not hashed.
    assert container_key(POD, {**WEB, "image": "busybox:1.37"}) != key
    assert container_key(POD, {**WEB, "args": ["sleep", "1"]}) == key
    assert container_hash(WEB) == container_hash(dict(reversed(list(WEB.items()))))
