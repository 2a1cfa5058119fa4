"""computePodActions as a pure function: restart policies, init containers and sidecars, probes, backoff, deletion.

Each case gives the pod, the runtime's view (sandbox, containers) and the
probe results, and asserts the decision (kuberuntime_manager_test.go's
TestComputePodActions* style).
"""

from __future__ import annotations

import itertools

import pytest

from actors.kubelet.backoff import Backoff
from actors.kubelet.podsync import (
    HASH_ANNOTATION,
    BackoffWait,
    ContainerKill,
    KillReason,
    PodActions,
    PodKillReason,
    api_container_id,
    compute_pod_actions,
    container_grace_period_s,
    hash_annotation_value,
    pod_grace_period_s,
    sandbox_changed,
    stop_timeout_s,
)
from actors.kubelet.probes import ProbeType, Result
from actors.runtime import cri

T0 = 1_750_000_000.0
RUNNING, EXITED, CREATED, UNKNOWN = (cri.ContainerState.RUNNING, cri.ContainerState.EXITED,
                                     cri.ContainerState.CREATED, cri.ContainerState.UNKNOWN)
_ids = itertools.count()


def container(name: str, image: str = "busybox", **more: object) -> dict:
    return {"name": name, "image": image, **more}


def make_pod(*containers: dict, init: tuple[dict, ...] = (), policy: str = "Always", **meta: object) -> dict:
    spec: dict = {"restartPolicy": policy, "terminationGracePeriodSeconds": 30, "containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-1", **meta},
            "spec": spec, "status": {"phase": "Running"}}


def sandbox(ready: bool = True, attempt: int = 0, ip: str = "10.244.1.5") -> cri.PodSandboxStatus:
    state = cri.SandboxState.READY if ready else cri.SandboxState.NOTREADY
    return cri.PodSandboxStatus(id=f"sb{attempt}", metadata=cri.PodSandboxMetadata("web-0", "default", "uid-1", attempt),
                                state=state, created_at=T0 - 100, ip=ip)


def cs(name: str, state: str, *, attempt: int = 0, created: float = T0 - 50, exit_code: int = 0,
       finished: float = 0.0, reason: str = "", cid: str = "", annotations: dict | None = None
       ) -> cri.ContainerStatus:
    if state == EXITED and not finished:
        finished = created + 1
    if state == EXITED and not reason:
        reason = cri.Reason.COMPLETED if exit_code == 0 else cri.Reason.ERROR
    return cri.ContainerStatus(id=cid or f"{name}-{attempt}-{next(_ids)}", sandbox_id="sb0",
                               metadata=cri.ContainerMetadata(name, attempt), image="busybox",
                               image_ref="sha256:b", state=state, created_at=created,
                               started_at=created if state != CREATED else 0.0, finished_at=finished,
                               exit_code=exit_code, reason=reason, annotations=annotations or {})


class FakeProbes:
    """Probe results by (container, type, container id); workers exist for the listed (container, type)."""

    def __init__(self, results: dict[tuple[str, str, str], str] | None = None,
                 workers: set[tuple[str, str]] | None = None) -> None:
        self.results = results or {}
        self.workers = workers if workers is not None else {(n, t) for n, t, _ in self.results}

    def result(self, container_name: str, probe_type: str, container_id: str) -> str | None:
        return self.results.get((container_name, probe_type, container_id))

    def has_probe(self, container_name: str, probe_type: str) -> bool:
        return (container_name, probe_type) in self.workers


def sync(pod: dict, sb: cri.PodSandboxStatus | None, statuses: list[cri.ContainerStatus], *,
         probes: FakeProbes | None = None, backoff: Backoff | None = None, now: float = T0) -> PodActions:
    return compute_pod_actions(pod, sb, statuses, probes=probes, backoff=backoff if backoff is not None else Backoff(), now=now)


def summary(a: PodActions) -> tuple:
    """The decision without kill details: (kill_pod, create, attempt, init to start, to start, kill names, backoff)."""
    return (a.kill_pod, a.create_sandbox, a.attempt, list(a.init_containers_to_start), list(a.containers_to_start),
            [k.name for k in a.containers_to_kill], [b.name for b in a.backoff])


