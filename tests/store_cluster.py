"""A real store cluster for tests: member processes on loopback, kill -9, restart, a writer.

Members run as ``kubesim child store-N`` (no supervisor: the test decides
when a killed member comes back). :class:`Writer` keeps writes in flight
through a :class:`StoreSession` and sorts every outcome into acknowledged,
failed (certainly not applied) and indeterminate, so a test can demand that
every acknowledged write is on every member afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from actors.store.client import Indeterminate, StoreSession, StoreUnavailable
from actors.store.mvcc import prefix_end
from bus import logs
from tests.helpers import (
    ROOT,
    free_port,
    kubesim,
    scrape,
    stop,
    wait_until,
    write_cluster,
)

PREFIX = b"/test/"


class StoreCluster:
    def __init__(self, tmp: Path, members: int = 3, *, fsync: bool = True, heartbeat_ms: int = 50,
                 election_ms: int = 500, snapshot_count: int = 10_000, catch_up_entries: int = 5_000,
                 module: str | None = None, curve: bool = False) -> None:
        self.tmp = tmp
        self.names = [f"store-{i}" for i in range(members)]
        self.ports = {n: free_port() for n in self.names}
        self.metrics_ports = {n: free_port() for n in self.names}
        processes: dict[str, Any] = {"broker": {"component": "broker"}}
        for n in self.names:
            processes[n] = {"component": "store", "metrics_port": self.metrics_ports[n]}
        self.config = write_cluster(tmp, processes, store={
            "members": self.ports, "data_dir": str(tmp / "store"), "fsync": fsync,
            "heartbeat_interval_ms": heartbeat_ms, "election_timeout_ms": election_ms,
            "snapshot_count": snapshot_count, "catch_up_entries": catch_up_entries,
        }, logging={"level": "info"}, security={"curve": curve})

        self.module = module
        """Run members with ``python -m MODULE`` instead of kubesim (a test-only member)."""
        self.procs: dict[str, subprocess.Popen] = {}
        self.session = None if curve else StoreSession({n: ("127.0.0.1", p) for n, p in self.ports.items()},
                                                       timeout_s=1.0, deadline_s=20.0)
        logs.configure("store-test", "warning")

    # --- Processes ------------------------------------------------------------
    def start(self, name: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        if self.module:
            proc = subprocess.Popen([sys.executable, "-m", self.module, str(self.config), name], cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)
        else:
            proc = kubesim("child", name, "--config", str(self.config), stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        for proc in self.procs.values():
            stop(proc, 5)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    # --- Asking the members -----------------------------------------------------
    def status(self, name: str):
        try:
            return self.session.run(self.session.client.status(name, timeout_s=0.5))
        except StoreUnavailable:
            return None

    def leader(self, timeout_s: float = 20.0) -> str:
        """The member every running member agrees leads (waits for one)."""

        def agreed():
            seen = [self.status(n) for n in self.procs]
            if any(s is None for s in seen):
                return None
            leaders = {s.leader for s in seen}
            if len(leaders) == 1 and "" not in leaders:
                lead = leaders.pop()
                return lead if any(s.member == lead and s.role == "leader" for s in seen) else None
            return None

        return wait_until(agreed, timeout_s, "one leader that every running member follows")

    def caught_up(self, name: str, timeout_s: float = 30.0) -> None:
        """Wait until ``name`` has applied everything the leader has committed."""

        def done():
            lead = self.status(self.leader())
            me = self.status(name)
            return lead and me and me.applied_index >= lead.commit_index

        wait_until(done, timeout_s, f"{name} to catch up with the leader")

    def contents(self, name: str) -> dict[bytes, bytes]:
        """Every key under the test prefix as ``name`` itself holds it (a serializable read of it alone)."""
        from actors.messages import StoreRange

        reply = self.session.run(self.session.client.request(
            name, StoreRange(PREFIX, prefix_end(PREFIX), serializable=True), timeout_s=5, retries=0))
        return {kv[0]: kv[4] for kv in reply.body["kvs"]}

    def metrics(self, name: str) -> str:
        return scrape(self.metrics_ports[name])


class Writer:
    """Keeps ``window`` puts in flight, each to its own key, and records how each ended."""

    def __init__(self, cluster: StoreCluster, window: int = 20) -> None:
        self.session = cluster.session
        self.window = window
        self.next = 0
        self.in_flight = 0
        self.acked: dict[bytes, bytes] = {}
        self.failed: list[bytes] = []
        self.indeterminate: list[bytes] = []
        self.stopped = False

    def _start_one(self) -> None:
        i = self.next
        self.next += 1
        key, value = PREFIX + b"k%06d" % i, b"v%d" % i
        self.in_flight += 1

        def done(ok: bool, result: Any) -> None:
            self.in_flight -= 1
            if ok:
                self.acked[key] = value
            elif isinstance(result, Indeterminate):
                self.indeterminate.append(key)
            else:
                self.failed.append(key)
            if not self.stopped:
                self._start_one()

        self.session.start(self.session.client.put(key, value), done)

    def run_until(self, condition, timeout_s: float, what: str) -> None:
        while self.in_flight < self.window and not self.stopped:
            self._start_one()
        wait_until(condition, timeout_s, what, step=lambda: self.session.poll(0.01))

    def drain(self, timeout_s: float = 30.0) -> None:
        self.stopped = True
        wait_until(lambda: self.in_flight == 0, timeout_s, "the writes in flight to end",
                   step=lambda: self.session.poll(0.01))


def missing_acked(cluster: StoreCluster, writer: Writer, members: list[str] | None = None) -> dict[str, list[bytes]]:
    """Acknowledged writes a member does not hold (or holds with another value), by member."""
    out = {}
    for name in members or cluster.names:
        held = cluster.contents(name)
        lost = sorted(k for k, v in writer.acked.items() if held.get(k) != v)
        if lost:
            out[name] = lost
    return out
