"""One node's simulated container runtime (actors.runtime.runtime), driven by hand.

Time is a number the test moves; randomness is ``random.Random(SEED)``. The
tests play the kubelet: pull, run a sandbox, create and start containers,
stop and remove them, probe them with exec/HTTP/TCP, read logs and the event
feed, and check what a real containerd would answer at each moment.
"""

from __future__ import annotations

import random
import re

import pytest

from actors.runtime import catalogue as cat
from actors.runtime.cri import (
    Code,
    ContainerConfig,
    ContainerMetadata,
    ContainerPort,
    ContainerState,
    CriError,
    EventType,
    ImagePullError,
    PodSandboxConfig,
    PodSandboxMetadata,
    Reason,
    SandboxState,
)
from actors.runtime.runtime import ContainerRuntime

SEED = 7
MIB = 1024 * 1024
T0 = 1_750_000_000.0
"""Cluster epoch seconds at the start of every test."""


def runtime(**kw) -> ContainerRuntime:
    return ContainerRuntime(random.Random(SEED), **kw)


def sandbox(rt: ContainerRuntime, name: str = "web-1", ip: str = "10.244.1.5", *, now: float = T0,
            annotations: dict[str, str] | None = None, attempt: int = 0) -> str:
    meta = PodSandboxMetadata(name, "demo", f"uid-{name}", attempt)
    return rt.run_pod_sandbox(PodSandboxConfig(meta, hostname=name, annotations=annotations or {}, pod_ip=ip), now)


def spec(image: str, name: str = "app", *, command: tuple[str, ...] = (), args: tuple[str, ...] = (),
         ports: tuple[int, ...] = (), memory_limit_bytes: int = 0, attempt: int = 0,
         env: dict[str, str] | None = None) -> ContainerConfig:
    return ContainerConfig(ContainerMetadata(name, attempt), image, command, args, env=env or {},
                           ports=tuple(ContainerPort(p) for p in ports), memory_limit_bytes=memory_limit_bytes)


def started(rt: ContainerRuntime, sandbox_id: str, config: ContainerConfig, now: float = T0) -> tuple[str, float]:
    """Pulls (waiting for it), creates and starts: the container's id and when it runs."""
    now = rt.pull_image(config.image, now)
    cid = rt.create_container(sandbox_id, config, now)
    return cid, rt.start_container(cid, now)


def status(rt: ContainerRuntime, cid: str, now: float):
    return rt.container_status(cid, now)


# --- images ---------------------------------------------------------------------------------------------------


def test_a_pull_takes_size_over_bandwidth_plus_a_little():
    rt = runtime()
    done = rt.pull_image("nginx", T0)
    transfer_s = cat.image_size_bytes("nginx") / (50 * cat.MB)
    assert T0 + transfer_s + 0.05 <= done <= T0 + transfer_s + 0.25
    assert rt.image_status("nginx", done - 0.01) is None
    image = rt.image_status("docker.io/library/nginx:latest", done)
    assert image is not None and image.repo_tags == ("docker.io/library/nginx:latest",)
    assert image.id == cat.image_id("nginx") and image.size_bytes == cat.image_size_bytes("nginx")


def test_a_cached_image_is_there_at_once_and_concurrent_pulls_share_one_download():
    rt = runtime()
    first = rt.pull_image("redis:7", T0)
    assert rt.pull_image("docker.io/library/redis:7", T0 + 0.3) == first
    assert rt.pull_image("redis:7", first + 5) == first + 5


def test_pulls_queue_on_the_node_link_and_bandwidth_is_a_parameter():
    rt = runtime(bandwidth_bytes_per_s=10 * cat.MB)
    big = rt.pull_image("postgres", T0)
    small = rt.pull_image("busybox", T0)
    assert big >= T0 + 15.0
    assert small >= T0 + 15.0 + cat.image_size_bytes("busybox") / (10 * cat.MB)


@pytest.mark.parametrize("ref", ["nginx:doesnotexist", "nonexistent/app", "Bad Name"])
def test_an_image_that_does_not_exist_fails_to_pull(ref):
    rt = runtime()
    with pytest.raises(ImagePullError) as err:
        rt.pull_image(ref, T0)
    assert err.value.image == ref and err.value.code == Code.NOT_FOUND
    assert err.value.message.startswith("failed to pull and unpack image")


