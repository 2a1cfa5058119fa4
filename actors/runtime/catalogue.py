"""What a simulated container does: the documented catalogue of container behaviours.

No process runs in a kubesim container. What it would do — serve on its
port, exit 0 after ten seconds, crash, leak memory until the kernel kills
it, take thirty seconds to start listening — is a :class:`Behaviour`, picked
when the container is created by :func:`behaviour_for` from, in order:

1. **The image** (:data:`IMAGES`): its usual program, as the image's
   ENTRYPOINT and CMD would run it.
2. **The command and args**, combined with the image's ENTRYPOINT/CMD as
   Kubernetes does (``command`` replaces the entrypoint, ``args`` the CMD),
   then read: ``sleep 3600``, ``sh -c "exit 1"``, ``sh -c "touch /tmp/healthy;
   sleep 30; rm -f /tmp/healthy; sleep 600"``, ``nginx -g "daemon off;"``,
   ``redis-server --port 6380``... (``sh -c`` scripts are walked by
   :mod:`actors.runtime.shell` on a virtual clock).
3. **An annotation** on the pod: ``kubesim.io/behavior`` for every container,
   ``kubesim.io/behavior.<container-name>`` for one (it wins), valued
   ``KIND [key=value ...]``, e.g. ``crash after=5s exitCode=2``,
   ``leak rate=20Mi/s``, ``slow-start ready=45s``, ``serve port=9090``.

The catalogue (image → behaviour with no command and no annotation):

============================  ===========================================================================
image (repository)            behaviour
============================  ===========================================================================
nginx, httpd, caddy           serve HTTP on the container's ports (else 80); ``/`` answers a welcome page
                              naming the pod, other paths 404; an access-log line per request; SIGTERM →
                              exit 0
redis, memcached              serve TCP on 6379 / 11211; ``redis-cli ping`` → PONG; SIGTERM → exit 0
postgres, mysql, mariadb      serve TCP on 5432 / 3306 after 3 s / 12 s / 4 s of initialisation — or, with
                              no superuser password in the environment (``POSTGRES_PASSWORD``,
                              ``MYSQL_ROOT_PASSWORD``...), exit 1 at once with the image's real complaint;
                              ``pg_isready``, ``mysqladmin ping``; mysql needs ~360 MiB
busybox, alpine, ubuntu,      their CMD is a shell: with no stdin/tty it exits 0 at once (Completed); with
debian                        ``stdin: true`` or ``tty: true`` it waits for ever
python                        ``python3`` likewise; ``python -m http.server [PORT]`` serves HTTP (8000)
registry.k8s.io/pause         runs until stopped, 0.3 MiB, no shell
hashicorp/http-echo           serves ``-text`` on ``-listen`` (:5678); without ``-text`` exits 127
agnhost (e2e-test-images)     ``netexec`` (8080: /hostname, /healthz...), ``serve-hostname`` (9376),
                              ``liveness`` (/healthz 200 for 10 s, then 500), ``pause``
registry.k8s.io/liveness      ``/server``: like agnhost liveness; goproxy: TCP 8080
registry                      serves HTTP on 5000 (``/v2/``)
kubesim/server                serves HTTP on 8080: ``hello from <pod> (container <name>)``, /healthz 200,
                              /tmp/ready and /tmp/healthy exist while it serves; SIGTERM → drains 0.5 s, exit 0
kubesim/batch                 works 10 s, a line a second, exits 0 (Completed); SIGTERM → exit 143
kubesim/crasher               serves on 8080, then after 5 s panics: exit 1 (Error)
kubesim/leaker                serves on 8080 while its memory grows 10 MiB/s from 16 MiB: past its memory
                              limit it is OOMKilled (137)
kubesim/slow-start            listens on 8080 only after 30 s (connections refused until then)
any other image               its app: serves HTTP on the container's declared ports, else runs until stopped
============================  ===========================================================================

kubesim's own images take the annotation's ``key=value`` options as args
(``args: ["after=20s"]``).

Commands (``command``/``args``, top level or inside ``sh -c``): ``sleep N``
runs N seconds and exits 0 (``sleep infinity`` never); ``true``/``false``
exit 0/1; ``echo``, ``date``, ``env`` print and exit; ``cat`` and ``sh`` wait
for ever only with stdin open; a server binary (``nginx -g 'daemon off;'``,
``redis-server``, ``postgres``, ``python -m http.server``, ``/agnhost
netexec``...) behaves as its image would; a shell script behaves as the shell
would run it. A command kubesim does not know runs ~1 s and exits 0 — unless
the container declares ports (then it serves them), or the image is one
kubesim does not know (then it is the image's app). A command whose name
contains ``doesnotexist``/``nonexistent``/..., a shell on a shell-less
image (pause, http-echo), or a server binary on a known image that does not
contain it (``redis-server`` in busybox) cannot start: exit 128,
ContainerCannotRun (inside a script: ``sh: X: not found``, 127).

SIGTERM: servers exit promptly with 0 (nginx, redis, postgres, kubesim's
server) or 143 (kubesim/batch, an app kubesim does not know); a shell or
``sleep`` running as PID 1 ignores it (PID 1 gets no default signal
handlers) and is SIGKILLed at the grace period's end: 137. A shell with
``trap '...' TERM`` that is ``wait``-ing, or looping with short sleeps, runs
its trap.

Annotation syntax — ``KIND [key=value ...]``, words split as the shell would
(``log="hello world"``):

- kinds: ``serve`` (HTTP on the container's ports, else 8080, until stopped),
  ``run`` (runs until stopped, listens on nothing), ``exit`` (exits 0 after
  5 s), ``crash`` (exits 1 after 5 s), ``leak`` (memory grows 10 MiB/s),
  ``slow-start`` (listens only after 30 s). A kind changes what the image's
  own behaviour would do only where it must: ``crash after=20s`` on nginx is
  an nginx that crashes at 20 s.
- keys: ``after`` (exit after), ``exitCode``, ``ready`` (listening after),
  ``start`` (start delay), ``rate`` (memory growth, ``20Mi/s``, ``/m``,
  ``/h``), ``memory`` (base memory, ``64Mi``), ``port`` (``8080,9090``),
  ``unhealthyAfter`` (HTTP answers 500 and /tmp/healthy goes away),
  ``sigterm`` (``exit`` | ``ignore``), ``shutdown`` (SIGTERM → exit after),
  ``sigtermExitCode``, ``log`` (a line to write), ``logEvery`` (write it
  every...), ``body`` (the HTTP answer). Durations: ``500ms``, ``5s``,
  ``2m``, ``1h``, or seconds. Quantities: ``64Mi``, ``1Gi``, ``500M``, bytes.
- A malformed annotation fails CreateContainer with InvalidArgument naming
  the annotation and what is wrong (the kubelet reports CreateContainerError).

Images: :func:`normalize_image` (``nginx`` → ``docker.io/library/nginx:latest``),
:func:`image_size_bytes` (realistic compressed sizes; an ``-alpine`` tag is
~30 %, ``-slim`` ~40 %; an image kubesim does not know gets a size derived
from its name), :func:`pull_error`: a reference whose name or tag contains
``doesnotexist``, ``does-not-exist``, ``nonexistent``, ``non-existent``,
``notfound`` or ``invalid`` does not exist (containerd's "failed to pull and
unpack image ...: not found"), and a malformed one is an "invalid reference
format".

Pure: data in, :class:`Behaviour` out.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from actors.runtime.cri import Code, ContainerConfig, CriError
from actors.runtime.shell import (
    STDERR,
    STDOUT,
    Files,
    Outcome,
    Shell,
    ShellSyntaxError,
    parse,
)

ANNOTATION = "kubesim.io/behavior"
"""The pod annotation that sets every container's behaviour; ``ANNOTATION + "." + name`` sets one container's."""

SERVE, RUN, EXIT, CRASH, LEAK, SLOW_START = "serve", "run", "exit", "crash", "leak", "slow-start"
KINDS = (SERVE, RUN, EXIT, CRASH, LEAK, SLOW_START)

SIGTERM_EXIT = "exit"
"""On SIGTERM the process shuts down (after ``shutdown_s``) and exits with ``sigterm_exit_code``."""
SIGTERM_IGNORE = "ignore"
"""SIGTERM does nothing (``sleep`` or a shell as PID 1): SIGKILL at the grace period's end, 137."""

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
"""The sandbox image every node holds from the start."""

