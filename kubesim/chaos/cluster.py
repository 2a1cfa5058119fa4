"""``kubesim chaos run --start-cluster``: a cluster of its own for one run (what CI uses).

It starts one supervisor per process of the cluster file (``kubesim run
NAME``), as ``honcho start`` would, with each one's output in
``<run>/cluster/NAME.log``, and stops them all when the run is over. The
experiment's "before" phase then waits for the steady state, which is how a
cluster that is still coming up is waited for.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from kubesim.config import ClusterConfig

#: Seconds a supervisor gets to stop its child before it is killed.
STOP_GRACE_S = 20.0


class LocalCluster:
    def __init__(self, cfg: ClusterConfig, config_path: Path, log_dir: Path) -> None:
        self.cfg, self.config_path, self.log_dir = cfg, config_path, log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> LocalCluster:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        order = [self.cfg.broker_process] + [n for n in self.cfg.processes if n != self.cfg.broker_process]
        for name in order:
            with open(self.log_dir / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "kubesim", "run", name, "--config", str(self.config_path)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
