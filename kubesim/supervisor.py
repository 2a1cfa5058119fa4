"""``kubesim run NAME``: keep one component process alive, and obey chaos orders.

``honcho start`` stops every process as soon as one exits, so a Procfile line
must never exit on its own. This supervisor starts the component as a child
process, restarts it with exponential backoff when it dies, and takes orders
on a local control socket (``<state_dir>/run/NAME.sock``) — kill -9, pause
(SIGSTOP), resume (SIGCONT), stop, start, restart, status — which
``kubesim ctl`` and the chaos runner send. It exits only on SIGTERM/SIGINT,
after stopping its child.

:class:`Backoff` and :class:`Child`'s decisions are plain logic over a
``now`` passed in; :func:`supervise` is the I/O shell.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from bus import logs
from bus.clock import Clock, RealClock
from bus.metrics import serve
from bus.transport.control import ControlServer
from bus.transport.sockets import new_context
from kubesim.config import ClusterConfig

COMMANDS = ("status", "kill", "pause", "resume", "stop", "start", "restart")


@dataclass
class Backoff:
    """Restart delays: ``initial`` doubling to ``maximum``; reset after a long healthy run."""

    initial_s: float
    maximum_s: float
    reset_after_s: float
    current_s: float = 0.0

    def next_delay(self, ran_for_s: float) -> float:
        if ran_for_s >= self.reset_after_s or self.current_s == 0.0:
            self.current_s = self.initial_s
        else:
            self.current_s = min(self.current_s * 2, self.maximum_s)
        return self.current_s


class Child:
    """The supervised process and what the supervisor wants of it.

    States: ``running``, ``paused`` (SIGSTOPped), ``backoff`` (died, waiting
    to restart), ``stopped`` (told to stay down).
    """

    def __init__(self, argv: list[str], backoff: Backoff, grace_s: float, clock: Clock, log) -> None:
        self.argv = argv
        self.backoff = backoff
        self.grace_s = grace_s
        self.clock = clock
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.state = "stopped"
        self.started_at = 0.0
        self.restart_at = 0.0
        self.restarts = 0
        self.last_exit: int | None = None

    # Actions -------------------------------------------------------------------
    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "start over a live child"
        now = self.clock.monotonic()
        try:
            self.proc = subprocess.Popen(self.argv)
        except OSError as exc:
            self.proc = None
            self.state = "backoff"
            self.restart_at = now + self.backoff.next_delay(0.0)
            self.log.error("cannot start child; retrying after backoff", error=str(exc),
                           backoff_s=self.restart_at - now)
            return
        self.started_at = now
        self.state = "running"
        self.log.info("child started", pid=self.proc.pid)

    def signal(self, sig: signal.Signals) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(sig)
        return True

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; stays down."""
        self.state = "stopped"
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused child cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            self.log.warning("child ignored SIGTERM; killing", pid=self.proc.pid, grace_s=self.grace_s)
            self.proc.kill()
            self.proc.wait()
        self.last_exit = self.proc.returncode

    # The decisions ---------------------------------------------------------------
    def check(self) -> None:
        """Notice a dead child and schedule its restart; restart it when due."""
        now = self.clock.monotonic()
        if self.state in ("running", "paused") and self.proc is not None and self.proc.poll() is not None:
            self.last_exit = self.proc.returncode
            delay = self.backoff.next_delay(now - self.started_at)
            self.state = "backoff"
            self.restart_at = now + delay
            self.log.warning("child exited; restarting after backoff", exit_code=self.last_exit,
                             backoff_s=delay, ran_s=round(now - self.started_at, 3))
        if self.state == "backoff" and now >= self.restart_at:
            self.restarts += 1
            self.start()

    def command(self, cmd: str) -> dict[str, Any]:
        """Carry out one control command; the reply says what the child is now."""
        if cmd == "kill":
            if not self.signal(signal.SIGKILL):
                return self._reply(False, "no running child to kill")
            self.proc.wait()
            self.check()
        elif cmd == "pause":
            if self.state != "running" or not self.signal(signal.SIGSTOP):
                return self._reply(False, f"cannot pause a child that is {self.state}")
            self.state = "paused"
        elif cmd == "resume":
            if self.state != "paused" or not self.signal(signal.SIGCONT):
                return self._reply(False, f"cannot resume a child that is {self.state}")
            self.state = "running"
        elif cmd == "stop":
            self.stop()
        elif cmd == "start":
            if self.state in ("running", "paused"):
                return self._reply(False, f"already {self.state}")
            self.start()
        elif cmd == "restart":
            self.stop()
            self.start()
        elif cmd != "status":
            return self._reply(False, f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
        return self._reply(True)

    def _reply(self, ok: bool, error: str | None = None) -> dict[str, Any]:
        alive = self.proc is not None and self.proc.poll() is None
        reply = {"ok": ok, "state": self.state, "pid": self.proc.pid if alive else None,
                 "restarts": self.restarts, "last_exit": self.last_exit}
        if error:
            reply["error"] = error
        return reply


def supervise(cfg: ClusterConfig, name: str, config_path: Path, extra_argv: list[str] | None = None,
              clock: Clock | None = None, child_argv: list[str] | None = None) -> int:
    """Run the supervisor for process ``name`` until SIGTERM/SIGINT; returns the exit status.

    ``child_argv`` replaces ``kubesim child NAME`` as the command supervised (the tests supervise store
    members with planted bugs this way, so chaos can kill them as it kills real ones)."""
    clock = clock or RealClock()
    logs.configure(f"{name}-supervisor", cfg.logging.level, cfg.logging.format)
    log = logs.get(f"{name}.supervisor")
    proc_cfg = cfg.process(name)
    s = cfg.supervisor
    argv = child_argv or [sys.executable, "-m", "kubesim", "child", name, "--config", str(config_path),
                          *(extra_argv or [])]
    child = Child(argv, Backoff(s.restart_backoff_initial_s, s.restart_backoff_max_s, s.restart_backoff_reset_s),
                  s.stop_grace_s, clock, log)

    registry = CollectorRegistry()
    restarts = Counter("kubesim_supervisor_restarts", "Times the supervisor restarted its child.",
                       registry=registry)
    commands = Counter("kubesim_supervisor_commands", "Control commands obeyed, by command.", ["command"],
                       registry=registry)
    up = Gauge("kubesim_supervisor_child_up", "1 while the child runs (paused counts as up).", registry=registry)
    server = serve(f"{name}-supervisor", cfg.metrics.host, 0, cfg.targets_dir,
                   {"component": f"{proc_cfg.component}-supervisor", "cluster": cfg.cluster.name}, registry)

    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ctx = new_context()
    control = ControlServer(ctx, cfg.control_socket(name))
    log.info("supervising", process=name, component=proc_cfg.component, control=str(control.path))
    child.start()

    def handle(request: dict) -> dict:
        cmd = request.get("command")
        if not isinstance(cmd, str):
            return {"ok": False, "error": "a control request is {'command': NAME}"}
        log.warning("control command", command=cmd)
        commands.labels(cmd if cmd in COMMANDS else "unknown").inc()
        return child.command(cmd)

    try:
        while not stopping:
            before = child.restarts
            if control.wait(0.05):
                control.serve_one(handle)  # answers every request, even a malformed one
            child.check()
            restarts.inc(child.restarts - before)
            up.set(1 if child.state in ("running", "paused") else 0)
    finally:
        log.info("stopping child", signal=signal.Signals(stopping[0]).name if stopping else None)
        child.stop()
        control.close()
        server.close()
        ctx.term()
    return 0