def test_list_and_remove_images():
    rt = runtime()
    assert [i.repo_tags for i in rt.list_images(T0)] == [(cat.PAUSE_IMAGE,)]
    done = rt.pull_image("busybox", T0)
    assert len(rt.list_images(T0)) == 1 and len(rt.list_images(done)) == 2
    rt.remove_image("busybox")
    rt.remove_image("busybox")  # idempotent
    assert rt.image_status("busybox", done) is None


def test_ids_are_64_hex_and_come_from_the_seed():
    a, b = runtime(), runtime()
    ids_a = [sandbox(a), started(a, sandbox(a, "web-2", "10.244.1.6"), spec("nginx"))[0]]
    ids_b = [sandbox(b), started(b, sandbox(b, "web-2", "10.244.1.6"), spec("nginx"))[0]]
    assert ids_a == ids_b
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids_a)


# --- sandboxes and CRI errors -------------------------------------------------------------------------------


def test_sandbox_lifecycle_and_labels():
    rt = runtime()
    sid = sandbox(rt)
    st = rt.pod_sandbox_status(sid)
    assert (st.state, st.ip, st.metadata.name) == (SandboxState.READY, "10.244.1.5", "web-1")
    assert st.labels == {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "demo",
                         "io.kubernetes.pod.uid": "uid-web-1"}
    with pytest.raises(CriError) as err:
        sandbox(rt)
    assert err.value.code == Code.ALREADY_EXISTS
    assert sandbox(rt, attempt=1) != sid  # a new attempt is a new name
    rt.stop_pod_sandbox(sid, T0 + 1)
    rt.stop_pod_sandbox(sid, T0 + 2)  # idempotent
    assert rt.pod_sandbox_status(sid).state == SandboxState.NOTREADY
    assert [s.id for s in rt.list_pod_sandboxes(state=SandboxState.READY)] != [sid]
    rt.remove_pod_sandbox(sid, T0 + 3)
    rt.remove_pod_sandbox(sid, T0 + 3)
    with pytest.raises(CriError) as err:
        rt.pod_sandbox_status(sid)
    assert err.value.code == Code.NOT_FOUND
    assert sandbox(rt) != sid  # the name is free again


def test_container_cri_errors():
    rt = runtime()
    sid = sandbox(rt)
    ready = rt.pull_image("nginx", T0)
    cases = [
        (lambda: rt.create_container("f" * 64, spec("nginx"), ready), Code.NOT_FOUND),
        (lambda: rt.create_container(sid, spec("redis"), ready), Code.NOT_FOUND),  # not pulled
        (lambda: rt.start_container("f" * 64, ready), Code.NOT_FOUND),
        (lambda: rt.container_status("f" * 64, ready), Code.NOT_FOUND),
        (lambda: rt.stop_container("f" * 64, 30, ready), Code.NOT_FOUND),
        (lambda: rt.logs("f" * 64), Code.NOT_FOUND),
        (lambda: rt.create_container(sid, spec("nginx"), ready - 1), Code.NOT_FOUND),  # still downloading
    ]
    for call, code in cases:
        with pytest.raises(CriError) as err:
            call()
        assert err.value.code == code
    cid = rt.create_container(sid, spec("nginx"), ready)
    with pytest.raises(CriError) as err:
        rt.create_container(sid, spec("nginx"), ready)
    assert err.value.code == Code.ALREADY_EXISTS
    assert rt.create_container(sid, spec("nginx", attempt=1), ready) != cid
    rt.start_container(cid, ready)
    with pytest.raises(CriError) as err:
        rt.start_container(cid, ready + 1)
    assert err.value.code == Code.FAILED_PRECONDITION
    with pytest.raises(CriError) as err:
        rt.exec_sync(rt.create_container(sid, spec("nginx", "other"), ready), ["true"], ready)
    assert err.value.code == Code.FAILED_PRECONDITION  # not running
    rt.stop_pod_sandbox(sid, ready + 2)
    with pytest.raises(CriError) as err:
        rt.create_container(sid, spec("nginx", "late"), ready + 2)
    assert err.value.code == Code.FAILED_PRECONDITION


