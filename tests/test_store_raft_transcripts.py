"""The raft core, scenario by scenario, checked against transcripts a reviewer has read.

Each ``tests/testdata/raft/*.txt`` is a script for ``tests.raft_transcript``
(etcd-io/raft's datadriven interaction tests, in this project's terms): the
commands, and the messages, state changes and applied entries they must
produce. The seeded simulator (test_store_raft_sim.py) finds broken
invariants; these pin down the behaviour itself — which messages, in which
order, at which term — so a change to the core shows as a readable diff.

After an intended change: ``KUBESIM_REWRITE=1 pytest tests/test_store_raft_transcripts.py``
writes the new output into the files; read the diff before keeping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.raft_transcript import diff, run_script

DATA = Path(__file__).parent / "testdata" / "raft"
SCRIPTS = sorted(DATA.glob("*.txt"))
REWRITE = os.environ.get("KUBESIM_REWRITE") == "1"


def test_there_are_scripts() -> None:
    # A glob that silently matches nothing would make the parametrized test vanish, not fail.
    assert SCRIPTS, f"no transcripts in {DATA}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_transcript(path: Path) -> None:
    expected = path.read_text()
    actual = run_script(expected, str(path.relative_to(DATA.parent.parent.parent)))
    if REWRITE:
        path.write_text(actual)
        return
    if actual != expected:
        # Only our unified diff: pytest's own rewrite of a long string comparison is unreadable.
        pytest.fail("transcript differs (KUBESIM_REWRITE=1 to accept, after reading it):\n"
                    + diff(expected, actual, path.name), pytrace=False)
