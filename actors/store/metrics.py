"""The store's Prometheus metrics: ``kubesim_store_*``, named after etcd's ``etcd_server_*`` and ``etcd_disk_*``.

One object per member process; the member updates counters as things happen
and gauges once per turn of its loop, so a scrape costs the loop nothing.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# fsync on a good disk takes tens of microseconds to milliseconds; a bad one, seconds.
_DISK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_RTT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class StoreMetrics:
    def __init__(self, member: str, registry: CollectorRegistry = REGISTRY) -> None:
        labels = {"member": member}
        self.registry = registry

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"kubesim_store_{name}", doc, list(labels), registry=registry).labels(**labels)

        def counter(name: str, doc: str) -> Counter:
            return Counter(f"kubesim_store_{name}", doc, list(labels), registry=registry).labels(**labels)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(f"kubesim_store_{name}", doc, list(labels), buckets=buckets,
                             registry=registry).labels(**labels)

        self.has_leader = gauge("has_leader", "1 if this member knows a leader, else 0.")
        self.is_leader = gauge("is_leader", "1 if this member is the leader, else 0.")
        self.leader_changes = counter("leader_changes_total",
                                      "Times this member saw the leader change (etcd's leader_changes_seen_total).")
        self.elections = counter("elections_started_total", "Elections (and pre-vote rounds) this member started.")
        self.term = gauge("term", "The member's current raft term.")
        self.commit_index = gauge("commit_index", "Highest log index known committed.")
        self.applied_index = gauge("applied_index", "Highest log index applied to the key-value state.")
        self.last_index = gauge("last_index", "Index of the last entry in the member's log.")
        self.revision = gauge("revision", "The key-value store's current revision.")
        self.compact_revision = gauge("compact_revision", "Revision history was last compacted to.")
        self.proposals_committed = counter("proposals_committed_total",
                                           "Writes this member proposed that were committed and applied.")
        self.proposals_applied = counter("proposals_applied_total",
                                         "Writes applied to this member's key-value state, whoever proposed them "
                                         "(etcd's proposals_applied_total; those a snapshot brought are not counted).")
        self.proposals_failed = counter("proposals_failed_total",
                                        "Writes this member accepted that failed (leadership lost, dropped).")
        self.proposals_pending = gauge("proposals_pending", "Writes proposed here and not yet applied.")
        self.reads = counter("linearizable_reads_total", "Reads answered after a read-index round.")
        self.fsync = histogram("wal_fsync_duration_seconds", "Time one WAL fsync took (a group commit).",
                               _DISK_BUCKETS)
        self.wal_writes = counter("wal_writes_total", "WAL saves (each one write and one fsync).")
        self.snapshot = histogram("snapshot_save_duration_seconds",
                                  "Time to write and fsync one snapshot.", _DISK_BUCKETS)
        self.snapshots_installed = counter("snapshots_installed_total",
                                           "Snapshots received from a leader and installed.")
        self.db_size = gauge("db_size_bytes", "Bytes the key-value state holds, history included.")
        self.wal_size = gauge("wal_size_bytes", "Bytes of live WAL segment files.")
        self.watchers = gauge("watchers", "Watches this member serves.")
        self.rejected = Counter("kubesim_store_rejected_messages_total",
                                "Messages refused, by reason (bad raft message, oversized request...).",
                                ["member", "reason"], registry=registry)
        self._member = member
        self.peer_rtt = Histogram("kubesim_store_peer_round_trip_time_seconds",
                                  "Heartbeat round trip from the leader to each peer.", ["member", "peer"],
                                  buckets=_RTT_BUCKETS, registry=registry)

    def reject(self, reason: str) -> None:
        self.rejected.labels(member=self._member, reason=reason).inc()

    def rtt(self, peer: str, seconds: float) -> None:
        self.peer_rtt.labels(member=self._member, peer=peer).observe(seconds)