def test_a_malformed_annotation_fails_create_container():
    rt = runtime()
    sid = sandbox(rt, annotations={"kubesim.io/behavior": "crash after=soon"})
    ready = rt.pull_image("nginx", T0)
    with pytest.raises(CriError) as err:
        rt.create_container(sid, spec("nginx"), ready)
    assert err.value.code == Code.INVALID_ARGUMENT and "kubesim.io/behavior" in err.value.message


def test_a_command_that_cannot_run_fails_start_and_leaves_the_container_exited():
    rt = runtime()
    sid = sandbox(rt)
    ready = rt.pull_image("busybox", T0)
    cid = rt.create_container(sid, spec("busybox", command=("/bin/doesnotexist",)), ready)
    with pytest.raises(CriError) as err:
        rt.start_container(cid, ready)
    assert err.value.code == Code.UNKNOWN and "executable file not found" in err.value.message
    st = status(rt, cid, ready)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 128, Reason.CONTAINER_CANNOT_RUN)
    assert [e.type for e in rt.advance(ready)] == [EventType.CONTAINER_DIED]


# --- lifecycles ---------------------------------------------------------------------------------------------


def test_running_as_start_returns_unless_the_behaviour_has_a_start_delay():
    rt = runtime()
    slow = sandbox(rt, "slow-1", "10.244.1.9", annotations={"kubesim.io/behavior": "serve start=2s"})
    slow_cid, slow_at = started(rt, slow, spec("nginx"))
    assert status(rt, slow_cid, slow_at - 0.01).state == ContainerState.CREATED
    assert status(rt, slow_cid, slow_at).state == ContainerState.RUNNING
    ready = rt.pull_image("nginx", T0)
    cid = rt.create_container(sandbox(rt), spec("nginx"), ready)
    running_at = rt.start_container(cid, ready)
    assert running_at == ready
    st = status(rt, cid, running_at)
    assert (st.state, st.started_at, st.memory_bytes) == (ContainerState.RUNNING, running_at, 6 * MIB)
    assert st.image_ref.startswith("docker.io/library/nginx@sha256:")
    assert st.labels["io.kubernetes.container.name"] == "app"
    assert st.labels["io.kubernetes.pod.uid"] == "uid-web-1"
    assert st.annotations["io.kubernetes.container.restartCount"] == "0"


@pytest.mark.parametrize("image, kw, after_s, code, reason", [
    ("kubesim/batch", {}, 10.0, 0, Reason.COMPLETED),
    ("kubesim/crasher", {}, 5.0, 1, Reason.ERROR),
    ("busybox", {"command": ("sleep", "3")}, 3.0, 0, Reason.COMPLETED),
    ("busybox", {"command": ("sh", "-c", "exit 1")}, cat.IMMEDIATE_S, 1, Reason.ERROR),
    ("busybox", {}, cat.IMMEDIATE_S, 0, Reason.COMPLETED),
    ("kubesim/leaker", {"memory_limit_bytes": 64 * MIB}, 4.8, 137, Reason.OOM_KILLED),
    ("mysql", {"memory_limit_bytes": 256 * MIB, "env": {"MYSQL_ROOT_PASSWORD": "pw"}}, 0.0, 137,
     Reason.OOM_KILLED),
    ("postgres", {}, 0.1, 1, Reason.ERROR),
])
def test_containers_exit_by_themselves(image, kw, after_s, code, reason):
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec(image, **kw))
    exit_at = running_at + after_s
    assert rt.next_event_at() == running_at
    if after_s:
        assert status(rt, cid, exit_at - 0.001).state == ContainerState.RUNNING
    st = status(rt, cid, exit_at)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, code, reason)
    assert st.finished_at == pytest.approx(exit_at)
    events = rt.advance(exit_at)
    died = [e for e in events if e.type == EventType.CONTAINER_DIED]
    assert [(e.exit_code, e.reason) for e in died] == [(code, reason)]
    assert rt.next_event_at() is None


def test_servers_keep_running():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/leaker"))  # no limit: it just grows
    assert status(rt, cid, running_at + 3600).state == ContainerState.RUNNING
    assert rt.stats(running_at + 10) == {cid: 116 * MIB}
    assert rt.next_event_at() == running_at
    rt.advance(running_at)
    assert rt.next_event_at() is None


