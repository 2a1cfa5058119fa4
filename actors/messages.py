"""Message kinds the components exchange, declared once.

The bus's own kinds live in :mod:`bus.messages`; everything the components
say to each other is declared here with the same decorator, so the codec can
reject a body with a missing, extra or mistyped field before a handler sees it.
"""

from __future__ import annotations

from typing import Any

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

    def span_note(self) -> str:
        ops = [op for op in self.success if isinstance(op, dict)]
        key = ops[0].get("key") if ops else None
        key = key.decode("utf-8", "replace") if isinstance(key, bytes) else ""
        return f"txn {'+'.join(op.get('op', '?') for op in ops) or 'compare'} {key}".rstrip()


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


@message("store.LogTerms")
class StoreLogTerms:
    """Ask a member for its log as term runs (for chaos's raft checks: committed prefixes agree)."""


@message("store.LogTermsReply")
class StoreLogTermsReply:
    """A member's log: ``runs`` of ``[first_index, last_index, term]`` covering snapshot_index+1..last_index."""

    member: str
    term: int
    commit_index: int
    snapshot_index: int
    snapshot_term: int
    runs: list


@message("store.DiskFault")
class StoreDiskFault:
    """Chaos on a member's disk: ``fsync-error`` (the next WAL fsync fails, as EIO would) or
    ``lose-unfsynced`` (the machine loses power: what was written but not fsynced is gone, and the member dies)."""

    fault: str


@message("store.DiskFaultSet")
class StoreDiskFaultSet:
    """The member took the disk fault; ``detail`` says what it did."""

    member: str
    fault: str
    detail: str


@message("store.TransferLeader")
class StoreTransferLeader:
    """Ask the leader to hand leadership to ``to``."""

    to: str


# --- The API server (actors.apiserver) -----------------------------------------
#
# Every component talks to the API server, which is the broker's own actor
# ``apiserver``. A request is shaped like a REST call (verb, resource,
# namespace, name, subresource, body, query options), so the HTTP front that
# real kubectl talks to is a thin translation. Objects travel as plain dicts
# shaped exactly like Kubernetes objects; errors come back as Kubernetes
# ``Status`` objects with the HTTP code.


@message("api.Request")
class ApiRequest:
    """One API call: ``get``, ``list``, ``create``, ``update``, ``patch``, ``delete``, ``deletecollection``."""

    verb: str
    resource: str
    """The plural resource (``pods``), as in the URL; kinds.lookup resolves it."""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    """``status``, ``binding``, ``scale`` or empty for the object itself."""
    body: dict | list | None = None
    """The object (create, update), the patch (patch; a list for a JSON patch), DeleteOptions (delete)."""
    options: dict | None = None
    """Query parameters: labelSelector, fieldSelector, resourceVersion, limit, continue, patchType,
    propagationPolicy, gracePeriodSeconds, dryRun."""
    impersonate: dict | None = None
    """Act as another user (Kubernetes' ``Impersonate-User`` and ``Impersonate-Group`` headers):
    ``{"user": name, "groups": [...]}``; the sender must be allowed to impersonate both."""

    def span_object(self) -> str:
        name = self.name
        if not name and isinstance(self.body, dict):  # a create names its object in the body
            name = (self.body.get("metadata") or {}).get("name") or ""
        if not name:
            return ""
        return f"{self.resource} {self.namespace}/{name}" if self.namespace else f"{self.resource} {name}"

    def span_note(self) -> str:
        return f"{self.verb} {self.resource}/{self.subresource}" if self.subresource else f"{self.verb} {self.resource}"


@message("api.Response")
class ApiResponse:
    """The answer: the HTTP status code and the object, list or ``Status``."""

    code: int
    body: dict


@message("api.Watch")
class ApiWatch:
    """Start a watch (or, with ``renew``, keep one alive): changes after ``resource_version``."""

    watch_id: str
    """Chosen by the watcher; unique per watcher actor."""
    resource: str
    namespace: str = ""
    label_selector: str = ""
    field_selector: str = ""
    resource_version: str = ""
    """Empty or "0": the current state as ADDED events, then changes; else changes after it."""
    renew: bool = False
    impersonate: dict | None = None
    """As in :class:`ApiRequest`."""


@message("api.WatchAck")
class ApiWatchAck:
    """The watcher has handled every message up to ``seq``: the server may send more."""

    watch_id: str
    seq: int


@message("api.CancelWatch")
class ApiCancelWatch:
    watch_id: str


