"""Following one request across processes by its trace id; many actors in one process; clean exits."""

from __future__ import annotations

import json
import re

import pytest

from actors.demo import Ponger
from actors.messages import Ping
from bus import logs
from bus.clock import RealClock
from bus.runtime import Runtime
from bus.settings import BusSettings
from kubesim.config import load
from tests.helpers import BusClient, kubesim, stop, wait_until, write_cluster

pytestmark = pytest.mark.integration


def test_one_trace_id_follows_a_request_across_processes(tmp_path):
    path = write_cluster(tmp_path, {
        "broker": {"component": "broker"},
        "pong": {"component": "demo-pong"},
        "ping": {"component": "demo-ping", "args": {"interval_s": 0.2}},
    }, logging={"level": "debug", "format": "json"})
    procs = {}
    logs_ = {}
    try:
        for name in ("broker", "pong", "ping"):
            logs_[name] = open(tmp_path / f"{name}.log", "w+")
            procs[name] = kubesim("child", name, "--config", str(path), stderr=logs_[name])

        def lines(name):
            logs_[name].flush()
            out = []
            for raw in (tmp_path / f"{name}.log").read_text().splitlines():
                if raw.startswith("{"):
                    out.append(json.loads(raw))
            return out

        pongs = wait_until(lambda: [e for e in lines("ping") if e["event"] == "pong"], 30, "an answered ping")
        served = {e["trace_id"]: e for e in lines("pong") if e["event"] == "ping served"}
        traced = [e for e in pongs if e["trace_id"] in served]
        assert traced, (pongs, served)
        first = traced[0]
        assert re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])
        assert served[first["trace_id"]]["seq"] == first["seq"]
        assert served[first["trace_id"]]["identity"] == "ping"  # stamped by the broker
        # Every line written while handling a message carries its trace id.
        for e in lines("ping") + lines("pong"):
            if e["event"] in ("pong", "ping served"):
                assert re.fullmatch(r"[0-9a-f]{32}", e.get("trace_id", "")), e
    finally:
        for proc in procs.values():
            stop(proc)
        for f in logs_.values():
            f.close()
    # SIGTERM is a clean shutdown: exit status 0 and the file_sd target removed.
    assert {name: p.returncode for name, p in procs.items()} == {"broker": 0, "pong": 0, "ping": 0}
    assert list(load(path).targets_dir.glob("*.json")) == []


def test_one_process_hosts_many_actors(tmp_path):
    path = write_cluster(tmp_path, {"broker": {"component": "broker"}})
    cfg = load(path)
    broker = kubesim("child", "broker", "--config", str(path))
    logs.configure("hosting-test", "warning")
    host = Runtime("hollow", BusSettings(broker_port=cfg.bus.port, heartbeat_interval_s=0.2), RealClock(), seed=3)
    for i in range(500):
        host.add(Ponger(f"ponger-{i}"))
    host.start()
    client = BusClient("tester", cfg.bus.port)
    try:
        def step():
            client.step()
            host.run_once(0)

        wait_until(lambda: client.rt.link.registered and host.link.registered, 20, "registration", step)
        futures = [client.rt._request(client.probe, f"ponger-{i}", Ping(i), 10.0, 0) for i in range(500)]
        wait_until(lambda: all(f.done() for f in futures), 30, "500 answers", step)
        assert [f.result().served_by for f in futures] == [f"ponger-{i}" for i in range(500)]
        assert host.metrics.received["demo.Ping"] == 500
    finally:
        client.close()
        host.shutdown()
        stop(broker)