@pytest.mark.parametrize("image, kw, grace_s, after_s, code", [
    ("nginx", {}, 30, 0.1, 0),
    ("kubesim/server", {}, 30, 0.5, 0),
    ("kubesim/server", {}, 0.2, 0.2, 137),  # drains longer than the grace period: SIGKILL
    ("kubesim/batch", {}, 30, 0.0, 143),
    ("busybox", {"command": ("sleep", "3600")}, 30, 30.0, 137),  # PID 1 ignores SIGTERM
    ("busybox", {"command": ("sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait")}, 30, 0.0, 0),
    ("python:3.12", {"command": ("python", "-m", "http.server")}, 5, 5.0, 137),
    ("nginx", {}, 0, 0.0, 137),  # timeout 0: SIGKILL at once
])
def test_stop_sigterm_then_sigkill(image, kw, grace_s, after_s, code):
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec(image, **kw))
    stop_at = running_at + 1
    assert rt.stop_container(cid, grace_s, stop_at) == pytest.approx(stop_at + after_s)
    assert rt.next_event_at() is not None
    st = status(rt, cid, stop_at + after_s)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, code)
    assert st.reason == (Reason.COMPLETED if code == 0 else Reason.ERROR)


def test_a_process_that_ends_before_the_grace_period_exits_by_itself():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("busybox", command=("sleep", "5")))
    assert rt.stop_container(cid, 30, running_at + 3) == pytest.approx(running_at + 5)
    st = status(rt, cid, running_at + 5)
    assert (st.exit_code, st.reason) == (0, Reason.COMPLETED)


def test_stop_of_a_created_or_exited_container_changes_nothing():
    rt = runtime()
    sid = sandbox(rt)
    ready = rt.pull_image("busybox", T0)
    created = rt.create_container(sid, spec("busybox", "a", command=("sleep", "1")), ready)
    assert rt.stop_container(created, 30, ready + 1) == ready + 1
    assert status(rt, created, ready + 1).state == ContainerState.CREATED
    done = rt.create_container(sid, spec("busybox", "b", command=("true",)), ready)
    running_at = rt.start_container(done, ready)
    assert rt.stop_container(done, 30, ready + 5) == pytest.approx(running_at + cat.IMMEDIATE_S)


def test_stop_pod_sandbox_kills_its_containers_and_remove_removes_them():
    rt = runtime()
    sid = sandbox(rt)
    cid, running_at = started(rt, sid, spec("nginx"))
    rt.advance(running_at)
    rt.stop_pod_sandbox(sid, running_at + 1)
    st = status(rt, cid, running_at + 1)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, 137)
    assert rt.http_get("10.244.1.5", 80, "/", running_at + 1) is None
    rt.remove_pod_sandbox(sid, running_at + 2)
    types = [e.type for e in rt.advance(running_at + 2)]
    assert types[:2] == [EventType.CONTAINER_DIED, EventType.CONTAINER_REMOVED]
    assert rt.list_containers() == [] and rt.list_pod_sandboxes() == []


def test_remove_container_kills_a_running_one_and_is_idempotent():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("redis"))
    rt.advance(running_at)
    rt.remove_container(cid, running_at + 1)
    rt.remove_container(cid, running_at + 1)
    events = [(e.type, e.exit_code) for e in rt.advance(running_at + 1) if e.type != EventType.CONTAINER_LOGGED]
    assert events == [(EventType.CONTAINER_DIED, 137), (EventType.CONTAINER_REMOVED, 0)]
    with pytest.raises(CriError):
        rt.container_status(cid, running_at + 1)


# --- probes: exec, HTTP, TCP over time --------------------------------------------------------------------


def test_slow_start_refuses_until_its_delay():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/slow-start", ports=(8080,)))
    for t, listening in [(running_at, False), (running_at + 29.9, False), (running_at + 30, True)]:
        assert rt.tcp_connect("10.244.1.5", 8080, t) is listening
        assert (rt.http_get("10.244.1.5", 8080, "/healthz", t) is not None) is listening
    assert rt.exec_sync(cid, ["cat", "/tmp/ready"], running_at + 1).exit_code == 1
    assert rt.exec_sync(cid, ["cat", "/tmp/ready"], running_at + 31).exit_code == 0