# --- the sandbox --------------------------------------------------------------------------------------


def test_new_pod_gets_a_sandbox_and_its_containers() -> None:
    pod = make_pod(container("web"), container("log"))
    assert summary(sync(pod, None, [])) == (True, True, 0, [], ["web", "log"], [], [])
    with_init = make_pod(container("web"), init=(container("init1"), container("init2")))
    assert summary(sync(with_init, None, [])) == (True, True, 0, ["init1"], [], [], [])


def test_dead_sandbox_is_replaced_with_the_next_attempt_and_starts_over() -> None:
    pod = make_pod(container("web"), init=(container("init1"),))
    statuses = [cs("init1", EXITED), cs("web", RUNNING, cid="w1")]
    actions = sync(pod, sandbox(ready=False, attempt=2), statuses)
    assert summary(actions) == (True, True, 3, ["init1"], [], ["web"], [])
    assert actions.sandbox_id == "sb2" and actions.kill_pod_reason == PodKillReason.SANDBOX_CHANGED


def test_sandbox_without_ip_is_replaced_unless_host_network() -> None:
    pod = make_pod(container("web"))
    assert sandbox_changed(pod, sandbox(ip="")) == (True, 1, "sb0")
    pod["spec"]["hostNetwork"] = True
    assert sandbox_changed(pod, sandbox(ip="")) == (False, 0, "sb0")


@pytest.mark.parametrize(("policy", "exit_code", "expected"), [
    # A pod that ran and must not restart gets no new sandbox.
    ("Never", 1, (True, False, 1, [], [], [], [])),
    ("Never", 0, (True, False, 1, [], [], [], [])),
    # OnFailure: the succeeded container is not started again, so nothing is left to run.
    ("OnFailure", 0, (True, False, 1, [], [], [], [])),
    ("OnFailure", 1, (True, True, 1, [], ["web"], [], [])),
    ("Always", 0, (True, True, 1, [], ["web"], [], [])),
])
def test_dead_sandbox_per_restart_policy(policy: str, exit_code: int, expected: tuple) -> None:
    pod = make_pod(container("web"), policy=policy)
    assert summary(sync(pod, sandbox(ready=False), [cs("web", EXITED, exit_code=exit_code)])) == expected


# --- regular containers and restartPolicy -------------------------------------------------------------


