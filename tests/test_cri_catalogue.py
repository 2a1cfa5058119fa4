"""The container behaviour catalogue (actors.runtime.catalogue) and the shell reader under it (actors.runtime.shell).

Table-driven: each row is an image, a command or an annotation and what the
container must then do — serve on which port, exit when with what code, how
it takes SIGTERM. Pure functions, no clock: every time is an offset from the
moment the container's process started.
"""

from __future__ import annotations

import pytest

from actors.runtime import catalogue as cat
from actors.runtime.cri import (
    Code,
    ContainerConfig,
    ContainerMetadata,
    ContainerPort,
    CriError,
)
from actors.runtime.shell import Files, Outcome, Shell, ShellSyntaxError, parse

MIB = 1024 * 1024


def config(image: str, command: tuple[str, ...] = (), args: tuple[str, ...] = (), *, name: str = "app",
           ports: tuple[int, ...] = (), env: dict[str, str] | None = None, stdin: bool = False,
           tty: bool = False, mounts: tuple[str, ...] = ()) -> ContainerConfig:
    return ContainerConfig(ContainerMetadata(name), image, tuple(command), tuple(args), env=env or {},
                           ports=tuple(ContainerPort(p) for p in ports), stdin=stdin, tty=tty,
                           mounts=tuple({"container_path": m, "host_path": "/x", "readonly": True} for m in mounts))


def behaviour(image: str, command: tuple[str, ...] = (), args: tuple[str, ...] = (),
              annotations: dict[str, str] | None = None, **kw) -> cat.Behaviour:
    return cat.behaviour_for(config(image, command, args, **kw), annotations or {}, hostname="web-1")


# --- images with no command and no annotation -------------------------------------------------------------

IMAGE_DEFAULTS = [
    # image, keyword args, kind, ports, run_s, exit_code, speaks HTTP
    ("nginx", {}, "serve", (80,), None, 0, True),
    ("nginx:1.27-alpine", {"ports": (8080,)}, "serve", (8080,), None, 0, True),
    ("bitnami/nginx", {}, "serve", (80,), None, 0, True),
    ("httpd:2.4", {}, "serve", (80,), None, 0, True),
    ("caddy", {}, "serve", (80,), None, 0, True),
    ("redis:7", {}, "serve", (6379,), None, 0, False),
    ("memcached", {}, "serve", (11211,), None, 0, False),
    ("postgres:16", {}, "crash", (), 0.1, 1, False),
    ("postgres:16", {"env": {"POSTGRES_PASSWORD": "pw"}}, "serve", (5432,), None, 0, False),
    ("mysql:8", {}, "crash", (), 0.2, 1, False),
    ("mysql:8", {"env": {"MYSQL_ROOT_PASSWORD": "pw"}}, "slow-start", (3306,), None, 0, False),
    ("mariadb", {"env": {"MARIADB_ROOT_PASSWORD": "pw"}}, "serve", (3306,), None, 0, False),
    ("busybox", {}, "exit", (), cat.IMMEDIATE_S, 0, False),
    ("busybox", {"stdin": True}, "run", (), None, 0, False),
    ("alpine:3.20", {}, "exit", (), cat.IMMEDIATE_S, 0, False),
    ("ubuntu:24.04", {"tty": True}, "run", (), None, 0, False),
    ("debian", {}, "exit", (), cat.IMMEDIATE_S, 0, False),
    ("python:3.12-slim", {}, "exit", (), cat.IMMEDIATE_S, 0, False),
    ("registry.k8s.io/pause:3.10", {}, "run", (), None, 0, False),
    ("k8s.gcr.io/pause:3.2", {}, "run", (), None, 0, False),
    ("registry:2", {}, "serve", (5000,), None, 0, True),
    ("registry.k8s.io/goproxy:0.1", {}, "serve", (8080,), None, 0, True),
    ("kubesim/server", {}, "serve", (8080,), None, 0, True),
    ("kubesim/server", {"ports": (9000,)}, "serve", (9000,), None, 0, True),
    ("kubesim/batch", {}, "exit", (), 10.0, 0, False),
    ("kubesim/crasher", {}, "crash", (8080,), 5.0, 1, True),
    ("kubesim/leaker", {}, "leak", (8080,), None, 0, True),
    ("kubesim/slow-start", {}, "slow-start", (8080,), None, 0, True),
    ("ghcr.io/acme/api:1.2", {"ports": (3000,)}, "serve", (3000,), None, 0, True),
    ("ghcr.io/acme/worker:1.2", {}, "run", (), None, 0, False),
]


