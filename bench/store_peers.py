"""The two peer systems kubesim's replicated store is measured against.

kubesim's raft store stands in for etcd, so its numbers only mean something
next to the real thing and next to another Python raft, measured on the same
machine, in the same run, by the same client harness (``bench/store_load.py``).
This module launches and drives those two peers, each as three real processes
on 127.0.0.1, and stops them (and removes their temporary directories) on the
way out, also on an error or Ctrl-C:

etcd 3.4   Debian's ``etcd-server`` (installed by ``ensure_etcd`` if missing);
           three members with a static ``--initial-cluster``, each with its own
           temporary ``--data-dir``, default fsync (a WAL fsync per batch of
           writes). Driven through its HTTP/JSON gateway, ``POST /v3/kv/put``,
           by ``EtcdHttpAdapter``: one keep-alive connection per write in
           flight, all in one selector loop with hand-written HTTP/1.1, so that
           the client's cost per write is a send, a recv and a few bytes of
           parsing (no http.client objects, no threads, no GIL hand-offs) and
           the two cores go to etcd (measured: the client process uses ~10% of
           one core at 500 in flight). Writes go to the leader's client URL
           only (found with ``/v3/maintenance/status``), as kubesim's store's
           clients write to its leader; ``--etcd-spread`` round-robins over all
           three members instead (a follower forwards the proposal to the
           leader, but the gateway's JSON-to-gRPC work is spread over three
           processes, which can be worth more than the hop costs).
PySyncObj  0.3.17 from PyPI, three replicas of a ``ReplDict``, each its own
           process. It has no client protocol, so the load runs inside the
           leader's process: every replica is this file started as
           ``store_peers.py _pysyncobj-replica ...``; each waits for a leader and
           only the leader runs ``run_load`` and prints its results as one JSON
           line (followers only serve). PySyncObj keeps its log in memory and
           does NOT fsync, so its figures are labelled "no fsync".
           Configured for its best showing here, both measured on this machine:
           ``appendEntriesUseBatch=False`` (with the default batching, entries
           leave only every ``appendEntriesPeriod``, 0.1 s: one client gets ~10
           writes/s at p50 100 ms, and 1,000 in flight about half the
           throughput) and ``autoTick=False`` with the harness's ``poll``
           running ``doTick`` (one thread per process: callbacks arrive in the
           harness's thread, no GIL hand-off per write; PySyncObj's own tick
           thread with a queue, ``--pysyncobj-tick thread``, measured ~2x slower).
           Its other settings are its defaults, log compaction included: past
           5,000 entries the leader serializes the whole dict, so a long run
           is slower per write than a short one (a real cost of PySyncObj).

``bench_etcd`` and ``bench_pysyncobj`` each return one dict: a concurrent run
(``writes_per_s``, with its p50/p99) and a sequential one (``seq_p50_ms``,
``seq_p99_ms``: one client, one write at a time).

    .venv/bin/python bench/store_peers.py [--only etcd|pysyncobj]

prints one line per run, then one JSON line with both systems' figures.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path and bench/bus.py
# would shadow the ``bus`` package; import the harness as ``bench.store_load`` from the repo root.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import secrets  # noqa: E402
import selectors  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from bench.store_load import Done, LoadResult, run_load  # noqa: E402

HOST = "127.0.0.1"

ETCD_IN_FLIGHT = 500        # DESIGN §6: etcd 3.4.23 here ~3.3k writes/s at 500 clients
ETCD_TOTAL = 30_000
PYSYNCOBJ_IN_FLIGHT = 1000  # DESIGN §6: PySyncObj here ~15.7k ops/s with 1,000 in flight
PYSYNCOBJ_TOTAL = 60_000
SEQ_TOTAL = 2_000           # sequential: one client, one write at a time


class PeerFailed(RuntimeError):
    """A peer system could not be installed, started, or driven."""


# --- Processes and ports -----------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the OS says are free on HOST now (all held open until all are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:
    """In the child, before exec: be killed if the benchmark dies, even by SIGKILL (Linux only).

    SIGKILL, not SIGTERM: an etcd leader answers SIGTERM by trying to hand its
    leadership over, which with its peers gone can hang on; a benchmark's member has nothing to save.
    """
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Processes:
    """Child processes that are stopped (TERM, then KILL) and reaped when the block ends, however it ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kw)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in self.procs:
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    f.close()


