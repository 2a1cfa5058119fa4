"""Message kinds the components exchange, declared once.

The bus's own kinds live in :mod:`bus.messages`; everything the components
say to each other is declared here with the same decorator, so the codec can
reject a body with a missing, extra or mistyped field before a handler sees it.
"""

from __future__ import annotations

from bus.messages import message


@message("demo.Ping")
class Ping:
    """A demo request: "are you there?"."""

    seq: int
    """The pinger's sequence number, echoed back."""
    payload: bytes = b""
    """Optional bytes, to exercise sizes."""


@message("demo.Pong")
class Pong:
    """The answer to :class:`Ping`."""

    seq: int
    """The sequence number of the Ping this answers."""
    served_by: str
    """The actor that answered."""
    served: int
    """How many pings that actor has answered so far."""


# --- The replicated store (actors.store) -----------------------------------------
#
# Members speak ``store.Raft`` to each other, directly (not through the API
# server). Clients speak the rest to any member; a member that is not the
# leader answers a write with ``store.NotLeader``. Keys and values are bytes,
# as in etcd; a key-value travels as the array
# ``[key, create_revision, mod_revision, version, value, lease]``.


@message("store.Raft")
class RaftMessage:
    """One raft protocol message between members (etcd-io/raft's ``raftpb.Message``)."""

    type: str
    """``app``, ``app_resp``, ``vote``, ``pre_vote``, ``heartbeat``, ``snap``, ... (see actors.store.raft)."""
    to: str
    """The member it is for."""
    frm: str
    """The member that sent it."""
    term: int = 0
    """The sender's term (0 for messages that carry none, e.g. a forwarded read index)."""
    log_term: int = 0
    """Term of the entry at ``index`` (append, vote) or of the hint (rejection)."""
    index: int = 0
    """Append: index before ``entries``; response: highest index matched; vote: candidate's last index."""
    entries: tuple = ()
    """Log entries as ``[term, index, data]`` arrays."""
    commit: int = 0
    """The leader's commit index (append, heartbeat)."""
    reject: bool = False
    """The request was refused (vote not granted, append did not match)."""
    reject_hint: int = 0
    """On a refused append: where the follower's log may match, to skip back fast."""
    snapshot: tuple | None = None
    """``[[index, term, members], data]`` for an install-snapshot message."""
    context: bytes = b""
    """Read-index request id, or the marker of a leadership-transfer election."""


@message("store.Range")
class StoreRange:
    """Read keys: one key, a range, or a prefix (``range_end`` from ``prefix_end``)."""

    key: bytes
    range_end: bytes = b""
    """Empty: just ``key``; ``b"\\0"``: every key from ``key`` on; else the keys in [key, range_end)."""
    revision: int = 0
    """Read as of this revision; 0 for the newest."""
    limit: int = 0
    """Most keys returned; 0 for no limit."""
    keys_only: bool = False
    count_only: bool = False
    serializable: bool = False
    """Answer from this member's state without a read-index round (may be stale)."""


@message("store.Put")
class StorePut:
    """Set a key's value."""

    key: bytes
    value: bytes
    prev_kv: bool = False
    """Return the key-value it replaced."""


@message("store.Delete")
class StoreDelete:
    """Delete a key or a range of keys."""

    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


@message("store.Txn")
class StoreTxn:
    """If every compare holds, do ``success``, else ``failure``; one revision for all its writes."""

    compare: list
    """Maps ``{key, range_end?, target: version|create|mod|value, result: =|!=|<|>, value}``."""
    success: list
    """Operations as maps: ``{op: put|delete|range, key, ...}``."""
    failure: list


@message("store.Compact")
class StoreCompact:
    """Forget history older than ``revision``."""

    revision: int


@message("store.Result")
class StoreResult:
    """The answer to a read or a write."""

    revision: int
    """The store's revision the answer reflects (the write's own revision for a write)."""
    body: dict
    """What the state machine answered (``kvs``, ``count``, ``prev_kv``, ``succeeded``, ...)."""
    member: str
    """Which member answered."""


@message("store.NotLeader")
class StoreNotLeader:
    """This member cannot serve the request; try ``leader`` (empty while unknown)."""

    leader: str
    term: int


@message("store.Watch")
class StoreWatch:
    """Start (or keep alive) a watch: every change to the keys from ``start_revision`` on."""

    watch_id: str
    """Chosen by the watcher; unique per watcher actor."""
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    """First revision to report (inclusive); 0 for changes after now."""
    prev_kv: bool = False
    renew: bool = False
    """Only keep an existing watch alive; a member that does not hold it says so (canceled)."""


@message("store.CancelWatch")
class StoreCancelWatch:
    """Stop a watch."""

    watch_id: str


@message("store.WatchEvents")
class StoreWatchEvents:
    """Changes for a watch, in revision order, with no gaps; empty as a progress notice."""

    watch_id: str
    events: list
    """``[type, kv, prev_kv]`` arrays; type is ``PUT`` or ``DELETE``."""
    revision: int
    """The member's revision when sent: everything up to it has been reported."""
    member: str
    seq: int = 0
    """1, 2, 3... per watch: a watcher that sees a gap has lost events and must watch again."""
    canceled: str = ""
    """Non-empty when the watch ended, with why (e.g. ``compacted: ...``)."""


@message("store.Status")
class StoreStatus:
    """Ask a member how it is."""


@message("store.StatusReply")
class StoreStatusReply:
    """A member's view of itself and the cluster."""

    member: str
    role: str
    """``leader``, ``follower``, ``candidate`` or ``pre_candidate``."""
    term: int
    leader: str
    commit_index: int
    applied_index: int
    last_index: int
    snapshot_index: int
    revision: int
    compact_revision: int
    db_size_bytes: int
    members: list


@message("store.TransferLeader")
class StoreTransferLeader:
    """Ask the leader to hand leadership to ``to``."""

    to: str
