"""Probe workers on a manual clock: delays, periods, thresholds, startup gating (prober/worker_test.go's cases)."""

from __future__ import annotations

import pytest

from actors.kubelet.probes import (
    ExecTarget,
    GrpcTarget,
    HttpGetTarget,
    InvalidProbe,
    PodProbes,
    ProbeError,
    ProbeType,
    ProbeWorker,
    Result,
    TcpSocketTarget,
    expand_command,
    probe_spec,
    resolve_target,
    unhealthy_message,
)
from actors.runtime import cri

T0 = 1_750_000_000.0
S, F, E = Result.SUCCESS, Result.FAILURE, Result.ERROR
HTTP = {"httpGet": {"path": "/healthz", "port": 8080}}


def status(name: str = "web", cid: str = "c1", state: str = cri.ContainerState.RUNNING, started_at: float = T0,
           attempt: int = 0) -> cri.ContainerStatus:
    return cri.ContainerStatus(id=cid, sandbox_id="s1", metadata=cri.ContainerMetadata(name, attempt),
                               image="nginx", image_ref="sha256:1", state=state, created_at=started_at,
                               started_at=started_at)


def worker(probe_type: str, now: float = T0, **probe: object) -> ProbeWorker:
    return ProbeWorker(probe_spec({**HTTP, **probe}, probe_type), "web", now=now)


def drive(w: ProbeWorker, script: list[tuple[float, str]], st: cri.ContainerStatus, *, started: bool = True
          ) -> list[tuple[float, bool, str | None]]:
    """Tick ``w`` at each time; when it probes, record the scripted result. Returns (t, probed, published)."""
    out = []
    for t, result in script:
        probed = w.due(t) and w.tick(t, st, started=started)
        if probed:
            w.record(result, t)
        out.append((t - T0, probed, w.result))
    return out


# --- spec ---------------------------------------------------------------------------------------------


def test_defaults() -> None:
    spec = probe_spec(HTTP, ProbeType.READINESS)
    assert (spec.initial_delay_s, spec.period_s, spec.timeout_s, spec.success_threshold,
            spec.failure_threshold, spec.action) == (0, 10, 1, 1, 3, "httpGet")
    # Zero means "unset" to Kubernetes' defaulting.
    spec = probe_spec({**HTTP, "periodSeconds": 0, "timeoutSeconds": 0, "failureThreshold": 0}, ProbeType.LIVENESS)
    assert (spec.period_s, spec.timeout_s, spec.failure_threshold) == (10, 1, 3)


@pytest.mark.parametrize(("probe_type", "probe", "message"), [
    (ProbeType.LIVENESS, {**HTTP, "periodSeconds": -1},
     "livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"),
    (ProbeType.LIVENESS, {**HTTP, "successThreshold": 2},
     "livenessProbe.successThreshold: Invalid value: 2: must be 1"),
    (ProbeType.STARTUP, {**HTTP, "successThreshold": 3},
     "startupProbe.successThreshold: Invalid value: 3: must be 1"),
    (ProbeType.READINESS, {**HTTP, "terminationGracePeriodSeconds": 5},
     "readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"),
    (ProbeType.LIVENESS, {**HTTP, "terminationGracePeriodSeconds": 0},
     "livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"),
    (ProbeType.READINESS, {"periodSeconds": 5}, "readinessProbe: Required value: must specify a handler type"),
    (ProbeType.READINESS, {**HTTP, "tcpSocket": {"port": 80}},
     "readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"),
])
def test_validation(probe_type: str, probe: dict, message: str) -> None:
    with pytest.raises(InvalidProbe) as err:
        probe_spec(probe, probe_type)
    assert str(err.value) == message


def test_readiness_may_have_success_threshold_above_one() -> None:
    assert probe_spec({**HTTP, "successThreshold": 3}, ProbeType.READINESS).success_threshold == 3


# --- targets ------------------------------------------------------------------------------------------

CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
             "env": [{"name": "MODE", "value": "deep"}, {"name": "SECRET", "valueFrom": {"secretKeyRef": {}}}]}