def wait_for(what: str, condition: Callable[[], object], timeout_s: float, every_s: float = 0.05):
    """Poll ``condition()`` until it returns something truthy; its last exception is in the error."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while True:
        try:
            got = condition()
            if got:
                return got
        except PeerFailed:
            raise
        except Exception as exc:  # not up yet: refused connections, 503s, ...
            last = exc
        if time.monotonic() > deadline:
            raise PeerFailed(f"timed out after {timeout_s} s waiting for {what}" + (f": {last!r}" if last else ""))
        time.sleep(every_s)


def sigterm_as_exit() -> None:
    """Make SIGTERM unwind like Ctrl-C does, so ``finally`` blocks stop the peers and remove temp dirs."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def _summary(concurrent: LoadResult, sequential: LoadResult, **extra) -> dict:
    return {
        "writes_per_s": round(concurrent.ops_per_s),
        "p50_ms": round(concurrent.p50_ms, 2),
        "p99_ms": round(concurrent.p99_ms, 2),
        "in_flight": concurrent.in_flight,
        "errors": concurrent.errors + sequential.errors,
        "seq_writes_per_s": round(sequential.ops_per_s),
        "seq_p50_ms": round(sequential.p50_ms, 3),
        "seq_p99_ms": round(sequential.p99_ms, 3),
        "client_cpu_pct": round(concurrent.client_cpu_pct),
        **extra,
    }


# --- etcd 3.4 ---------------------------------------------------------------------------


def ensure_etcd() -> str:
    """Path of an ``etcd`` binary: the one on PATH, or Debian's ``etcd-server`` installed now."""
    found = shutil.which("etcd")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise PeerFailed("etcd is not on PATH and there is no apt-get to install etcd-server with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "etcd-server"]
    print("etcd not found: " + " ".join(install), flush=True)
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        # A fresh machine has no package lists yet; fetch them once and try again.
        print("install failed: apt-get update, then again", flush=True)
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL, check=False)
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            raise PeerFailed("apt-get install etcd-server failed")
    # Debian's package installs /usr/bin/etcd (its service is for systemd; we start our own members).
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if not found:
        raise PeerFailed("etcd-server installed but no etcd binary found")
    return found