@pytest.mark.parametrize(("policy", "exit_code", "restarted"), [
    ("Always", 0, True), ("Always", 1, True),
    ("OnFailure", 0, False), ("OnFailure", 1, True), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_exited_container_per_restart_policy(policy: str, exit_code: int, restarted: bool) -> None:
    pod = make_pod(container("web"), container("sidecar-like"), policy=policy)
    statuses = [cs("web", EXITED, exit_code=exit_code), cs("sidecar-like", RUNNING)]
    assert summary(sync(pod, sandbox(), statuses))[4] == (["web"] if restarted else [])


@pytest.mark.parametrize(("policy", "exit_codes", "done"), [
    ("Never", (0, 1), True), ("OnFailure", (0, 0), True), ("OnFailure", (0, 1), False), ("Always", (0, 0), False),
])
def test_pod_is_done_when_nothing_runs_and_nothing_will(policy: str, exit_codes: tuple, done: bool) -> None:
    pod = make_pod(container("a"), container("b"), policy=policy)
    statuses = [cs("a", EXITED, exit_code=exit_codes[0]), cs("b", EXITED, exit_code=exit_codes[1])]
    actions = sync(pod, sandbox(), statuses)
    assert actions.kill_pod is done and not actions.create_sandbox
    if done:
        assert actions.kill_pod_reason == PodKillReason.ALL_EXITED and actions.containers_to_start == ()


def test_running_containers_are_kept() -> None:
    pod = make_pod(container("web"))
    actions = sync(pod, sandbox(), [cs("web", RUNNING)])
    assert actions.idle and str(actions) == "idle"


def test_crash_loop_back_off_across_syncs() -> None:
    pod = make_pod(container("web"))
    backoff = Backoff()
    # Attempt 0 exits at T0+1: the first restart is immediate.
    first = cs("web", EXITED, attempt=0, created=T0, exit_code=1)
    assert sync(pod, sandbox(), [first], backoff=backoff, now=T0 + 1).containers_to_start == ("web",)
    # Attempt 1 exits at T0+3: back off 10 s from the exit.
    second = cs("web", EXITED, attempt=1, created=T0 + 2, finished=T0 + 3, exit_code=1)
    actions = sync(pod, sandbox(), [second, first], backoff=backoff, now=T0 + 4)
    assert actions.containers_to_start == () and not actions.kill_pod
    assert actions.backoff == (BackoffWait(
        "web", False, "back-off 10s restarting failed container=web pod=web-0_default(uid-1)", T0 + 13),)
    assert actions.backoff[0].reason == "CrashLoopBackOff"
    assert sync(pod, sandbox(), [second, first], backoff=backoff, now=T0 + 12.9).backoff
    assert sync(pod, sandbox(), [second, first], backoff=backoff, now=T0 + 13).containers_to_start == ("web",)
    # Attempt 2 exits at T0+14: now 20 s.
    third = cs("web", EXITED, attempt=2, created=T0 + 13, finished=T0 + 14, exit_code=1)
    actions = sync(pod, sandbox(), [third, second, first], backoff=backoff, now=T0 + 14)
    assert actions.backoff[0].message.startswith("back-off 20s ") and actions.backoff[0].retry_at_s == T0 + 34


def test_container_in_unknown_state_is_killed_before_restart() -> None:
    pod = make_pod(container("web"))
    actions = sync(pod, sandbox(), [cs("web", UNKNOWN, cid="w1")])
    assert actions.containers_to_start == ("web",)
    assert actions.containers_to_kill == (ContainerKill(
        "web", "w1", KillReason.UNKNOWN, 'Container is in "unknown" state, try killing it before restart', 30),)


def test_created_but_not_started_container_is_started() -> None:
    pod = make_pod(container("web"), policy="Never")
    assert sync(pod, sandbox(), [cs("web", CREATED)]).containers_to_start == ("web",)


# --- probes and spec changes --------------------------------------------------------------------------


def test_liveness_failure_kills_and_restarts() -> None:
    pod = make_pod(container("web", livenessProbe={"httpGet": {"port": 80}},
                             lifecycle={"preStop": {"exec": {"command": ["drain"]}}}))
    probes = FakeProbes({("web", ProbeType.LIVENESS, "w1"): Result.FAILURE})
    actions = sync(pod, sandbox(), [cs("web", RUNNING, cid="w1")], probes=probes)
    assert actions.containers_to_start == ("web",) and not actions.kill_pod
    assert actions.containers_to_kill == (ContainerKill(
        "web", "w1", KillReason.LIVENESS_PROBE, "Container web failed liveness probe, will be restarted", 30,
        {"exec": {"command": ["drain"]}}),)
    # The result belongs to the old container: its replacement is kept.
    assert sync(pod, sandbox(), [cs("web", RUNNING, cid="w2")], probes=probes).idle


def test_probe_grace_period_overrides_the_pods() -> None:
    probe = {"httpGet": {"port": 80}, "terminationGracePeriodSeconds": 5}
    pod = make_pod(container("web", startupProbe=probe))
    probes = FakeProbes({("web", ProbeType.STARTUP, "w1"): Result.FAILURE})
    (kill,) = sync(pod, sandbox(), [cs("web", RUNNING, cid="w1")], probes=probes).containers_to_kill
    assert (kill.reason, kill.message, kill.grace_period_s) == (
        KillReason.STARTUP_PROBE, "Container web failed startup probe, will be restarted", 5)


def test_liveness_failure_under_never_kills_without_restart() -> None:
    pod = make_pod(container("web"), container("log"), policy="Never")
    probes = FakeProbes({("web", ProbeType.LIVENESS, "w1"): Result.FAILURE})
    actions = sync(pod, sandbox(), [cs("web", RUNNING, cid="w1"), cs("log", RUNNING, cid="l1")], probes=probes)
    assert actions.containers_to_start == ()
    assert [(k.name, k.message) for k in actions.containers_to_kill] == [("web", "Container web failed liveness probe")]
    # Were it the only container, nothing would be left: the pod is killed whole.
    alone = make_pod(container("web"), policy="Never")
    actions = sync(alone, sandbox(), [cs("web", RUNNING, cid="w1")], probes=probes)
    assert actions.kill_pod and actions.kill_pod_reason == PodKillReason.ALL_EXITED
    assert [(k.name, k.reason, k.message) for k in actions.containers_to_kill] == [
        ("web", KillReason.UNKNOWN, "Stopping container web")]


def test_changed_spec_restarts_the_container_whatever_the_policy() -> None:
    web = container("web", image="nginx:1.27")
    pod = make_pod(web, policy="Never")
    current = cs("web", RUNNING, cid="w1", annotations={HASH_ANNOTATION: hash_annotation_value(web)})
    assert sync(pod, sandbox(), [current]).idle
    stale = cs("web", RUNNING, cid="w1",
               annotations={HASH_ANNOTATION: hash_annotation_value(container("web", image="nginx:1.26"))})
    actions = sync(pod, sandbox(), [stale])
    assert actions.containers_to_start == ("web",)
    assert [(k.reason, k.message) for k in actions.containers_to_kill] == [
        (KillReason.SPEC_CHANGED, "Container web definition changed, will be restarted")]


# --- init containers ----------------------------------------------------------------------------------

INIT = (container("init1"), container("init2"))


@pytest.mark.parametrize(("policy", "statuses", "expected"), [
    ("Always", [cs("init1", RUNNING)], (False, [], [])),
    ("Always", [cs("init1", EXITED)], (False, ["init2"], [])),
    ("Always", [cs("init1", EXITED), cs("init2", RUNNING)], (False, [], [])),
    ("Always", [cs("init1", EXITED), cs("init2", EXITED)], (False, [], ["web"])),
    ("Always", [cs("init1", EXITED, exit_code=1)], (False, ["init1"], [])),
    ("OnFailure", [cs("init1", EXITED), cs("init2", EXITED, exit_code=2)], (False, ["init2"], [])),
    ("Always", [cs("init1", EXITED, reason=cri.Reason.OOM_KILLED)], (False, ["init1"], [])),
    ("Never", [cs("init1", EXITED, exit_code=1)], (True, [], [])),
    # The runtime forgot the init containers, but a regular container runs: initialization is over.
    ("Always", [cs("web", RUNNING)], (False, [], [])),
])
def test_init_containers_run_strictly_in_order(policy: str, statuses: list, expected: tuple) -> None:
    pod = make_pod(container("web"), init=INIT, policy=policy)
    actions = sync(pod, sandbox(), statuses)
    assert (actions.kill_pod, list(actions.init_containers_to_start), list(actions.containers_to_start)) == expected
    if actions.kill_pod:
        assert actions.kill_pod_reason == PodKillReason.INIT_FAILED


def test_failing_init_container_backs_off() -> None:
    pod = make_pod(container("web"), init=INIT)
    backoff = Backoff()
    first = cs("init1", EXITED, created=T0, exit_code=1)
    assert sync(pod, sandbox(), [first], backoff=backoff, now=T0 + 1).init_containers_to_start == ("init1",)
    second = cs("init1", EXITED, attempt=1, created=T0 + 1, finished=T0 + 2, exit_code=1)
    actions = sync(pod, sandbox(), [second, first], backoff=backoff, now=T0 + 2)
    assert summary(actions) == (False, False, 0, [], [], [], ["init1"])
    assert actions.backoff[0].init and actions.backoff[0].retry_at_s == T0 + 12


# --- sidecars -----------------------------------------------------------------------------------------

PROXY = container("proxy", image="envoy", restartPolicy="Always")
MIGRATE = container("migrate")


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], (False, ["proxy"], [])),
    ([cs("proxy", RUNNING)], (False, ["migrate"], [])),
    ([cs("proxy", RUNNING), cs("migrate", RUNNING)], (False, [], [])),
    ([cs("proxy", RUNNING), cs("migrate", EXITED)], (False, [], ["web"])),
    ([cs("proxy", RUNNING), cs("migrate", EXITED), cs("web", RUNNING)], (False, [], [])),
    # A crashed sidecar is restarted while the pod runs; finished regular init containers are not rerun.
    ([cs("proxy", EXITED, exit_code=1), cs("migrate", EXITED), cs("web", RUNNING)], (False, ["proxy"], [])),
    ([cs("proxy", EXITED, exit_code=0), cs("migrate", EXITED), cs("web", RUNNING)], (False, ["proxy"], [])),
    # The runtime lost the sidecar after initialization: start it again.
    ([cs("web", RUNNING)], (False, ["proxy"], [])),
])
def test_sidecars_start_in_order_and_keep_running(statuses: list, expected: tuple) -> None:
    pod = make_pod(container("web"), init=(PROXY, MIGRATE))
    actions = sync(pod, sandbox(), statuses)
    assert (actions.kill_pod, list(actions.init_containers_to_start), list(actions.containers_to_start)) == expected