MIB = 1024 * 1024
MB = 1_000_000
IMMEDIATE_S = 0.01
"""How long a program that has nothing to do runs (``true``, ``sh`` with no stdin)."""
UNKNOWN_COMMAND_S = 1.0
"""How long a command kubesim does not know runs, on an image it knows, before exiting 0."""
SLOW_START_S = 5.0
"""A server that takes at least this long to listen is classed as ``slow-start``."""
SHELL_MEMORY_BYTES = 512 * 1024

GREETING = "hello from {pod} (container {container})\n"
HEALTH_PATHS = ("/healthz", "/health", "/healthy", "/livez", "/readyz", "/ready", "/ping", "/status")
UNHEALTHY = (500, "unhealthy: {container} in {pod} is failing\n")

_NOT_FOUND_WORDS = ("doesnotexist", "does-not-exist", "nonexistent", "non-existent", "notfound", "invalid")


# --- the records ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimedLine:
    """A line written once, ``at_s`` after the process started."""

    at_s: float
    stream: str
    text: str
    """A template: see :func:`render`."""


@dataclass(frozen=True, slots=True)
class Periodic:
    """Lines written again and again: period ``k`` (from 0) writes each ``(offset_s, stream, text)``
    at ``first_at_s + k * every_s + offset_s``, for every period that starts before ``until_s``."""

    first_at_s: float
    every_s: float
    lines: tuple[tuple[float, str, str], ...]
    until_s: float | None = None


@dataclass(frozen=True, slots=True)
class FileChange:
    """A file the process creates (``text``) or removes (``None``) ``at_s`` after it started."""

    at_s: float
    path: str
    text: str | None


