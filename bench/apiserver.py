"""How fast is kubesim's API server, and what does it cost on top of the replicated store?

One run starts a real control plane on 127.0.0.1 — three store members
(``kubesim child store-N``, fsync on as in the default cluster; ``--no-fsync``
turns it off) and the API server (``kubesim child apiserver``, the broker
process with the ``apiserver`` actor) — from a temporary cluster file, and
measures it through the same client every kubesim component uses
(``ApiSession``/``ApiClient`` over the bus). Client work runs in worker
processes (``bench/apiserver_load.py``), each keeping many requests in flight
on one event loop; the machine has 2 cores, so the clients, the API server and
the three members share them (the CPU each used is reported).

(1) throughput   4 client processes x 64 requests in flight (``--clients``,
                 ``--in-flight``), closed loop, a warm-up then a timed window:
                 creates/s   a new ConfigMap (100-byte ``data.k``) per request;
                 updates/s   read-modify-write as client-go does it: ``get``, then
                             ``update`` with the resourceVersion the get returned
                             (2 requests per update; an update is counted once);
                 patches/s   a JSON merge patch (1 request);
                 gets/s      a get without resourceVersion (a quorum read from
                             the store, as in Kubernetes);
                 cached gets/s  ``resourceVersion=0`` (served from the watch cache).
(4) the peer     right after the creates, the same client processes, the same
                 concurrency and window put values of the same size as the
                 stored ConfigMap straight into the replicated store
                 (``StoreSession`` puts, new keys like the creates'):
                 ratio = API creates/s / store puts/s. Then the same with the
                 transaction the API server sends for a create (compare "key
                 absent", put; ``store_txn_creates_per_s``, ``ratio_vs_store_txn``),
                 which separates the API server's own cost from what the
                 store charges for that txn (which need not equal a put's).
                 Afterwards the peer's keys are deleted and the store
                 compacted (untimed), so that the phases after it do not
                 pay for bigger store snapshots than the API's data makes.
(2) watch fan-out  100 watches (``--watchers``) on ConfigMaps in one namespace,
                 spread over 4 processes, from the list's resourceVersion; then
                 N creates in that namespace (64 in flight). Every watch must see
                 every write's resourceVersion exactly once, in increasing order:
                 missed, duplicate, out-of-order and unexpected events are
                 counted (all must be 0). events/s = events delivered to all
                 watches / (last delivery - first write sent); it cannot exceed
                 watches x the writer's creates/s, so the line also says how
                 long after the last write's answer the last event arrived.
(3) latency      open loop: a write every 1/200 s (``--rate``) for 10 s, sent on
                 schedule whatever the answers do, half creates and half merge
                 patches of existing ConfigMaps; latency = answer - *scheduled*
                 send time (so a stall is not hidden by sending less).
                 Kubernetes' SLO for mutating calls: p99 <= 1 s; target here
                 p99 <= 50 ms.

Each phase also reports the CPU the API server, the store members and the
clients used (% of one core, from /proc), what other programs on the machine
used meanwhile (the figures are only as quiet as the machine), from the API
server's /metrics the mean time it spent per request and per store call, and
from the members' /metrics the snapshots they took (a member snapshots
synchronously, so a snapshot shows up in the tail latencies).

Reading the output: one line per measurement, then a summary; the LAST line is
one JSON object with every figure.

    .venv/bin/python bench/apiserver.py [--quick] [--no-fsync] [--clients 4] [--in-flight 64]
                                        [--watchers 100] [--watch-writes N] [--rate 200] [--keep]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path and bench/bus.py
# would shadow the ``bus`` package; import bench.* from the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import yaml  # noqa: E402

from bench.apiserver_load import (  # noqa: E402
    LineReader,
    Window,
    configmap,
    error_text,
    now,
    percentile,
)
from bench.store_peers import (  # noqa: E402
    HOST,
    ClusterContext,
    PeerFailed,
    Processes,
    _tails,
    free_ports,
    fs_type,
    sigterm_as_exit,
    wait_for,
)

MEMBERS = ("store-0", "store-1", "store-2")
ROOT = os.path.dirname(_HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
TARGET_P99_MS = 50.0
SLO_P99_MS = 1000.0
NS_LOAD, NS_WATCH, NS_LAT = "bench", "watch", "lat"


def say(line: str) -> None:
    print(line, flush=True)


# --- /proc and /metrics -------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return total - idle, total


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+0-9.eEinfNa]+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            out[(m.group(1), frozenset(_LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return out


def metric_delta(a: dict, b: dict, name: str, **labels: str) -> float:
    """Sum over the samples of ``name`` whose labels include ``labels``, from a to b."""
    want = set(labels.items())
    total = 0.0
    for (n, lab), v in b.items():
        if n == name and want <= lab:
            total += v - a.get((n, lab), 0.0)
    return total


# --- the cluster ------------------------------------------------------------------------------


class ApiBenchCluster(ClusterContext):
    """Three store members and the API server, as ``kubesim child`` processes, with a session of its own."""

    def __init__(self, *, fsync: bool, log_level: str = "warning", keep: bool = False,
                 start_timeout_s: float = 40.0) -> None:
        self.fsync = fsync
        self.log_level = log_level
        self.keep = keep
        self.start_timeout_s = start_timeout_s
        self.procs: dict[str, subprocess.Popen] = {}

    #: Prefix of the cluster's temporary directory (short: control sockets live under it).
    TMP_PREFIX = "ksa-"
    #: Ports a subclass needs for its extra processes (in ``self.extra_ports``).
    EXTRA_PORTS = 0

    def extra_processes(self) -> dict:
        """More processes for the cluster file (a subclass adds its component)."""
        return {}

    def after_ready(self) -> None:
        """Runs once the API server answers (a subclass starts its extra processes here)."""

    def _start(self) -> None:
        # A short path: control sockets live under state_dir (a Unix socket path is <= 107 bytes).
        self.tmp = tempfile.mkdtemp(prefix=self.TMP_PREFIX) if self.keep else \
            self._stack.enter_context(tempfile.TemporaryDirectory(prefix=self.TMP_PREFIX))
        ports = free_ports(2 + 2 * len(MEMBERS) + self.EXTRA_PORTS)  # all at once: no two the same
        self.broker_port, self.metrics_port = ports[:2]
        store_ports = dict(zip(MEMBERS, ports[2:2 + len(MEMBERS)]))
        self.store_metrics = dict(zip(MEMBERS, ports[2 + len(MEMBERS):2 + 2 * len(MEMBERS)]))
        self.extra_ports = ports[2 + 2 * len(MEMBERS):]
        doc = {
            "cluster": {"name": "kubesim-bench", "state_dir": os.path.join(self.tmp, "state")},
            "bus": {"host": HOST, "port": self.broker_port},
            "security": {"curve": False, "keys_dir": os.path.join(self.tmp, "keys")},
            "logging": {"level": self.log_level},
            "store": {"host": HOST, "members": store_ports, "data_dir": os.path.join(self.tmp, "data"),
                      "fsync": self.fsync},
            "processes": {
                "apiserver": {"component": "apiserver", "metrics_port": self.metrics_port},
                **{m: {"component": "store", "metrics_port": self.store_metrics[m]} for m in MEMBERS},
                **self.extra_processes(),
            },
        }
        self.config = os.path.join(self.tmp, "cluster.yaml")
        with open(self.config, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        from bus import logs
        from kubesim import config
        from kubesim.apiserver import session_for
        logs.configure("bench", "warning")
        self.cfg = config.load(self.config)
        self.data_fs = fs_type(self.tmp)
        self._procs = self._stack.enter_context(Processes())
        t0 = time.monotonic()
        for name in (*MEMBERS, "apiserver"):
            self.start_proc(name)

        def broker_listens():
            self.check_alive()
            socket.create_connection((HOST, self.broker_port), timeout=1).close()
            return True
        # A session made before the broker listens waits for ZeroMQ to connect again (up to 2 s) before it registers.
        try:
            wait_for("the API server's bus port", broker_listens, self.start_timeout_s, every_s=0.05)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self.tail_logs()}") from None
        self.session = session_for(self.cfg, name=f"kubesim-cli-bench-main-{os.getpid()}", timeout_s=10.0,
                                   deadline_s=30.0)
        self._stack.callback(self.session.close)
        self.api = self.session.api

        def answers():
            self.check_alive()
            self.session.run(self.api.list("namespaces", limit=1), timeout_s=5)
            return True
        try:
            wait_for("the API server to answer a list", answers, self.start_timeout_s, every_s=0.1)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self.tail_logs()}") from None
        self.ready_s = time.monotonic() - t0
        self.after_ready()

    def start_proc(self, name: str) -> subprocess.Popen:
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        try:
            proc = self._procs.start([sys.executable, "-m", "kubesim", "child", name, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def start_worker(self, wid: int, procs: Processes) -> subprocess.Popen:
        log = open(os.path.join(self.tmp, f"worker-{wid}.log"), "ab")
        try:
            return procs.start([sys.executable, os.path.join(_HERE, "apiserver_load.py"), "--config", self.config,
                                "--id", str(wid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               cwd=ROOT)
        finally:
            log.close()

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise PeerFailed(f"kubesim {name} exited with {p.returncode}\n{self.tail_logs()}")

    def tail_logs(self, names=None) -> str:
        return _tails([os.path.join(self.tmp, f"{n}.log") for n in (names or [*MEMBERS, "apiserver"])], lines=15)

    def pump(self, seconds: float) -> None:
        """Run this process's session for ``seconds`` (heartbeats; its own calls)."""
        end = now() + seconds
        while (left := end - now()) > 0:
            self.session.poll(min(left, 0.01))

    def cpu(self, client_pids: list[int] = ()) -> dict:
        out = {n: proc_cpu_s(p.pid) for n, p in self.procs.items()}
        out["_clients"] = sum(proc_cpu_s(pid) for pid in client_pids)
        out["_self"] = proc_cpu_s(os.getpid())
        out["_machine"] = machine_cpu()
        out["_t"] = now()
        return out

    def metrics(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.metrics_port}/metrics", timeout=3) as r:
                return parse_metrics(r.read().decode())
        except OSError:
            return {}

    def scrape_stores(self) -> dict[str, dict]:
        """Each member's parsed /metrics (a member that does not answer: empty)."""
        out = {}
        for m in MEMBERS:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.store_metrics[m]}/metrics", timeout=2) as r:
                    out[m] = parse_metrics(r.read().decode())
            except OSError:
                out[m] = {}
        return out

    def leader(self) -> str:
        """The store leader's name, from the members' /metrics (or '?')."""
        for m in MEMBERS:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.store_metrics[m]}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("kubesim_store_is_leader") and line.rstrip().endswith(" 1.0"):
                    return m
        return "?"