@pytest.mark.parametrize("image, kw, kind, ports, run_s, exit_code, http", IMAGE_DEFAULTS)
def test_image_defaults(image, kw, kind, ports, run_s, exit_code, http):
    b = behaviour(image, **kw)
    assert (b.kind, b.ports, b.run_s, b.exit_code, b.http) == (kind, ports, run_s, exit_code, http)
    assert not b.cannot_run


def test_databases_without_a_password_say_why_they_exit():
    pg = behaviour("postgres")
    assert any("POSTGRES_PASSWORD" in line.text for line in pg.lines)
    assert behaviour("postgres", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}).kind == "serve"
    my = behaviour("mysql")
    assert any("MYSQL_ROOT_PASSWORD" in line.text for line in my.lines)
    assert behaviour("mysql", env={"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}).memory_base_bytes == 360 * MIB


@pytest.mark.parametrize("image, args, kind, ports, unhealthy_after_s", [
    ("hashicorp/http-echo", ("-text=hello",), "serve", (5678,), None),
    ("hashicorp/http-echo", ("-text=hi", "-listen=:8080"), "serve", (8080,), None),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("netexec", "--http-port=8081"), "serve", (8081,), None),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("serve-hostname",), "serve", (9376,), None),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("liveness",), "serve", (8080,), 10.0),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("pause",), "run", (), None),
    ("registry.k8s.io/liveness", ("/server",), "serve", (8080,), 10.0),
    ("python:3.12", ("python", "-m", "http.server", "9000"), "serve", (9000,), None),
    ("redis", ("--port", "6380"), "serve", (6380,), None),
    ("kubesim/batch", ("after=3s", "exitCode=4"), "crash", (), None),
])
def test_image_args(image, args, kind, ports, unhealthy_after_s):
    b = behaviour(image, args=args)
    assert (b.kind, b.ports, b.unhealthy_after_s) == (kind, ports, unhealthy_after_s)


def test_http_echo_without_text_and_agnhost_unknown_subcommand_fail_as_they_really_do():
    echo = behaviour("hashicorp/http-echo")
    assert (echo.exit_code, echo.lines[0].text) == (127, "Missing -text option!")
    agn = behaviour("registry.k8s.io/e2e-test-images/agnhost:2.40", args=("frobnicate",))
    assert agn.exit_code == 1 and "unknown command" in agn.lines[0].text


# --- commands ---------------------------------------------------------------------------------------------