@message("api.WatchEvents")
class ApiWatchEvents:
    """Events for a watch, in resourceVersion order; empty as a progress notice (a bookmark)."""

    watch_id: str
    seq: int
    """1, 2, 3... per watch: a gap means events were lost and the watcher must watch again."""
    events: list
    """``[type, object]`` pairs; type is ADDED, MODIFIED or DELETED."""
    resource_version: str
    """Everything up to this resourceVersion has been sent (a bookmark's value)."""
    closed: dict | None = None
    """Set when the server ended the watch: a ``Status`` (410 Gone: relist; 429: too slow, watch again)."""


# --- The cluster DNS (actors.dns) ----------------------------------------------------
#
# What a pod's resolver would send to the cluster DNS, reduced to one question
# and its search list: the server expands the name as the pod's resolv.conf
# says (kubesim has no UDP), so ``kubesim dig web -n demo`` behaves as
# ``nslookup web`` inside a pod of namespace ``demo``.


@message("dns.Query")
class DnsQuery:
    """Resolve ``name`` as a pod would: the search list and ndots of its resolv.conf."""

    name: str
    qtype: str = "A"
    """A, AAAA, SRV, PTR, CNAME, TXT or ANY."""
    search: tuple = ()
    """The resolv.conf search domains, in order; empty: the name is looked up as it is."""
    ndots: int = 5


@message("dns.Answer")
class DnsAnswer:
    """The answer: its rcode, the name that answered, the records as ``[name, type, ttl_s, data]``."""

    rcode: str
    """NOERROR or NXDOMAIN (NOERROR with no records: the name exists, with no record of that type)."""
    qname: str
    qtype: str
    records: tuple = ()
    additional: tuple = ()
    """For SRV: the targets' addresses."""
    tried: tuple = ()
    """Every name the search tried, in order."""


# --- The Container Runtime Interface (actors.runtime) ---------------------------------
#
# The kubelet drives its node's runtime with ``cri.Request`` (a CRI method by
# its gRPC name and its arguments, records as maps: see actors.runtime.wire);
# the runtime answers ``cri.Response`` or ``bus.Error`` whose code is the CRI
# error code (NotFound, FailedPrecondition...). A call that takes time in
# containerd (PullImage, StartContainer, StopContainer) is answered when it is
# done. The runtime pushes ``cri.Events`` (its PLEG feed) to its kubelet.
# ``runtime.HttpGet`` and ``runtime.TcpConnect`` are the pod network: what a
# kube-proxy (or a probe) sends to a pod IP on that node.


@message("cri.Request")
class CriRequest:
    """One CRI call: ``RunPodSandbox``, ``CreateContainer``, ``StartContainer``, ``ListContainers``..."""

    method: str
    args: dict
    """The call's arguments by name; records (configs) as maps of their fields."""

    def span_note(self) -> str:
        return f"CRI {self.method}"


@message("cri.Response")
class CriResponse:
    """A CRI call's result: an id, a record, a list of records (maps), a time, or None."""

    result: Any


@message("cri.Events")
class CriEvents:
    """What changed in the runtime since the last feed (``ContainerEvent`` maps), for the kubelet's PLEG."""

    events: tuple


@message("runtime.HttpGet")
class HttpGet:
    """An HTTP GET to ``ip:port`` on this node's pod network (a forwarded Service request, a probe)."""

    ip: str
    port: int
    path: str = "/"
    client_ip: str = ""


@message("runtime.HttpResponse")
class HttpResponse:
    """``connected`` False: connection refused. ``status`` 0: the port answered but does not speak HTTP."""

    connected: bool
    status: int = 0
    body: str = ""


@message("runtime.TcpConnect")
class TcpConnect:
    """Open (and close) a TCP connection to ``ip:port`` on this node's pod network: a tcpSocket probe."""

    ip: str
    port: int


@message("runtime.TcpResult")
class TcpResult:
    connected: bool


# --- The kubelet's API (actors.kubelet) ----------------------------------------------
#
# What the API server asks a kubelet for on a client's behalf, as it calls the
# kubelet's HTTPS port in Kubernetes (``GET /containerLogs/...``): the API server
# authorizes ``pods/log`` first; a kubelet answers only the API server.


@message("kubelet.ContainerLogs")
class ContainerLogs:
    """The log of one container of a pod on this node (``kubectl logs``)."""

    namespace: str
    pod: str
    container: str = ""
    """Empty: the pod's only container (an error naming them if it has several)."""
    previous: bool = False
    """The previous instance's log (after a restart)."""
    tail_lines: int = -1
    """The last N lines; -1 all."""
    since_seconds: int = 0
    timestamps: bool = False