def test_sidecar_startup_probe_gates_the_next_init_container() -> None:
    proxy = {**PROXY, "startupProbe": {"tcpSocket": {"port": 15000}}}
    pod = make_pod(container("web"), init=(proxy, MIGRATE))
    running = cs("proxy", RUNNING, cid="p1")
    assert sync(pod, sandbox(), [running], probes=FakeProbes()).idle  # not probed yet: wait
    unknown = FakeProbes({("proxy", ProbeType.STARTUP, "p1"): Result.UNKNOWN})
    assert sync(pod, sandbox(), [running], probes=unknown).idle
    ok = FakeProbes({("proxy", ProbeType.STARTUP, "p1"): Result.SUCCESS})
    assert sync(pod, sandbox(), [running], probes=ok).init_containers_to_start == ("migrate",)
    failed = FakeProbes({("proxy", ProbeType.STARTUP, "p1"): Result.FAILURE})
    actions = sync(pod, sandbox(), [running], probes=failed)
    assert actions.init_containers_to_start == ("proxy",)
    assert [(k.name, k.reason, k.message) for k in actions.containers_to_kill] == [
        ("proxy", KillReason.STARTUP_PROBE, "Init container proxy failed startup probe")]


def test_sidecar_liveness_failure_restarts_it() -> None:
    proxy = {**PROXY, "livenessProbe": {"tcpSocket": {"port": 15000}}}
    pod = make_pod(container("web"), init=(proxy, MIGRATE))
    statuses = [cs("proxy", RUNNING, cid="p1"), cs("migrate", EXITED), cs("web", RUNNING, cid="w1")]
    probes = FakeProbes({("proxy", ProbeType.LIVENESS, "p1"): Result.FAILURE})
    actions = sync(pod, sandbox(), statuses, probes=probes)
    assert summary(actions) == (False, False, 0, ["proxy"], [], ["proxy"], [])
    assert actions.containers_to_kill[0].message == "Init container proxy failed liveness probe"


