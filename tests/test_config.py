"""The cluster file: the default one is valid, and every wrong value is named."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from kubesim.cli import procfile_text
from kubesim.config import DEFAULT_CONFIG, ConfigError, load, parse
from tests.helpers import ROOT, kubesim_out, stop, write_cluster

BROKER = {"b": {"component": "broker"}}


def test_the_default_cluster_file_is_valid_and_matches_the_procfile():
    cfg = load(ROOT / DEFAULT_CONFIG)
    assert cfg.broker_process == "apiserver"
    assert cfg.bus.host == "127.0.0.1" and cfg.security.curve is False
    assert (ROOT / "Procfile").read_text() == procfile_text(cfg, DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bus": {"port": 70000}, "processes": BROKER}, "bus.port: Input should be less than or equal to 65535 (got 70000)"),
        ({"bus": {"heartbeat_interval_s": "often"}, "processes": BROKER}, "bus.heartbeat_interval_s: Input should be a valid number"),
        ({"cluster": {"time_scale": 0}, "processes": BROKER}, "cluster.time_scale: Input should be greater than 0"),
        ({"logging": {"level": "loud"}, "processes": BROKER}, "logging.level: Input should be 'debug', 'info', 'warning' or 'error'"),
        ({"bus": {"prot": 1}, "processes": BROKER}, "bus.prot: Extra inputs are not permitted"),
        ({"processes": {}}, "exactly one process must be the broker (component 'apiserver' or 'broker'), found 0"),
        ({"processes": {**BROKER, "x": {"component": "kubelet-9000"}}}, "processes.x.component: 'kubelet-9000' is not one of"),
        ({}, "processes: Field required"),
        ({"metrics": {"host": "0.0.0.0"}, "processes": BROKER}, "metrics.host: metrics are served on a loopback address only"),
        ({"processes": {**BROKER, "p": {"component": "demo-ping", "args": {"interval_s": 0}}}},
         "processes.p.args.interval_s: Input should be greater than 0"),
        ({"processes": {**BROKER, "p": {"component": "demo-ping", "args": {"targte": "x"}}}},
         "processes.p.args.targte: Extra inputs are not permitted"),
        ({"cluster": {"state_dir": "/tmp/" + "d" * 120}, "processes": BROKER},
         "longer than the 107 bytes a Unix socket path may have"),
        ({"bus": {"heartbeat_liveness": 1}, "processes": BROKER},
         "bus.heartbeat_liveness: Input should be greater than or equal to 3"),
        ({"processes": {**BROKER, "p": {"component": "demo-pong", "metrics_port": 9100},
                        "q": {"component": "demo-pong", "metrics_port": 9100}}}, "share a metrics_port"),
    ],
)
def test_wrong_values_are_named(data, message):
    with pytest.raises(ConfigError) as err:
        parse(data, "cluster.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("cluster.yaml: ")


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bus: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="a mapping of sections"):
        load(bad)


def test_the_cli_stops_with_status_2_and_names_the_key(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("bus: {port: 0}\nprocesses: {b: {component: broker}}\n")
    done = kubesim_out("check", "--config", str(bad))
    assert done.returncode == 2
    assert "bus.port: Input should be greater than or equal to 1 (got 0)" in done.stderr
    ok = kubesim_out("check")
    assert ok.returncode == 0 and "17 processes" in ok.stdout and "store-0=store" in ok.stdout


def test_a_child_that_cannot_start_says_why(tmp_path):
    path = write_cluster(tmp_path, security={"curve": True})  # no `kubesim keys` run
    done = kubesim_out("child", "broker", "--config", str(path))
    assert done.returncode == 1
    assert "no usable secret key for 'broker'" in done.stderr and "run `kubesim keys`" in done.stderr
    taken = write_cluster(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        text = taken.read_text().replace(f"port: {load(taken).bus.port}", f"port: {s.getsockname()[1]}")
        taken.write_text(text)
        done = kubesim_out("child", "broker", "--config", str(taken))
    assert done.returncode == 1 and "cannot listen on tcp://127.0.0.1:" in done.stderr


def test_log_format_json_from_the_environment_wins_over_the_config(tmp_path):
    path = write_cluster(tmp_path, logging={"format": "console"})
    env = dict(os.environ, LOG_FORMAT="json")
    # A supervisor logs as it starts (no broker needed): its first lines are JSON, the config notwithstanding.
    proc = subprocess.Popen([sys.executable, "-m", "kubesim", "run", "pong", "--config", str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        stop(proc)
    assert all(json.loads(line)["level"] for line in lines), lines
