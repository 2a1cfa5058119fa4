"""``kubesim store ...``: the replicated store, for people and for debugging.

    kubesim store status                  each member's role, term, indexes, leader; reachable or not
    kubesim store put KEY VALUE
    kubesim store get KEY [--prefix] [--rev N] [--limit N] [--keys-only] [--serializable] [-o json]
    kubesim store del KEY [--prefix]
    kubesim store watch KEY [--prefix] [--rev N]       prints changes until Ctrl-C
    kubesim store compact REV
    kubesim store transfer-leader MEMBER

Keys and values are taken and printed as UTF-8 text (bytes that are not
UTF-8 print escaped). This module also builds a member from the cluster
file, for the ``store`` component.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from actors.store.client import (
    Indeterminate,
    StoreError,
    StoreSession,
    StoreUnavailable,
)
from actors.store.member import StoreMember, StoreOptions
from actors.store.mvcc import KeyValue, prefix_end
from bus.clock import make_clock
from bus.transport.curve import load_public

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


def server_keys(cfg: ClusterConfig) -> dict[str, bytes] | None:
    if not cfg.security.curve:
        return None
    return {m: load_public(cfg.security.keys_dir, m) for m in cfg.store.members}


def member_for(cfg: ClusterConfig, process: str, cls: type[StoreMember] = StoreMember) -> StoreMember:
    """The store member actor for ``process``, with its options from the cluster file."""
    st = cfg.store
    scale = cfg.cluster.time_scale
    options = StoreOptions(
        data_dir=st.data_dir / process,
        fsync=st.fsync,
        # Raft timings are real time, as etcd's are: a faster cluster clock does not rush elections.
        tick_s=st.heartbeat_interval_ms / 1000 * scale,
        election_ticks=max(2, round(st.election_timeout_ms / st.heartbeat_interval_ms)),
        snapshot_count=st.snapshot_count,
        background_snapshots=st.background_snapshots,
        catch_up_entries=st.catch_up_entries,
        max_request_bytes=st.max_request_bytes,
    )
    return cls(process, st.endpoints(), options, server_keys=server_keys(cfg))


def session_for(cfg: ClusterConfig, *, timeout_s: float = 5.0, deadline_s: float = 15.0) -> StoreSession:
    """A client session to the cluster's store, holding the 'admin' key when CURVE is on."""
    from kubesim.process import security_for

    settings = replace(cfg.bus_settings(), max_frame_bytes=cfg.store.max_message_bytes)
    # A client's keys (the members admit only known ones); each member's public key comes per connection.
    security = security_for(cfg, "admin", broker=False)
    return StoreSession(cfg.store.endpoints(), settings=settings, clock=make_clock(cfg.cluster.time_scale),
                        security=security, timeout_s=timeout_s, deadline_s=deadline_s,
                        server_keys=server_keys(cfg))


def add_parser(sub) -> None:
    p = sub.add_parser("store", help="read, write and inspect the replicated store")
    ops = p.add_subparsers(dest="store_command", required=True)
    ops.add_parser("status", help="each member's role, term, indexes and leader")
    o = ops.add_parser("put", help="set a key")
    o.add_argument("key")
    o.add_argument("value")
    o = ops.add_parser("get", help="read a key, or every key under a prefix")
    o.add_argument("key")
    o.add_argument("--prefix", action="store_true")
    o.add_argument("--rev", type=int, default=0, help="read as of this revision")
    o.add_argument("--limit", type=int, default=0)
    o.add_argument("--keys-only", action="store_true")
    o.add_argument("--serializable", action="store_true", help="any member answers, maybe stale")
    o.add_argument("-o", "--output", choices=("text", "json"), default="text")
    o = ops.add_parser("del", help="delete a key, or every key under a prefix")
    o.add_argument("key")
    o.add_argument("--prefix", action="store_true")
    o = ops.add_parser("watch", help="print every change to a key (or prefix) until Ctrl-C")
    o.add_argument("key")
    o.add_argument("--prefix", action="store_true")
    o.add_argument("--rev", type=int, default=0, help="start at this revision (default: from now)")
    o = ops.add_parser("compact", help="forget history older than a revision")
    o.add_argument("revision", type=int)
    o = ops.add_parser("transfer-leader", help="ask the leader to hand over to MEMBER")
    o.add_argument("member")
    for action in ops.choices.values():  # `kubesim store get k --config x.yaml` works too
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(cfg: ClusterConfig, args) -> int:
    command = args.store_command
    if not cfg.store.members:
        print("kubesim store: the cluster config has no store (store.members is empty)", file=sys.stderr)
        return 2
    with session_for(cfg) as session:
        try:
            if command == "status":
                return _status(cfg, session)
            if command == "watch":
                return _watch(session, args)
            return _one_call(session, args)
        except Indeterminate as exc:
            print(f"kubesim store {command}: outcome unknown (the write may or may not have been applied): {exc}",
                  file=sys.stderr)
            return 3
        except StoreUnavailable as exc:
            print(f"kubesim store {command}: store unavailable: {exc}", file=sys.stderr)
            return 1
        except StoreError as exc:
            print(f"kubesim store {command}: {exc}", file=sys.stderr)
            return 1