def test_sidecars_do_not_keep_a_finished_pod_alive_and_stop_last() -> None:
    proxy2 = container("proxy2", restartPolicy="Always")
    pod = make_pod(container("job"), container("job2"), init=(PROXY, proxy2), policy="Never",
                   )
    statuses = [cs("proxy", RUNNING, cid="p1"), cs("proxy2", RUNNING, cid="p2"), cs("job", EXITED),
                cs("job2", RUNNING, cid="j2")]
    # job2 still runs: nothing to do.
    assert sync(pod, sandbox(), statuses).idle
    statuses[-1] = cs("job2", EXITED)
    actions = sync(pod, sandbox(), statuses)
    assert actions.kill_pod and actions.init_containers_to_start == ()
    # Sidecars stop in reverse order of their start.
    assert [k.name for k in actions.containers_to_kill] == ["proxy2", "proxy"]


def test_sidecar_in_backoff_does_not_block_the_rest() -> None:
    pod = make_pod(container("web"), init=(PROXY, MIGRATE))
    backoff = Backoff()
    crash1 = cs("proxy", EXITED, created=T0, exit_code=1)
    done = cs("migrate", EXITED, created=T0 - 20)
    assert sync(pod, sandbox(), [crash1, done, cs("web", RUNNING)], backoff=backoff,
                now=T0 + 1).init_containers_to_start == ("proxy",)
    crash2 = cs("proxy", EXITED, attempt=1, created=T0 + 1, finished=T0 + 2, exit_code=1)
    actions = sync(pod, sandbox(), [crash2, crash1, done, cs("web", EXITED, exit_code=1, created=T0 - 10)],
                   backoff=backoff, now=T0 + 3)
    assert [b.name for b in actions.backoff] == ["proxy"]
    assert actions.containers_to_start == ("web",)