def http_json(port: int, method: str, path: str, body: dict | None = None, timeout_s: float = 2.0) -> dict:
    """One request to a member's client URL (set-up and discovery only; the load uses EtcdHttpAdapter)."""
    import http.client
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise PeerFailed(f"{method} {path} on :{port}: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data)
    finally:
        conn.close()


def fs_type(path: str) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts): fsync on tmpfs is free, so say which."""
    path, best, kind = os.path.realpath(path), "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fields[2]
    return kind


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ClusterContext:
    """A cluster of processes as a context manager: ``_start`` builds it on an ExitStack that
    ``__exit__`` (or a failed start) unwinds — processes, then their temporary directory."""

    _stack: contextlib.ExitStack

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _start(self) -> None:
        raise NotImplementedError


class EtcdCluster(ClusterContext):
    """Three etcd members on 127.0.0.1 in a temporary directory; a context manager.

    ``client_ports[i]`` is member i's client URL port; ``leader_port`` the leader's.
    """

    def __init__(self, etcd: str, *, members: int = 3, start_timeout_s: float = 30.0) -> None:
        self.etcd = etcd
        self.members = members
        self.start_timeout_s = start_timeout_s
        self.client_ports: list[int] = []
        self.leader_port = 0
        self.api = "/v3"

    def _start(self) -> None:
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="kubesim-bench-etcd-"))
        self.tmp = tmp
        procs = self._stack.enter_context(Processes())
        ports = free_ports(2 * self.members)
        self.client_ports, peer_ports = ports[: self.members], ports[self.members:]
        names = [f"m{i}" for i in range(self.members)]
        cluster = ",".join(f"{n}=http://{HOST}:{p}" for n, p in zip(names, peer_ports))
        token = "kubesim-bench-" + secrets.token_hex(4)  # never joins a stray cluster from another run
        for name, cport, pport in zip(names, self.client_ports, peer_ports):
            log = open(os.path.join(tmp, f"{name}.log"), "wb")
            self._stack.callback(log.close)
            procs.start([
                self.etcd, "--name", name, "--data-dir", os.path.join(tmp, name),
                "--listen-client-urls", f"http://{HOST}:{cport}", "--advertise-client-urls", f"http://{HOST}:{cport}",
                "--listen-peer-urls", f"http://{HOST}:{pport}", "--initial-advertise-peer-urls", f"http://{HOST}:{pport}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
                "--heartbeat-interval", "100", "--election-timeout", "1000",
            ], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("ETCD")})
        self.procs = procs

        def healthy() -> bool:
            for p in procs.procs:
                if p.poll() is not None:
                    raise PeerFailed(f"an etcd member exited with {p.returncode}")
            return all(http_json(port, "GET", "/health", timeout_s=1).get("health") == "true"
                       for port in self.client_ports)

        t0 = time.monotonic()
        try:
            wait_for("3 healthy etcd members", healthy, self.start_timeout_s)
            self.api = self._gateway_prefix()
            self.leader_port = wait_for("an etcd leader", self._find_leader, self.start_timeout_s)
            # A real write through the gateway, to the leader: the cluster commits.
            wait_for("a put through the gateway", lambda: http_json(
                self.leader_port, "POST", f"{self.api}/kv/put", {"key": b64(b"bench/ready"), "value": b64(b"1")}),
                self.start_timeout_s)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self._tail_logs()}") from None
        self.ready_s = time.monotonic() - t0

    def _gateway_prefix(self) -> str:
        """etcd 3.4 serves the gateway at /v3 (and /v3beta); 3.3 only at /v3beta."""
        for prefix in ("/v3", "/v3beta"):
            with contextlib.suppress(PeerFailed):
                http_json(self.client_ports[0], "POST", f"{prefix}/maintenance/status", {})
                return prefix
        raise PeerFailed("no JSON gateway at /v3 or /v3beta")

    def _find_leader(self) -> int | None:
        for port in self.client_ports:
            st = http_json(port, "POST", f"{self.api}/maintenance/status", {})
            # uint64 ids are JSON strings in the gateway's output
            if st.get("leader") and st.get("leader") == st.get("header", {}).get("member_id"):
                return port
        return None

    def _tail_logs(self) -> str:
        return _tails([os.path.join(self.tmp, f"m{i}.log") for i in range(self.members)])


class _Conn:
    __slots__ = ("buf", "done", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.done: Done | None = None


class EtcdHttpAdapter:
    """``POST {api}/kv/put`` over keep-alive HTTP/1.1, one connection per write in flight, one selector.

    A connection carries one request at a time (Go's server answers a connection's
    requests in order, so pipelining would only queue them); the pool grows to the
    largest number in flight and is reused. Writes go round-robin over ``ports``
    (pass only the leader's to write to the leader).
    """

    name = "etcd"

    def __init__(self, ports: list[int], api: str = "/v3") -> None:
        self.ports = ports
        self.sel = selectors.DefaultSelector()
        self.idle: list[_Conn] = []
        self.opened = 0
        self.head = (f"POST {api}/kv/put HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                     "Content-Length: ").encode()

    def _connect(self) -> _Conn:
        port = self.ports[self.opened % len(self.ports)]
        self.opened += 1
        sock = socket.create_connection((HOST, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = _Conn(sock)
        self.sel.register(sock, selectors.EVENT_READ, conn)
        return conn

    def start_put(self, key: bytes, value: bytes, done: Done) -> None:
        body = b'{"key":"' + base64.b64encode(key) + b'","value":"' + base64.b64encode(value) + b'"}'
        conn = self.idle.pop() if self.idle else self._connect()
        conn.done = done
        try:
            # The connection is idle, so its send buffer is empty and a ~300-byte request fits whole.
            sent = conn.sock.send(self.head + b"%d\r\n\r\n" % len(body) + body)
            if sent == 0:
                raise OSError("short send")
        except OSError as exc:
            self._drop(conn, f"send: {exc!r}")

    def _drop(self, conn: _Conn, err: str) -> None:
        with contextlib.suppress(Exception):
            self.sel.unregister(conn.sock)
        conn.sock.close()
        done, conn.done = conn.done, None
        if done is not None:
            done(err)

    def poll(self, timeout_s: float) -> None:
        for key, _ in self.sel.select(timeout_s):
            conn: _Conn = key.data
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._drop(conn, f"recv: {exc!r}")
                continue
            if not data:
                self._drop(conn, "connection closed by etcd")
                continue
            buf = conn.buf = conn.buf + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            head = buf[:end]
            # The gateway answers a put with a small body and a Content-Length.
            i = head.lower().find(b"content-length:")
            if i < 0:
                self._drop(conn, f"unsupported response (no Content-Length): {head[:200]!r}")
                continue
            length = int(head[i + 15: head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
            if len(buf) < end + 4 + length:
                continue
            conn.buf = buf[end + 4 + length:]
            done, conn.done = conn.done, None
            self.idle.append(conn)
            if done is None:
                continue
            if buf.startswith(b"HTTP/1.1 200"):
                done(None)
            else:
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                done(f"{status}: {buf[end + 4: end + 4 + length][:200].decode(errors='replace')}")

    def close(self) -> None:
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


def bench_etcd(in_flight: int = ETCD_IN_FLIGHT, total: int = ETCD_TOTAL, seq_total: int = SEQ_TOTAL,
               *, spread: bool = False, log: Callable[[str], None] = print) -> dict:
    """etcd 3.4, 3 members, fsync on: one concurrent run and one sequential run, through the JSON gateway.

    ``spread=True`` sends to all three members round-robin instead of only to the leader.
    """
    etcd = ensure_etcd()
    version = subprocess.run([etcd, "--version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    with EtcdCluster(etcd) as cluster:
        ports = cluster.client_ports if spread else [cluster.leader_port]
        fs = fs_type(cluster.tmp)
        fsync = "fsync on" if fs != "tmpfs" else "fsync on, but the data dirs are on tmpfs"
        label = f"etcd {version.split()[-1]} ({fsync}, gateway {cluster.api}, {'all members' if spread else 'leader'})"
        log(f"etcd: {cluster.members} members ready in {cluster.ready_s:.1f} s (logs and data in {cluster.tmp}); "
            f"writing to {'all members' if spread else f'the leader, 127.0.0.1:{cluster.leader_port}'}")
        adapter = EtcdHttpAdapter(ports, cluster.api)
        try:
            conc = run_load(adapter, in_flight=in_flight, total=total)
            log(f"{label}: {conc.line()}")
            seq = run_load(adapter, in_flight=1, total=seq_total)
            log(f"{label}: sequential {seq.line()}")
        finally:
            adapter.close()
    return _summary(conc, seq, system=label, version=version.split()[-1], fsync=True, data_dir_fs=fs,
                    endpoints="all" if spread else "leader")


# --- PySyncObj ------------------------------------------------------------------------------


class PySyncObjAdapter:
    """Puts into a replicated ``ReplDict`` from inside a replica (PySyncObj has no client protocol).

    ``inline`` (the default): the replica is built with ``autoTick=False`` and
    ``poll`` runs its event loop (``doTick``), so callbacks arrive in this thread
    and the process has one thread, with no GIL hand-off per write. Otherwise
    PySyncObj ticks in its own thread and its callbacks feed a queue that
    ``poll`` drains.
    """

    name = "pysyncobj"

    def __init__(self, obj, rdict, inline: bool) -> None:
        from pysyncobj import FAIL_REASON
        self.ok = FAIL_REASON.SUCCESS
        self.obj, self.rdict, self.inline = obj, rdict, inline
        self.q: queue.SimpleQueue = queue.SimpleQueue()

    def start_put(self, key: bytes, value: bytes, done: Done) -> None:
        if self.inline:
            ok = self.ok

            def cb(res, err) -> None:
                done(None if err == ok else f"pysyncobj FAIL_REASON {err}")
        else:
            q = self.q

            def cb(res, err) -> None:  # runs in PySyncObj's tick thread
                q.put((done, err))
        self.rdict.set(key, value, callback=cb)

    def poll(self, timeout_s: float) -> None:
        if self.inline:
            self.obj.doTick(timeout_s)
            return
        try:
            item = self.q.get(timeout=timeout_s)
        except queue.Empty:
            return
        while True:
            done, err = item
            done(None if err == self.ok else f"pysyncobj FAIL_REASON {err}")
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        pass


def _pysyncobj_replica(argv: list[str]) -> int:
    """A replica process: serve, and if this replica is the leader, run the load and print one JSON line."""
    ap = argparse.ArgumentParser(prog="store_peers.py _pysyncobj-replica")
    ap.add_argument("--self", required=True)
    ap.add_argument("--partners", required=True)
    ap.add_argument("--in-flight", type=int, required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--seq-total", type=int, required=True)
    ap.add_argument("--tick", choices=["inline", "thread"], default="inline")
    ap.add_argument("--batch", choices=["on", "off"], default="off")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    sigterm_as_exit()

    from pysyncobj import SyncObj, SyncObjConf
    from pysyncobj.batteries import ReplDict

    inline = args.tick == "inline"
    rdict = ReplDict()
    conf = SyncObjConf(autoTick=not inline, appendEntriesUseBatch=args.batch == "on")
    obj = SyncObj(args.self, args.partners.split(","), conf=conf, consumers=[rdict])
    tick = obj.doTick if inline else time.sleep

    started = time.monotonic()
    deadline = started + args.timeout
    while obj._getLeader() is None or not obj.isReady():
        if time.monotonic() > deadline:
            print(json.dumps({"role": "none", "error": "no leader elected", "status": str(obj.getStatus())}),
                  flush=True)
            return 1
        tick(0.01)

    if obj._isLeader():
        adapter = PySyncObjAdapter(obj, rdict, inline)
        out: dict = {"role": "leader", "self": args.self, "ready_s": round(time.monotonic() - started, 2)}
        try:
            out["concurrent"] = run_load(adapter, in_flight=args.in_flight, total=args.total,
                                         timeout_s=args.timeout).as_dict()
            out["sequential"] = run_load(adapter, in_flight=1, total=args.seq_total, timeout_s=args.timeout).as_dict()
        except Exception as exc:
            out["error"] = repr(exc)
        print(json.dumps(out), flush=True)
    else:
        print(json.dumps({"role": "follower", "self": args.self}), flush=True)
    # Keep serving (the leader needs its followers) until the parent stops us.
    while True:
        tick(0.1)


def bench_pysyncobj(in_flight: int = PYSYNCOBJ_IN_FLIGHT, total: int = PYSYNCOBJ_TOTAL, seq_total: int = SEQ_TOTAL,
                    *, tick: str = "inline", batch: bool = False, timeout_s: float = 60.0,
                    log: Callable[[str], None] = print) -> dict:
    """PySyncObj 0.3.17, 3 replica processes (no fsync): one concurrent run and one sequential, in the leader."""
    from importlib.metadata import version
    ver = version("pysyncobj")
    ports = free_ports(3)
    addrs = [f"{HOST}:{p}" for p in ports]
    label = f"pysyncobj {ver} (NO fsync: log in memory; load inside the leader, tick {tick})"
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-pysyncobj-") as tmp, Processes() as procs:
        logs = []
        for i, a in enumerate(addrs):
            logs.append(os.path.join(tmp, f"replica{i}.log"))  # PySyncObj's own warnings and any traceback
            with open(logs[-1], "wb") as err:
                procs.start([sys.executable, os.path.abspath(__file__), "_pysyncobj-replica", "--self", a,
                             "--partners", ",".join(x for x in addrs if x != a), "--in-flight", str(in_flight),
                             "--total", str(total), "--seq-total", str(seq_total), "--tick", tick,
                             "--batch", "on" if batch else "off", "--timeout", str(timeout_s)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            # A replica spends at most timeout_s on each of: the election, the concurrent run, the sequential run.
            leader = _read_leader_line(procs.procs, 3 * timeout_s + 10)
            if "error" in leader:
                partial = (f" (concurrent run: {LoadResult(**leader['concurrent']).line()})"
                           if "concurrent" in leader else "")
                raise PeerFailed(f"pysyncobj leader {leader['self']}: {leader['error']}{partial}")
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{_tails(logs)}") from None
    conc, seq = LoadResult(**leader["concurrent"]), LoadResult(**leader["sequential"])
    log(f"pysyncobj: leader {leader['self']} elected and ready {leader['ready_s']:.1f} s after its start")
    log(f"{label}: {conc.line()}")
    log(f"{label}: sequential {seq.line()}")
    return _summary(conc, seq, system=label, version=ver, fsync=False, tick=tick, batch=batch)


def _tails(paths: list[str], lines: int = 5) -> str:
    """The last lines of each log, for an error message."""
    out = []
    for path in paths:
        with contextlib.suppress(OSError), open(path, "rb") as f:
            tail = f.read().decode(errors="replace").splitlines()[-lines:]
            if tail:
                out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out)


def _read_leader_line(procs: list[subprocess.Popen], timeout_s: float) -> dict:
    """The JSON line of the replica that was leader; every replica prints exactly one line."""
    sel = selectors.DefaultSelector()
    for p in procs:
        sel.register(p.stdout, selectors.EVENT_READ, p)
    deadline = time.monotonic() + timeout_s
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerFailed(f"pysyncobj: no result from the leader within {timeout_s} s")
            for key, _ in sel.select(left):
                p = key.data
                line = p.stdout.readline()
                sel.unregister(p.stdout)
                if not line:
                    raise PeerFailed(f"pysyncobj replica exited ({p.poll()}) without a result")
                msg = json.loads(line)
                if msg.get("role") == "leader":
                    return msg
                if msg.get("role") != "follower":
                    raise PeerFailed(f"pysyncobj replica: {msg}")
        raise PeerFailed("pysyncobj: every replica says it is a follower")
    finally:
        sel.close()


# --- Alone ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_pysyncobj-replica"]:
        try:
            return _pysyncobj_replica(argv[1:])
        except (KeyboardInterrupt, SystemExit):  # stopped by the parent or by Ctrl-C on the group: no traceback
            return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["etcd", "pysyncobj"])
    ap.add_argument("--etcd-in-flight", type=int, default=ETCD_IN_FLIGHT)
    ap.add_argument("--etcd-total", type=int, default=ETCD_TOTAL)
    ap.add_argument("--etcd-spread", action="store_true", help="write to all three members, not only the leader")
    ap.add_argument("--pysyncobj-in-flight", type=int, default=PYSYNCOBJ_IN_FLIGHT)
    ap.add_argument("--pysyncobj-total", type=int, default=PYSYNCOBJ_TOTAL)
    ap.add_argument("--pysyncobj-tick", choices=["inline", "thread"], default="inline")
    ap.add_argument("--pysyncobj-batch", choices=["on", "off"], default="off",
                    help="appendEntriesUseBatch (on: entries leave every appendEntriesPeriod, 0.1 s)")
    ap.add_argument("--seq-total", type=int, default=SEQ_TOTAL)
    args = ap.parse_args(argv)
    sigterm_as_exit()
    result: dict = {}
    try:
        if args.only in (None, "pysyncobj"):
            result["pysyncobj"] = bench_pysyncobj(args.pysyncobj_in_flight, args.pysyncobj_total, args.seq_total,
                                                  tick=args.pysyncobj_tick, batch=args.pysyncobj_batch == "on")
        if args.only in (None, "etcd"):
            result["etcd"] = bench_etcd(args.etcd_in_flight, args.etcd_total, args.seq_total,
                                        spread=args.etcd_spread)
    except PeerFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; peers stopped", file=sys.stderr)
        return 130
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