def test_http_answers_name_the_pod_and_only_running_listeners_answer():
    rt = runtime()
    sid = sandbox(rt)
    cid, running_at = started(rt, sid, spec("kubesim/server", ports=(8080,)))
    t = running_at + 1
    assert rt.http_get("10.244.1.5", 8080, "/", t) == (200, "hello from web-1 (container app)\n")
    assert rt.http_get("10.244.1.5", 9999, "/", t) is None  # nothing on that port
    assert rt.http_get("10.244.1.99", 8080, "/", t) is None  # no such pod
    assert rt.tcp_connect("10.244.1.5", 8080, t)
    _, redis_at = started(rt, sandbox(rt, "cache-1", "10.244.1.6"), spec("redis"), t)
    assert rt.http_get("10.244.1.6", 6379, "/", redis_at + 1) == (0, "")  # a TCP server: no HTTP answer
    rt.stop_container(cid, 30, t)
    assert rt.http_get("10.244.1.5", 8080, "/", t + 1) is None


def test_liveness_http_turns_to_500():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("registry.k8s.io/e2e-test-images/agnhost:2.40",
                                                    args=("liveness",)))
    assert rt.http_get("10.244.1.5", 8080, "/healthz", running_at + 9)[0] == 200
    assert rt.http_get("10.244.1.5", 8080, "/healthz", running_at + 10)[0] == 500


def test_exec_probe_on_the_docs_liveness_script():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("busybox", args=(
        "/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600")))
    assert rt.exec_sync(cid, ["cat", "/tmp/healthy"], running_at + 29).exit_code == 0
    late = rt.exec_sync(cid, ["cat", "/tmp/healthy"], running_at + 30)
    assert late.exit_code == 1 and "No such file" in late.stderr


@pytest.mark.parametrize("image, kw, cmd, before, after", [
    ("redis", {}, ["redis-cli", "ping"], (1, "Could not connect to Redis at 127.0.0.1:6379: Connection refused\n"),
     (0, "PONG\n")),
    ("redis", {}, ["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"], (1, ""), (0, "")),
    ("postgres", {"env": {"POSTGRES_PASSWORD": "pw"}}, ["pg_isready", "-U", "postgres"],
     (2, "/var/run/postgresql:5432 - no response\n"), (0, "/var/run/postgresql:5432 - accepting connections\n")),
    ("mysql", {"env": {"MYSQL_ROOT_PASSWORD": "pw"}}, ["mysqladmin", "ping"], (1, None), (0, "mysqld is alive\n")),
    ("kubesim/server", {}, ["wget", "-qO-", "http://localhost:8080/"], (1, ""),
     (0, "hello from web-1 (container app)\n")),
    ("kubesim/server", {}, ["curl", "-fsS", "http://127.0.0.1:8080/healthz"], (7, ""), (0, "ok\n")),
    ("nginx", {}, ["sh", "-c", "curl -s -o /dev/null -w '%{http_code}' http://localhost/nope"], (0, "000"),
     (0, "404\n")),
    ("kubesim/server", {}, ["nc", "-z", "localhost", "8080"], (1, ""), (0, "")),
])
def test_exec_answers_depend_on_whether_the_server_is_up(image, kw, cmd, before, after):
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec(image, **kw))
    b = rt.container_status(cid, running_at)  # running, not yet listening (or at once, for kubesim/server)
    assert b.state == ContainerState.RUNNING
    if "kubesim" not in image and "nginx" not in image:
        early = rt.exec_sync(cid, cmd, running_at)
        assert early.exit_code == before[0] and (before[1] is None or early.stdout == before[1])
    late = rt.exec_sync(cid, cmd, running_at + 20)
    assert (late.exit_code, late.stdout) == after