@dataclass(frozen=True, slots=True)
class Tool:
    """A client program in the image (``redis-cli ping``): its answer depends on whether something in
    the pod listens on ``port`` (0: it always succeeds)."""

    argv: tuple[str, ...]
    """Its name, then words that must all appear among its arguments."""
    port: int
    up: str
    down: str = ""
    down_exit_code: int = 1


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one container's process does, relative to the moment it started running."""

    kind: str = RUN
    """serve | run | exit | crash | leak | slow-start: a summary of the fields below."""
    source: str = ""
    """What chose it: the image, the command, the annotation."""
    start_delay_s: float = 0.0
    """StartContainer → running. containerd returns from StartContainer once the task runs, so a kubelet
    never sees a started container still CREATED; a delay here (``start=2s``) models a slow task start,
    during which the container is CREATED and the kubelet should wait for the time StartContainer returns."""
    ready_after_s: float = 0.0
    """Running → listening on ``ports``; before that connections are refused."""
    run_s: float | None = None
    """Running → exits by itself with ``exit_code``; None: runs until stopped."""
    exit_code: int = 0
    memory_base_bytes: int = MIB
    memory_growth_bytes_per_s: float = 0.0
    """Past the container's memory limit the kernel kills it: OOMKilled, 137."""
    ports: tuple[int, ...] = ()
    """TCP ports it listens on (once ``ready_after_s`` has passed)."""
    http: bool = False
    """Whether it speaks HTTP on them (else an HTTP GET gets no HTTP answer: status 0)."""
    http_routes: tuple[tuple[str, int, str], ...] = ()
    """``(path, status, body template)`` answered exactly (the query string ignored)."""
    http_fallback: tuple[int, str] = (404, "404 page not found\n")
    """The answer for any other path."""
    health_paths: tuple[str, ...] = ()
    """Paths answered 200 ``ok`` (while healthy)."""
    unhealthy_after_s: float | None = None
    """From then on every HTTP request gets 500."""
    lines: tuple[TimedLine, ...] = ()
    periodic: tuple[Periodic, ...] = ()
    exit_lines: tuple[tuple[str, str], ...] = ()
    """``(stream, text)`` written when it exits by itself (a crash's panic)."""
    stop_lines: tuple[tuple[str, str], ...] = ()
    """Written when SIGTERM arrives and it handles it."""
    access_log: str = ""
    """A template written per HTTP request it answers (``{client} {path} {status}``...); empty: none."""
    files: tuple[FileChange, ...] = ()
    on_sigterm: str = SIGTERM_EXIT
    sigterm_exit_code: int = 0
    shutdown_s: float = 0.0
    """SIGTERM → exit (if longer than the grace period: SIGKILL, 137)."""
    tools: tuple[Tool, ...] = ()
    has_shell: bool = True
    """Whether ``sh``, ``cat``, ``test``... exist in the image (exec probes need them)."""
    cannot_run: str = ""
    """Non-empty: StartContainer fails with this message (exit 128, ContainerCannotRun)."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What kubesim knows of an image: its size, what it runs by default, what else it contains."""

    family: str
    size_bytes: int
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    has_shell: bool = True
    tools: tuple[Tool, ...] = ()
    programs: Mapping[str, Callable[[list[str], _Ctx], Behaviour]] = field(default_factory=dict)
    """Programs only this image has (``/server`` in the liveness image)."""
    known: bool = True
    """False for an image kubesim has no entry for: its unknown commands are its app."""


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What a program builder may look at."""

    image: ImageInfo
    image_ref: str
    config: ContainerConfig
    env: Mapping[str, str]
    declared_ports: tuple[int, ...]
    interactive: bool
    mounts: tuple[str, ...]

    def ports_or(self, *usual: int) -> tuple[int, ...]:
        return self.declared_ports or usual


# --- templates -----------------------------------------------------------------------------------------

DATE_MARK = "\x00date\x00"
"""What ``date`` prints inside a container's main script, rendered with each line's own time."""


class _Keep(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def escape(text: str) -> str:
    """Text that :func:`render` reproduces unchanged (a script's own braces are not fields)."""
    return text.replace("{", "{{").replace("}", "}}").replace(DATE_MARK, "{date}")


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fills ``{field}`` s in a line or body template; unknown fields stay as written.

    Fields: ``pod``, ``namespace``, ``container``, ``ip``, ``port``, ``n`` (the
    period's number, from 1), ``memory_mib``, ``client``, ``method``, ``path``,
    ``status``, ``bytes``, ``ua``, ``age_s``, and the time ``t`` as ``date``
    (``date(1)``), ``ts`` (``2025/06/15 12:00:00``), ``iso`` and ``clf``
    (common log format).
    """
    fields = _Keep(values)
    if "t" in values:
        fields.update(time_fields(float(values["t"])))
    try:
        return template.format_map(fields)
    except (ValueError, IndexError, AttributeError):
        return template


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def time_fields(t: float) -> dict[str, str]:
    """``t`` (cluster epoch seconds) as the date formats container logs use."""
    g = time.gmtime(max(0.0, t))
    month, day = _MONTHS[g.tm_mon - 1], _DAYS[g.tm_wday]
    hms = f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
    return {
        "date": f"{day} {month} {g.tm_mday:2d} {hms} UTC {g.tm_year}",
        "ts": f"{g.tm_year}/{g.tm_mon:02d}/{g.tm_mday:02d} {hms}",
        "iso": f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d}T{hms}Z",
        "clf": f"{g.tm_mday:02d}/{month}/{g.tm_year}:{hms} +0000",
    }


# --- images --------------------------------------------------------------------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"


def _split_ref(ref: str) -> tuple[str, str, str, str]:
    """``(registry, path, tag, digest)`` of an image reference; ValueError if it is malformed."""
    rest, _, digest = ref.strip().partition("@")
    if digest and not re.fullmatch(_DIGEST, digest):
        raise ValueError("invalid reference format")
    name, tag = rest, ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
        if not re.fullmatch(_TAG, tag):
            raise ValueError("invalid reference format")
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path_parts = parts[0], parts[1:]
        if not re.fullmatch(_DOMAIN, registry):
            raise ValueError("invalid reference format")
    else:
        registry, path_parts = "docker.io", parts
    if not path_parts or not all(re.fullmatch(_COMPONENT, p) for p in path_parts):
        raise ValueError("invalid reference format")
    if registry == "docker.io" and len(path_parts) == 1:
        path_parts = ["library", *path_parts]
    return registry, "/".join(path_parts), tag or ("" if digest else "latest"), digest


def normalize_image(ref: str) -> str:
    """The fully qualified reference containerd records: ``nginx`` → ``docker.io/library/nginx:latest``."""
    registry, path, tag, digest = _split_ref(ref)
    return f"{registry}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def image_repository(ref: str) -> str:
    """The repository a reference names, without tag or digest: ``docker.io/library/nginx``."""
    registry, path, _, _ = _split_ref(ref)
    return f"{registry}/{path}"


def pull_error(ref: str) -> str | None:
    """Why ``ref`` cannot be pulled (containerd's words), or None if it can (the rule: see the module doc)."""
    try:
        full = normalize_image(ref)
    except ValueError:
        return f'failed to pull and unpack image "{ref}": invalid reference format'
    if any(word in full.lower() for word in _NOT_FOUND_WORDS):
        return (f'failed to pull and unpack image "{full}": failed to resolve reference "{full}": '
                f"{full}: not found")
    return None


def image_size_bytes(ref: str) -> int:
    """How many bytes pulling ``ref`` downloads."""
    info = image_info(ref)
    try:
        _, _, tag, _ = _split_ref(ref)
    except ValueError:
        tag = ""
    size = info.size_bytes
    if size > 20 * MB and "alpine" in tag:
        size = int(size * 0.3)
    elif size > 20 * MB and "slim" in tag:
        size = int(size * 0.4)
    return size


def image_id(ref: str) -> str:
    """``sha256:...``: the same on every node for the same reference."""
    return "sha256:" + hashlib.sha256(normalize_image(ref).encode()).hexdigest()


def image_info(ref: str) -> ImageInfo:
    """The catalogue's entry for the image ``ref`` names (a made-up one for an image it does not know)."""
    try:
        registry, path, _, _ = _split_ref(ref)
    except ValueError:
        registry, path = "docker.io", ref
    short = path.removeprefix("library/") if registry == "docker.io" else f"{registry}/{path}"
    if short in IMAGES:
        return IMAGES[short]
    if short in _ALIASES:
        return IMAGES[_ALIASES[short]]
    for key in IMAGES:
        if "/" in key and short.endswith("/" + key):
            return IMAGES[key]
    last = path.rsplit("/", 1)[-1]
    if last in _BY_LAST_COMPONENT:
        return IMAGES[_BY_LAST_COMPONENT[last]]
    digest = int(hashlib.sha256(short.encode()).hexdigest()[:8], 16)
    return ImageInfo(short, 20 * MB + digest % (380 * MB), ("/app",), (), known=False)


# --- program builders ----------------------------------------------------------------------------------


def _flag(argv: list[str], *names: str) -> str | None:
    """The value of ``--name=value``, ``--name value``, ``-name=value`` or ``-name value``."""
    for i, word in enumerate(argv):
        for name in names:
            if word == name and i + 1 < len(argv):
                return argv[i + 1]
            if word.startswith(name + "="):
                return word[len(name) + 1:]
    return None


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.fullmatch(r"(?:[\w.\[\]:]*:)?(\d{1,5})", text.strip())
    return int(match.group(1)) if match and 0 < int(match.group(1)) < 65536 else None


def _server(ctx: _Ctx, ports: tuple[int, ...], **fields: Any) -> Behaviour:
    """A long-running server that exits promptly with 0 on SIGTERM."""
    fields.setdefault("shutdown_s", 0.1)
    return Behaviour(kind=SERVE, ports=ports, **fields)


def _exits(code: int, after_s: float = IMMEDIATE_S, *lines: tuple[str, str], memory: int = MIB) -> Behaviour:
    return Behaviour(kind=EXIT if code == 0 else CRASH, run_s=after_s, exit_code=code, memory_base_bytes=memory,
                     lines=tuple(TimedLine(0.0, stream, escape(text)) for stream, text in lines))


def _static_site(body: str) -> dict[str, Any]:
    return {"http": True, "http_routes": (("/", 200, body), ("/index.html", 200, body)),
            "http_fallback": (404, "404 Not Found\n")}


_NGINX_ACCESS = '{client} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "-" "{ua}" "-"'


def _nginx(argv: list[str], ctx: _Ctx) -> Behaviour:
    if "-v" in argv or "-V" in argv:
        return _exits(0, IMMEDIATE_S, (STDERR, "nginx version: nginx/1.27.3"))
    if "-t" in argv or "-T" in argv:
        return _exits(0, IMMEDIATE_S, (STDERR, "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok"),
                      (STDERR, "nginx: configuration file /etc/nginx/nginx.conf test is successful"))
    startup = (
        TimedLine(0.0, STDOUT, "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform"
                               " configuration"),
        TimedLine(0.0, STDOUT, "/docker-entrypoint.sh: Configuration complete; ready for start up"),
        TimedLine(0.05, STDERR, '{ts} [notice] 1#1: using the "epoll" event method'),
        TimedLine(0.05, STDERR, "{ts} [notice] 1#1: nginx/1.27.3"),
        TimedLine(0.05, STDERR, "{ts} [notice] 1#1: start worker processes"),
    )
    if not any("daemon off" in word for word in argv):
        # The image's nginx.conf does not say "daemon off": nginx forks into the background and PID 1 exits.
        return replace(_exits(0, 0.05), lines=startup[:2])
    return _server(ctx, ctx.ports_or(80), ready_after_s=0.05, memory_base_bytes=6 * MIB, lines=startup,
                   access_log=_NGINX_ACCESS,
                   stop_lines=((STDERR, "{ts} [notice] 1#1: signal 3 (SIGQUIT) received, shutting down"),
                               (STDERR, "{ts} [notice] 1#1: exit")),
                   **_static_site("Welcome to nginx! (pod {pod}, container {container})\n"))


def _httpd(argv: list[str], ctx: _Ctx) -> Behaviour:
    if ctx.image.family in ("busybox", "alpine"):  # busybox's httpd applet: -f stays in the foreground
        if "-f" not in argv:
            return _exits(0, IMMEDIATE_S)
        port = _port(_flag(argv, "-p"))
        return _server(ctx, (port,) if port else ctx.ports_or(80), memory_base_bytes=SHELL_MEMORY_BYTES,
                       **_static_site(GREETING))
    foreground = argv[0].endswith("-foreground") or "-DFOREGROUND" in argv
    if "-v" in argv:
        return _exits(0, IMMEDIATE_S, (STDOUT, "Server version: Apache/2.4.62 (Unix)"))
    if not foreground:
        return _exits(0, 0.05)  # httpd without -DFOREGROUND daemonizes; PID 1 exits
    return _server(ctx, ctx.ports_or(80), ready_after_s=0.1, memory_base_bytes=9 * MIB, shutdown_s=0.2,
                   lines=(TimedLine(0.0, STDERR, "AH00558: httpd: Could not reliably determine the server's fully"
                                                 " qualified domain name, using {ip}. Set the 'ServerName' directive"
                                                 " globally to suppress this message"),
                          TimedLine(0.1, STDERR, "[{date}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62"
                                                 " (Unix) configured -- resuming normal operations")),
                   access_log='{client} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes}',
                   **_static_site("<html><body><h1>It works!</h1></body></html> (pod {pod}, container"
                                  " {container})\n"))


def _caddy(argv: list[str], ctx: _Ctx) -> Behaviour:
    if len(argv) > 1 and argv[1] in ("version", "help", "validate", "fmt", "adapt"):
        return _exits(0, IMMEDIATE_S, (STDOUT, "v2.8.4"))
    return _server(ctx, ctx.ports_or(80), ready_after_s=0.1, memory_base_bytes=12 * MIB,
                   lines=(TimedLine(0.0, STDERR, '{{"level":"info","ts":"{iso}","msg":"using config from file"}}'),
                          TimedLine(0.1, STDERR, '{{"level":"info","ts":"{iso}","msg":"serving initial'
                                                 ' configuration"}}')),
                   **_static_site("Caddy works! (pod {pod}, container {container})\n"))


def _redis(argv: list[str], ctx: _Ctx) -> Behaviour:
    if "--version" in argv or "-v" in argv:
        return _exits(0, IMMEDIATE_S, (STDOUT, "Redis server v=7.4.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"))
    port = _port(_flag(argv, "--port"))
    return _server(ctx, (port,) if port else ctx.ports_or(6379), ready_after_s=0.1, memory_base_bytes=4 * MIB,
                   lines=(TimedLine(0.0, STDOUT, "1:C {ts} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo"),
                          TimedLine(0.1, STDOUT, "1:M {ts} * Ready to accept connections tcp")),
                   stop_lines=((STDOUT, "1:signal-handler {ts} Received SIGTERM scheduling shutdown..."),
                               (STDOUT, "1:M {ts} # Redis is now ready to exit, bye bye...")))


def _memcached(argv: list[str], ctx: _Ctx) -> Behaviour:
    port = _port(_flag(argv, "-p", "--port"))
    return _server(ctx, (port,) if port else ctx.ports_or(11211), memory_base_bytes=2 * MIB,
                   stop_lines=((STDERR, "Signal handled: Terminated."),))


_PG_NO_PASSWORD = (
    "Error: Database is uninitialized and superuser password is not specified.\n"
    "       You must specify POSTGRES_PASSWORD to a non-empty value for the\n"
    '       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".')


def _postgres(argv: list[str], ctx: _Ctx) -> Behaviour:
    if not ctx.env.get("POSTGRES_PASSWORD") and ctx.env.get("POSTGRES_HOST_AUTH_METHOD") != "trust":
        return _exits(1, 0.1, *((STDERR, line) for line in _PG_NO_PASSWORD.split("\n")))
    port = _port(_flag(argv, "-p"))
    return _server(ctx, (port,) if port else ctx.ports_or(5432), ready_after_s=3.0, memory_base_bytes=30 * MIB,
                   shutdown_s=0.5,
                   lines=(TimedLine(0.0, STDOUT, 'The files belonging to this database system will be owned by'
                                                 ' user "postgres".'),
                          TimedLine(3.0, STDOUT, "{ts}.000 UTC [1] LOG:  database system is ready to accept"
                                                 " connections")),
                   stop_lines=((STDOUT, "{ts}.000 UTC [1] LOG:  received smart shutdown request"),
                               (STDOUT, "{ts}.000 UTC [1] LOG:  database system is shut down")))


def _mysql(argv: list[str], ctx: _Ctx) -> Behaviour:
    maria = ctx.image.family == "mariadb"
    prefixes = ("MARIADB_", "MYSQL_") if maria else ("MYSQL_",)
    options = ("ROOT_PASSWORD", "ALLOW_EMPTY_ROOT_PASSWORD" if maria else "ALLOW_EMPTY_PASSWORD",
               "RANDOM_ROOT_PASSWORD")
    if not any(ctx.env.get(p + o) for p in prefixes for o in options):
        names = "\n".join(f"    - {prefixes[0]}{o}" for o in options)
        return _exits(1, 0.2, (STDERR, "{ts}+00:00 [ERROR] [Entrypoint]: Database is uninitialized and password"
                                       " option is not specified"),
                      (STDERR, "    You need to specify one of the following as an environment variable:"),
                      *((STDERR, line) for line in names.split("\n")))
    port = _port(_flag(argv, "--port", "-P"))
    ready_s = 4.0 if maria else 12.0
    return _server(ctx, (port,) if port else ctx.ports_or(3306), ready_after_s=ready_s, shutdown_s=1.0,
                   memory_base_bytes=(90 if maria else 360) * MIB,
                   lines=(TimedLine(0.0, STDOUT, "{ts}+00:00 [Note] [Entrypoint]: Entrypoint script for MySQL"
                                                 " Server started."),
                          TimedLine(ready_s, STDERR, "{iso} 0 [System] [MY-010931] [Server] /usr/sbin/mysqld:"
                                                     " ready for connections. port: 3306")))


def _python(argv: list[str], ctx: _Ctx) -> Behaviour:
    args = argv[1:]
    if len(args) >= 2 and args[0] == "-m" and args[1] == "http.server":
        port = next((_port(a) for a in args[2:] if a.isdigit()), None)
        return _server(ctx, (port,) if port else ctx.ports_or(8000), memory_base_bytes=12 * MIB,
                       on_sigterm=SIGTERM_IGNORE,  # Python installs no SIGTERM handler; as PID 1 it is ignored
                       access_log='{client} - - [{clf}] "{method} {path} HTTP/1.1" {status} -',
                       lines=(TimedLine(0.1, STDERR, "Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/)"
                                                     " ..."),),
                       http=True, http_routes=(("/", 200, "<html><title>Directory listing for /</title>"
                                                         "(pod {pod}, container {container})</html>\n"),),
                       http_fallback=(404, "File not found\n"))
    if not args or args == ["-i"] or args == ["-u"]:
        return _interactive(ctx, 8 * MIB)
    if args[0] in ("--version", "-V"):
        return _exits(0, IMMEDIATE_S, (STDOUT, "Python 3.13.1"))
    return _unknown(argv, ctx)


def _interactive(ctx: _Ctx, memory: int = SHELL_MEMORY_BYTES) -> Behaviour:
    """A shell or REPL: reads stdin, so with none it exits at once; with stdin or a tty it waits."""
    if ctx.interactive:
        return Behaviour(kind=RUN, memory_base_bytes=memory, on_sigterm=SIGTERM_IGNORE)
    return _exits(0, IMMEDIATE_S, memory=memory)


def _pause(argv: list[str], ctx: _Ctx) -> Behaviour:
    return Behaviour(kind=RUN, memory_base_bytes=320 * 1024)


def _http_echo(argv: list[str], ctx: _Ctx) -> Behaviour:
    text = _flag(argv, "-text", "--text")
    if not text:
        return _exits(127, IMMEDIATE_S, (STDERR, "Missing -text option!"))
    port = _port(_flag(argv, "-listen", "--listen"))
    return _server(ctx, (port,) if port else ctx.ports_or(5678), memory_base_bytes=4 * MIB,
                   lines=(TimedLine(0.0, STDERR, "{ts} [INFO] server is listening on :{port}"),),
                   access_log='{ts} {ip}:{port} {client} "{method} {path} HTTP/1.1" {status} {bytes} "{ua}" 12.3µs',
                   stop_lines=((STDERR, "{ts} [INFO] server received interrupt, shutting down..."),),
                   http=True, health_paths=(), http_routes=(("/health", 200, '{{"status":"ok"}}\n'),),
                   http_fallback=(200, escape(text) + "\n"))


def _agnhost(argv: list[str], ctx: _Ctx) -> Behaviour:
    sub = argv[1] if len(argv) > 1 else ""
    rest = argv[2:]
    memory = 10 * MIB
    if sub == "netexec":
        port = _port(_flag(rest, "--http-port")) or 8080
        return _server(ctx, (port,), memory_base_bytes=memory, http=True, health_paths=("/healthz", "/readyz"),
                       http_routes=(("/", 200, "NOW: {iso}"), ("/hostname", 200, "{pod}"),
                                    ("/clientip", 200, "{client}:54321")),
                       lines=(TimedLine(0.0, STDERR, "Started HTTP server on port {port}"),
                              TimedLine(0.0, STDERR, "Started UDP server on port 8081")))
    if sub == "serve-hostname":
        port = _port(_flag(rest, "--port")) or 9376
        return _server(ctx, (port,), memory_base_bytes=memory, http=True, http_fallback=(200, "{pod}"),
                       lines=(TimedLine(0.0, STDERR, "Serving on port {port}."),))
    if sub == "liveness":
        return _liveness(argv, ctx)
    if sub == "pause":
        return Behaviour(kind=RUN, memory_base_bytes=2 * MIB, lines=(TimedLine(0.0, STDOUT, "Paused"),))
    if sub in ("test-webserver", "porter", "fake-gitserver", "guestbook", "dns-server", "webhook"):
        return _server(ctx, ctx.ports_or(80), memory_base_bytes=memory, http=True, http_fallback=(200, GREETING),
                       health_paths=HEALTH_PATHS)
    if not sub or sub in ("help", "--help", "-h"):
        return _exits(0, IMMEDIATE_S, (STDOUT, "agnhost: a tool for Kubernetes' e2e tests."),
                      (STDOUT, "Usage:\n  agnhost [command]"))
    return _exits(1, IMMEDIATE_S, (STDERR, f'Error: unknown command "{sub}" for "agnhost"'),
                  (STDERR, "Run 'agnhost --help' for usage."))


def _liveness(argv: list[str], ctx: _Ctx) -> Behaviour:
    """The docs' liveness example server: /healthz answers 200 for 10 s, then 500."""
    return _server(ctx, (8080,), memory_base_bytes=3 * MIB, http=True, unhealthy_after_s=10.0,
                   health_paths=("/healthz",), http_fallback=(200, "ok\n"))


def _goproxy(argv: list[str], ctx: _Ctx) -> Behaviour:
    return _server(ctx, ctx.ports_or(8080), memory_base_bytes=3 * MIB, http=True,
                   http_fallback=(500, "This is a proxy server. Does not respond to non-proxy requests.\n"))


def _registry(argv: list[str], ctx: _Ctx) -> Behaviour:
    return _server(ctx, ctx.ports_or(5000), memory_base_bytes=10 * MIB, http=True,
                   http_routes=(("/", 200, ""), ("/v2/", 200, "{{}}")),
                   lines=(TimedLine(0.1, STDERR, 'time="{iso}" level=info msg="listening on [::]:{port}"'),))


# kubesim's own images: small, documented, and tunable with the annotation's options given as args.

_KUBESIM_ACCESS = "{iso} {client} {method} {path} {status} {bytes}B"


def _kubesim_server(argv: list[str], ctx: _Ctx, **fields: Any) -> Behaviour:
    name = ctx.image.family if ctx.image.family.startswith("kubesim/") else "kubesim/server"
    base = _server(ctx, ctx.ports_or(8080), memory_base_bytes=8 * MIB, shutdown_s=0.5, http=True,
                   http_fallback=(200, GREETING), health_paths=HEALTH_PATHS, access_log=_KUBESIM_ACCESS,
                   stop_lines=((STDOUT, f"{name}: SIGTERM: draining connections"),))
    b = _options(replace(base, **fields), argv[1:], ctx, "args")
    listening = TimedLine(b.ready_after_s, STDOUT, f"{name}: listening on :{{port}}")
    return _healthy_files(replace(b, lines=tuple(sorted(b.lines + (listening,), key=lambda x: x.at_s))))


def _kubesim_batch(argv: list[str], ctx: _Ctx) -> Behaviour:
    base = Behaviour(kind=EXIT, run_s=10.0, memory_base_bytes=16 * MIB, sigterm_exit_code=143,
                     lines=(TimedLine(0.0, STDOUT, "kubesim/batch: starting work"),),
                     periodic=(Periodic(1.0, 1.0, ((0.0, STDOUT, "kubesim/batch: step {n} done"),)),),
                     exit_lines=((STDOUT, "kubesim/batch: finished"),),
                     stop_lines=((STDERR, "kubesim/batch: SIGTERM: stopping, work lost"),))
    return _options(base, argv[1:], ctx, "args")


def _kubesim_crasher(argv: list[str], ctx: _Ctx) -> Behaviour:
    return _kubesim_server(argv, ctx, run_s=5.0, exit_code=1,
                           exit_lines=((STDERR, "panic: kubesim/crasher: simulated failure"),
                                       (STDERR, "goroutine 1 [running]:"), (STDERR, "main.main()")))


def _kubesim_leaker(argv: list[str], ctx: _Ctx) -> Behaviour:
    return _kubesim_server(argv, ctx, memory_base_bytes=16 * MIB, memory_growth_bytes_per_s=10 * MIB,
                           periodic=(Periodic(5.0, 5.0, ((0.0, STDOUT, "kubesim/leaker: holding {memory_mib} MiB"),)),))


def _kubesim_slow_start(argv: list[str], ctx: _Ctx) -> Behaviour:
    return _kubesim_server(argv, ctx, ready_after_s=30.0, periodic=(
        Periodic(0.0, 1.0, ((0.0, STDOUT, "kubesim/slow-start: warming up ({n}s)"),), until_s=30.0),))


def _healthy_files(b: Behaviour) -> Behaviour:
    """kubesim's servers keep /tmp/ready and /tmp/healthy while they serve (for exec probes)."""
    if not b.ports or any(f.path == "/tmp/healthy" for f in b.files):
        return b
    changes = [FileChange(b.ready_after_s, "/tmp/ready", ""), FileChange(b.ready_after_s, "/tmp/healthy", "")]
    if b.unhealthy_after_s is not None:
        changes.append(FileChange(max(b.unhealthy_after_s, b.ready_after_s), "/tmp/healthy", None))
    return replace(b, files=tuple(sorted(b.files + tuple(changes), key=lambda f: f.at_s)))


def _generic_app(argv: list[str], ctx: _Ctx) -> Behaviour:
    """An image kubesim does not know (or an app command on one it does): serves its declared ports, else runs."""
    if ctx.declared_ports:
        return _server(ctx, ctx.declared_ports, memory_base_bytes=32 * MIB, sigterm_exit_code=143, http=True,
                       http_fallback=(200, GREETING), health_paths=HEALTH_PATHS,
                       lines=(TimedLine(0.0, STDOUT, f"kubesim: {ctx.image_ref} simulated as a server on"
                                                     f" :{','.join(map(str, ctx.declared_ports))}"),))
    return Behaviour(kind=RUN, memory_base_bytes=32 * MIB, sigterm_exit_code=143,
                     lines=(TimedLine(0.0, STDOUT, f"kubesim: {ctx.image_ref} simulated as a process that runs"
                                                   " until stopped"),))


def _unknown(argv: list[str], ctx: _Ctx) -> Behaviour:
    if ctx.declared_ports or not ctx.image.known:
        return _generic_app(argv, ctx)
    return replace(_exits(0, UNKNOWN_COMMAND_S), sigterm_exit_code=143)


PROGRAMS: dict[str, Callable[[list[str], _Ctx], Behaviour]] = {
    "nginx": _nginx, "nginx-debug": _nginx, "httpd": _httpd, "httpd-foreground": _httpd,
    "apache2-foreground": _httpd, "caddy": _caddy, "redis-server": _redis, "memcached": _memcached,
    "postgres": _postgres, "mysqld": _mysql, "mariadbd": _mysql, "python": _python, "python3": _python,
    "pause": _pause, "http-echo": _http_echo, "agnhost": _agnhost, "goproxy": _goproxy, "registry": _registry,
    "kubesim-server": _kubesim_server, "kubesim-batch": _kubesim_batch, "kubesim-crasher": _kubesim_crasher,
    "kubesim-leaker": _kubesim_leaker, "kubesim-slow-start": _kubesim_slow_start,
}
"""Programs by the name they are run by (the last part of ``argv[0]``)."""

PROGRAM_HOMES: dict[str, tuple[str, ...]] = {
    "nginx": ("nginx",), "nginx-debug": ("nginx",), "httpd": ("httpd", "busybox", "alpine"),
    "httpd-foreground": ("httpd",), "apache2-foreground": ("httpd",), "caddy": ("caddy",),
    "redis-server": ("redis",), "memcached": ("memcached",), "postgres": ("postgres",),
    "mysqld": ("mysql", "mariadb"), "mariadbd": ("mariadb",), "python": ("python",), "python3": ("python",),
    "pause": ("pause",), "http-echo": ("http-echo",), "agnhost": ("agnhost",), "goproxy": ("goproxy",),
    "registry": ("registry",), "kubesim-server": ("kubesim/server",), "kubesim-batch": ("kubesim/batch",),
    "kubesim-crasher": ("kubesim/crasher",), "kubesim-leaker": ("kubesim/leaker",),
    "kubesim-slow-start": ("kubesim/slow-start",),
}
"""Which of the images kubesim knows contain each program (on an image it does not know, any may be there)."""

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
SHELL_COMMANDS = frozenset({"sleep", "true", "false", "echo", "cat", "env", "printenv", "date", "hostname",
                            "touch", "rm", "mkdir", "seq", "tail", "grep", "printf", "test", "[", "whoami", "id",
                            "uname", "pwd", "ls"})
"""Utilities run as a container's command that the shell interpreter already knows how to run."""
_WRAPPERS = frozenset({"docker-entrypoint.sh", "entrypoint.sh", "tini", "dumb-init", "--"})

_REDIS_TOOLS = (Tool(("redis-cli", "ping"), 6379, "PONG",
                     "Could not connect to Redis at 127.0.0.1:6379: Connection refused"),
                Tool(("redis-cli",), 6379, "OK", "Could not connect to Redis at 127.0.0.1:6379: Connection refused"))
_PG_TOOLS = (Tool(("pg_isready",), 5432, "/var/run/postgresql:5432 - accepting connections",
                  "/var/run/postgresql:5432 - no response", 2),
             Tool(("psql",), 5432, "", 'psql: error: connection to server on socket'
                                       ' "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory', 2))
_MYSQL_DOWN = ("mysqladmin: connect to server at 'localhost' failed\nerror: 'Can't connect to local MySQL server"
               " through socket '/var/run/mysqld/mysqld.sock' (2)'")
_MYSQL_TOOLS = (Tool(("mysqladmin", "ping"), 3306, "mysqld is alive", _MYSQL_DOWN),
                Tool(("mariadb-admin", "ping"), 3306, "mysqld is alive", _MYSQL_DOWN),
                Tool(("mysql",), 3306, "", "ERROR 2002 (HY000): Can't connect to local MySQL server"),
                Tool(("mariadb",), 3306, "", "ERROR 2002 (HY000): Can't connect to local server"))
_NGINX_TOOLS = (Tool(("nginx", "-t"), 0, "nginx: configuration file /etc/nginx/nginx.conf test is successful"),)

IMAGES: dict[str, ImageInfo] = {
    "nginx": ImageInfo("nginx", 70 * MB, ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"),
                       tools=_NGINX_TOOLS),
    "httpd": ImageInfo("httpd", 58 * MB, (), ("httpd-foreground",)),
    "caddy": ImageInfo("caddy", 48 * MB, (), ("caddy", "run", "--config", "/etc/caddy/Caddyfile")),
    "redis": ImageInfo("redis", 45 * MB, ("docker-entrypoint.sh",), ("redis-server",), tools=_REDIS_TOOLS),
    "memcached": ImageInfo("memcached", 32 * MB, ("docker-entrypoint.sh",), ("memcached",)),
    "postgres": ImageInfo("postgres", 150 * MB, ("docker-entrypoint.sh",), ("postgres",), tools=_PG_TOOLS),
    "mysql": ImageInfo("mysql", 170 * MB, ("docker-entrypoint.sh",), ("mysqld",), tools=_MYSQL_TOOLS),
    "mariadb": ImageInfo("mariadb", 120 * MB, ("docker-entrypoint.sh",), ("mariadbd",), tools=_MYSQL_TOOLS),
    "busybox": ImageInfo("busybox", 2_200_000, (), ("sh",)),
    "alpine": ImageInfo("alpine", 3_600_000, (), ("/bin/sh",)),
    "ubuntu": ImageInfo("ubuntu", 29 * MB, (), ("/bin/bash",)),
    "debian": ImageInfo("debian", 49 * MB, (), ("bash",)),
    "python": ImageInfo("python", 380 * MB, (), ("python3",)),
    "registry": ImageInfo("registry", 10 * MB, ("registry",), ("serve", "/etc/docker/registry/config.yml")),
    "registry.k8s.io/pause": ImageInfo("pause", 320_000, ("/pause",), (), has_shell=False),
    "hashicorp/http-echo": ImageInfo("http-echo", 3_500_000, ("/http-echo",), (), has_shell=False),
    "registry.k8s.io/e2e-test-images/agnhost": ImageInfo("agnhost", 50 * MB, ("/agnhost",), ("pause",)),
    "registry.k8s.io/liveness": ImageInfo("liveness", 2_500_000, (), ("/server",), has_shell=False,
                                          programs={"server": _liveness}),
    "registry.k8s.io/goproxy": ImageInfo("goproxy", 2_600_000, ("/goproxy",), (), has_shell=False),
    "kubesim/server": ImageInfo("kubesim/server", 5 * MB, ("/kubesim-server",)),
    "kubesim/batch": ImageInfo("kubesim/batch", 5 * MB, ("/kubesim-batch",)),
    "kubesim/crasher": ImageInfo("kubesim/crasher", 5 * MB, ("/kubesim-crasher",)),
    "kubesim/leaker": ImageInfo("kubesim/leaker", 5 * MB, ("/kubesim-leaker",)),
    "kubesim/slow-start": ImageInfo("kubesim/slow-start", 5 * MB, ("/kubesim-slow-start",)),
}
"""The images kubesim knows, by repository (Docker Hub's without ``docker.io/library/``)."""

_ALIASES = {
    "k8s.gcr.io/pause": "registry.k8s.io/pause", "gcr.io/google_containers/pause": "registry.k8s.io/pause",
    "k8s.gcr.io/e2e-test-images/agnhost": "registry.k8s.io/e2e-test-images/agnhost",
    "gcr.io/kubernetes-e2e-test-images/agnhost": "registry.k8s.io/e2e-test-images/agnhost",
    "k8s.gcr.io/liveness": "registry.k8s.io/liveness", "k8s.gcr.io/goproxy": "registry.k8s.io/goproxy",
    "mysql/mysql-server": "mysql",
}
_BY_LAST_COMPONENT = {name: name for name in ("nginx", "httpd", "caddy", "redis", "memcached", "postgres", "mysql",
                                              "mariadb", "busybox", "alpine", "ubuntu", "debian", "python")}
_BY_LAST_COMPONENT.update({"postgresql": "postgres", "pause": "registry.k8s.io/pause",
                           "http-echo": "hashicorp/http-echo", "agnhost": "registry.k8s.io/e2e-test-images/agnhost"})


# --- commands ------------------------------------------------------------------------------------------


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _cannot_run(argv: list[str], ctx: _Ctx) -> str:
    """Why ``argv`` cannot be started in this image ("" if it can)."""
    name = _basename(argv[0])
    own = {_basename(w) for w in ctx.image.entrypoint[:1] + ctx.image.cmd[:1]} | set(ctx.image.programs)
    homes = PROGRAM_HOMES.get(name)
    missing = (any(word in name.lower() for word in _NOT_FOUND_WORDS)
               or (not ctx.image.has_shell and name not in own)
               or (ctx.image.known and homes is not None and ctx.image.family not in homes))
    if not missing:
        return ""
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create"
            f' failed: unable to start container process: exec: "{argv[0]}": executable file not found in $PATH:'
            " unknown")


def _program(argv: list[str], ctx: _Ctx) -> Behaviour:
    """What running ``argv`` as the container's process does."""
    while argv and _basename(argv[0]) in _WRAPPERS:
        argv = argv[1:]
    if not argv or argv[0].startswith("-"):
        # docker-entrypoint.sh's rule: options are for the image's own program.
        argv = list(ctx.image.cmd[:1] or ("sh",)) + argv
    if problem := _cannot_run(argv, ctx):
        return Behaviour(kind=CRASH, exit_code=128, cannot_run=problem)
    name = _basename(argv[0])
    builder = ctx.image.programs.get(name) or PROGRAMS.get(name)
    if builder is not None:
        return builder(argv, ctx)
    if name in SHELLS:
        return _shell_program(argv, ctx)
    if name in SHELL_COMMANDS:
        if name == "cat" and len(argv) == 1 and ctx.interactive:
            return Behaviour(kind=RUN, memory_base_bytes=SHELL_MEMORY_BYTES, on_sigterm=SIGTERM_IGNORE)
        return _script_behaviour(shlex.join(argv), ctx)
    return _unknown(argv, ctx)


def _shell_program(argv: list[str], ctx: _Ctx) -> Behaviour:
    args = argv[1:]
    while args and args[0] in ("-e", "-x", "-eu", "-ex", "-eux", "-l", "-o", "pipefail"):
        args = args[1:]
    if "-c" in args:
        i = args.index("-c")
        return _script_behaviour(args[i + 1] if i + 1 < len(args) else "", ctx)
    if not args or args == ["-i"] or args == ["-"]:
        return _interactive(ctx)
    return _unknown(argv, ctx)  # sh /some/script.sh: kubesim cannot read files on disk


class _Pid1Host:
    """The shell's world while the catalogue walks a container's main script."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx

    def external(self, argv: list[str], shell: Shell) -> Outcome:
        b = _program(argv, self.ctx)
        if b.cannot_run:
            return Outcome(code=127, stderr=f"sh: {argv[0]}: not found")
        if b.run_s is None:
            return Outcome(forever=True, program=b)
        text = "\n".join(line.text for line in b.lines + tuple(TimedLine(0, s, t) for s, t in b.exit_lines))
        return Outcome(code=b.exit_code, duration_s=b.run_s, stdout=text)

    def date(self, t: float) -> str:
        return DATE_MARK


def _script_behaviour(script: str, ctx: _Ctx) -> Behaviour:
    """What a shell running ``script`` as PID 1 does: its timeline, its end, and what it settles into."""
    host = _Pid1Host(ctx)
    shell = Shell(host, env=ctx.env, files=Files(mounts=ctx.mounts))
    try:
        end = shell.run(parse(script))
    except ShellSyntaxError:
        return _unknown(["sh", "-c", script], ctx)
    lines = tuple(TimedLine(t, stream, escape(text)) for t, stream, text in sorted(shell.out, key=lambda x: x[0]))
    files = tuple(FileChange(t, path, text) for t, path, text in shell.files.events)
    periodic = tuple(Periodic(first, every, tuple((o, s, escape(x)) for o, s, x in period))
                     for first, every, period in end.periodic)
    b = Behaviour(kind=RUN, memory_base_bytes=SHELL_MEMORY_BYTES, lines=lines, files=files, periodic=periodic,
                  on_sigterm=SIGTERM_IGNORE)  # a shell as PID 1 has no SIGTERM handler
    if not end.forever:
        return replace(b, run_s=max(end.t, IMMEDIATE_S), exit_code=end.code)
    if end.program is not None:
        since, program = end.program
        b = _shifted(program, since, b)
        if end.execed:
            return b
        b = replace(b, on_sigterm=SIGTERM_IGNORE, stop_lines=())
    return _with_trap(b, shell, end, host)


def _shifted(program: Behaviour, since: float, before: Behaviour) -> Behaviour:
    """``program`` started ``since`` seconds into a script that already did ``before``."""
    return replace(
        program,
        ready_after_s=since + program.ready_after_s,
        unhealthy_after_s=None if program.unhealthy_after_s is None else since + program.unhealthy_after_s,
        lines=tuple(sorted(before.lines + tuple(replace(x, at_s=x.at_s + since) for x in program.lines),
                           key=lambda x: x.at_s)),
        periodic=before.periodic + tuple(replace(p, first_at_s=p.first_at_s + since,
                                                 until_s=None if p.until_s is None else p.until_s + since)
                                         for p in program.periodic),
        files=before.files + tuple(replace(f, at_s=f.at_s + since) for f in program.files),
    )


def _with_trap(b: Behaviour, shell: Shell, end: Any, host: _Pid1Host) -> Behaviour:
    """A ``trap ... TERM`` runs only when the shell gets control: while it ``wait`` s, or between a loop's sleeps."""
    if shell.trap_term is None or end.via not in ("wait", "loop"):
        return b
    trap = Shell(host, env=shell.env)
    try:
        code, stdout, stderr = trap.capture(parse(shell.trap_term))
    except ShellSyntaxError:
        code, stdout, stderr = 0, "", ""
    if not re.search(r"\bexit\b", shell.trap_term):
        code = 143  # the interrupted wait returns 128+15 and the script ends there
    stop = tuple((STDOUT, escape(x)) for x in stdout.split("\n") if x) + \
        tuple((STDERR, escape(x)) for x in stderr.split("\n") if x)
    shutdown = end.loop_period_s if end.via == "loop" else 0.0
    return replace(b, on_sigterm=SIGTERM_EXIT, sigterm_exit_code=code, shutdown_s=shutdown, stop_lines=stop)


# --- annotation ------------------------------------------------------------------------------------------


def parse_duration_s(text: str) -> float:
    """``500ms``, ``5s``, ``2m``, ``1h``, ``1.5``: seconds; ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)?", text.strip())
    if not match:
        raise ValueError(f'"{text}" is not a duration (like 500ms, 5s, 2m, 1h)')
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9,
           "T": 10**12, "": 1}


def parse_bytes(text: str) -> int:
    """A Kubernetes quantity of bytes: ``64Mi``, ``1Gi``, ``500M``, ``1024``; ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d*)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?", text.strip())
    if not match:
        raise ValueError(f'"{text}" is not a quantity of bytes (like 64Mi, 1Gi, 500M)')
    return int(float(match.group(1)) * _BINARY[match.group(2) or ""])


def parse_rate(text: str) -> float:
    """Memory growth: ``20Mi/s``, ``100Mi/m``, ``1Gi/h`` (or a quantity, per second)."""
    amount, _, per = text.partition("/")
    seconds = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}.get(per)
    if seconds is None:
        raise ValueError(f'"{text}" is not a rate (like 20Mi/s, 100Mi/m)')
    return parse_bytes(amount) / seconds


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse_int(text: str) -> int:
        if not re.fullmatch(r"-?\d+", text) or not low <= int(text) <= high:
            raise ValueError(f'"{text}" is not a whole number from {low} to {high}')
        return int(text)
    return parse_int


