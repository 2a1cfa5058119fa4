"""The client side of ``bench/apiserver.py``: load and watch workers, and the pieces both use.

A worker is this file run as a process (``apiserver_load.py --config FILE --id N``)
holding one :class:`~actors.apiserver.client.ApiSession` (as ``kubesim-cli-bench-N-PID``,
which the default identity table maps to the user ``admin``). It takes commands
from the parent as JSON lines on stdin and answers each with one JSON line on
stdout; between commands it keeps running its session's loop (heartbeats,
watch acknowledgements). Many requests are in flight at once as coroutines on
that one loop (``session.api.spawn``), as a controller's client has them.

Commands:

``{"cmd": "load", "op": OP, "t0": T, "warmup": W, "duration": D, "in_flight": N, "namespace": NS}``
    Closed loop: from ``t0`` (``time.monotonic``, which on Linux is one clock for
    every process) keep ``in_flight`` requests outstanding until ``t0 + W + D``;
    only completions that end inside ``[t0 + W, t0 + W + D]`` count. Requests
    still outstanding then are drained, untimed. OP is one of:

    ``create``  a new ConfigMap (``data.k`` = 100 bytes) per request;
    ``update``  read-modify-write as client-go does it: ``get``, change
                ``data.n``, ``update`` with the resourceVersion the get returned
                (two requests; one completion);
    ``patch``   a JSON merge patch of ``data.n`` (one request);
    ``get``     a get (a quorum read from the store, as a get without
                ``resourceVersion`` is in Kubernetes);
    ``get0``    a get with ``resourceVersion=0`` (served from the watch cache);
    ``put``     no API server: a ``StoreSession`` put of ``value_bytes`` to a new
                key, straight to the replicated store;
    ``txn``     no API server: the transaction the API server sends for a create
                (compare "key absent", put ``value_bytes``, else a count-only range).

    update/patch/get/get0 cycle through the ConfigMaps this worker created.
``{"cmd": "ensure", "namespace": NS, "count": N}``
    Make sure this worker has created at least N ConfigMaps (untimed).
``{"cmd": "watch", "count": N, "namespace": NS, "rv": RV}``
    Start N watches on ConfigMaps in NS from resourceVersion RV.
``{"cmd": "check", "expected": [RV, ...], "timeout": S}``
    Wait until every watch has seen as many events as expected (or S passes),
    then report, per watch, what was missed, repeated or out of order.
``{"cmd": "exit"}``

The module also holds what the parent uses for its own requests (``Window``,
``configmap``, ``percentile``).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]  # bench/bus.py would shadow the ``bus`` package
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402

from actors.apiserver.status import ApiError  # noqa: E402
from bench.store_load import percentile  # noqa: E402

VALUE = "v" * 100
now = time.monotonic  # CLOCK_MONOTONIC: comparable across the benchmark's processes


def configmap(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"k": VALUE}}


def stored_size(obj: dict) -> int:
    """Bytes the API server stores for ``obj`` (its JSON without resourceVersion, as ``ApiServer._encode``)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return len(json.dumps(dict(obj, metadata=meta), separators=(",", ":"), ensure_ascii=False).encode())


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.code} {exc.reason}: {exc.message}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def error_code(exc: BaseException) -> str:
    return str(exc.code) if isinstance(exc, ApiError) else type(exc).__name__


class Window:
    """Completions of one measured window: latencies of the counted successes, errors by code."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.latencies: list[float] = []
        self.errors: Counter = Counter()
        self.first_error: str | None = None
        self.completed = 0  # all completions, counted or not

    def record(self, started: float, ended: float, exc: BaseException | None) -> None:
        self.completed += 1
        if not (self.start <= ended <= self.end):
            return
        if exc is None:
            self.latencies.append(ended - started)
        else:
            self.errors[error_code(exc)] += 1
            if self.first_error is None:
                self.first_error = error_text(exc)

    def summary(self, raw: bool = False) -> dict:
        lat = sorted(self.latencies)
        extra = {"lat_ms": [round(x * 1e3, 3) for x in lat]} if raw else {}
        return {
            **extra,
            "ok": len(lat),
            "errors": sum(self.errors.values()),
            "errors_by_code": dict(self.errors),
            "first_error": self.first_error,
            "p50_ms": round(percentile(lat, 50) * 1e3, 2),
            "p99_ms": round(percentile(lat, 99) * 1e3, 2),
            "max_ms": round(lat[-1] * 1e3, 2) if lat else 0.0,
        }


class LineReader:
    """Whole lines from a file descriptor, without blocking (select, then os.read)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def lines(self, timeout_s: float = 0.0) -> list[bytes]:
        if not self.eof and select.select([self.fd], [], [], timeout_s)[0]:
            data = os.read(self.fd, 1 << 20)
            if not data:
                self.eof = True
            self.buf += data
        *whole, self.buf = self.buf.split(b"\n")
        return [w for w in whole if w.strip()]


