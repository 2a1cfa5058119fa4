"""A real control plane for tests: three store members and the API server, as processes.

Each runs as ``kubesim child NAME`` (no supervisor: the test decides when a
killed API server comes back). The test talks to the API through an
:class:`~actors.apiserver.client.ApiSession` driven from its own thread, as
the ``kubesim`` CLI does.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.apiserver.client import ApiSession
from bus import logs
from kubesim import config
from kubesim.apiserver import session_for
from tests.helpers import (
    free_port,
    kubesim,
    kubesim_out,
    scrape,
    stop,
    wait_until,
    write_cluster,
)


class ApiCluster:
    def __init__(self, tmp: Path, *, apiserver: dict | None = None, bus: dict | None = None,
                 security: dict | None = None, extra: dict[str, dict] | None = None,
                 time_scale: float = 1.0) -> None:
        self.tmp = tmp
        self.members = [f"store-{i}" for i in range(3)]
        self.metrics_port = free_port()
        processes: dict[str, Any] = {"apiserver": {"component": "apiserver", "metrics_port": self.metrics_port}}
        for n in self.members:
            processes[n] = {"component": "store"}
        self.extra = list(extra or {})
        """More processes (a scheduler, controllers), started after the API server."""
        processes.update(extra or {})
        sections: dict[str, dict] = {
            "store": {"members": {n: free_port() for n in self.members}, "data_dir": str(tmp / "store"),
                      "fsync": False, "heartbeat_interval_ms": 50, "election_timeout_ms": 500},
            "logging": {"level": "info"},
        }
        if apiserver:
            sections["apiserver"] = apiserver
        if bus:
            sections["bus"] = bus
        if security:
            sections["security"] = security
        if time_scale != 1.0:
            # cluster.time_scale: every process's timers run this many times faster (bus.clock.ScaledClock).
            sections["cluster"] = {"time_scale": time_scale}
        self.config = write_cluster(tmp, processes, **sections)
        self.cfg = config.load(self.config)
        self.procs: dict[str, subprocess.Popen] = {}
        self.sessions: list[ApiSession] = []
        logs.configure("api-test", "warning")

    def start(self, name: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = kubesim("child", name, "--config", str(self.config), stdout=log,
                                   stderr=subprocess.STDOUT)

    def start_all(self) -> ApiCluster:
        for n in [*self.members, "apiserver", *self.extra]:
            self.start(n)
        return self

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def session(self, **kw) -> ApiSession:
        s = session_for(self.cfg, **kw)
        self.sessions.append(s)
        return s

    def wait_ready(self, session: ApiSession, timeout_s: float = 30.0) -> None:
        """Until the API server answers a list (its caches are filled)."""
        def ready() -> bool:
            try:
                session.run(session.api.list("namespaces"), timeout_s=5)
                return True
            except Exception:
                return False
        wait_until(ready, timeout_s, "the API server to answer")

    def cli(self, *args: str, stdin: str | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
        if stdin is None:
            return kubesim_out(*args, "--config", str(self.config), timeout_s=timeout_s)
        import sys

        from tests.helpers import ROOT
        return subprocess.run([sys.executable, "-m", "kubesim", *args, "--config", str(self.config)], cwd=ROOT,
                              input=stdin, capture_output=True, text=True, timeout=timeout_s)

    def metrics(self) -> str:
        return scrape(self.metrics_port)

    def close(self) -> None:
        for s in self.sessions:
            s.close()
        for proc in self.procs.values():
            stop(proc)
        self.procs.clear()

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join((self.tmp / f"{name}.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""


def started(tmp: Path, **kw: Any) -> Iterator[ApiCluster]:
    """A running control plane for a module fixture (``yield from started(tmp)``), closed afterwards.

    ``cluster.sessions[0]`` is an admin session that saw the API server answer.
    """
    c = ApiCluster(tmp, **kw).start_all()
    try:
        c.wait_ready(c.session())
        yield c
    finally:
        c.close()