def _ports(text: str) -> tuple[int, ...]:
    ports = tuple(_int_in(1, 65535)(p) for p in text.split(",") if p)
    if not ports:
        raise ValueError("no port given")
    return ports


def _sigterm(text: str) -> str:
    if text not in (SIGTERM_EXIT, SIGTERM_IGNORE):
        raise ValueError(f'"{text}" is not one of exit, ignore')
    return text


_OPTIONS: dict[str, Callable[[str], Any]] = {
    "after": parse_duration_s, "exitCode": _int_in(0, 255), "ready": parse_duration_s, "start": parse_duration_s,
    "rate": parse_rate, "memory": parse_bytes, "port": _ports, "unhealthyAfter": parse_duration_s,
    "sigterm": _sigterm, "shutdown": parse_duration_s, "sigtermExitCode": _int_in(0, 255), "log": str,
    "logEvery": parse_duration_s, "body": str,
}


def _invalid(where: str, problem: str) -> CriError:
    return CriError(Code.INVALID_ARGUMENT, f"{where}: {problem}")


def _parse_options(words: list[str], where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.removeprefix("--").partition("=")
        if not sep:
            raise _invalid(where, f'"{word}" is not key=value')
        if key not in _OPTIONS:
            raise _invalid(where, f'unknown key "{key}"; known keys: {", ".join(_OPTIONS)}')
        try:
            options[key] = _OPTIONS[key](value)
        except ValueError as e:
            raise _invalid(where, f"{key}: {e}") from None
    return options


def _options(b: Behaviour, words: list[str], ctx: _Ctx, where: str) -> Behaviour:
    """``key=value`` words (kubesim images' args) applied to ``b``."""
    return _apply_options(b, _parse_options(words, where), ctx)


def _apply_options(b: Behaviour, o: Mapping[str, Any], ctx: _Ctx) -> Behaviour:
    changes: dict[str, Any] = {}
    if "after" in o:
        changes["run_s"] = o["after"]
    simple = {"exitCode": "exit_code", "ready": "ready_after_s", "start": "start_delay_s",
              "rate": "memory_growth_bytes_per_s", "memory": "memory_base_bytes", "port": "ports",
              "unhealthyAfter": "unhealthy_after_s", "sigterm": "on_sigterm", "shutdown": "shutdown_s",
              "sigtermExitCode": "sigterm_exit_code"}
    changes.update({simple[k]: v for k, v in o.items() if k in simple})
    if "body" in o:
        changes.update(http=True, http_routes=(), http_fallback=(200, escape(o["body"]) + "\n"))
    if "log" in o or "logEvery" in o:
        text = escape(o.get("log", "tick {n}")) if "log" in o else "tick {n}"
        if "logEvery" in o:
            period = Periodic(0.0, max(o["logEvery"], 0.01), ((0.0, STDOUT, text),))
            changes["periodic"] = b.periodic + (period,)
        else:
            changes["lines"] = b.lines + (TimedLine(0.0, STDOUT, text),)
    b = replace(b, **changes)
    if "unhealthyAfter" in o:
        b = _healthy_files(replace(b, files=tuple(f for f in b.files if f.path != "/tmp/healthy")))
    return b


def _apply_kind(b: Behaviour, kind: str, o: Mapping[str, Any], ctx: _Ctx, where: str) -> Behaviour:
    """The annotation's kind, changing the image's behaviour only where it must."""
    if kind in (SERVE, SLOW_START):
        b = replace(b, run_s=None, exit_code=0)
        if not b.ports:
            b = replace(b, ports=ctx.ports_or(8080), http=True, http_routes=(), http_fallback=(200, GREETING),
                        health_paths=HEALTH_PATHS, on_sigterm=SIGTERM_EXIT, sigterm_exit_code=0, shutdown_s=0.1)
        if kind == SLOW_START:
            b = replace(b, ready_after_s=30.0)
    elif kind == RUN:
        b = replace(b, run_s=None, exit_code=0, ports=())
    elif kind == EXIT:
        b = replace(b, run_s=5.0, exit_code=0)
    elif kind == CRASH:
        if o.get("exitCode") == 0:
            raise _invalid(where, "crash needs a non-zero exitCode (use exit for 0)")
        code = o.get("exitCode", 1)
        b = replace(b, run_s=5.0, exit_code=1,
                    exit_lines=((STDERR, f"kubesim: simulated crash, exiting with code {code}"),))
    elif kind == LEAK:
        b = replace(b, memory_growth_bytes_per_s=10 * MIB)
    return b


def annotation_for(container_name: str, annotations: Mapping[str, str]) -> tuple[str, str] | None:
    """The behaviour annotation that applies to a container, ``(key, value)``: its own, else the pod-wide one."""
    for key in (f"{ANNOTATION}.{container_name}", ANNOTATION):
        if key in annotations:
            return key, annotations[key]
    return None


def apply_annotation(b: Behaviour, key: str, value: str, ctx: _Ctx) -> Behaviour:
    """``KIND [key=value ...]`` applied to the behaviour the image and command gave."""
    where = f'annotation {key}="{value}"'
    try:
        words = shlex.split(value)
    except ValueError as e:
        raise _invalid(where, f"cannot split it into words: {e}") from None
    if not words:
        raise _invalid(where, f"empty; expected a kind: {', '.join(KINDS)}")
    if words[0] not in KINDS:
        raise _invalid(where, f'unknown kind "{words[0]}"; expected one of {", ".join(KINDS)}')
    options = _parse_options(words[1:], where)
    b = _apply_kind(b, words[0], options, ctx, where)
    b = _apply_options(b, options, ctx)
    return replace(b, source=f"{b.source}, {where}")


# --- the entry point -----------------------------------------------------------------------------------


def effective_argv(config: ContainerConfig, image: ImageInfo) -> list[str]:
    """What the container runs: ``command`` replaces the ENTRYPOINT, ``args`` the CMD (Kubernetes' rule)."""
    if config.command:
        return list(config.command) + list(config.args)
    if config.args:
        return list(image.entrypoint) + list(config.args)
    return list(image.entrypoint) + list(image.cmd)


def behaviour_for(config: ContainerConfig, pod_annotations: Mapping[str, str], *, hostname: str = "") -> Behaviour:
    """The behaviour of the container ``config`` describes, in a pod with ``pod_annotations``.

    ``hostname`` is the pod's (``$HOSTNAME`` in its scripts). Raises
    :class:`CriError` (InvalidArgument) for a malformed behaviour annotation.
    """
    image = image_info(config.image)
    declared = tuple(dict.fromkeys(p.container_port for p in config.ports
                                   if (p.protocol or "TCP").upper() == "TCP" and p.container_port > 0))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "HOSTNAME": hostname or config.metadata.name, **config.env}
    ctx = _Ctx(image, config.image, config, env, declared, config.stdin or config.tty,
               tuple(str(m.get("container_path", "")) for m in config.mounts if m.get("container_path")))
    argv = effective_argv(config, image)
    b = _program(argv, ctx) if argv else _generic_app(argv, ctx)
    source = f"image {image.family}" + (f", command {shlex.join(argv)}" if config.command or config.args else "")
    b = replace(b, source=source, tools=image.tools, has_shell=image.has_shell)
    found = annotation_for(config.metadata.name, pod_annotations)
    if found is not None:
        b = apply_annotation(b, found[0], found[1], ctx)
    return replace(b, kind=classify(b))


