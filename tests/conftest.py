"""Session set-up shared by every test file.

Under pytest-xdist each worker's temporary directories sit one level deeper
(``.../popen-gw0/...``), and a cluster's control sockets
(``<state_dir>/run/<process>.sock``) must fit in the 107 bytes a Unix socket
path may have: ``/tmp/pytest-of-root/pytest-565/popen-gw0/`` plus a long test
name and ``cloud-controller-manager.sock`` does not. So a run with workers
puts its temporary directories under a short base of its own,
``/tmp/ks-<pid>``; bases of runs more than a day old are removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

#: Runs' bases older than this are removed when a new run starts.
KEEP_S = 24 * 3600


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") or config.option.basetemp:
        return  # a worker takes its base from the controller; a base given on the command line wins
    if not getattr(config.option, "numprocesses", None):
        return
    root = Path(tempfile.gettempdir())
    for old in root.glob("ks-*"):
        try:
            if old.is_dir() and time.time() - old.stat().st_mtime > KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    config.option.basetemp = str(root / f"ks-{os.getpid()}")