class Sample:
    """CPU and API server metrics between two moments."""

    def __init__(self, cluster: ApiBenchCluster, client_pids: list[int] = ()) -> None:
        self.cluster = cluster
        self.client_pids = list(client_pids)
        self.cpu0, self.m0, self.s0 = cluster.cpu(self.client_pids), cluster.metrics(), cluster.scrape_stores()

    def stop(self) -> dict:
        c = self.cluster
        self.cpu1, self.m1, self.s1 = c.cpu(self.client_pids), c.metrics(), c.scrape_stores()
        secs = self.cpu1["_t"] - self.cpu0["_t"]
        busy = self.cpu1["_machine"][0] - self.cpu0["_machine"][0]
        total = self.cpu1["_machine"][1] - self.cpu0["_machine"][1]
        self.seconds = secs
        self.apiserver_cpu_pct = 100 * (self.cpu1["apiserver"] - self.cpu0["apiserver"]) / secs
        self.store_cpu_pct = {m: 100 * (self.cpu1[m] - self.cpu0[m]) / secs for m in MEMBERS}
        self.machine_busy_pct = 100 * busy / total if total else 0.0
        self.clients_cpu_pct = 100 * (self.cpu1["_clients"] - self.cpu0["_clients"]) / secs
        self.self_cpu_pct = 100 * (self.cpu1["_self"] - self.cpu0["_self"]) / secs
        mine = (self.apiserver_cpu_pct + sum(self.store_cpu_pct.values()) + self.clients_cpu_pct
                + self.self_cpu_pct)
        # What the rest of the machine used (other programs), in % of one core.
        self.others_cpu_pct = max(0.0, self.machine_busy_pct * CORES - mine)
        return {
            "apiserver_cpu_pct": round(self.apiserver_cpu_pct),
            "store_cpu_pct": {m: round(v) for m, v in self.store_cpu_pct.items()},
            "client_processes_cpu_pct": round(self.clients_cpu_pct),
            "bench_parent_cpu_pct": round(self.self_cpu_pct),
            "other_programs_cpu_pct": round(self.others_cpu_pct),
            "machine_busy_pct": round(self.machine_busy_pct),
            **self.store_figures(),
        }

    def store_figures(self) -> dict:
        """What the members did meanwhile: snapshots (which stall a member), WAL fsyncs, leader changes."""
        snaps = snap_s = changes = 0.0
        fsyncs: dict[str, tuple[float, float]] = {}
        for m in MEMBERS:
            a, b = self.s0.get(m, {}), self.s1.get(m, {})
            snaps += metric_delta(a, b, "kubesim_store_snapshot_save_duration_seconds_count")
            snap_s += metric_delta(a, b, "kubesim_store_snapshot_save_duration_seconds_sum")
            changes += metric_delta(a, b, "kubesim_store_leader_changes_total")
            fsyncs[m] = (metric_delta(a, b, "kubesim_store_wal_fsync_duration_seconds_count"),
                         metric_delta(a, b, "kubesim_store_wal_fsync_duration_seconds_sum"))
        self.snapshots, self.snapshot_s, self.leader_changes = int(snaps), snap_s, int(changes)
        return {
            "store_snapshots": int(snaps),
            "store_snapshot_s": round(snap_s, 3),
            "store_leader_changes": int(changes),
            "store_fsyncs_per_s": {m: round(n / self.seconds) for m, (n, _) in fsyncs.items()},
            "store_fsync_mean_ms": {m: round(1e3 * t / n, 2) if n else 0.0 for m, (n, t) in fsyncs.items()},
        }
    def server_ms(self, verb: str) -> tuple[float, float]:
        """(requests, mean ms) the API server took per ``verb`` request on configmaps."""
        n = metric_delta(self.m0, self.m1, "kubesim_apiserver_request_duration_seconds_count", verb=verb,
                         resource="configmaps")
        s = metric_delta(self.m0, self.m1, "kubesim_apiserver_request_duration_seconds_sum", verb=verb,
                         resource="configmaps")
        return n, (1e3 * s / n if n else 0.0)

    def store_ms(self, operation: str) -> tuple[float, float]:
        n = metric_delta(self.m0, self.m1, "kubesim_apiserver_storage_request_duration_seconds_count",
                         operation=operation)
        s = metric_delta(self.m0, self.m1, "kubesim_apiserver_storage_request_duration_seconds_sum",
                         operation=operation)
        return n, (1e3 * s / n if n else 0.0)

    def cpu_line(self) -> str:
        stores = "/".join(f"{v:.0f}" for v in self.store_cpu_pct.values())
        snaps = (f"; store snapshots {self.snapshots} ({self.snapshot_s * 1e3:.0f} ms)" if self.snapshots else "")
        changes = f"; STORE LEADER CHANGES {self.leader_changes}" if self.leader_changes else ""
        return (f"CPU (% of a core): apiserver {self.apiserver_cpu_pct:.0f}, stores {stores}, clients "
                f"{self.clients_cpu_pct + self.self_cpu_pct:.0f}, other programs {self.others_cpu_pct:.0f}; "
                f"machine {self.machine_busy_pct:.0f}% busy ({CORES} cores){snaps}{changes}")