def classify(b: Behaviour) -> str:
    """The kind a behaviour amounts to."""
    if b.cannot_run:
        return CRASH
    if b.memory_growth_bytes_per_s > 0:
        return LEAK
    if b.run_s is not None and not math.isinf(b.run_s):
        return EXIT if b.exit_code == 0 else CRASH
    if b.ports and b.ready_after_s >= SLOW_START_S:
        return SLOW_START
    return SERVE if b.ports else RUN


# --- answering -----------------------------------------------------------------------------------------


def http_answer(b: Behaviour, path: str, age_s: float, values: Mapping[str, Any]) -> tuple[int, str]:
    """What the process answers an HTTP GET of ``path``, ``age_s`` after it started running.

    ``(0, "")`` if it does not speak HTTP (the connection opened, but no HTTP
    answer came: a probe counts that as a failure).
    """
    if not b.http:
        return 0, ""
    values = {**values, "path": path, "age_s": f"{age_s:.1f}"}
    if b.unhealthy_after_s is not None and age_s >= b.unhealthy_after_s:
        return UNHEALTHY[0], render(UNHEALTHY[1], values)
    bare = path.split("?", 1)[0] or "/"
    for route, status, body in b.http_routes:
        if bare == route:
            return status, render(body, values)
    if bare in b.health_paths:
        return 200, "ok\n"
    return b.http_fallback[0], render(b.http_fallback[1], values)