COMMANDS = [
    # image, command, kind, run_s, exit_code, on_sigterm, ports
    ("busybox", ("sleep", "3600"), "exit", 3600.0, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("sleep", "1h"), "exit", 3600.0, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("sleep", "infinity"), "run", None, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("sleep", "soon"), "crash", cat.IMMEDIATE_S, 1, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("sh", "-c", "exit 1"), "crash", cat.IMMEDIATE_S, 1, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("/bin/sh", "-c", "exit 3"), "crash", cat.IMMEDIATE_S, 3, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("sh", "-c", "echo hello; sleep 5"), "exit", 5.0, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("true",), "exit", cat.IMMEDIATE_S, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("false",), "crash", cat.IMMEDIATE_S, 1, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("cat",), "exit", cat.IMMEDIATE_S, 0, cat.SIGTERM_IGNORE, ()),
    ("busybox", ("tail", "-f", "/dev/null"), "run", None, 0, cat.SIGTERM_IGNORE, ()),
    ("alpine", ("wget", "-qO-", "http://web"), "exit", cat.UNKNOWN_COMMAND_S, 0, cat.SIGTERM_EXIT, ()),
    ("busybox", ("sh", "-c", "case x in x) exit 4;; esac"), "exit", cat.UNKNOWN_COMMAND_S, 0, cat.SIGTERM_EXIT,
     ()),
    ("ghcr.io/acme/worker", ("/usr/bin/worker", "--queue=jobs"), "run", None, 0, cat.SIGTERM_EXIT, ()),
    ("nginx", ("nginx",), "exit", 0.05, 0, cat.SIGTERM_EXIT, ()),
    ("nginx", ("nginx", "-g", "daemon off;"), "serve", None, 0, cat.SIGTERM_EXIT, (80,)),
    ("nginx", ("sh", "-c", "nginx -g 'daemon off;'"), "serve", None, 0, cat.SIGTERM_EXIT, (80,)),
    ("nginx", ("sh", "-c", "echo hi; exec nginx -g 'daemon off;'"), "serve", None, 0, cat.SIGTERM_EXIT, (80,)),
    # A shell that starts nginx without exec stays PID 1, and PID 1 ignores SIGTERM.
    ("nginx", ("sh", "-c", "echo hi; nginx -g 'daemon off;'"), "serve", None, 0, cat.SIGTERM_IGNORE, (80,)),
    ("busybox", ("sh", "-c", "echo hi; exec nginx -g 'daemon off;'"), "crash", cat.IMMEDIATE_S, 127,
     cat.SIGTERM_IGNORE, ()),
    ("busybox", ("httpd", "-f", "-p", "8080"), "serve", None, 0, cat.SIGTERM_EXIT, (8080,)),
    ("python:3.12", ("python", "app.py"), "exit", cat.UNKNOWN_COMMAND_S, 0, cat.SIGTERM_EXIT, ()),
]


@pytest.mark.parametrize("image, command, kind, run_s, exit_code, on_sigterm, ports", COMMANDS)
def test_commands(image, command, kind, run_s, exit_code, on_sigterm, ports):
    b = behaviour(image, command)
    assert (b.kind, b.run_s, b.exit_code, b.on_sigterm, b.ports) == (kind, run_s, exit_code, on_sigterm, ports)


def test_args_alone_are_the_command_on_an_image_without_entrypoint():
    b = behaviour("busybox", args=("/bin/sh", "-c", "sleep 7"))
    assert (b.run_s, b.exit_code) == (7.0, 0)


def test_an_unknown_command_with_declared_ports_serves_them():
    b = behaviour("python:3.12", ("python", "app.py"), ports=(5000,))
    assert (b.kind, b.ports, b.http) == ("serve", (5000,), True)


def test_cat_with_stdin_waits():
    assert behaviour("busybox", ("cat",), stdin=True).kind == "run"


def test_docs_liveness_script_creates_then_removes_its_file():
    b = behaviour("busybox", args=("/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"))
    assert b.files == (cat.FileChange(0.0, "/tmp/healthy", ""), cat.FileChange(30.0, "/tmp/healthy", None))
    assert (b.run_s, b.exit_code) == (630.0, 0)


def test_a_steady_loop_becomes_periodic_lines():
    b = behaviour("busybox", ("sh", "-c", 'echo start; while true; do echo "$(date) tick $HOSTNAME"; sleep 5; done'))
    assert b.kind == "run" and b.run_s is None
    assert [line.text for line in b.lines] == ["start"]
    (p,) = b.periodic
    assert (p.first_at_s, p.every_s, p.lines) == (0.0, 5.0, ((0.0, "stdout", "{date} tick web-1"),))


