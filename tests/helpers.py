"""Shared helpers for integration tests: cluster files, real processes, waiting.

Integration tests start real ``kubesim`` processes on 127.0.0.1 and wait on
conditions with deadlines — never on fixed sleeps. A test talks to the bus
through :class:`BusClient`, a runtime driven from the test's own thread.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import yaml

from actors.messages import Ping, Pong
from bus import logs
from bus.clock import RealClock
from bus.runtime import Actor, Envelope, Future, Runtime, handles
from bus.settings import BusSettings
from bus.transport.sockets import Security

ROOT = Path(__file__).resolve().parent.parent


_handed_out: set[int] = set()


#: Ports each pytest-xdist worker hands out: its own block below the system's ephemeral range (32768 up), so two
#: workers starting clusters at once never give two processes the same port, nor does the system give it to a
#: socket bound to port 0.
WORKER_PORTS = 4000
FIRST_WORKER_PORT = 12000


_rng = random.Random(os.getpid())


def _worker_block() -> range | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    first = FIRST_WORKER_PORT + int(worker[2:]) * WORKER_PORTS
    return range(first, first + WORKER_PORTS)


def free_port() -> int:
    """A port nobody listens on now, and that this test session has not handed out before.

    The system may offer the same free port twice in a row; two processes of one
    test told to listen on it would make the test flaky. Under pytest-xdist each
    worker takes its ports from a block of its own.
    """
    block = _worker_block()
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", _rng.choice(block) if block is not None else 0))
            except OSError:
                continue  # taken: another in the block
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(condition: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition",
               step: Callable[[], None] | None = None) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout_s``.

    ``step`` runs between polls (e.g. a client's event loop); without one the
    wait yields the CPU briefly between polls.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.02)


def write_cluster(tmp: Path, processes: dict[str, dict] | None = None, **sections: dict) -> Path:
    """A cluster file in ``tmp`` with free ports and its state under ``tmp``."""
    doc: dict[str, Any] = {
        "cluster": {"name": "test", "state_dir": str(tmp / "state")},
        "bus": {"port": free_port(), "heartbeat_interval_s": 0.2, "heartbeat_liveness": 5,
                "request_timeout_s": 2},
        "supervisor": {"restart_backoff_initial_s": 0.1, "restart_backoff_max_s": 1, "stop_grace_s": 3},
        "security": {"curve": False, "keys_dir": str(tmp / "keys")},
        "processes": processes or {
            "broker": {"component": "broker"},
            "pong": {"component": "demo-pong"},
        },
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    path = tmp / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


#: The add-ons' components: the web dashboard and the log collector (with which every process ships its lines).
ADDONS = ("dashboard", "log-collector")


def default_cluster(tmp: Path, *, time_scale: float | None = None, fsync: bool = False,
                    addons: bool = False) -> tuple[Path, list[str]]:
    """config/cluster.yaml with free ports and every piece of state under ``tmp/.kubesim``; its process names.

    Without ``addons`` the dashboard and the log collector are left out (and so no process ships its lines):
    two processes fewer on a two-core machine, for the tests that are about something else."""
    doc = yaml.safe_load((ROOT / "config" / "cluster.yaml").read_text())
    if not addons:
        doc["processes"] = {n: p for n, p in doc["processes"].items() if p["component"] not in ADDONS}
    state = tmp / ".kubesim"
    doc["cluster"]["state_dir"] = str(state)
    if time_scale is not None:
        doc["cluster"]["time_scale"] = time_scale
    doc["bus"]["port"] = free_port()
    doc["security"]["keys_dir"] = str(state / "keys")
    doc["store"]["data_dir"] = str(state / "store")
    doc["store"]["fsync"] = fsync  # off unless the disk is what the test is about
    doc["store"]["members"] = {name: free_port() for name in doc["store"]["members"]}
    doc["apiserver"]["secure_port"] = free_port()
    for proc in doc["processes"].values():
        proc["metrics_port"] = 0  # the OS picks; the target files say which
        if proc["component"] == "dashboard":
            proc["args"]["port"] = free_port()
    path = tmp / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, list(doc["processes"])


def kubesim(*args: str, cwd: Path | None = None, **kw) -> subprocess.Popen:
    """Start ``python -m kubesim ARGS`` as a real process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "kubesim", *args], cwd=cwd or ROOT, env=env, **kw)


def kubesim_out(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubesim", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)


def stop(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_all(procs: list[subprocess.Popen], timeout_s: float = 20) -> None:
    """SIGTERM every process at once, then wait for each: a cluster stops in the time of its slowest process."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or (want and key.startswith(name + "{") and all(
                f'{k}="{v}"' in key for k, v in labels.items())):
            return float(value)
    return 0.0


class Probe(Actor):
    """A test actor: answers Pings and remembers everything it was sent."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[tuple[Any, Envelope]] = []

    @handles(Ping)
    def on_ping(self, msg: Ping, env: Envelope) -> None:
        self.seen.append((msg, env))
        self.reply(env, Pong(msg.seq, self.name, len(self.seen)))


class BusClient:
    """A runtime in the test process, stepped from the test's thread."""

    def __init__(self, process: str, port: int, *, security: Security = Security(), seed: int = 7,
                 **settings: Any) -> None:
        logs.configure(process, "warning")
        kw = {"heartbeat_interval_s": 0.2, "request_timeout_s": 2.0, **settings}
        self.rt = Runtime(process, BusSettings(broker_port=port, **kw), RealClock(), security=security,
                          seed=seed)
        self.probe = self.rt.add(Probe(f"{process}-probe"))
        self.rt.start()

    def step(self) -> None:
        self.rt.run_once(0.01)

    def registered(self, timeout_s: float = 15) -> None:
        wait_until(lambda: self.rt.link.registered, timeout_s, "registration", self.step)

    def call(self, dst: str, msg, timeout_s: float = 2.0, retries: int = 0) -> Any:
        """Send a request and run the loop until it ends; returns the reply or raises."""
        fut: Future = self.rt._request(self.probe, dst, msg, timeout_s, retries)
        wait_until(fut.done, timeout_s * (retries + 1) + 10, f"reply from {dst}", self.step)
        return fut.result()

    def close(self) -> None:
        self.rt.shutdown()


def pump(rt: Runtime) -> None:
    """Deliver everything an unstarted runtime has queued (callbacks, messages between its own actors) until
    nothing is left: actors of one process exercised on a manual clock, without sockets."""
    while rt._ready or rt._local:
        while rt._ready:
            fn, args = rt._ready.popleft()
            rt._guarded(fn, args)
        while rt._local:
            rt._deliver_next_local()


def advance(rt: Runtime, clock, seconds: float) -> None:
    """Move a manual clock on, fire the timers that came due, and :func:`pump`."""
    clock.advance(seconds)
    rt._run_timers()
    pump(rt)


# --- reading objects -------------------------------------------------------------------------------------


def condition(obj: dict, type_: str) -> dict:
    """The object's condition of ``type_`` ({} if it has none)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


def ready(obj: dict) -> bool:
    """A node's or pod's Ready condition is True."""
    return condition(obj, "Ready").get("status") == "True"


def running_and_ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and ready(pod) and not pod["metadata"].get("deletionTimestamp")


def container_identity(pod: dict) -> tuple:
    """A one-container pod's container as its kubelet reports it: id, restarts, pod IP, running state.

    Unchanged across a kubelet restart when the container kept running.
    """
    (cs,) = pod["status"]["containerStatuses"]
    return cs["containerID"], cs["restartCount"], pod["status"]["podIP"], cs["state"].get("running")