def memory_bytes(b: Behaviour, age_s: float) -> int:
    """The working set ``age_s`` after it started."""
    return int(b.memory_base_bytes + b.memory_growth_bytes_per_s * max(0.0, age_s))


def oom_after_s(b: Behaviour, limit_bytes: int) -> float | None:
    """How long after starting it passes ``limit_bytes`` (None: never, or no limit)."""
    if limit_bytes <= 0:
        return None
    if b.memory_base_bytes > limit_bytes:
        return 0.0
    if b.memory_growth_bytes_per_s <= 0:
        return None
    return (limit_bytes - b.memory_base_bytes) / b.memory_growth_bytes_per_s


def lines_between(b: Behaviour, after_s: float, until_s: float, cap: int) -> list[tuple[float, str, str, int]]:
    """The lines written in ``(after_s, until_s]`` (offsets from start; pass a negative ``after_s`` to
    include those at 0), as ``(offset, stream, template, n)``, in time order; at most the last ``cap``."""
    out: list[tuple[float, str, str, int]] = []
    for line in b.lines:
        if after_s < line.at_s <= until_s:
            out.append((line.at_s, line.stream, line.text, 0))
    for p in b.periodic:
        out.extend(_periodic_between(p, after_s, until_s, cap))
    out.sort(key=lambda x: x[0])
    return out[-cap:]