@pytest.mark.parametrize(("probe", "target"), [
    ({"httpGet": {"path": "/healthz", "port": 8080}}, HttpGetTarget("http", "10.244.1.5", 8080, "/healthz")),
    ({"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTPS"}},
     HttpGetTarget("https", "10.244.1.5", 8080, "/healthz")),
    ({"httpGet": {"path": "/", "port": "9090", "host": "10.0.0.9",
                  "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
     HttpGetTarget("http", "10.0.0.9", 9090, "/", (("X-Probe", "1"),))),
    ({"tcpSocket": {"port": "metrics"}}, TcpSocketTarget("10.244.1.5", 9090)),
    ({"tcpSocket": {"port": 6379, "host": "127.0.0.1"}}, TcpSocketTarget("127.0.0.1", 6379)),
    ({"exec": {"command": ["check", "--mode=$(MODE)", "$(SECRET)", "$$(MODE)", "$(NOPE)"]}},
     ExecTarget(("check", "--mode=deep", "$(SECRET)", "$(MODE)", "$(NOPE)"))),
    ({"grpc": {"port": 9090, "service": "health"}}, GrpcTarget("10.244.1.5", 9090, "health")),
])
def test_resolve_target(probe: dict, target: object) -> None:
    assert resolve_target(probe, CONTAINER, "10.244.1.5") == target


def test_http_url() -> None:
    assert HttpGetTarget("http", "10.244.1.5", 8080, "/healthz?full=1").url == "http://10.244.1.5:8080/healthz?full=1"
    assert HttpGetTarget("http", "fd00::5", 80, "").url == "http://[fd00::5]:80"


@pytest.mark.parametrize(("probe", "error"), [
    ({"httpGet": {"port": "admin"}}, "port admin not found"),
    ({"tcpSocket": {"port": 0}}, "invalid port number: 0"),
    ({"tcpSocket": {"port": 70000}}, "invalid port number: 70000"),
    ({}, "missing probe handler"),
])
def test_unresolvable_targets(probe: dict, error: str) -> None:
    with pytest.raises(ProbeError, match=error):
        resolve_target(probe, CONTAINER, "10.244.1.5")


def test_expand_command_and_event_text() -> None:
    assert expand_command(["echo", "$(A)$(B)"], [{"name": "A", "value": "x"}]) == ("echo", "x$(B)")
    assert unhealthy_message(ProbeType.LIVENESS, "HTTP probe failed with statuscode: 500") == \
        "Liveness probe failed: HTTP probe failed with statuscode: 500"


# --- the worker's state machine -----------------------------------------------------------------------


def test_initial_results_per_type() -> None:
    st = status()
    for probe_type, initial in ((ProbeType.READINESS, F), (ProbeType.LIVENESS, S), (ProbeType.STARTUP, Result.UNKNOWN)):
        w = worker(probe_type, initialDelaySeconds=100)
        w.tick(T0, st, started=probe_type != ProbeType.STARTUP)
        assert w.result == initial and w.result_for("c1") == initial and w.result_for("other") is None


def test_readiness_fails_until_the_first_success_then_needs_failure_threshold() -> None:
    w = worker(ProbeType.READINESS)
    script = [(T0 + t, r) for t, r in [(0, F), (10, S), (20, F), (30, F), (40, F), (50, S)]]
    assert drive(w, script, status()) == [
        (0, True, F), (10, True, S), (20, True, S), (30, True, S), (40, True, F), (50, True, S)]


def test_success_threshold_counts_consecutive_successes() -> None:
    w = worker(ProbeType.READINESS, successThreshold=2, periodSeconds=5)
    script = [(T0 + t, r) for t, r in [(0, S), (5, F), (10, S), (15, S), (20, S)]]
    assert [p for _, _, p in drive(w, script, status())] == [F, F, F, S, S]


def test_period_ticks_from_worker_creation_and_initial_delay_truncates() -> None:
    # Worker created at T0; the container started at T0+2.5; initialDelaySeconds 5; period 3.
    w = worker(ProbeType.LIVENESS, initialDelaySeconds=5, periodSeconds=3)
    st = status(started_at=T0 + 2.5)
    probed = []
    for i in range(40):
        t = T0 + i * 0.5
        if w.due(t) and w.tick(t, st, started=True):
            probed.append(t - T0)
            w.record(S, t)
    # Ticks at 0,3,6,9,...: at 6 only 3.5 s have passed; at 9, int(6.5)=6 >= 5.
    assert probed == [9, 12, 15, 18]


def test_a_slow_probe_delays_the_next_tick_not_the_grid() -> None:
    w = worker(ProbeType.READINESS, periodSeconds=10, timeoutSeconds=15)
    st = status()
    assert w.due(T0) and w.tick(T0, st, started=True)
    assert not w.due(T0 + 12) and w.next_due_s() is None  # in flight
    w.record(F, T0 + 12)   # took 12 s: the tick at T0+10 was missed and is taken now
    assert w.due(T0 + 12) and w.tick(T0 + 12, st, started=True)
    w.record(S, T0 + 12.5)
    assert not w.due(T0 + 19.9) and w.due(T0 + 20) and w.next_due_s() == T0 + 20


def test_liveness_failure_past_threshold_holds_until_a_new_container() -> None:
    w = worker(ProbeType.LIVENESS, failureThreshold=3)
    first = status(cid="c1")
    script = [(T0 + t, r) for t, r in [(0, F), (10, F), (20, S), (30, F), (40, F), (50, F), (60, F), (70, F)]]
    # A success in between restarts the count; the third failure in a row publishes Failure, then nothing.
    assert drive(w, script, first) == [
        (0, True, S), (10, True, S), (20, True, S), (30, True, S), (40, True, S), (50, True, F),
        (60, False, F), (70, False, F)]
    # The kubelet kills it and starts attempt 1: Success again, probing resumes, the count starts over.
    second = status(cid="c2", started_at=T0 + 75, attempt=1)
    assert drive(w, [(T0 + 80, F), (T0 + 90, F), (T0 + 100, F)], second) == [
        (80, True, S), (90, True, S), (100, True, F)]
    assert w.result_for("c1") is None and w.result_for("c2") == F


def test_record_reports_only_changes() -> None:
    w = worker(ProbeType.READINESS)
    st = status()
    published = []
    for t, r in [(0, S), (10, S), (20, F), (30, F), (40, F), (50, F)]:
        assert w.due(T0 + t) and w.tick(T0 + t, st, started=True)
        published.append(w.record(r, T0 + t))
    assert published == [S, None, None, None, F, None]


def test_prober_errors_are_thrown_away() -> None:
    w = worker(ProbeType.LIVENESS, failureThreshold=2)
    script = [(T0 + t, r) for t, r in [(0, F), (10, E), (20, E), (30, F)]]
    assert [p for _, _, p in drive(w, script, status())] == [S, S, S, F]


def test_startup_gates_the_other_probes() -> None:
    st = status()
    startup = worker(ProbeType.STARTUP, failureThreshold=30, periodSeconds=1)
    liveness = worker(ProbeType.LIVENESS)
    readiness = worker(ProbeType.READINESS)
    # Not started: only the startup probe runs; the others keep their initial results.
    assert startup.tick(T0, st, started=False)
    assert not liveness.tick(T0, st, started=False) and liveness.result == S
    assert not readiness.tick(T0, st, started=False) and readiness.result == F
    startup.record(S, T0)
    # Started: the startup probe stops probing (it stays, for a restarted container), the others run.
    assert not startup.tick(T0 + 1, st, started=True)
    assert liveness.tick(T0 + 10, st, started=True) and readiness.tick(T0 + 10, st, started=True)


def test_startup_failure_past_threshold_means_restart() -> None:
    w = worker(ProbeType.STARTUP, failureThreshold=3, periodSeconds=2)
    script = [(T0 + t, F) for t in range(0, 10, 2)]
    assert [p for _, _, p in drive(w, script, status(), started=False)] == [
        Result.UNKNOWN, Result.UNKNOWN, F, F, F]
    assert w.on_hold


def test_non_running_container_fails_and_never_policy_stops_the_worker() -> None:
    w = worker(ProbeType.READINESS)
    running = status()
    assert w.tick(T0, running, started=True)
    w.record(S, T0)
    exited = status(state=cri.ContainerState.EXITED)
    assert not w.tick(T0 + 10, exited, started=False, restart_policy="Always")
    assert w.result == F and not w.stopped
    assert not w.tick(T0 + 20, exited, started=False, restart_policy="Never")
    assert w.stopped and not w.due(T0 + 1000)


def test_terminal_pod_and_deletion_stop_workers() -> None:
    st = status()
    w = worker(ProbeType.READINESS)
    assert not w.tick(T0, st, started=True, phase="Succeeded") and w.stopped
    live = worker(ProbeType.LIVENESS)
    assert live.tick(T0, st, started=True)
    live.record(F, T0)
    # Deletion: liveness and startup report Success (a quiet shutdown) and stop; readiness goes on.
    assert not live.tick(T0 + 10, st, started=True, deleting=True)
    assert live.result == S and live.stopped
    ready = worker(ProbeType.READINESS)
    assert ready.tick(T0, st, started=True, deleting=True)


def test_container_not_created_yet_waits() -> None:
    w = worker(ProbeType.READINESS)
    assert not w.tick(T0, None, started=False)
    assert w.result is None and not w.stopped


# --- a pod's probes -----------------------------------------------------------------------------------


def pod() -> dict:
    return {"metadata": {"name": "web-0", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": "Always",
                     "initContainers": [
                         {"name": "setup", "image": "busybox"},
                         {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                          "readinessProbe": {"tcpSocket": {"port": 15000}}}],
                     "containers": [
                         {"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}],
                          "startupProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                          "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                          "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 5}}]}}


def test_pod_probes_workers_and_requests() -> None:
    probes = PodProbes(pod(), now=T0)
    assert sorted(probes.workers) == [("proxy", "Readiness"), ("web", "Liveness"), ("web", "Readiness"),
                                      ("web", "Startup")]
    web, proxy = status("web", "w1"), status("proxy", "p1")
    requests = probes.due(T0, [web, proxy], pod_ip="10.244.1.5")
    # Not started yet: only the startup probe runs for web; the sidecar's readiness runs.
    assert [(r.container_name, r.probe_type, r.container_id, r.target) for r in requests] == [
        ("web", "Startup", "w1", HttpGetTarget("http", "10.244.1.5", 80, "/")),
        ("proxy", "Readiness", "p1", TcpSocketTarget("10.244.1.5", 15000))]
    assert not probes.started("web", web) and probes.started("proxy", proxy)
    assert probes.record("web", "Startup", S, T0 + 0.1) == S
    assert probes.record("proxy", "Readiness", S, T0 + 0.1) == S
    assert probes.started("web", web)
    requests = probes.due(T0 + 10, [web, proxy], pod_ip="10.244.1.5")
    assert {(r.container_name, r.probe_type) for r in requests} == {
        ("proxy", "Readiness"), ("web", "Readiness"), ("web", "Liveness")}
    assert probes.result("web", "Readiness", "w1") == F and probes.result("web", "Liveness", "w1") == S
    assert probes.has_probe("web", "Startup") and not probes.has_probe("setup", "Readiness")


def test_triggered_readiness_runs_before_its_tick() -> None:
    probes = PodProbes(pod(), now=T0)
    web = status("web", "w1")
    probes.due(T0, [web], pod_ip="10.244.1.5")
    probes.record("web", "Startup", S, T0)
    probes.due(T0 + 1, [web], pod_ip="10.244.1.5")  # readiness ticks at T0+5, T0+10...
    # The kubelet wrote a status where web has started but is not ready: readiness runs now.
    probes.after_status({"containerStatuses": [{"name": "web", "started": True, "ready": False,
                                                "state": {"running": {}}}]})
    requests = probes.due(T0 + 1.5, [web], pod_ip="10.244.1.5")
    assert [(r.container_name, r.probe_type) for r in requests] == [("web", "Readiness")]
    assert probes.next_due_s() is not None


def test_unresolvable_probe_is_skipped_not_counted() -> None:
    spec = {"spec": {"containers": [{"name": "web", "image": "nginx",
                                     "livenessProbe": {"httpGet": {"port": "nope"}, "failureThreshold": 1}}]}}
    probes = PodProbes(spec, now=T0)
    assert probes.due(T0, [status("web", "w1")], pod_ip="10.0.0.1") == []
    assert probes.result("web", "Liveness", "w1") == S