@pytest.mark.parametrize("image, cmd, code, message", [
    ("busybox", ["true"], 0, ""),
    ("busybox", ["false"], 1, ""),
    ("busybox", ["frobnicate"], 126, "executable file not found"),
    ("busybox", ["sh", "-c", "frobnicate"], 127, "sh: frobnicate: not found"),
    ("busybox", ["redis-cli", "ping"], 126, "executable file not found"),  # not in this image
    ("registry.k8s.io/pause:3.10", ["cat", "/etc/hostname"], 126, "executable file not found"),
    ("busybox", ["sh", "-c", "echo $HOSTNAME; test -d /tmp"], 0, ""),
    ("busybox", ["echo", "$HOME"], 0, ""),
    ("busybox", ["ls", "/tmp/healthy"], 1, "ls: /tmp/healthy: No such file or directory"),
    ("busybox", ["sh", "-c", "touch /tmp/a && ls /tmp/a && test -e /tmp/a"], 0, ""),
    ("busybox", ["nslookup", "kubernetes.default"], 0, ""),
])
def test_exec_commands(image, cmd, code, message):
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec(image, command=() if "pause" in image else ("sleep", "1h")))
    result = rt.exec_sync(cid, cmd, running_at + 1)
    assert result.exit_code == code and message in result.stderr
    if cmd[0] == "echo":
        assert result.stdout == "$HOME\n"  # exec does not go through a shell
    if cmd[-1].startswith("echo $HOSTNAME"):
        assert result.stdout == "web-1\n"


def test_exec_changes_files_and_signals_pid_1():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/server"))
    t = running_at + 1
    assert rt.exec_sync(cid, ["rm", "/tmp/healthy"], t).exit_code == 0
    assert rt.exec_sync(cid, ["cat", "/tmp/healthy"], t + 1).exit_code == 1
    rt.exec_sync(cid, ["sh", "-c", "echo hi > /tmp/note"], t + 1)
    assert rt.exec_sync(cid, ["cat", "/tmp/note"], t + 2).stdout == "hi\n"
    assert rt.exec_sync(cid, ["kill", "1"], t + 2).exit_code == 0  # SIGTERM: drains 0.5 s
    assert status(rt, cid, t + 2.5).exit_code == 0
    other, running_at = started(rt, sandbox(rt, "web-2", "10.244.1.6"), spec("busybox", command=("sleep", "1h")))
    rt.exec_sync(other, ["kill", "1"], running_at + 1)  # PID 1 sleep ignores SIGTERM
    assert status(rt, other, running_at + 100).state == ContainerState.RUNNING
    rt.exec_sync(other, ["kill", "-9", "1"], running_at + 100)
    assert status(rt, other, running_at + 100).exit_code == 137


def test_exec_timeouts():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("busybox", command=("sleep", "1h")))
    assert rt.exec_sync(cid, ["sleep", "0.5"], running_at + 1, timeout_s=1).exit_code == 0
    for cmd in (["sleep", "5"], ["sh", "-c", "while true; do sleep 1; done"]):
        with pytest.raises(CriError) as err:
            rt.exec_sync(cid, cmd, running_at + 1, timeout_s=1)
        assert err.value.code == Code.DEADLINE_EXCEEDED


# --- logs -------------------------------------------------------------------------------------------------------


def test_batch_logs_tail_and_since():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/batch"))
    lines = rt.logs(cid, now=running_at + 60)
    texts = [x.text for x in lines]
    assert texts[0] == "kubesim/batch: starting work" and texts[-1] == "kubesim/batch: finished"
    assert texts[1:-1] == [f"kubesim/batch: step {n} done" for n in range(1, 11)]
    assert [x.time for x in lines[1:3]] == [running_at + 1, running_at + 2]
    assert [x.text for x in rt.logs(cid, tail=2)] == texts[-2:]
    assert rt.logs(cid, tail=0) == []
    assert len(rt.logs(cid, since=running_at + 8.5)) == 3


def test_crasher_logs_its_panic_on_stderr():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/crasher"))
    lines = rt.logs(cid, now=running_at + 6)
    assert (lines[-3].stream, lines[-3].text) == ("stderr", "panic: kubesim/crasher: simulated failure")


def test_logs_are_capped_per_container_and_numbered_from_the_start():
    rt = runtime(log_lines_cap=5)
    cid, running_at = started(rt, sandbox(rt), spec("busybox", command=(
        "sh", "-c", "while true; do echo tick; sleep 1; done")))
    lines = rt.logs(cid, now=running_at + 86_400)
    assert len(lines) == 5 and lines[-1].time == running_at + 86_400
    later = rt.logs(cid, now=running_at + 86_402)
    assert [x.time - running_at for x in later][-2:] == [86_401, 86_402]