def _periodic_between(p: Periodic, after_s: float, until_s: float, cap: int) -> list[tuple[float, str, str, int]]:
    if p.every_s <= 0 or until_s < p.first_at_s:
        return []
    last_offset = max((o for o, _, _ in p.lines), default=0.0)
    first_k = max(0, math.floor((after_s - last_offset - p.first_at_s) / p.every_s))
    last_k = math.floor((until_s - p.first_at_s) / p.every_s)
    if p.until_s is not None:
        last_k = min(last_k, math.ceil((p.until_s - p.first_at_s) / p.every_s) - 1)
    first_k = max(first_k, last_k - cap)  # only the newest survive the cap anyway
    out = []
    for k in range(first_k, last_k + 1):
        start = p.first_at_s + k * p.every_s
        for offset, stream, text in p.lines:
            at = start + offset
            if after_s < at <= until_s:
                out.append((at, stream, text, k + 1))
    return out


__all__ = [
    "ANNOTATION", "IMAGES", "IMMEDIATE_S", "KINDS", "MB", "MIB", "PAUSE_IMAGE", "PROGRAMS", "SHELLS",
    "SIGTERM_EXIT", "SIGTERM_IGNORE", "UNKNOWN_COMMAND_S", "Behaviour", "FileChange", "ImageInfo", "Periodic",
    "TimedLine", "Tool", "annotation_for", "apply_annotation", "behaviour_for", "classify", "effective_argv",
    "escape", "http_answer", "image_id", "image_info", "image_repository", "image_size_bytes", "lines_between",
    "memory_bytes", "normalize_image", "oom_after_s", "parse_bytes", "parse_duration_s", "parse_rate",
    "pull_error", "render", "time_fields",
]
