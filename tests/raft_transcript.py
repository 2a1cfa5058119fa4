"""Transcript tests for the raft core: scripts of commands and the text they must print.

The shape is etcd-io/raft's ``interaction_test.go`` with ``testdata/*.txt``
(datadriven): a scenario reads as a story — ``add-nodes 3``, ``campaign 1``,
``isolate 3``, ``stabilize`` — and below each command, after ``----``, stands
what the cluster did, in plain text. A reviewer checks the raft behaviour by
reading; a change in the core that alters any message, state change or applied
entry shows up as a diff against that text. Nothing here is random: each
node's rng is ``Random(int(id))``, and time moves only by explicit ticks.

A script is blocks separated by blank lines; lines starting with ``#``
between blocks are comments. Each block is one command line, ``----``, and the
expected output (``ok`` when the command prints nothing; output never holds a
blank line). Regenerate the expected output with ``KUBESIM_REWRITE=1 pytest
tests/test_store_raft_transcripts.py`` or ``python -m tests.raft_transcript
--rewrite FILE...`` — then read the diff: a transcript that records a bug is
worse than none.

The harness plays the member actor (as ``tests/raft_sim.py`` does): a Ready is
persisted to the node's ``Disk``, then its messages go on the network, then
the snapshot and committed entries are applied to a toy state machine (the
tuple of applied data), then ``advance``. The network is one FIFO queue; a
message is delivered or dropped only by ``deliver-msgs`` / ``stabilize``.

What is printed, and when:

- ``N became ROLE at term T`` / ``N follows leader L``: a node's role, term or
  known leader changed (the net change over one event);
- ``A -> B TYPE term=.. field=..``: node A queued a message for B, printed
  under the event that made it (so the cause reads right above the effect);
- ``> deliver A -> B ...`` / ``> drop A -> B ...``: the network handed the
  message to B, or lost it (B or A isolated, or ``drop=``);
- ``> N ready``: N handled a Ready — ``persist`` (hard state, entries,
  snapshot), ``send K messages``, ``apply`` (snapshot, entries), ``read_state``.

Entries print as ``INDEX@TERM "DATA"`` (the no-op of a new leader is ``""``).

Commands::

    add-nodes N [pre_vote=true] [check_quorum=true] [election=10] [heartbeat=1]   (a new cluster)
    campaign ID                  tick-heartbeat ID [N]      tick-election ID [N]
    propose ID DATA              transfer-leader FROM TO    read-index ID CTX
    process-ready [ID ...]       deliver-msgs [ID ...] [drop=ID,...]
    stabilize [ID ...]           isolate ID                 heal
    compact ID INDEX             restart ID                 raft-state
    raft-log ID

``tick-heartbeat`` ticks N heartbeat intervals, ``tick-election`` N times
``election`` ticks: enough for a leader's check-quorum, but a follower's
randomized timeout may need two. ``process-ready`` handles one Ready per node;
``deliver-msgs`` hands each named node (default: all) what is queued for it,
dropping what is for a ``drop=`` node; ``stabilize`` repeats both until quiet.
``isolate`` is checked at delivery: a message is dropped if either end is
isolated when it would arrive.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from actors.messages import RaftMessage
from actors.store import raft
from actors.store.raft import Config, ProposalDropped, Raft
from actors.store.types import (
    Entry,
    Snapshot,
    SnapshotMeta,
)
from tests.raft_sim import Disk

#: ``stabilize`` gives up after this many rounds: a cluster that never goes quiet is a bug to see.
MAX_STABILIZE_ROUNDS = 200


class ScriptError(Exception):
    """The script itself is wrong (unknown command, bad argument), not the core."""


# --- Formatting -------------------------------------------------------------------
def fmt_data(data: bytes) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return data.hex()
    return '"' + text + '"'


def fmt_entry(e: Entry) -> str:
    return f"{e.index}@{e.term} {fmt_data(e.data)}"


def fmt_entries(entries) -> str:
    return ", ".join(fmt_entry(Entry(*e)) for e in entries)


def fmt_msg(m: RaftMessage) -> str:
    """One message on one line: the fields that mean something for its type, in a fixed order."""
    t = m.type
    parts = [f"{m.frm} -> {m.to} {t}"]
    if m.term or t != raft.READ_INDEX:  # a forwarded read index carries no term
        parts.append(f"term={m.term}")
    # Index and log term describe the sender's log position for these types, even when 0.
    if t in (raft.APP, raft.VOTE, raft.PRE_VOTE):
        parts.append(f"index={m.index} log_term={m.log_term}")
    elif t in (raft.APP_RESP, raft.READ_INDEX_RESP) or m.index:
        parts.append(f"index={m.index}")
    if t in (raft.APP, raft.HEARTBEAT):
        parts.append(f"commit={m.commit}")
    if m.reject:
        parts.append("reject")
        if t == raft.APP_RESP:
            parts.append(f"hint={m.reject_hint} hint_term={m.log_term}")
    if m.entries:
        parts.append(f"entries=[{fmt_entries(m.entries)}]")
    if m.snapshot is not None:
        (index, term, _members), data = m.snapshot
        parts.append(f"snapshot={index}@{term} data={fmt_data(data)}")
    if m.context:
        parts.append(f"context={m.context.decode(errors='replace')}")
    return " ".join(parts)


# --- The toy state machine and the disk ----------------------------------------------
def encode_state(state: tuple[bytes, ...]) -> bytes:
    return b",".join(state)


def decode_state(data: bytes) -> tuple[bytes, ...]:
    return tuple(data.split(b",")) if data else ()


@dataclass
class Node:
    """One member as the harness plays it: the core, its disk and its toy state machine."""

    raft: Raft
    disk: Disk
    base_index: int = 0
    """The index the state machine started from (its snapshot's, or 0)."""
    base_state: tuple[bytes, ...] = ()
    applied: list[Entry] = field(default_factory=list)
    """Entries applied on top of ``base_state`` since then, in order."""

    def state_at(self, index: int) -> tuple[bytes, ...]:
        """The state machine as of ``index`` (so ``compact`` may snapshot an earlier point)."""
        assert index >= self.base_index, f"state at {index} is before this node's snapshot"
        return self.base_state + tuple(e.data for e in self.applied if e.index <= index and e.data)


# --- The interpreter ----------------------------------------------------------------
class Cluster:
    """Nodes, a FIFO network and the commands a script may run; ``run`` returns the output text."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.ids: tuple[str, ...] = ()
        self.options: dict = {}
        self.net: list[RaftMessage] = []
        self.isolated: set[str] = set()
        self.out: list[str] = []

    # Running one command --------------------------------------------------------------
    def run(self, line: str) -> str:
        self.out = []
        words = line.split()
        name, args = words[0], words[1:]
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            raise ScriptError(f"unknown command {name!r}")
        handler(*args)
        assert all(self.out), "an output line is empty: it would end the block"
        return "\n".join(self.out) if self.out else "ok"

    def say(self, text: str, indent: int = 0) -> None:
        self.out.append("  " * indent + text)

    def node(self, i: str) -> Node:
        if i not in self.nodes:
            raise ScriptError(f"no node {i!r}")
        return self.nodes[i]

    def _new_raft(self, i: str, disk: Disk) -> Raft:
        cfg = Config(id=i, peers=self.ids, **self.options)
        # Seeded by id, so randomized election timeouts are the same on every run.
        return Raft(cfg, Random(int(i)), hard_state=disk.hard_state, snapshot=disk.snapshot,
                    entries=list(disk.entries))

    def _observe(self, i: str, action, indent: int = 0):
        """Run ``action`` against node ``i`` and print what changed: role, term, leader, messages queued."""
        r = self.node(i).raft
        before = (r.role, r.term, r.lead)
        queued = len(r.msgs)
        try:
            return action(r)
        finally:
            # ready() hands out (and so clears) the message list; never called inside an action.
            if (r.role, r.term) != before[:2]:
                self.say(f"{i} became {r.role} at term {r.term}", indent)
                if r.lead and r.lead != i:
                    self.say(f"{i} follows leader {r.lead}", indent)
            elif r.lead != before[2]:
                self.say(f"{i} follows leader {r.lead}" if r.lead else f"{i} lost its leader", indent)
            for m in r.msgs[queued:]:
                self.say(fmt_msg(m), indent)

    # Setting up -------------------------------------------------------------------------
    def cmd_add_nodes(self, n: str, *opts: str) -> None:
        # A second add-nodes starts a new cluster, so one file can contrast two configurations.
        self.net, self.isolated = [], set()
        names = {"pre_vote": "pre_vote", "check_quorum": "check_quorum", "election": "election_ticks",
                 "heartbeat": "heartbeat_ticks"}
        options: dict = {"pre_vote": True, "check_quorum": True, "election_ticks": 10, "heartbeat_ticks": 1}
        for o in opts:
            k, _, v = o.partition("=")
            if k not in names:
                raise ScriptError(f"unknown option {k!r}")
            options[names[k]] = v == "true" if v in ("true", "false") else int(v)
        self.options = options
        self.ids = tuple(str(i) for i in range(1, int(n) + 1))
        self.nodes = {i: Node(self._new_raft(i, Disk()), Disk()) for i in self.ids}

    # Acting on one node -----------------------------------------------------------------
    def cmd_campaign(self, i: str) -> None:
        self._observe(i, lambda r: r.campaign())

    def cmd_tick_heartbeat(self, i: str, n: str = "1") -> None:
        for _ in range(int(n) * self.options["heartbeat_ticks"]):
            self._observe(i, lambda r: r.tick())

    def cmd_tick_election(self, i: str, n: str = "1") -> None:
        # election_ticks exactly: a leader's check-quorum fires; a follower's randomized
        # timeout is in [election, 2*election), so it may need a second one.
        for _ in range(int(n) * self.options["election_ticks"]):
            self._observe(i, lambda r: r.tick())

    def cmd_propose(self, i: str, data: str) -> None:
        try:
            entries = self._observe(i, lambda r: r.propose([data.encode()]))
        except ProposalDropped as e:
            self.say(f"dropped: {e}")
            return
        self.say("proposed " + fmt_entries(entries))

    def cmd_transfer_leader(self, frm: str, to: str) -> None:
        try:
            self._observe(frm, lambda r: r.transfer_leadership(to))
        except ProposalDropped as e:
            self.say(f"refused: {e}")

    def cmd_read_index(self, i: str, ctx: str) -> None:
        try:
            self._observe(i, lambda r: r.read_index(ctx.encode()))
        except ProposalDropped as e:
            self.say(f"refused: {e}")

    def cmd_compact(self, i: str, index: str) -> None:
        node = self.node(i)
        r = node.raft
        idx = int(index)
        snap = Snapshot(SnapshotMeta(idx, r.log.term(idx), self.ids), encode_state(node.state_at(idx)))
        node.disk.compact(snap)  # the snapshot is saved before the log may drop what it covers
        r.create_snapshot(snap)
        rest = (f"log holds {r.log.first_index()}..{r.log.last_index()}" if r.log.entries
                else "log holds no entries")
        self.say(f"{i} snapshot at {idx}@{snap.meta.term} data={fmt_data(snap.data)}; {rest}")

    def cmd_restart(self, i: str) -> None:
        disk = self.node(i).disk
        # Nothing survives but the disk: unsent messages and unpersisted entries are gone.
        node = Node(self._new_raft(i, disk), disk)
        if disk.snapshot is not None:
            node.base_index = disk.snapshot.meta.index
            node.base_state = decode_state(disk.snapshot.data)
        self.nodes[i] = node
        hs = disk.hard_state
        self.say(f"{i} restarted: term={hs.term} vote={hs.vote or '-'} commit={hs.commit} "
                 f"snapshot={disk.snapshot.meta.index if disk.snapshot else 0} "
                 f"entries={len(disk.entries)}; {self._state_line(i)}")

    # Readys and the network ---------------------------------------------------------------
    def cmd_process_ready(self, *ids: str) -> None:
        for i in ids or self.ids:
            if self.node(i).raft.has_ready():
                self._handle_ready(i)

    def _handle_ready(self, i: str) -> None:
        node = self.nodes[i]
        r = node.raft
        rd = r.ready()
        self.say(f"> {i} ready")
        if rd.hard_state is not None:
            hs = rd.hard_state
            self.say(f"persist hard_state term={hs.term} vote={hs.vote or '-'} commit={hs.commit}", 1)
        if rd.snapshot is not None:
            self.say(f"persist snapshot {rd.snapshot.meta.index}@{rd.snapshot.meta.term}", 1)
        if rd.entries:
            self.say(f"persist entries {fmt_entries(rd.entries)}", 1)
        node.disk.save(rd)  # persist before anything leaves
        if rd.messages:
            self.say(f"send {len(rd.messages)} message{'s' if len(rd.messages) > 1 else ''}", 1)
            self.net.extend(rd.messages)
        if rd.snapshot is not None:
            node.base_index = rd.snapshot.meta.index
            node.base_state = decode_state(rd.snapshot.data)
            node.applied = []
            self.say(f"apply snapshot {rd.snapshot.meta.index}@{rd.snapshot.meta.term} "
                     f"data={fmt_data(rd.snapshot.data)}", 1)
        for e in rd.committed:
            expect = node.applied[-1].index + 1 if node.applied else node.base_index + 1
            assert e.index == expect, f"{i} applies {e.index}, expected {expect}"
            node.applied.append(e)
            self.say(f"apply {fmt_entry(e)}", 1)
        for rs in rd.read_states:
            self.say(f"read_state index={rs.index} context={rs.context.decode(errors='replace')}", 1)
        # advance may queue messages (a leader whose own append made an entry commit).
        self._observe(i, lambda r: r.advance(rd), 1)

    def cmd_deliver_msgs(self, *args: str) -> None:
        ids, drop = self._parse_targets(args)
        self._deliver(ids, drop)

    def _parse_targets(self, args) -> tuple[set[str], set[str]]:
        ids, drop = set(), set()
        for a in args:
            if a.startswith("drop="):
                drop |= set(a[len("drop="):].split(","))
            else:
                self.node(a)  # refuse an unknown id
                ids.add(a)
        return ids or set(self.ids), drop

    def _deliver(self, ids: set[str], drop: set[str]) -> bool:
        """Deliver (or drop) every queued message for ``ids``, oldest first; True if there was one."""
        mine = [m for m in self.net if m.to in ids]
        self.net = [m for m in self.net if m.to not in ids]
        for m in mine:
            if m.to in drop or m.to in self.isolated or m.frm in self.isolated:
                self.say(f"> drop {fmt_msg(m)}")
                continue
            self.say(f"> deliver {fmt_msg(m)}")
            self._observe(m.to, lambda r, m=m: r.step(m), 1)
        return bool(mine)

    def cmd_stabilize(self, *ids: str) -> None:
        targets = set(ids) if ids else set(self.ids)
        order = [i for i in self.ids if i in targets]
        for _ in range(MAX_STABILIZE_ROUNDS):
            busy = False
            for i in order:
                while self.nodes[i].raft.has_ready():
                    busy = True
                    self._handle_ready(i)
            busy = self._deliver(targets, set()) or busy
            if not busy:
                return
        raise AssertionError(f"not quiet after {MAX_STABILIZE_ROUNDS} rounds")

    def cmd_isolate(self, i: str) -> None:
        self.node(i)
        self.isolated.add(i)

    def cmd_heal(self) -> None:
        self.isolated.clear()

    # Looking -----------------------------------------------------------------------------
    def _state_line(self, i: str) -> str:
        r = self.nodes[i].raft
        return (f"{r.role} term={r.term} vote={r.vote or '-'} leader={r.lead or '-'} "
                f"commit={r.log.committed} applied={r.log.applied} last={r.log.last_index()}")

    def cmd_raft_state(self) -> None:
        for i in self.ids:
            self.say(f"{i}: {self._state_line(i)}{' (isolated)' if i in self.isolated else ''}")

    def cmd_raft_log(self, i: str) -> None:
        node = self.node(i)
        log = node.raft.log
        if log.offset:
            self.say(f"snapshot {log.offset}@{log.offset_term}")
        if not log.entries:
            self.say("no entries")
        for e in log.entries:
            self.say(fmt_entry(e))
        self.say(f"state machine: {fmt_data(encode_state(node.state_at(log.applied)))}")


# --- Files ------------------------------------------------------------------------------
@dataclass
class Block:
    lead: list[str]
    """Blank and comment lines before the command, kept as they are on rewrite."""
    command: str
    expected: list[str]
    line: int
    """Where the command stands in the file, for error messages."""


def parse(text: str) -> tuple[list[Block], list[str]]:
    """The blocks of a script, and the lines after the last one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    blocks: list[Block] = []
    lead: list[str] = []
    n = 0
    while n < len(lines):
        line = lines[n]
        if not line.strip() or line.startswith("#"):
            lead.append(line)
            n += 1
            continue
        if n + 1 >= len(lines) or lines[n + 1] != "----":
            raise ScriptError(f"line {n + 1}: {line!r} is not followed by ----")
        start, n = n, n + 2
        expected = []
        while n < len(lines) and lines[n].strip():
            expected.append(lines[n])
            n += 1
        blocks.append(Block(lead, line, expected, start + 1))
        lead = []
    return blocks, lead


def run_script(text: str, path: str = "<script>") -> str:
    """The script with every block's output replaced by what the core does now."""
    blocks, tail = parse(text)
    cluster = Cluster()
    out: list[str] = []
    for b in blocks:
        try:
            actual = cluster.run(b.command)
        except Exception as e:
            raise AssertionError(f"{path}:{b.line}: {b.command}: {type(e).__name__}: {e}") from e
        out += b.lead + [b.command, "----", actual]
    return "\n".join(out + tail) + "\n"


def diff(expected: str, actual: str, path: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        f"{path} (expected)", f"{path} (actual)"))


if __name__ == "__main__":
    # python -m tests.raft_transcript [--rewrite] FILE...: print the diffs, or rewrite the files.
    rewrite = "--rewrite" in sys.argv
    for name in (a for a in sys.argv[1:] if a != "--rewrite"):
        p = Path(name)
        old = p.read_text()
        new = run_script(old, name)
        if rewrite:
            p.write_text(new)
        elif new != old:
            print(diff(old, new, name))