# --- termination --------------------------------------------------------------------------------------


def test_deleted_pod_is_killed_within_its_grace_period_pre_stop_first() -> None:
    hook = {"httpGet": {"path": "/drain", "port": 80}}
    pod = make_pod(container("web", lifecycle={"preStop": hook}), container("log"),
                   deletionTimestamp="2025-06-15T12:00:00Z", deletionGracePeriodSeconds=10)
    statuses = [cs("web", RUNNING, cid="w1"), cs("log", EXITED, exit_code=1)]
    actions = sync(pod, sandbox(), statuses)
    assert actions == PodActions(kill_pod=True, kill_pod_reason=PodKillReason.DELETED, containers_to_kill=(
        ContainerKill("web", "w1", KillReason.UNKNOWN, "Stopping container web", 10, hook),))
    assert "kill_pod(Deleted)" in str(actions) and "web:Unknown/10s" in str(actions)


def test_terminal_pod_is_only_killed() -> None:
    pod = make_pod(container("web"))
    pod["status"]["phase"] = "Failed"
    actions = sync(pod, None, [cs("web", EXITED, exit_code=1)])
    assert summary(actions) == (True, False, 0, [], [], [], []) and actions.kill_pod_reason == PodKillReason.TERMINAL


@pytest.mark.parametrize(("meta", "spec_grace", "expected"), [
    ({}, 30, 30),
    ({}, None, 30),               # the API default when the field is absent
    ({"deletionGracePeriodSeconds": 10}, 30, 10),
    ({"deletionGracePeriodSeconds": 0}, 45, 45),   # 0 falls back to the spec, as calculateEffectiveGracePeriod does
    ({}, 0, 1),                   # never below 1
])
def test_pod_grace_period(meta: dict, spec_grace: int | None, expected: int) -> None:
    pod = make_pod(container("web"), **meta)
    if spec_grace is None:
        del pod["spec"]["terminationGracePeriodSeconds"]
    else:
        pod["spec"]["terminationGracePeriodSeconds"] = spec_grace
    assert pod_grace_period_s(pod) == expected


@pytest.mark.parametrize(("meta", "probe_grace", "reason", "expected"), [
    ({}, None, KillReason.LIVENESS_PROBE, 30),
    ({}, 7, KillReason.LIVENESS_PROBE, 7),
    ({}, 7, KillReason.SPEC_CHANGED, 30),
    ({"deletionGracePeriodSeconds": 3}, 7, KillReason.LIVENESS_PROBE, 3),
])
def test_container_grace_period(meta: dict, probe_grace: int | None, reason: str, expected: int) -> None:
    probe = {"httpGet": {"port": 80}}
    if probe_grace is not None:
        probe["terminationGracePeriodSeconds"] = probe_grace
    web = container("web", livenessProbe=probe)
    assert container_grace_period_s(make_pod(web, **meta), web, reason) == expected


@pytest.mark.parametrize(("grace", "pre_stop_s", "expected"), [(30, 0, 30), (30, 12.9, 18), (30, 29, 2), (1, 0, 2)])
def test_stop_timeout_after_pre_stop(grace: int, pre_stop_s: float, expected: int) -> None:
    assert stop_timeout_s(grace, pre_stop_s) == expected


def test_api_container_id() -> None:
    assert api_container_id("abc") == "containerd://abc" and api_container_id("") == ""
