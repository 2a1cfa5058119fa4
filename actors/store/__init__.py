"""The replicated store: a raft cluster that stands in for etcd (DESIGN §3).

- :mod:`actors.store.raft` — the raft core, no I/O (etcd-io/raft's shape).
- :mod:`actors.store.mvcc` — the key-value state machine with etcd's revisions.
- :mod:`actors.store.wal`, :mod:`actors.store.snapfile` — what a member keeps on disk.
- :mod:`actors.store.member` — the actor that wires them to the bus and the disk.
- :mod:`actors.store.client` — finds the leader, retries what is safe, says
  "indeterminate" when it cannot know.
"""
