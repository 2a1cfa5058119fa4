"""Store members with planted bugs, to prove the checks that should catch them can fail.

- :class:`AckBeforeDurableMember` keeps what raft asks it to persist in
  memory and writes it to its WAL only once a second, yet sends (and so
  acknowledges) at once — the bug "acknowledging before fsync". Killing every
  member with -9 then loses acknowledged writes.
- :class:`StaleReadMember` answers a linearizable read at once from its own
  state whenever it believes it leads, without the read-index round that
  confirms it still does — and, with check-quorum off, a leader cut off from
  its peers goes on believing it for as long as the partition lasts. Clients
  that reach it read values the new leader has long overwritten.

``python -m tests.store_planted CLUSTER_FILE MEMBER [VARIANT]`` runs a member;
``python -m tests.store_planted --supervise CLUSTER_FILE MEMBER VARIANT`` runs
the member's supervisor (``kubesim run``'s) over it, so chaos can kill, pause
and partition it like any member.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from actors.messages import StoreRange
from actors.store.member import StoreMember
from actors.store.raft import LEADER, Ready
from bus.runtime import Envelope, handles


class AckBeforeDurableMember(StoreMember):
    def on_start(self) -> None:
        super().on_start()
        self._late: list[tuple] = []
        self.call_every(1.0, self._write_late)

    def _persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self._write_late()
            super()._persist(rd)
            return
        if rd.entries or rd.hard_state is not None:
            self._late.append((rd.hard_state, list(rd.entries)))  # the bug: not on disk yet

    def _write_late(self) -> None:
        for hard_state, entries in self._late:
            self.wal.save(hard_state, entries)
        self._late.clear()


class StaleReadMember(StoreMember):
    def on_start(self) -> None:
        super().on_start()
        self.raft.cfg = replace(self.raft.cfg, check_quorum=False)  # a deposed leader never notices

    @handles(StoreRange)
    def on_range(self, msg: StoreRange, env: Envelope) -> None:
        if self.raft.role == LEADER:
            self._answer_range(msg, env)  # the bug: no read index, so no proof it still leads
            return
        super().on_range(msg, env)


VARIANTS = {"ack-before-durable": AckBeforeDurableMember, "stale-reads": StaleReadMember}


def main(config: str, member: str, variant: str = "ack-before-durable") -> None:
    import kubesim.store
    from kubesim.config import load
    from kubesim.process import run_child

    honest = kubesim.store.member_for
    kubesim.store.member_for = lambda cfg, process: honest(cfg, process, cls=VARIANTS[variant])
    run_child(load(Path(config)), member)


def supervise(config: str, member: str, variant: str) -> None:
    from kubesim.config import load
    from kubesim.supervisor import supervise as run_supervisor

    argv = [sys.executable, "-m", "tests.store_planted", config, member, variant]
    sys.exit(run_supervisor(load(Path(config)), member, Path(config), child_argv=argv))


if __name__ == "__main__":
    if sys.argv[1] == "--supervise":
        supervise(*sys.argv[2:5])
    else:
        main(*sys.argv[1:4])