def test_a_counting_loop_is_unrolled_and_env_vars_expand():
    b = behaviour("busybox", ("sh", "-c", 'for i in $(seq 1 3); do echo "$GREETING $i"; sleep 1; done; exit 2'),
                  env={"GREETING": "hi"})
    assert [(x.at_s, x.text) for x in b.lines] == [(0.0, "hi 1"), (1.0, "hi 2"), (2.0, "hi 3")]
    assert (b.run_s, b.exit_code) == (3.0, 2)


def test_script_braces_are_not_template_fields():
    b = behaviour("busybox", ("sh", "-c", "echo '{pod} {\"a\": 1}'"))
    assert cat.render(b.lines[0].text, {"pod": "web-1"}) == '{pod} {"a": 1}'


@pytest.mark.parametrize("script, code, shutdown_s", [
    ("trap 'echo bye; exit 0' TERM; sleep infinity & wait", 0, 0.0),
    ("trap 'exit 3' SIGTERM; while true; do sleep 2; done", 3, 2.0),
    ("trap 'echo bye' TERM; sleep infinity & wait", 143, 0.0),
])
def test_a_trap_runs_when_the_shell_gets_control(script, code, shutdown_s):
    b = behaviour("busybox", ("sh", "-c", script))
    assert (b.on_sigterm, b.sigterm_exit_code, b.shutdown_s) == (cat.SIGTERM_EXIT, code, shutdown_s)


def test_a_trap_behind_a_foreground_sleep_never_runs():
    b = behaviour("busybox", ("sh", "-c", "trap 'exit 0' TERM; sleep infinity"))
    assert b.on_sigterm == cat.SIGTERM_IGNORE


@pytest.mark.parametrize("image, command", [
    ("busybox", ("/bin/doesnotexist",)),
    ("busybox", ("nonexistent-binary", "--flag")),
    ("registry.k8s.io/pause:3.10", ("sh", "-c", "sleep 1")),
    ("hashicorp/http-echo", ("cat",)),
    ("busybox", ("redis-server",)),
])
def test_commands_that_cannot_start(image, command):
    b = behaviour(image, command)
    assert b.cannot_run and "executable file not found in $PATH" in b.cannot_run
    assert (b.kind, b.exit_code) == ("crash", 128)


# --- annotations ------------------------------------------------------------------------------------------

ANNOTATIONS = [
    # image, command, annotations, expected fields
    ("nginx", (), {"kubesim.io/behavior": "crash after=5s exitCode=2"},
     {"kind": "crash", "run_s": 5.0, "exit_code": 2, "ports": (80,)}),
    ("nginx", (), {"kubesim.io/behavior": "crash"}, {"kind": "crash", "run_s": 5.0, "exit_code": 1}),
    ("kubesim/server", (), {"kubesim.io/behavior": "leak rate=20Mi/s"},
     {"kind": "leak", "memory_growth_bytes_per_s": 20 * MIB}),
    ("kubesim/server", (), {"kubesim.io/behavior": "leak rate=60Mi/m memory=100Mi"},
     {"memory_growth_bytes_per_s": 1 * MIB, "memory_base_bytes": 100 * MIB}),
    ("nginx", (), {"kubesim.io/behavior": "slow-start"}, {"kind": "slow-start", "ready_after_s": 30.0}),
    ("nginx", (), {"kubesim.io/behavior": "slow-start ready=45s"}, {"ready_after_s": 45.0}),
    ("busybox", ("sleep", "10"), {"kubesim.io/behavior": "serve"},
     {"kind": "serve", "ports": (8080,), "http": True, "run_s": None}),
    ("busybox", ("sleep", "10"), {"kubesim.io/behavior": "serve port=9090,9091"}, {"ports": (9090, 9091)}),
    ("nginx", (), {"kubesim.io/behavior": "run"}, {"kind": "run", "ports": ()}),
    ("nginx", (), {"kubesim.io/behavior": "exit after=500ms"}, {"kind": "exit", "run_s": 0.5, "exit_code": 0}),
    ("nginx", (), {"kubesim.io/behavior": "crash", "kubesim.io/behavior.app": "exit after=2m"},
     {"kind": "exit", "run_s": 120.0}),
    ("nginx", (), {"kubesim.io/behavior.sidecar": "crash"}, {"kind": "serve", "run_s": None}),
    ("nginx", (), {"kubesim.io/behavior": "serve sigterm=ignore"}, {"on_sigterm": cat.SIGTERM_IGNORE}),
    ("nginx", (), {"kubesim.io/behavior": "serve shutdown=10s sigtermExitCode=143 start=2s"},
     {"shutdown_s": 10.0, "sigterm_exit_code": 143, "start_delay_s": 2.0}),
    ("nginx", (), {"kubesim.io/behavior": "serve unhealthyAfter=1m"}, {"unhealthy_after_s": 60.0}),
    ("nginx", (), {"kubesim.io/behavior": 'serve body="hi there"'},
     {"http_fallback": (200, "hi there\n"), "http_routes": ()}),
]


