"""A store member with a planted durability bug, to prove the durability test can fail.

:class:`AckBeforeDurableMember` keeps what raft asks it to persist in memory
and writes it to its WAL only once a second, yet sends (and so acknowledges)
at once — the bug "acknowledging before fsync". Killing every member with
-9 then loses acknowledged writes, and ``tests/test_store_processes.py``
must notice. Run as ``python -m tests.store_planted CLUSTER_FILE MEMBER``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from actors.store.member import StoreMember
from actors.store.raft import Ready


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


def main(config: str, member: str) -> None:
    import kubesim.store
    from kubesim.config import load
    from kubesim.process import run_child

    honest = kubesim.store.member_for
    kubesim.store.member_for = lambda cfg, process: honest(cfg, process, cls=AckBeforeDurableMember)
    run_child(load(Path(config)), member)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