# --- worker processes ---------------------------------------------------------------------------


class Workers:
    """Worker processes (``apiserver_load.py``) that take JSON commands and answer JSON lines."""

    def __init__(self, cluster: ApiBenchCluster, n: int, first_id: int = 0) -> None:
        self.cluster = cluster
        self.n = n
        self.first_id = first_id

    def __enter__(self) -> Workers:
        self._procs = Processes()
        self._procs.__enter__()
        try:
            self.procs = [self.cluster.start_worker(self.first_id + i, self._procs) for i in range(self.n)]
            self.readers = [LineReader(p.stdout.fileno()) for p in self.procs]
            self.collect(60, "workers ready")
        except BaseException:
            self._procs.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            try:
                p.stdin.write(b'{"cmd": "exit"}\n')
                p.stdin.flush()
            except OSError:
                pass
        deadline = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self._procs.__exit__(*exc)  # TERM, then KILL, whatever is left

    def send(self, i: int, msg: dict) -> None:
        p = self.procs[i]
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()

    def send_all(self, msg: dict) -> None:
        for i in range(self.n):
            self.send(i, msg)

    def collect(self, timeout_s: float, what: str) -> list[dict]:
        """One answer from every worker, running the parent's session meanwhile."""
        got: list[dict | None] = [None] * self.n
        deadline = time.monotonic() + timeout_s
        while any(g is None for g in got):
            for i, r in enumerate(self.readers):
                if got[i] is not None:
                    continue
                lines = r.lines(0)
                if lines:
                    msg = json.loads(lines[0])
                    if "error" in msg:
                        raise PeerFailed(f"worker {self.first_id + i} failed ({what}): {msg['error']}\n"
                                         + self._tail(i))
                    got[i] = msg
                elif r.eof or self.procs[i].poll() is not None:
                    raise PeerFailed(f"worker {self.first_id + i} exited ({what})\n" + self._tail(i))
            if time.monotonic() > deadline:
                raise PeerFailed(f"timed out after {timeout_s} s waiting for the workers: {what}")
            self.cluster.check_alive()
            self.cluster.pump(0.01)
        return got  # type: ignore[return-value]

    def _tail(self, i: int) -> str:
        return self.cluster.tail_logs([f"worker-{self.first_id + i}", "apiserver"])