@pytest.mark.parametrize("image, command, annotations, expected", ANNOTATIONS)
def test_annotations(image, command, annotations, expected):
    b = behaviour(image, command, annotations=annotations)
    assert {k: getattr(b, k) for k in expected} == expected


def test_unhealthy_after_removes_the_health_file():
    b = behaviour("busybox", ("sleep", "infinity"), annotations={"kubesim.io/behavior": "serve unhealthyAfter=20s"})
    assert cat.FileChange(0.0, "/tmp/healthy", "") in b.files
    assert cat.FileChange(20.0, "/tmp/healthy", None) in b.files


def test_log_and_log_every():
    once = behaviour("nginx", annotations={"kubesim.io/behavior": 'serve log="custom line"'})
    assert cat.TimedLine(0.0, "stdout", "custom line") in once.lines
    every = behaviour("nginx", annotations={"kubesim.io/behavior": "serve logEvery=2s"})
    assert every.periodic[-1] == cat.Periodic(0.0, 2.0, ((0.0, "stdout", "tick {n}"),))


MALFORMED = [
    ("", "empty"),
    ("crashh", 'unknown kind "crashh"'),
    ("crash after=five", 'after: "five" is not a duration'),
    ("crash exitCode=0", "non-zero exitCode"),
    ("crash exitCode=300", "exitCode"),
    ("leak rate=fast", "rate"),
    ("serve port=70000", "port"),
    ("serve verbose", '"verbose" is not key=value'),
    ("serve color=red", 'unknown key "color"'),
    ('serve log="unterminated', "cannot split"),
    ("serve sigterm=maybe", "sigterm"),
    ("leak memory=lots", "memory"),
]


@pytest.mark.parametrize("value, problem", MALFORMED)
def test_malformed_annotations_are_invalid_arguments(value, problem):
    with pytest.raises(CriError) as err:
        behaviour("nginx", annotations={"kubesim.io/behavior": value})
    assert err.value.code == Code.INVALID_ARGUMENT
    assert "kubesim.io/behavior" in err.value.message and problem in err.value.message


def test_malformed_kubesim_image_args_name_the_args():
    with pytest.raises(CriError) as err:
        behaviour("kubesim/batch", args=("after=never",))
    assert err.value.code == Code.INVALID_ARGUMENT and err.value.message.startswith("args:")


@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5", 1.5)])
def test_durations(text, seconds):
    assert cat.parse_duration_s(text) == seconds


@pytest.mark.parametrize("text, n", [("64Mi", 64 * MIB), ("1Gi", 2**30), ("500M", 500_000_000), ("1024", 1024)])
def test_quantities(text, n):
    assert cat.parse_bytes(text) == n


# --- images: names, sizes, pulls ------------------------------------------------------------------------

@pytest.mark.parametrize("ref, full", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("nginx@sha256:" + "a" * 64, "docker.io/library/nginx@sha256:" + "a" * 64),
])
def test_normalize_image(ref, full):
    assert cat.normalize_image(ref) == full
    assert cat.image_id(ref) == cat.image_id(full)


