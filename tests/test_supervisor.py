"""``kubesim run`` keeps its child alive and obeys control commands; honcho keeps running.

The supervisor and its child are real processes; the test drives them with
``kubesim ctl`` exactly as a person or the chaos runner would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import zmq

from kubesim.config import load
from kubesim.supervisor import Backoff
from tests.helpers import ROOT, kubesim, kubesim_out, stop, wait_until, write_cluster

pytestmark = pytest.mark.integration


def test_backoff_doubles_to_the_maximum_and_resets_after_a_healthy_run():
    b = Backoff(initial_s=0.5, maximum_s=4, reset_after_s=30)
    assert [b.next_delay(1) for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    assert b.next_delay(31) == 0.5


def ctl(path: Path, name: str, cmd: str) -> dict:
    done = kubesim_out("ctl", name, cmd, "--config", str(path))
    reply = json.loads(done.stdout) if done.stdout.strip() else {"ok": False, "error": done.stderr}
    return reply


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of a process (R, S, T, Z...)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def alive(pid: int) -> bool:
    try:
        return proc_state(pid) not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_supervisor_restarts_pauses_stops_and_starts(tmp_path):
    path = write_cluster(tmp_path)
    broker = kubesim("child", "broker", "--config", str(path))
    sup = kubesim("run", "pong", "--config", str(path))
    try:
        first = wait_until(lambda: (r := ctl(path, "pong", "status")).get("pid") and r, 20, "the child")
        pid = first["pid"]

        # kill -9 through the supervisor: a new child follows.
        ctl(path, "pong", "kill")
        again = wait_until(lambda: (r := ctl(path, "pong", "status"))["state"] == "running" and r["pid"] and r,
                           20, "the restart")
        assert again["pid"] != pid and again["restarts"] == 1 and again["last_exit"] == -signal.SIGKILL
        assert not alive(pid)

        # A child killed from outside is restarted too.
        os.kill(again["pid"], signal.SIGKILL)
        third = wait_until(lambda: (r := ctl(path, "pong", "status"))["restarts"] == 2 and r["pid"] and r,
                           20, "the second restart")
        pid = third["pid"]

        # Pause and resume: SIGSTOP / SIGCONT on the same process.
        assert ctl(path, "pong", "pause")["state"] == "paused"
        wait_until(lambda: proc_state(pid) == "T", 5, "the child to stop")
        assert ctl(path, "pong", "resume")["state"] == "running"
        wait_until(lambda: proc_state(pid) in ("S", "R"), 5, "the child to continue")
        assert ctl(path, "pong", "status")["pid"] == pid

        # Malformed control requests are answered, and the supervisor lives on.
        ctx = zmq.Context()
        for frames in ([b"\x93garbage"], [b"a", b"b"], [b"\xc1"]):
            req = ctx.socket(zmq.REQ)
            req.setsockopt(zmq.LINGER, 0)
            req.connect(f"ipc://{load(path).control_socket('pong')}")
            req.send_multipart(frames)
            assert req.poll(5000), "no answer to a malformed request"
            assert msgpack.unpackb(req.recv())["ok"] is False
            req.close()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(f"ipc://{load(path).control_socket('pong')}")
        dealer.send_multipart([b"", b"x", b""])
        dealer.close()
        ctx.term()
        assert ctl(path, "pong", "status")["pid"] == pid and sup.poll() is None

        # Stop keeps it down; start brings a new one.
        stopped = ctl(path, "pong", "stop")
        assert stopped["state"] == "stopped" and stopped["pid"] is None and not alive(pid)
        refused = ctl(path, "pong", "resume")
        assert refused["ok"] is False and "stopped" in refused["error"]
        started = ctl(path, "pong", "start")
        assert started["state"] == "running" and started["pid"] not in (None, pid)
        assert sup.poll() is None
    finally:
        stop(sup)
        stop(broker)
    assert sup.returncode == 0


def test_honcho_keeps_running_while_a_child_is_killed(tmp_path):
    path = write_cluster(tmp_path, {
        "broker": {"component": "broker"},
        "demo-pong": {"component": "demo-pong"},
        "demo-ping": {"component": "demo-ping", "args": {"interval_s": 0.2}},
    })
    procfile = tmp_path / "Procfile"
    made = kubesim_out("procfile", "--config", str(path), "-o", str(procfile))
    assert made.returncode == 0, made.stderr
    assert procfile.read_text().splitlines()[0].startswith("broker:")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "honcho.log", "w")
    honcho = subprocess.Popen([str(Path(sys.executable).parent / "honcho"), "-f", str(procfile), "-d", str(ROOT),
                               "start"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for name in ("broker", "demo-pong", "demo-ping"):
            wait_until(lambda: ctl(path, name, "status").get("pid"), 30, f"{name} to run")
        wait_until(lambda: "pong" in (tmp_path / "honcho.log").read_text() and "rtt_ms" in
                   (tmp_path / "honcho.log").read_text(), 30, "the pinger to get answers")
        victim = ctl(path, "demo-pong", "status")["pid"]
        text_len = len((tmp_path / "honcho.log").read_text())
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: ctl(path, "demo-pong", "status")["restarts"] == 1, 30, "the supervisor to restart demo-pong")
        assert honcho.poll() is None, "honcho stopped when a child died"
        for name in ("broker", "demo-ping"):
            assert ctl(path, name, "status")["restarts"] == 0
        # The pinger gets answers again, from the new ponger (its count starts again at 1).
        wait_until(lambda: "served=1 " in (tmp_path / "honcho.log").read_text()[text_len:], 30,
                   "answers from the new ponger")
    finally:
        os.killpg(honcho.pid, signal.SIGINT)
        try:
            honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
        log.close()
