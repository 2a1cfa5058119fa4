"""The log collector's store: every line the cluster logged, on disk and in memory, within a retention bound.

What Loki or Elasticsearch is to a real cluster's logging add-on, in the
small. Lines arrive in batches from each process's shipper
(:mod:`bus.logship`); each gets a sequence number, the store's own order of
arrival, which a follower (``kubesim logs -f``, the dashboard) resumes from.

- **Segments.** Batches are appended, one JSON line each, to the newest
  segment file (``seg-<first seq>.jsonl``) and kept in memory for queries. A
  segment closes at a sixteenth of the retention size, so retention frees
  space a segment at a time, as Loki drops whole chunks.
- **Retention.** The oldest segments go while the store holds more than
  ``max_bytes`` or their newest line is older than ``max_age_s``: nothing
  grows without bound.
- **Memory.** Every line held is also in memory (about five times its bytes on
  disk; the strings that repeat on every line are kept once), so queries never
  read the disk: ``max_bytes`` is what the collector's process will hold.
- **Restarts.** A new store reads the segments back (a half-written last
  line, from a crash, is skipped), so a collector that is killed loses no
  line it had taken. Files are written, not fsynced: logs are not worth an
  fsync per batch, and a machine crash losing the last second of them is
  what Fluentd's file buffer risks too.
- **At least once.** A shipper sends a batch again when its answer was lost;
  the store remembers the last batch number of each shipper (also across its
  restarts) and takes each batch once.

Pure apart from the segment files in its directory; time comes in as ``now``.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bus.logship import ENTRY_FIELDS

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
#: Shippers whose last batch number is remembered (each run of each process is one).
MAX_SHIPPERS = 10_000
_T, _PROCESS, _COMPONENT, _SOURCE, _LEVEL, _TRACE, _MESSAGE, _FIELDS, _NS, _POD, _CONTAINER, _STREAM, _ATTEMPT = \
    range(len(ENTRY_FIELDS))


class BadEntry(ValueError):
    """An entry that is not a list of :data:`bus.logship.ENTRY_FIELDS` of the right types; says which field."""


_TYPES = (float, str, str, str, str, str, str, dict, str, str, str, str, int)


#: Fields whose few distinct values repeat on every line: kept once each (a line costs a fifth as much memory).
_INTERNED = tuple(ENTRY_FIELDS.index(f) for f in ("process", "component", "source", "level", "namespace", "pod",
                                                  "container", "stream"))


def check_entry(entry: object, where: str) -> list:
    """The entry, if it has every field with its type (its repeating strings interned); else :class:`BadEntry`
    naming the field."""
    if not isinstance(entry, list) or len(entry) != len(ENTRY_FIELDS):
        raise BadEntry(f"{where}: expected a list of {len(ENTRY_FIELDS)} fields {ENTRY_FIELDS}")
    for i, (value, kind) in enumerate(zip(entry, _TYPES)):
        if kind is float and type(value) is int:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadEntry(f"{where}.{ENTRY_FIELDS[i]}: expected {kind.__name__}, got {type(value).__name__}")
    if not math.isfinite(entry[_T]):
        raise BadEntry(f"{where}.t: expected a finite time, got {entry[_T]!r}")
    for i in _INTERNED:
        entry[i] = sys.intern(entry[i])
    return entry


@dataclass(frozen=True)
class Query:
    """Which lines: every filter given must hold. Text filters match exactly unless said otherwise."""

    component: str = ""
    """Component lines (not containers') of a process (``scheduler-2``), a component (``scheduler``), or an
    actor (``node-1.kubelet``, or ``kubelet`` for every node's)."""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    """Container lines of pods in ``namespace``, of the pod named ``pod``, of its container ``container``."""
    attempt: int = -1
    """Only the lines of this run of the container (its restart count); -1 any."""
    trace_id: str = ""
    """Lines of the traces whose id starts with this (``kubesim trace`` prints the first 8 characters)."""
    level: str = ""
    """Component lines at this level or more severe (container lines have no level, and are left out)."""
    grep: str = ""
    """Lines whose message or fields contain this text."""
    since: float = 0.0
    """Lines at or after this Unix time."""
    after_seq: int = 0
    """Lines stored after this sequence number (a follower's resume point)."""
    limit: int = 1000
    """At most this many: the newest, given oldest first."""

    def containers_only(self) -> bool:
        return bool(self.namespace or self.pod or self.container)

    def matches(self, e: list) -> bool:
        if self.component:
            if e[_POD]:
                return False
            c = self.component
            s = e[_SOURCE]
            if not (c == e[_PROCESS] or c == e[_COMPONENT] or c == s or s.startswith(c + ".")
                    or s.endswith("." + c)):
                return False
        if self.containers_only():
            if not e[_POD] or (self.namespace and e[_NS] != self.namespace) or (self.pod and e[_POD] != self.pod):
                return False
            if self.container and e[_CONTAINER] != self.container:
                return False
            if self.attempt >= 0 and e[_ATTEMPT] != self.attempt:
                return False
        if self.trace_id and not e[_TRACE].startswith(self.trace_id):
            return False
        if self.level and (not e[_LEVEL] or LEVELS.get(e[_LEVEL], 20) < LEVELS[self.level]):
            return False
        if self.grep and self.grep not in e[_MESSAGE] and not any(self.grep in str(v) for v in e[_FIELDS].values()):
            return False
        return True


@dataclass
class _Segment:
    first_seq: int
    path: Path
    entries: list[tuple[int, list]] = field(default_factory=list)
    size: int = 0
    newest_t: float = 0.0


@dataclass
class StoreStats:
    lines: int = 0
    bytes: int = 0
    segments: int = 0
    duplicates: int = 0
    """Batches sent again whose first delivery the store already had."""
    evicted_lines: int = 0
    corrupt_records: int = 0
    dropped_by_shippers: int = 0
    """Lines shippers reported they had to drop (their buffer was full)."""


class LogStore:
    def __init__(self, directory: Path, *, max_bytes: int, max_age_s: float, now: float) -> None:
        assert max_bytes > 0 and max_age_s > 0
        self.dir = directory
        self.max_bytes, self.max_age_s = max_bytes, max_age_s
        self.segment_bytes = max(64 * 1024, max_bytes // 16)
        self.stats = StoreStats()
        self.last_seq = 0
        self._segments: list[_Segment] = []
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._file = None
        directory.mkdir(parents=True, exist_ok=True)
        self._load()
        self.expire(now)

    # --- writing ----------------------------------------------------------------------------------
    def append(self, shipper: str, batch: int, entries: list[list], dropped: int = 0) -> bool:
        """Store a batch (entries already checked); False if it was this shipper's already (a resend)."""
        if self._marks.get(shipper, 0) >= batch:
            self.stats.duplicates += 1
            return False
        first = self.last_seq + 1
        try:
            record = orjson.dumps({"shipper": shipper, "batch": batch, "seq": first, "dropped": dropped,
                                   "entries": entries}) + b"\n"
        except orjson.JSONEncodeError as exc:  # a value JSON cannot hold (an integer past 64 bits)
            raise BadEntry(f"batch {batch} from {shipper}: {exc}") from None
        seg = self._writable()
        start = self._file.tell()
        try:
            self._file.write(record)
            self._file.flush()
        except OSError:
            # A full disk: take back what part of the record went in, so the shipper's next try is not
            # appended to half a line (the whole record would then be lost at the next start).
            self._abandon_file(start)
            raise
        self._take(seg, shipper, batch, first, entries, len(record), dropped)
        self._trim()
        return True

    def _take(self, seg: _Segment, shipper: str, batch: int, first: int, entries: list[list], size: int,
              dropped: int) -> None:
        for i, e in enumerate(entries):
            seg.entries.append((first + i, e))
            if e[_T] > seg.newest_t:
                seg.newest_t = e[_T]
        self.last_seq = first + len(entries) - 1 if entries else self.last_seq
        seg.size += size
        self.stats.lines += len(entries)
        self.stats.bytes += size
        self.stats.dropped_by_shippers += dropped
        self._marks[shipper] = batch
        self._marks.move_to_end(shipper)
        while len(self._marks) > MAX_SHIPPERS:
            self._marks.popitem(last=False)

    def _writable(self) -> _Segment:
        seg = self._segments[-1] if self._segments else None
        if seg is None or seg.size >= self.segment_bytes or self._file is None:
            if self._file is not None:
                self._file.close()
                self._file = None
            path = self.dir / f"seg-{self.last_seq + 1:012d}.jsonl"
            self._file = open(path, "ab")  # may fail (the disk): then nothing here changed
            seg = _Segment(self.last_seq + 1, path)
            self._segments.append(seg)
            self.stats.segments = len(self._segments)
        return seg

    def _abandon_file(self, good_size: int) -> None:
        try:
            self._file.truncate(good_size)
            self._file.close()
        except OSError:
            pass
        self._file = None  # the next batch starts a new segment

    def expire(self, now: float) -> None:
        """Drop the segments whose newest line is older than ``max_age_s`` (and trim to ``max_bytes``)."""
        while self._segments and self._segments[0].newest_t < now - self.max_age_s and (
                len(self._segments) > 1 or self._segments[0].entries):
            self._drop_oldest()
        self._trim()

    def _trim(self) -> None:
        while self.stats.bytes > self.max_bytes and len(self._segments) > 1:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        seg = self._segments.pop(0)
        if not self._segments and self._file is not None:
            self._file.close()
            self._file = None
        seg.path.unlink(missing_ok=True)
        self.stats.lines -= len(seg.entries)
        self.stats.bytes -= seg.size
        self.stats.evicted_lines += len(seg.entries)
        self.stats.segments = len(self._segments)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- reading back -----------------------------------------------------------------------------
    def _load(self) -> None:
        for path in sorted(self.dir.glob("seg-*.jsonl")):
            try:
                first = int(path.stem.removeprefix("seg-"))
            except ValueError:
                continue
            seg = _Segment(first, path)
            self._segments.append(seg)
            with open(path, "rb") as f:
                for line in f:
                    try:
                        rec = orjson.loads(line)
                        entries = [check_entry(e, "entry") for e in rec["entries"]]
                        shipper, batch, seq = str(rec["shipper"]), int(rec["batch"]), int(rec["seq"])
                        dropped = int(rec.get("dropped") or 0)
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                        self.stats.corrupt_records += 1  # a line cut short by a crash: the rest of it is gone
                        continue
                    self.last_seq = max(self.last_seq, seq - 1)
                    self._take(seg, shipper, batch, self.last_seq + 1, entries, len(line), dropped)
            if not seg.entries:
                self._segments.pop()
                path.unlink(missing_ok=True)
        self.stats.segments = len(self._segments)
        # Appends go to a fresh segment: the last one may end in a half-written line.
        self._file = None

    # --- queries ----------------------------------------------------------------------------------
    def query(self, q: Query) -> list[tuple[int, list]]:
        """The newest ``q.limit`` matching lines, as (seq, entry), oldest first."""
        out: list[tuple[int, list]] = []
        following = q.after_seq > 0
        for seg in reversed(self._segments):
            if seg.entries and seg.entries[-1][0] <= q.after_seq:
                break
            if seg.newest_t < q.since:
                continue  # lines arrive in about time order, not exactly: older segments may still have some
            for seq, e in reversed(seg.entries):
                if seq <= q.after_seq:
                    break
                if e[_T] >= q.since and q.matches(e):
                    out.append((seq, e))
                    if len(out) >= q.limit and not following:
                        out.reverse()
                        return out
        out.reverse()
        # A follower resumes from the oldest lines it has not seen, a page at a time.
        return out[:q.limit] if following else out

    def latest_attempt(self, namespace: str, pod: str, container: str) -> int:
        """The newest run of a container the store has lines of; -1 if none."""
        for seg in reversed(self._segments):
            for _, e in reversed(seg.entries):
                if e[_POD] == pod and e[_NS] == namespace and (not container or e[_CONTAINER] == container):
                    return e[_ATTEMPT]
        return -1

    def containers_of(self, namespace: str, pod: str) -> list[str]:
        """The containers of a pod that the store has lines of."""
        seen: dict[str, None] = {}
        for seg in self._segments:
            for _, e in seg.entries:
                if e[_POD] == pod and e[_NS] == namespace:
                    seen[e[_CONTAINER]] = None
        return list(seen)