@pytest.mark.parametrize("ref, low_mb, high_mb", [
    ("nginx", 60, 80), ("nginx:1.27-alpine", 15, 25), ("busybox", 1.5, 3), ("alpine", 3, 4),
    ("python:3.12", 300, 450), ("python:3.12-slim", 100, 200), ("postgres", 100, 200),
    ("registry.k8s.io/pause:3.10", 0.2, 0.5), ("kubesim/server", 4, 6),
])
def test_image_sizes_are_realistic(ref, low_mb, high_mb):
    assert low_mb * cat.MB <= cat.image_size_bytes(ref) <= high_mb * cat.MB


def test_unknown_image_size_is_derived_from_its_name():
    a, b = cat.image_size_bytes("ghcr.io/acme/api:1"), cat.image_size_bytes("ghcr.io/acme/api:2")
    assert a == b == cat.image_size_bytes("ghcr.io/acme/api")
    assert 20 * cat.MB <= a <= 400 * cat.MB
    assert a != cat.image_size_bytes("ghcr.io/acme/web")


@pytest.mark.parametrize("ref, fragment", [
    ("nginx:doesnotexist", "nginx:doesnotexist: not found"),
    ("nonexistent/app", "failed to pull and unpack image"),
    ("registry.example.com/does-not-exist:1", "not found"),
    ("acme/invalid-image", "not found"),
    ("Nginx:latest", "invalid reference format"),
    ("nginx:", "invalid reference format"),
])
def test_images_that_cannot_be_pulled(ref, fragment):
    assert fragment in (cat.pull_error(ref) or "")


@pytest.mark.parametrize("ref", ["nginx", "nginx:1.27", "kubesim/crasher", "ghcr.io/acme/api:1"])
def test_images_that_can_be_pulled(ref):
    assert cat.pull_error(ref) is None


# --- answers ------------------------------------------------------------------------------------------------

VALUES = {"pod": "web-1", "namespace": "demo", "container": "app", "ip": "10.0.0.5", "port": 80, "t": 0.0}