def test_rendered_lines_carry_time_pod_and_memory():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("kubesim/leaker"))
    leak = [x.text for x in rt.logs(cid, now=running_at + 10) if "holding" in x.text]
    assert leak == ["kubesim/leaker: holding 66 MiB", "kubesim/leaker: holding 116 MiB"]
    rt.http_get("10.244.1.5", 8080, "/x", running_at + 11, client_ip="10.244.2.9")
    access = rt.logs(cid, now=running_at + 11)[-1].text
    assert access.endswith("10.244.2.9 GET /x 200 33B") and access.startswith("2025-")
    echo, echo_at = started(rt, sandbox(rt, "echo-1", "10.244.1.6"), spec("busybox", command=(
        "sh", "-c", 'echo "$(date) on $HOSTNAME"; sleep 5')))
    line = rt.logs(echo, now=echo_at + 1)[0].text
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC 2025 on echo-1", line)


# --- the event feed -------------------------------------------------------------------------------------------


def test_event_feed_order_and_next_event_at():
    rt = runtime()
    assert rt.next_event_at() is None and rt.advance(T0) == []
    sid = sandbox(rt)
    cid, running_at = started(rt, sid, spec("busybox", command=("sh", "-c", "echo hi; sleep 2; exit 3")))
    assert rt.next_event_at() == running_at
    events = rt.advance(running_at)
    assert [(e.type, e.container_id, e.time) for e in events] == [
        (EventType.CONTAINER_STARTED, cid, running_at), (EventType.CONTAINER_LOGGED, cid, running_at)]
    assert events[0].pod_uid == "uid-web-1" and events[0].container_name == "app"
    assert [x.text for x in events[1].lines] == ["hi"]
    assert rt.next_event_at() == running_at + 2
    assert rt.advance(running_at + 1) == []  # nothing new
    died = rt.advance(running_at + 5)
    assert [(e.type, e.exit_code, e.reason, e.time) for e in died] == [
        (EventType.CONTAINER_DIED, 3, Reason.ERROR, running_at + 2)]
    assert rt.next_event_at() is None
    rt.remove_container(cid, running_at + 6)
    assert rt.next_event_at() == running_at + 6
    assert [e.type for e in rt.advance(running_at + 6)] == [EventType.CONTAINER_REMOVED]


def test_a_stop_moves_next_event_at():
    rt = runtime()
    cid, running_at = started(rt, sandbox(rt), spec("busybox", command=("sleep", "3600")))
    rt.advance(running_at)
    assert rt.next_event_at() == running_at + 3600
    rt.stop_container(cid, 30, running_at + 10)
    assert rt.next_event_at() == running_at + 40


def test_a_restarted_kubelet_finds_everything_by_label():
    rt = runtime()
    sid = sandbox(rt)
    first, running_at = started(rt, sid, spec("kubesim/crasher"))
    second = rt.create_container(sid, spec("kubesim/crasher", attempt=1), running_at + 6)
    rt.start_container(second, running_at + 6)
    pods = rt.list_pod_sandboxes(labels={"io.kubernetes.pod.uid": "uid-web-1"})
    assert [p.id for p in pods] == [sid]
    found = rt.list_containers(labels={"io.kubernetes.pod.uid": "uid-web-1", "io.kubernetes.container.name": "app"},
                               now=running_at + 7)
    assert [(c.id, c.metadata.attempt, c.state) for c in found] == [
        (first, 0, ContainerState.EXITED), (second, 1, ContainerState.RUNNING)]
    assert [c.id for c in rt.list_containers(sandbox_id=sid, state=ContainerState.RUNNING)] == [second]


def test_the_same_seed_and_calls_give_the_same_story():
    def story() -> list[tuple]:
        rt = runtime()
        sid = sandbox(rt)
        cid, running_at = started(rt, sid, spec("kubesim/leaker", memory_limit_bytes=32 * MIB))
        out = [(e.type, e.container_id, e.time, e.exit_code, e.reason) for e in rt.advance(running_at + 10)]
        return out + [(rt.next_event_at(),)]
    first = story()
    assert first == story()
    assert [x[0] for x in first[:-1] if x[0] != EventType.CONTAINER_LOGGED] == [
        EventType.CONTAINER_STARTED, EventType.CONTAINER_DIED]
    assert first[1][3:] == (137, Reason.OOM_KILLED) and first[1][2] - first[0][2] == pytest.approx(1.6, abs=1e-6)