class Worker:
    def __init__(self, config_path: str, wid: int) -> None:
        from bus import logs
        from kubesim import config
        from kubesim.apiserver import session_for

        self.cfg = config.load(config_path)
        self.wid = wid
        logs.configure(f"bench-w{wid}", "warning")
        self.session = session_for(self.cfg, name=f"kubesim-cli-bench-{wid}-{os.getpid()}", timeout_s=10.0,
                                   deadline_s=30.0)
        self.api = self.session.api
        self.store = None
        self.names: dict[str, list[str]] = {}
        self.seq = 0
        self.watches: list = []
        self.seen: list[list[tuple[int, float]]] = []
        self.watch_errors: list[str] = []
        self.stdin = LineReader(0)

    # --- the loop ------------------------------------------------------------------------
    def pump(self, timeout_s: float) -> None:
        self.session.poll(timeout_s)
        if self.store is not None:
            self.store.poll(0)

    def pump_until(self, t: float) -> None:
        while (left := t - now()) > 0:
            self.pump(min(left, 0.01))

    def serve(self) -> None:
        self.session.run(self.api.list("namespaces", limit=1), timeout_s=60)
        reply({"ready": True, "pid": os.getpid()})
        while True:
            for line in self.stdin.lines(0):
                msg = json.loads(line)
                cmd = msg.pop("cmd")
                if cmd == "exit":
                    return
                reply(getattr(self, f"cmd_{cmd}")(**msg))
            if self.stdin.eof:
                return
            self.pump(0.01)

    # --- load ------------------------------------------------------------------------------
    def _new_name(self) -> str:
        self.seq += 1
        return f"cm-{self.wid}-{self.seq}"

    def _op(self, op: str, namespace: str, i: int, value_bytes: int) -> Callable:
        api = self.api
        if op == "create":
            name = self._new_name()
            created = self.names.setdefault(namespace, [])

            async def create():
                obj = await api.create(configmap(name, namespace))
                created.append(name)
                return obj
            return create
        if op in ("put", "txn"):
            key = b"/bench/%s/%s/cm-%d-%d" % (op.encode(), namespace.encode(), self.wid, i)
            value = b"v" * value_bytes
            client = self.store.client
            if op == "txn":
                # The transaction the API server sends for a create (ApiServer._create).
                compare = [{"key": key, "target": "create", "result": "=", "value": 0}]
                success = [{"op": "put", "key": key, "value": value}]
                failure = [{"op": "range", "key": key, "count_only": True}]

                async def txn():
                    return await client.txn(compare, success, failure)
                return txn

            async def put():
                return await client.put(key, value)
            return put
        names = self.names.get(namespace) or []
        if not names:
            raise RuntimeError(f"worker {self.wid}: no ConfigMaps of its own in {namespace} to {op}")
        name = names[i % len(names)]
        if op == "update":
            async def update():
                obj = await api.get("configmaps", name, namespace)
                obj["data"]["n"] = f"update-{i}"  # never a value an earlier phase wrote: a real change
                return await api.update(obj)
            return update
        if op == "patch":
            async def patch():
                return await api.patch("configmaps", name, {"data": {"n": f"patch-{i}"}}, namespace,
                                       patch_type="merge")
            return patch
        if op == "get":
            async def get():
                return await api.get("configmaps", name, namespace)
            return get
        if op == "get0":
            async def get0():
                return await api.call("get", "configmaps", namespace, name, options={"resourceVersion": "0"})
            return get0
        raise ValueError(f"unknown op {op!r}")

    def cmd_load(self, op: str, t0: float, warmup: float, duration: float, in_flight: int, namespace: str,
                 value_bytes: int = 0) -> dict:
        store_op = op in ("put", "txn")
        if store_op and self.store is None:
            from actors.store.client import StoreSession
            from bus.settings import BusSettings
            self.store = StoreSession(self.cfg.store.endpoints(), name=f"bench-store-{self.wid}-{os.getpid()}",
                                      timeout_s=5.0, deadline_s=15.0,
                                      settings=BusSettings(max_frame_bytes=64 * 1024 * 1024))
            self.store_ready()
        start, end = t0 + warmup, t0 + warmup + duration
        win = Window(start, end)
        outstanding = 0
        issued = 0
        sizes: list[int] = []
        spawn = self.store.client.spawn if store_op else self.api.spawn

        def launch() -> None:
            nonlocal outstanding, issued
            fn = self._op(op, namespace, issued, value_bytes)
            issued += 1
            outstanding += 1

            async def timed():
                nonlocal outstanding
                started = now()
                try:
                    result = await fn()
                except Exception as exc:  # an outcome to count, not a crash
                    outstanding -= 1
                    win.record(started, now(), exc)
                    return
                outstanding -= 1
                win.record(started, now(), None)
                if op == "create" and not sizes:
                    sizes.append(stored_size(result))
            spawn(timed())

        self.pump_until(t0)
        cpu0 = None
        while (t := now()) < end:
            if cpu0 is None and t >= start:
                cpu0 = time.process_time()
            while outstanding < in_flight:
                launch()
            if store_op:
                self.store.poll(0.005)
                self.session.poll(0)
            else:
                self.session.poll(0.005)
        cpu1 = time.process_time()
        drain_end = now() + 40
        while outstanding and now() < drain_end:
            self.pump(0.01)
        out = win.summary(raw=True)
        out.update(op=op, worker=self.wid, issued=issued, seconds=duration, in_flight=in_flight,
                   client_cpu_s=round(cpu1 - (cpu0 or cpu1), 3), undrained=outstanding)
        if sizes:
            out["value_bytes"] = sizes[0]
        return out

    def store_ready(self) -> None:
        """A first put goes through (the client has found the leader)."""
        deadline = now() + 30
        while True:
            try:
                self.store.run(self.store.client.put(b"/bench/ready/%d" % self.wid, b"1"), timeout_s=10)
                return
            except Exception:
                if now() > deadline:
                    raise
                self.pump_until(now() + 0.1)

    def cmd_ensure(self, namespace: str, count: int, in_flight: int = 32) -> dict:
        created = self.names.setdefault(namespace, [])
        errors = 0
        outstanding = 0
        while len(created) < count:
            if errors > 100:
                raise RuntimeError(f"worker {self.wid}: could not create ConfigMaps in {namespace}")
            while outstanding < in_flight and len(created) + outstanding < count:
                fn = self._op("create", namespace, 0, 0)
                outstanding += 1

                async def one(fn=fn):
                    nonlocal outstanding, errors
                    try:
                        await fn()
                    except Exception:
                        errors += 1
                    finally:
                        outstanding -= 1
                self.api.spawn(one())
            self.session.poll(0.005)
        return {"worker": self.wid, "count": len(created)}

    # --- watches ---------------------------------------------------------------------------
    def cmd_watch(self, count: int, namespace: str, rv: str) -> dict:
        for _ in range(count):
            seen: list[tuple[int, float]] = []
            self.seen.append(seen)

            def on_event(typ: str, obj: dict, seen=seen) -> None:
                if typ == "ERROR":
                    self.watch_errors.append(str(obj.get("message", obj))[:200])
                    return
                seen.append((int(obj["metadata"]["resourceVersion"]), now()))
            self.watches.append(self.api.watch("configmaps", namespace, resource_version=rv, on_event=on_event))
        return {"worker": self.wid, "watching": len(self.watches)}

    def cmd_check(self, expected: list[int], timeout: float) -> dict:
        want = len(expected)
        deadline = now() + timeout
        while now() < deadline and any(len(s) < want for s in self.seen):
            self.pump(0.01)
        self.pump_until(now() + 0.2)  # anything more (duplicates, strays) shows up now
        expected_set = set(expected)
        per = []
        for w, seen in zip(self.watches, self.seen):
            rvs = [rv for rv, _ in seen]
            got = set(rvs)
            last = max((t for rv, t in seen if rv in expected_set), default=None)
            per.append({
                "events": len(rvs),
                "missed": len(expected_set - got),
                "unexpected": len(got - expected_set),
                "duplicates": len(rvs) - len(got),
                "out_of_order": sum(1 for a, b in itertools.pairwise(rvs) if b <= a),
                "in_order": rvs == sorted(expected) if not (expected_set - got) else False,
                "resumes_after_gap": w.gaps,
                "restarts": w.restarts,
                "first_t": seen[0][1] if seen else None,
                "last_t": last,
            })
        for w in self.watches:
            w.stop()
        self.pump_until(now() + 0.1)
        return {"worker": self.wid, "watchers": per, "errors": self.watch_errors[:5],
                "error_count": len(self.watch_errors), "cpu_s": round(time.process_time(), 3)}

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        self.session.close()


def reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def worker_main(worker_class, description: str, argv: list[str] | None = None) -> int:
    """A worker process's life: ``worker_class(config, id)`` serves the parent's commands until SIGTERM or EOF;
    a failure is printed and sent to the parent as ``{"error": ...}``. Every benchmark's workers share it."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", required=True)
    ap.add_argument("--id", type=int, required=True)
    args = ap.parse_args(argv)

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    worker = None
    try:
        worker = worker_class(args.config, args.id)
        worker.serve()
    except (KeyboardInterrupt, SystemExit, BrokenPipeError):
        return 0
    except Exception as exc:
        import traceback
        traceback.print_exc()
        try:
            reply({"error": error_text(exc), "worker": args.id})
        except BrokenPipeError:
            pass
        return 1
    finally:
        if worker is not None:
            try:
                worker.close()
            except Exception:
                pass
    return 0


def main(argv: list[str] | None = None) -> int:
    return worker_main(Worker, "a worker of bench/apiserver.py (started by it)", argv)

if __name__ == "__main__":
    sys.exit(main())