@message("kubelet.LogText")
class LogText:
    text: str


# An operator (or the chaos runner) restarts a kubelet alone, as ``systemctl restart kubelet`` would: the node's
# process, its container runtime and kube-proxy carry on. Allowed to the cluster's admin identities and the
# node's own process only.


@message("kubelet.Restart")
class KubeletRestart:
    """Restart the kubelet alone: it forgets everything it holds and starts again, adopting running containers."""


@message("kubelet.Restarted")
class KubeletRestarted:
    node: str
    pods: int
    """Pod workers the kubelet had when it was restarted (the fresh one finds them again)."""


# --- kube-proxy (actors.proxy) ----------------------------------------------------------
#
# Each node's kube-proxy is the actor ``<node>.proxy``. It plays the node's
# packet path for one new connection: ``proxy.Connect`` is a client on (or
# arriving at) that node opening ``dst_ip:dst_port``; the proxy runs its rules
# (actors.proxy.rules.pick) and, when they DNAT it to a pod, forwards an HTTP
# GET to the runtime of the endpoint's node (``runtime.HttpGet``), answering
# ``proxy.Reply`` with the verdict and what the pod said. ``proxy.GetRules``
# returns the node's table as iptables-save would print it.


@message("proxy.Connect")
class ProxyConnect:
    """Open a connection to ``dst_ip:dst_port`` through this node's rules and, if it reaches a pod, GET ``path``."""

    dst_ip: str
    dst_port: int
    protocol: str = "TCP"
    """TCP, UDP or SCTP; only TCP connections are carried on to a pod (as HTTP)."""
    path: str = "/"
    client_ip: str = ""
    """Who connects (what ClientIP affinity keys on); "" is the node itself, from its first IP."""


@message("proxy.Reply")
class ProxyReply:
    """What became of a ``proxy.Connect``: the rules' verdict and, for DNAT, the pod's answer."""

    action: str
    """DNAT (sent to a pod), REJECT (no endpoints: refused), DROP (no local endpoints: the client would time
    out), NO_RULE (not a service address; routed as it is)."""
    reason: str
    """The verdict in kube-proxy's words ("demo/web:http -> 10.244.1.5:8080", "demo/web:http has no endpoints")."""
    service: str = ""
    """The service port's name, ``namespace/service[:port]``; "" for NO_RULE."""
    endpoint_ip: str = ""
    """Where the connection went (the DNAT target, or the destination itself when it was routed as it is)."""
    endpoint_port: int = 0
    pod: str = ""
    """The endpoint's pod (in the Service's namespace); "" when not known."""
    node: str = ""
    """The endpoint's node (the EndpointSlice's nodeName)."""
    connected: bool = False
    """A pod accepted the connection (then ``status`` and ``body`` are its answer)."""
    status: int = 0
    """The HTTP status; 0 when there was none (no connection, or the port does not speak HTTP)."""
    body: str = ""
    error: str = ""
    """Why there is no answer, as curl says it ("Failed to connect to 10.244.1.5 port 8080: Connection refused")."""
    chains: tuple = ()
    """The chains the packet went through, in order (KUBE-SERVICES, KUBE-SVC-…, KUBE-SEP-…)."""


@message("proxy.GetRules")
class ProxyGetRules:
    """Ask a node's kube-proxy for its rule table."""


@message("proxy.Rules")
class ProxyRules:
    """The node's rules in iptables-save form, and what they cover."""

    text: str
    services: int
    """Service ports proxied."""
    endpoints: int
    """Endpoints those ports list, usable or not."""


# --- The log collector (actors.logcollector) ------------------------------------------
#
# Every process ships its lines to the collector (``logs.Push``, declared in the bus); anyone may query them, as
# Grafana queries Loki: the collector holds what the cluster's components logged, which an RBAC'd API does not.


@message("logs.Query")
class LogQuery:
    """Lines the collector holds (see :class:`actors.logcollector.store.Query` for each filter)."""

    component: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    previous: bool = False
    """Only the previous run of the container (the one before its newest)."""
    trace_id: str = ""
    level: str = ""
    grep: str = ""
    since: float = 0.0
    """Unix time (real seconds): lines at or after it."""
    after_seq: int = 0
    limit: int = 1000
    wait_s: float = 0.0
    """Real seconds to wait for a first matching line before answering with none (a follower's long poll)."""


@message("logs.Entries")
class LogEntries:
    entries: list
    """Each ``[seq, *bus.logship.ENTRY_FIELDS]``, oldest first."""
    last_seq: int
    """The newest line the collector holds: a follower that got no line resumes after it."""