# --- the parent's own concurrent calls ------------------------------------------------------------


def run_many(cluster: ApiBenchCluster, make, count: int, in_flight: int, timeout_s: float = 120) -> list:
    """``count`` calls ``make(i)`` (a coroutine), ``in_flight`` at a time; results in order (or exceptions)."""
    results: list = [None] * count
    outstanding = 0
    issued = 0
    done = 0

    async def one(i: int):
        nonlocal outstanding, done
        try:
            results[i] = await make(i)
        except Exception as exc:
            results[i] = exc
        outstanding -= 1
        done += 1

    deadline = now() + timeout_s
    while done < count:
        while outstanding < in_flight and issued < count:
            outstanding += 1
            cluster.api.spawn(one(issued))
            issued += 1
        cluster.session.poll(0.005)
        if now() > deadline:
            raise PeerFailed(f"{done}/{count} calls done after {timeout_s} s")
    return results


# --- (1) and (4): throughput ----------------------------------------------------------------------


def load_phase(cluster: ApiBenchCluster, workers: Workers, op: str, label: str, *, warmup: float, duration: float,
               in_flight: int, lead: float = 0.5, value_bytes: int = 0) -> dict:
    t0 = now() + lead
    workers.send_all({"cmd": "load", "op": op, "t0": t0, "warmup": warmup, "duration": duration,
                      "in_flight": in_flight, "namespace": NS_LOAD, "value_bytes": value_bytes})
    cluster.pump(max(0.0, t0 + warmup - now()))
    sample = Sample(cluster, [p.pid for p in workers.procs])
    cluster.pump(max(0.0, t0 + warmup + duration - now()))
    cpu = sample.stop()
    results = workers.collect(duration + warmup + 90, f"{op} load")
    lat = sorted(x for r in results for x in r.pop("lat_ms"))
    ok = sum(r["ok"] for r in results)
    errors = sum(r["errors"] for r in results)
    codes: dict[str, int] = {}
    for r in results:
        for k, v in r["errors_by_code"].items():
            codes[k] = codes.get(k, 0) + v
    first_error = next((r["first_error"] for r in results if r["first_error"]), None)
    rate = ok / duration
    out = {
        "per_s": round(rate),
        "ok": ok,
        "errors": errors,
        "errors_by_code": codes,
        "first_error": first_error,
        "p50_ms": round(percentile(lat, 50), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "max_ms": round(lat[-1], 2) if lat else 0.0,
        "clients": workers.n,
        "in_flight": in_flight * workers.n,
        "seconds": duration,
        **cpu,
    }
    if op not in ("put", "txn"):
        verbs = {"update": ("get", "update"), "get0": ("get",)}.get(op, (op,))
        server = {}
        for verb in verbs:
            n, ms = sample.server_ms(verb)
            server[verb] = {"requests_per_s": round(n / sample.seconds), "mean_ms": round(ms, 2)}
        out["server"] = server
        store_ops = {"create": ("create",), "update": ("get", "update"), "patch": ("get", "patch"),
                     "get": ("get",), "get0": ()}[op]
        out["store_mean_ms"] = {o: round(sample.store_ms(o)[1], 2) for o in store_ops}
    sizes = [r["value_bytes"] for r in results if "value_bytes" in r]
    if sizes:
        out["value_bytes"] = sizes[0]
    err = f", {errors} errors {codes} (first: {first_error[:150]!r})" if errors else ""
    extra = ""
    if "server" in out:
        extra = ("; server mean " + ", ".join(f"{v}: {s['mean_ms']:.1f} ms" for v, s in out["server"].items())
                 + (", store " + ", ".join(f"{o}: {ms:.1f} ms" for o, ms in out["store_mean_ms"].items())
                    if out["store_mean_ms"] else ""))
    say(f"{label:<34} {rate:>7,.0f}/s  p50 {out['p50_ms']:6.1f} ms  p99 {out['p99_ms']:6.1f} ms  "
        f"({ok:,} in {duration:g} s, {workers.n}x{in_flight} in flight{err})")
    say(f"{'':<34} {sample.cpu_line()}{extra}")
    return out


def tidy_store(cluster: ApiBenchCluster) -> None:
    """Remove the peer's keys and compact the store, so the API phases after it see only the API's data.

    A member's snapshot holds every key and its uncompacted history; left in place, the peer's
    tens of thousands of keys would make every later snapshot (and the stall it causes) bigger.
    """
    from actors.store.client import StoreSession
    from actors.store.mvcc import prefix_end
    from bus.settings import BusSettings

    t = now()
    with StoreSession(cluster.cfg.store.endpoints(), name=f"bench-tidy-{os.getpid()}", timeout_s=10.0,
                      deadline_s=30.0, settings=BusSettings(max_frame_bytes=64 * 1024 * 1024)) as store:
        gone = store.run(store.client.delete(b"/bench/", prefix_end(b"/bench/")), timeout_s=60)
        rev = store.run(store.client.get(b"/bench/", count_only=True), timeout_s=30)["revision"]
        store.run(store.client.compact(rev), timeout_s=60)
    cluster.pump(0.5)
    say(f"store: deleted the peer's {gone.get('deleted', '?')} keys and compacted to revision {rev} "
        f"({now() - t:.1f} s, untimed)")


# --- (2): watch fan-out ---------------------------------------------------------------------------


def watch_phase(cluster: ApiBenchCluster, *, watchers: int, procs: int, writes: int, in_flight: int,
                first_id: int) -> dict:
    listed = cluster.session.run(cluster.api.list("configmaps", NS_WATCH), timeout_s=30)
    rv = listed["metadata"]["resourceVersion"]
    if listed["items"]:
        raise PeerFailed(f"namespace {NS_WATCH} is not empty")
    per_proc = [watchers // procs + (1 if i < watchers % procs else 0) for i in range(procs)]
    with Workers(cluster, procs, first_id=first_id) as ww:
        for i, n in enumerate(per_proc):
            ww.send(i, {"cmd": "watch", "count": n, "namespace": NS_WATCH, "rv": rv})
        ww.collect(30, "watches started")
        cluster.pump(0.5)  # the watches reach the server (they would start from rv anyway)
        m0 = cluster.metrics()
        sample = Sample(cluster, [p.pid for p in ww.procs])
        t_w0 = now()
        results = run_many(cluster, lambda i: cluster.api.create(configmap(f"w-{i}", NS_WATCH)), writes, in_flight)
        t_w1 = now()
        failed = [r for r in results if isinstance(r, Exception)]
        expected = sorted(int(r["metadata"]["resourceVersion"]) for r in results if not isinstance(r, Exception))
        ww.send_all({"cmd": "check", "expected": expected, "timeout": 30})
        reports = ww.collect(60, "watch check")
        cpu = sample.stop()
        m1 = cluster.metrics()
    per = [w for r in reports for w in r["watchers"]]
    delivered = sum(w["events"] - w["unexpected"] - w["duplicates"] for w in per)
    last = max((w["last_t"] for w in per if w["last_t"] is not None), default=t_w1)
    missed = sum(w["missed"] for w in per)
    span = last - t_w0
    out = {
        "watchers": len(per),
        "processes": procs,
        "writes": len(expected),
        "write_errors": len(failed),
        "first_write_error": error_text(failed[0]) if failed else None,
        "writes_per_s": round(len(expected) / (t_w1 - t_w0)),
        "events_expected": len(expected) * len(per),
        "events_delivered": delivered,
        "events_per_s": round(delivered / span) if span > 0 else 0,
        "delivery_s": round(span, 3),
        "last_delivery_after_last_write_ms": round(1e3 * (last - t_w1), 1),
        "missed": missed,
        "duplicates": sum(w["duplicates"] for w in per),
        "out_of_order": sum(w["out_of_order"] for w in per),
        "unexpected": sum(w["unexpected"] for w in per),
        "watchers_complete_in_order": sum(1 for w in per if w["in_order"] and not w["duplicates"]),
        "watch_resumes_after_gap": sum(w["resumes_after_gap"] for w in per),
        "watch_restarts": sum(w["restarts"] for w in per),
        "watch_errors": sum(r["error_count"] for r in reports),
        "first_watch_error": next((e for r in reports for e in r["errors"]), None),
        "server_events_sent": round(metric_delta(m0, m1, "kubesim_apiserver_watch_events_total",
                                                 resource="configmaps")),
        "server_watchers_cut_off": round(metric_delta(m0, m1, "kubesim_apiserver_terminated_watchers_total")),
        **cpu,
    }
    say(f"watch fan-out: {out['watchers']} watches in {procs} processes, {out['writes']:,} creates "
        f"({out['writes_per_s']:,}/s, {len(failed)} failed) -> {delivered:,} of {out['events_expected']:,} events "
        f"delivered in {span:.2f} s = {out['events_per_s']:,} events/s; last delivery "
        f"{out['last_delivery_after_last_write_ms']:.0f} ms after the last write was acknowledged")
    say(f"watch fan-out: missed {missed}, duplicates {out['duplicates']}, out of order {out['out_of_order']}, "
        f"unexpected {out['unexpected']}; {out['watchers_complete_in_order']}/{len(per)} watches complete and in "
        f"order; resumes {out['watch_resumes_after_gap']}, restarts {out['watch_restarts']}, errors "
        f"{out['watch_errors']}, cut off by the server {out['server_watchers_cut_off']}; {sample.cpu_line()}")
    return out


# --- (3): open-loop latency -----------------------------------------------------------------------


def latency_phase(cluster: ApiBenchCluster, *, rate: float, duration: float, objects: int = 200) -> dict:
    api = cluster.api
    pre = run_many(cluster, lambda i: api.create(configmap(f"lat-{i}", NS_LAT)), objects, 32)
    bad = [r for r in pre if isinstance(r, Exception)]
    if bad:
        raise PeerFailed(f"could not create the ConfigMaps to patch: {error_text(bad[0])}")
    total = int(rate * duration)
    windows = {"all": Window(float("-inf"), float("inf")), "create": Window(float("-inf"), float("inf")),
               "patch": Window(float("-inf"), float("inf"))}
    lags: list[float] = []
    state = {"outstanding": 0, "max_outstanding": 0, "done": 0}

    async def write(i: int, scheduled: float):
        lags.append(now() - scheduled)
        verb = "create" if i % 2 == 0 else "patch"
        try:
            if verb == "create":
                await api.create(configmap(f"lc-{i}", NS_LAT))
            else:
                await api.patch("configmaps", f"lat-{(i // 2) % objects}", {"data": {"n": str(i)}}, NS_LAT,
                                patch_type="merge")
            exc = None
        except Exception as e:  # counted
            exc = e
        ended = now()
        windows["all"].record(scheduled, ended, exc)
        windows[verb].record(scheduled, ended, exc)
        state["outstanding"] -= 1
        state["done"] += 1

    cluster.pump(0.5)
    sample = Sample(cluster)
    t0 = now() + 0.05
    interval = 1.0 / rate
    i = 0
    poll = cluster.session.poll
    while i < total:
        t = now()
        while i < total and t0 + i * interval <= t:
            state["outstanding"] += 1
            state["max_outstanding"] = max(state["max_outstanding"], state["outstanding"])
            api.spawn(write(i, t0 + i * interval))
            i += 1
        if i < total:
            poll(max(0.0, min(t0 + i * interval - now(), 0.005)))
    t_last_sched = t0 + (total - 1) * interval
    deadline = now() + 60
    while state["done"] < total and now() < deadline:
        poll(0.005)
    cpu = sample.stop()
    all_ = windows["all"].summary()
    achieved = all_["ok"] / (t_last_sched - t0 + interval)
    lags.sort()
    out = {
        "target_rate": rate,
        "achieved_rate": round(achieved, 1),
        "seconds": duration,
        "writes": total,
        "ok": all_["ok"],
        "errors": all_["errors"],
        "errors_by_code": all_["errors_by_code"],
        "first_error": all_["first_error"],
        "unanswered": total - state["done"],
        "p50_ms": all_["p50_ms"],
        "p99_ms": all_["p99_ms"],
        "max_ms": all_["max_ms"],
        "create": {k: windows["create"].summary()[k] for k in ("ok", "p50_ms", "p99_ms", "max_ms")},
        "patch": {k: windows["patch"].summary()[k] for k in ("ok", "p50_ms", "p99_ms", "max_ms")},
        "send_lag_p99_ms": round(percentile(lags, 99) * 1e3, 2),
        "send_lag_max_ms": round(lags[-1] * 1e3, 2) if lags else 0.0,
        "max_outstanding": state["max_outstanding"],
        "server_mean_ms": {v: round(sample.server_ms(v)[1], 2) for v in ("create", "patch")},
        "store_mean_ms": {o: round(sample.store_ms(o)[1], 2) for o in ("create", "get", "patch")},
        **cpu,
    }
    say(f"open-loop writes at {rate:g}/s for {duration:g} s (half creates, half merge patches): "
        f"achieved {achieved:.1f}/s, p50 {out['p50_ms']:.1f} ms  p99 {out['p99_ms']:.1f} ms  max "
        f"{out['max_ms']:.1f} ms  ({out['ok']:,} ok, {out['errors']} errors, {out['unanswered']} unanswered; "
        f"at most {out['max_outstanding']} outstanding; send lag p99 {out['send_lag_p99_ms']:.1f} ms)")
    say(f"  create p50 {out['create']['p50_ms']:.1f} p99 {out['create']['p99_ms']:.1f} ms; patch p50 "
        f"{out['patch']['p50_ms']:.1f} p99 {out['patch']['p99_ms']:.1f} ms; server mean create "
        f"{out['server_mean_ms']['create']:.1f} ms, patch {out['server_mean_ms']['patch']:.1f} ms; store mean "
        + ", ".join(f"{o} {ms:.1f} ms" for o, ms in out["store_mean_ms"].items()) + f"; {sample.cpu_line()}")
    return out


# --- main ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    q = args.quick
    warmup = 0.5 if q else 1.0
    dur = {"create": 2.0, "put": 2.0, "txn": 2.0, "update": 2.0, "patch": 1.5, "get": 1.5, "get0": 1.5} if q else \
        {"create": 6.0, "put": 6.0, "txn": 5.0, "update": 5.0, "patch": 4.0, "get": 4.0, "get0": 3.0}
    watch_writes = args.watch_writes or (300 if q else 2000)
    lat_s = args.latency_seconds or (4.0 if q else 10.0)
    result: dict = {}
    with ApiBenchCluster(fsync=not args.no_fsync, log_level=args.log_level, keep=args.keep) as cluster:
        say(f"cluster: 3 store members (fsync {'off' if args.no_fsync else 'on'}, data on {cluster.data_fs}) and the "
            f"API server answering in {cluster.ready_s:.1f} s; store leader {cluster.leader()}; logs in {cluster.tmp}")
        for ns in (NS_LOAD, NS_WATCH, NS_LAT):
            cluster.session.run(cluster.api.create({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}), timeout_s=30)
        phases: dict = {}
        with Workers(cluster, args.clients) as workers:
            say(f"--- (1) throughput: {args.clients} client processes x {args.in_flight} in flight, "
                f"{warmup:g} s warm-up per phase")
            kw = {"warmup": warmup, "in_flight": args.in_flight}
            phases["create"] = load_phase(cluster, workers, "create", "creates (ConfigMap, 1 request)",
                                          duration=dur["create"], **kw)
            vb = phases["create"].get("value_bytes") or 400
            phases["put"] = load_phase(cluster, workers, "put", f"store puts ({vb} B values, no API)",
                                       duration=dur["put"], lead=1.5, value_bytes=vb, **kw)
            phases["txn"] = load_phase(cluster, workers, "txn", "store txn-creates (the API's txn)",
                                       duration=dur["txn"], value_bytes=vb, **kw)
            tidy_store(cluster)
            workers.send_all({"cmd": "ensure", "namespace": NS_LOAD, "count": 2 * args.in_flight})
            workers.collect(60, "enough ConfigMaps per worker")
            phases["update"] = load_phase(cluster, workers, "update", "updates (get + update w/ rv)",
                                          duration=dur["update"], **kw)
            phases["patch"] = load_phase(cluster, workers, "patch", "merge patches (1 request)",
                                         duration=dur["patch"], **kw)
            phases["get"] = load_phase(cluster, workers, "get", "gets (quorum read)", duration=dur["get"], **kw)
            phases["get0"] = load_phase(cluster, workers, "get0", "gets resourceVersion=0 (cache)",
                                        duration=dur["get0"], **kw)
        say(f"--- (2) watch fan-out: {args.watchers} watches, {watch_writes} creates")
        watch = watch_phase(cluster, watchers=args.watchers, procs=args.watch_procs, writes=watch_writes,
                            in_flight=args.in_flight, first_id=100)
        say(f"--- (3) latency: open loop at {args.rate:g} writes/s")
        lat = latency_phase(cluster, rate=args.rate, duration=lat_s)
        cluster.check_alive()
        leader_after = cluster.leader()

    c, p, tx = phases["create"], phases["put"], phases["txn"]
    ratio = c["per_s"] / p["per_s"] if p["per_s"] else 0.0
    ratio_txn = c["per_s"] / tx["per_s"] if tx["per_s"] else 0.0
    result.update({
        "creates_per_s": c["per_s"],
        "updates_per_s": phases["update"]["per_s"],
        "update_method": "get then update with the resourceVersion from the get (2 requests per update)",
        "patches_per_s": phases["patch"]["per_s"],
        "gets_per_s": phases["get"]["per_s"],
        "gets_cached_per_s": phases["get0"]["per_s"],
        "store_puts_per_s": p["per_s"],
        "ratio": round(ratio, 3),
        "store_txn_creates_per_s": tx["per_s"],
        "ratio_vs_store_txn": round(ratio_txn, 3),
        "txn_vs_put": round(tx["per_s"] / p["per_s"], 3) if p["per_s"] else 0.0,
        "value_bytes": c.get("value_bytes"),
        "clients": args.clients,
        "in_flight_per_client": args.in_flight,
        "apiserver_cpu_pct": {k: v["apiserver_cpu_pct"] for k, v in phases.items()},
        "watch_events_per_s": watch["events_per_s"],
        "watchers": watch["watchers"],
        "watch_writes": watch["writes"],
        "watch_missed": watch["missed"],
        "watch_duplicates": watch["duplicates"],
        "watch_out_of_order": watch["out_of_order"],
        "watch_unexpected": watch["unexpected"],
        "watch_resumes": watch["watch_resumes_after_gap"] + watch["watch_restarts"],
        "latency_p50_ms": lat["p50_ms"],
        "latency_p99_ms": lat["p99_ms"],
        "latency_max_ms": lat["max_ms"],
        "target_rate": lat["target_rate"],
        "achieved_rate": lat["achieved_rate"],
        "latency_target_p99_ms": TARGET_P99_MS,
        "latency_target_met": lat["p99_ms"] <= TARGET_P99_MS and lat["errors"] == 0,
        "latency_slo_met": lat["p99_ms"] <= SLO_P99_MS and lat["errors"] == 0,
        "watch_complete": watch["missed"] == 0 and watch["out_of_order"] == 0 and watch["duplicates"] == 0
        and watch["unexpected"] == 0,
        "fsync": not args.no_fsync,
        "data_dir_fs": cluster.data_fs,
        "store_leader_after": leader_after,
        "phases": phases,
        "watch": watch,
        "latency": lat,
    })
    say("--- summary")
    say(f"API creates {c['per_s']:,}/s vs store puts {p['per_s']:,}/s: ratio {ratio:.2f} (vs the same txn sent "
        f"straight to the store, {tx['per_s']:,}/s: {ratio_txn:.2f})")
    say(f"updates (get+update) {result['updates_per_s']:,}/s, merge patches {result['patches_per_s']:,}/s, "
        f"gets {result['gets_per_s']:,}/s (cached {result['gets_cached_per_s']:,}/s)")
    say("API server CPU (% of one core): " + ", ".join(f"{k} {v}%" for k, v in result["apiserver_cpu_pct"].items()))
    say(f"watch: {watch['events_per_s']:,} events/s to {watch['watchers']} watches, missed {watch['missed']} "
        f"(must be 0), out of order {watch['out_of_order']}, duplicates {watch['duplicates']}")
    say(f"open-loop {lat['target_rate']:g} writes/s (achieved {lat['achieved_rate']:g}): p50 {lat['p50_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms (target <= {TARGET_P99_MS:g} ms: "
        f"{'met' if result['latency_target_met'] else 'MISSED'}; Kubernetes SLO <= 1 s: "
        f"{'met' if result['latency_slo_met'] else 'MISSED'}), max {lat['max_ms']:.1f} ms")
    return result


def run_bench(run, args) -> int:
    """A benchmark's ending, the same for every one: ``run(args)`` under a SIGTERM that unwinds (so every process
    it started is stopped), its figures' JSON object as the last line, and the exit status."""
    sigterm_as_exit()
    t0 = time.monotonic()
    try:
        result = run(args)
    except PeerFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    result["seconds"] = round(time.monotonic() - t0, 1)
    say(f"total time {result['seconds']:.0f} s")
    print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short phases (about 40 s in all)")
    ap.add_argument("--no-fsync", action="store_true", help="the store members do not fsync their WAL")
    ap.add_argument("--clients", type=int, default=4, help="client processes for the throughput phases")
    ap.add_argument("--in-flight", type=int, default=64, help="requests in flight per client process")
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--watch-procs", type=int, default=4, help="processes the watches are spread over")
    ap.add_argument("--watch-writes", type=int, help="creates during the watch phase (default 2000; 300 --quick)")
    ap.add_argument("--rate", type=float, default=200.0, help="open-loop writes per second")
    ap.add_argument("--latency-seconds", type=float, help="open-loop duration (default 10; 4 --quick)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data, cluster file)")
    ap.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    if args.clients < 1 or args.in_flight < 1 or args.watchers < 1 or args.watch_procs < 1 or args.rate <= 0:
        ap.error("counts and the rate must be positive")
    return run_bench(run, args)


if __name__ == "__main__":
    sys.exit(main())
