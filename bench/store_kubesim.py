"""kubesim's replicated store as a benchmark subject: three member processes and a client adapter.

``KubesimStore`` writes a temporary cluster file (free loopback ports, its own
``state_dir`` and ``store.data_dir`` in a temporary directory, logging at
``warning``), starts ``store-0..2`` as ``kubesim child store-N --config FILE``
(the broker the cluster file must name is never started: the store does not
use it), waits for a leader and a committed write, and on the way out stops
every member (SIGTERM, SIGKILL after 5 s) and removes the directory, also on an
error or Ctrl-C. ``kill``/``restart`` give the failover measurement its faults.

``KubesimAdapter`` drives a ``StoreSession`` for ``bench.store_load.run_load``:
``start_put`` starts ``client.put`` on the session's loop without waiting,
``poll`` runs the loop once. The session's client finds the leader and follows
redirects itself, as every kubesim component's client does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

from actors.store.client import StoreSession, StoreUnavailable
from bench.store_load import Done
from bench.store_peers import (
    HOST,
    ClusterContext,
    PeerFailed,
    Processes,
    _tails,
    free_ports,
    fs_type,
    wait_for,
)
from bus.settings import BusSettings

MEMBERS = ("store-0", "store-1", "store-2")


class KubesimStore(ClusterContext):
    """Three store members on 127.0.0.1 in a temporary directory; a context manager.

    ``ports[m]`` is member m's port (peers and clients), ``metrics_ports[m]`` its Prometheus port.
    """

    def __init__(self, *, fsync: bool, heartbeat_ms: int = 100, election_ms: int = 1000,
                 snapshot_count: int = 10_000, start_timeout_s: float = 30.0,
                 client_timeout_s: float = 5.0, client_deadline_s: float = 15.0, keep: bool = False,
                 log_level: str = "warning") -> None:
        self.fsync = fsync
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.snapshot_count = snapshot_count
        self.start_timeout_s = start_timeout_s
        self.client_timeout_s = client_timeout_s
        self.client_deadline_s = client_deadline_s
        self.keep = keep
        self.log_level = log_level
        """Leave the temporary directory (logs, data, cluster file) in place, for a post-mortem."""
        self.procs: dict[str, subprocess.Popen] = {}

    # --- Start (ClusterContext's __enter__ calls it; __exit__ unwinds session, processes, temp dir)
    def _start(self) -> None:
        # A short path: the members' control sockets live under state_dir (a Unix socket path is <= 107 bytes).
        if self.keep:
            self.tmp = tempfile.mkdtemp(prefix="ksb-")
        else:
            self.tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="ksb-"))
        ports = free_ports(2 + 2 * len(MEMBERS))
        broker_port, broker_metrics = ports[:2]
        self.ports = dict(zip(MEMBERS, ports[2:2 + len(MEMBERS)]))
        self.metrics_ports = dict(zip(MEMBERS, ports[2 + len(MEMBERS):]))
        cfg = {
            "cluster": {"name": "kubesim-bench", "state_dir": os.path.join(self.tmp, "state")},
            "bus": {"host": HOST, "port": broker_port},
            "logging": {"level": self.log_level},
            "store": {
                "host": HOST,
                "members": dict(self.ports),
                "data_dir": os.path.join(self.tmp, "data"),
                "fsync": self.fsync,
                "heartbeat_interval_ms": self.heartbeat_ms,
                "election_timeout_ms": self.election_ms,
                "snapshot_count": self.snapshot_count,
            },
            "processes": {
                "broker": {"component": "broker", "metrics_port": broker_metrics},
                **{m: {"component": "store", "metrics_port": self.metrics_ports[m]} for m in MEMBERS},
            },
        }
        self.config = os.path.join(self.tmp, "cluster.yaml")
        with open(self.config, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        self.data_fs = fs_type(self.tmp)
        self._procs = self._stack.enter_context(Processes())
        t0 = time.monotonic()
        for m in MEMBERS:
            self.start_member(m)
        self.session = StoreSession({m: (HOST, p) for m, p in self.ports.items()}, timeout_s=self.client_timeout_s,
                                    deadline_s=self.client_deadline_s,
                                    settings=BusSettings(max_frame_bytes=64 * 1024 * 1024))
        self._stack.callback(self.session.close)
        try:
            self.wait_leader(self.start_timeout_s)
            # A committed write: the cluster works end to end (a short attempt timeout may need a second try).
            wait_for("a committed write", lambda: self.session.run(self.session.client.put(b"bench/ready", b"1"),
                                                                   timeout_s=self.start_timeout_s),
                     self.start_timeout_s)
        except (PeerFailed, StoreUnavailable, TimeoutError) as exc:
            raise PeerFailed(f"kubesim store did not start: {exc}\n{self.tail_logs()}") from None
        self.ready_s = time.monotonic() - t0

    def start_member(self, member: str) -> subprocess.Popen:
        log = open(os.path.join(self.tmp, f"{member}.log"), "ab")
        try:
            proc = self._procs.start([sys.executable, "-m", "kubesim", "child", member, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        finally:
            log.close()  # the child has its own copy
        self.procs[member] = proc
        return proc

    def kill(self, member: str) -> float:
        """SIGKILL ``member``; returns the ``perf_counter`` time the signal was sent. Reaps it."""
        proc = self.procs[member]
        t = time.perf_counter()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return t

    def check_alive(self) -> None:
        for m, p in self.procs.items():
            if p.poll() is not None:
                raise PeerFailed(f"kubesim {m} exited with {p.returncode}\n{self.tail_logs()}")

    def tail_logs(self) -> str:
        return _tails([os.path.join(self.tmp, f"{m}.log") for m in MEMBERS], lines=15)

    # --- Looking at the members -------------------------------------------------------
    def status(self, member: str, timeout_s: float = 1.0):
        return self.session.run(self.session.client.status(member, timeout_s=timeout_s), timeout_s=timeout_s + 1)

    def statuses(self) -> dict:
        """Each reachable member's StoreStatusReply (unreachable ones are left out)."""
        out = {}
        for m in MEMBERS:
            with contextlib.suppress(StoreUnavailable, TimeoutError):
                out[m] = self.status(m, timeout_s=0.5)
        return out

    def leader(self) -> tuple[str, int] | None:
        """(leader, term) if the reachable members agree on one leader that says it is leader."""
        st = self.statuses()
        leaders = {(s.member, s.term) for s in st.values() if s.role == "leader"}
        if len(leaders) != 1:
            return None
        name, term = next(iter(leaders))
        if all(s.leader == name and s.term == term for s in st.values()) and len(st) >= 2:
            return name, term
        return None

    def wait_leader(self, timeout_s: float) -> tuple[str, int]:
        def check():
            self.check_alive()
            return self.leader()
        return wait_for("a kubesim store leader", check, timeout_s)

    def metrics(self, member: str) -> dict[str, float]:
        """``name -> value`` of the member's ``kubesim_store_*`` series with only the ``member`` label."""
        with urllib.request.urlopen(f"http://{HOST}:{self.metrics_ports[member]}/metrics", timeout=2) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("kubesim_store_") and "{" in line:
                name, rest = line.split("{", 1)
                labels, value = rest.rsplit("}", 1)
                if labels == f'member="{member}"':
                    out[name] = float(value)
        return out

    def counters(self) -> dict[str, float]:
        """Leader changes seen and elections started, summed over the members that answer."""
        total = {"leader_changes": 0.0, "elections": 0.0}
        for m in MEMBERS:
            with contextlib.suppress(OSError):
                got = self.metrics(m)
                total["leader_changes"] += got.get("kubesim_store_leader_changes_total", 0.0)
                total["elections"] += got.get("kubesim_store_elections_started_total", 0.0)
        return total


class KubesimAdapter:
    """``run_load``'s view of a StoreSession: puts start on the session's loop, ``poll`` runs it once."""

    name = "kubesim"

    def __init__(self, session: StoreSession) -> None:
        self.session = session
        self.put = session.client.put
        self.start = session.start

    def start_put(self, key: bytes, value: bytes, done: Done) -> None:
        def finished(ok: bool, body) -> None:
            done(None if ok else f"{type(body).__name__}: {body}")
        self.start(self.put(key, value), finished)

    def poll(self, timeout_s: float) -> None:
        self.session.poll(timeout_s)

    def close(self) -> None:
        pass  # the session belongs to the KubesimStore