@pytest.mark.parametrize("image, args, path, age_s, status, body_part", [
    ("nginx", (), "/", 1.0, 200, "Welcome to nginx! (pod web-1, container app)"),
    ("nginx", (), "/index.html?x=1", 1.0, 200, "Welcome to nginx!"),
    ("nginx", (), "/healthz", 1.0, 404, "Not Found"),
    ("kubesim/server", (), "/", 1.0, 200, "hello from web-1 (container app)"),
    ("kubesim/server", (), "/anything", 1.0, 200, "hello from web-1"),
    ("kubesim/server", (), "/healthz", 1.0, 200, "ok"),
    ("hashicorp/http-echo", ("-text=hi {there}",), "/x", 1.0, 200, "hi {there}"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("netexec",), "/hostname", 1.0, 200, "web-1"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("liveness",), "/healthz", 9.9, 200, "ok"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", ("liveness",), "/healthz", 10.0, 500, "unhealthy"),
    ("redis", (), "/", 1.0, 0, ""),
])
def test_http_answers(image, args, path, age_s, status, body_part):
    got_status, body = cat.http_answer(behaviour(image, args=args), path, age_s, VALUES)
    assert got_status == status and body_part in body


def test_memory_and_oom_time():
    leaker = behaviour("kubesim/leaker")
    assert cat.memory_bytes(leaker, 2.0) == 36 * MIB
    assert cat.oom_after_s(leaker, 64 * MIB) == pytest.approx(4.8)
    assert cat.oom_after_s(leaker, 0) is None
    assert cat.oom_after_s(behaviour("nginx"), 4 * MIB) == 0.0
    assert cat.oom_after_s(behaviour("nginx"), 64 * MIB) is None


def test_periodic_lines_respect_until_and_the_cap():
    slow = behaviour("kubesim/slow-start")
    warming = [x for x in cat.lines_between(slow, -1.0, 100.0, 1000) if "warming" in x[2]]
    assert [(x[0], x[3]) for x in warming[:2]] == [(0.0, 1), (1.0, 2)] and len(warming) == 30
    batch = behaviour("kubesim/batch")
    last = cat.lines_between(batch, -1.0, 1_000_000.0, 5)
    assert len(last) == 5 and last[-1][3] == 1_000_000
    assert cat.lines_between(batch, 2.0, 3.0, 100) == [(3.0, "stdout", "kubesim/batch: step {n} done", 3)]


def test_render_fills_known_fields_and_keeps_others():
    assert cat.render("{pod} {unknown} {iso}", {"pod": "p", "t": 86400.0}) == "p {unknown} 1970-01-02T00:00:00Z"


# --- the shell reader ----------------------------------------------------------------------------------------


class Host:
    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def external(self, argv: list[str], shell: Shell) -> Outcome:
        self.ran.append(argv)
        if argv[0] == "server":
            return Outcome(forever=True, program="the server")
        return Outcome(code=0 if argv[0] != "fail" else 1, stdout=f"ran {argv[0]}", duration_s=1.0)

    def date(self, t: float) -> str:
        return f"T{t:g}"


def run(script: str, **kw) -> tuple[Shell, object]:
    shell = Shell(Host(), **kw)
    return shell, shell.run(parse(script))


@pytest.mark.parametrize("script, code, t, out", [
    ("echo a && fail && echo b || echo c", 0, 1.0, ["a", "ran fail", "c"]),
    ("x=3; echo $((x * 2 + 1)) ${Y:-dflt}", 0, 0.0, ["7 dflt"]),
    ("i=0; while [ $i -lt 2 ]; do i=$((i+1)); echo $i; done", 0, 0.0, ["1", "2"]),
    ("if test -f /tmp/a; then echo yes; else echo no; fi", 0, 0.0, ["no"]),
    ("echo one | grep -q one && echo matched", 0, 0.0, ["matched"]),
    ("echo hidden > /dev/null; echo err 1>&2 2>/dev/null; exit 7", 7, 0.0, ["err"]),
    ("sleep 2 & echo now; wait; echo later", 0, 2.0, ["now", "later"]),
    ("( exit 3 ); echo $?", 0, 0.0, ["3"]),
    ("for x in a b; do for y in 1 2; do [ $y = 2 ] && continue 2; echo $x$y; done; done", 0, 0.0, ["a1", "b1"]),
    ("echo `date`", 0, 0.0, ["T0"]),
])
def test_shell_scripts(script, code, t, out):
    shell, end = run(script)
    assert (end.forever, end.code, end.t) == (False, code, t)
    assert [text for _, _, text in shell.out] == out


def test_shell_files_and_redirections():
    shell, end = run("echo a > /f; echo b >> /f; cat /f; rm /f; cat /f", files=Files(mounts=("/etc/cfg",)))
    assert [text for _, _, text in shell.out] == ["a", "b", "cat: can't open '/f': No such file or directory"]
    assert end.code == 1
    shell, end = run("test -f /etc/cfg/key && test -d /tmp", files=Files(mounts=("/etc/cfg",)))
    assert end.code == 0


def test_shell_forever_forms():
    _, end = run("echo x; server --flag")
    assert (end.forever, end.via, end.program, end.execed) == (True, "program", (0.0, "the server"), False)
    _, end = run("server")
    assert end.execed
    _, end = run("server & sleep 3; wait")
    assert (end.forever, end.via, end.program) == (True, "wait", (0.0, "the server"))
    _, end = run("touch /a; while true; do sleep 1; done")
    assert (end.forever, end.via, end.periodic) == (True, "loop", [])


@pytest.mark.parametrize("script", ["case x in x) ;; esac", "f() { echo; }", "echo 'open", "echo $(", "do", "a |"])
def test_shell_syntax_it_does_not_read(script):
    with pytest.raises(ShellSyntaxError):
        parse(script)
