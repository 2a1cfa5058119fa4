"""The raft core under a seeded simulated network, invariants checked after every step.

Each seed runs thousands of steps of message loss, delay, reordering,
duplication, partitions (symmetric and one-way), crashes with restart from
what was persisted, snapshots, leadership transfers and read-index requests,
then heals everything and requires the cluster to agree on a new entry.

A failure message starts with its seed; replay it alone, printing what
happened, with ``python -m tests.raft_sim <seed>``. Run more seeds with
``KUBESIM_RAFT_SEEDS=2000 pytest tests/test_store_raft_sim.py``.
"""

from __future__ import annotations

import os

import pytest

from actors.store import raft, raft_log
from tests.raft_sim import InvariantBroken, Sim

SEEDS = int(os.environ.get("KUBESIM_RAFT_SEEDS", "60"))
STEPS = 3000

VARIANTS = {
    "3 members": {},
    "5 members": {"members": 5},
    "no pre-vote": {"pre_vote": False},
    "no check-quorum": {"check_quorum": False},
    "lossy and slow": {"loss": 0.2, "max_delay": 8},
}


def run_seed(seed: int, **options) -> Sim:
    sim = Sim(seed, **options)
    sim.run(STEPS)
    sim.heal_and_settle()
    return sim


@pytest.mark.parametrize("variant", VARIANTS)
def test_invariants_hold_over_many_seeds(variant):
    options = VARIANTS[variant]
    seeds = SEEDS if variant == "3 members" else max(1, SEEDS // 3)
    committed = 0
    for seed in range(seeds):
        sim = run_seed(seed, **options)
        committed += len(sim.committed)
    # The faults must not be so harsh that nothing happens: the runs do real work.
    assert committed > seeds * 50, f"only {committed} entries committed over {seeds} seeds"


def test_same_seed_same_run():
    a, b = run_seed(7), run_seed(7)
    assert a.history == b.history
    assert a.committed == b.committed
    assert a.leaders == b.leaders


# The checker must be able to fail: plant the classic bugs and watch it catch them.
def _caught_within(seeds: int) -> str:
    for seed in range(seeds):
        try:
            run_seed(seed)
        except InvariantBroken as exc:
            return str(exc)
    return ""


def test_checker_catches_a_vote_for_an_out_of_date_log(monkeypatch):
    monkeypatch.setattr(raft_log.RaftLog, "is_up_to_date", lambda self, index, term: True)
    assert _caught_within(100).startswith("seed ")


def test_checker_catches_a_quorum_short_by_one(monkeypatch):
    def poll(self, voter, granted):
        self.votes.setdefault(voter, granted)
        return "won" if sum(self.votes.values()) >= self.quorum - 1 else "pending"

    monkeypatch.setattr(raft.Raft, "_poll", poll)
    assert "two leaders in term" in _caught_within(20)


def test_checker_catches_a_lost_fsync(monkeypatch):
    """A member that acknowledges entries it never persisted can lose committed entries on restart."""
    from tests import raft_sim

    def save_without_entries(self, rd):
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state._replace(commit=min(rd.hard_state.commit, self._last()))

    monkeypatch.setattr(raft_sim.Disk, "_last", lambda self: self.entries[-1].index if self.entries else
                        (self.snapshot.meta.index if self.snapshot else 0), raising=False)
    monkeypatch.setattr(raft_sim.Disk, "save", save_without_entries)
    assert _caught_within(100).startswith("seed ")