def _range_end(key: bytes, prefix: bool) -> bytes:
    return prefix_end(key) if prefix else b""


def _one_call(session: StoreSession, args) -> int:
    c = session.client
    command = args.store_command
    if command == "put":
        body = session.run(c.put(args.key.encode(), args.value.encode()))
        print(f"OK revision {body['revision']}")
    elif command == "get":
        key = args.key.encode()
        body = session.run(c.get(key, _range_end(key, args.prefix), revision=args.rev, limit=args.limit,
                                 keys_only=args.keys_only, serializable=args.serializable))
        if args.output == "json":
            print(json.dumps({"revision": body["revision"], "count": body["count"], "more": body["more"],
                              "kvs": [_kv_json(kv) for kv in body["kvs"]]}))
        else:
            for kv in body["kvs"]:
                print(_text(kv.key) if args.keys_only else f"{_text(kv.key)} = {_text(kv.value)}")
    elif command == "del":
        key = args.key.encode()
        body = session.run(c.delete(key, _range_end(key, args.prefix)))
        print(f"deleted {body['deleted']} key(s) at revision {body['revision']}")
    elif command == "compact":
        session.run(c.compact(args.revision))
        print(f"compacted to revision {args.revision}")
    elif command == "transfer-leader":
        reply = session.run(c.transfer_leader(args.member))
        print(f"{reply.member} is handing leadership to {args.member} (term {reply.term})")
    return 0


def _status(cfg: ClusterConfig, session: StoreSession) -> int:
    c = session.client
    rows = []
    for member in sorted(cfg.store.members):
        try:
            st = session.run(c.status(member))
            rows.append([member, st.role, str(st.term), st.leader or "-", str(st.commit_index),
                         str(st.applied_index), str(st.last_index), str(st.revision), "yes"])
        except StoreUnavailable:
            rows.append([member, "-", "-", "-", "-", "-", "-", "-", "no"])
    header = ["MEMBER", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST-INDEX", "REVISION", "REACHABLE"]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    leaders = sorted({(r[0], r[2]) for r in rows if r[1] == "leader"})
    if len(leaders) == 1:
        print(f"leader: {leaders[0][0]} (term {leaders[0][1]})")
        return 0
    print(f"leaders: {', '.join(f'{m} (term {t})' for m, t in leaders) or 'none'}")
    return 1


def _watch(session: StoreSession, args) -> int:
    key = args.key.encode()
    ended: list[str] = []

    def on_events(events, revision) -> None:
        for ev in events:
            value = "" if ev.type == "DELETE" else f" = {_text(ev.kv.value)}"
            print(f"{ev.kv.mod_revision} {ev.type} {_text(ev.kv.key)}{value}", flush=True)

    session.client.watch(key, _range_end(key, args.prefix), start_revision=args.rev, on_events=on_events,
                         on_end=ended.append)
    try:
        while not ended:
            session.poll(0.2)
    except KeyboardInterrupt:
        return 0
    print(f"watch ended: {ended[0]}", file=sys.stderr)
    return 1


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _kv_json(kv: KeyValue) -> dict:
    return {"key": _text(kv.key), "value": _text(kv.value), "create_revision": kv.create_revision,
            "mod_revision": kv.mod_revision, "version": kv.version}
