"""The cluster file (``config/cluster.yaml``): loaded once, validated at start.

A wrong value stops the program with a message that names the file, the key
and what was expected — ``config/cluster.yaml: bus.port: Input should be less
than or equal to 65535 (got 70000)`` — rather than failing later somewhere
less obvious. Relative paths are taken from the directory the command runs in
(the project root under ``honcho start``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bus.settings import BusSettings
from bus.transport.sockets import BindRefused, check_bind_host
from kubesim.components import COMPONENTS

DEFAULT_CONFIG = Path("config/cluster.yaml")
#: Longest path a Unix domain socket may have on Linux (sun_path less its NUL).
MAX_UNIX_SOCKET_PATH = 107


class ConfigError(Exception):
    """The cluster file cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSection(_Strict):
    name: str = Field("kubesim", min_length=1, max_length=63)
    state_dir: Path = Path(".kubesim")
    """Where processes keep sockets, metrics targets, keys and data."""
    time_scale: float = Field(1.0, gt=0, le=1000)
    """Cluster seconds per real second: 10 runs every Kubernetes timer ten times faster."""


class BusSection(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(5555, ge=1, le=65535)
    heartbeat_interval_s: float = Field(1.0, gt=0, le=60)
    heartbeat_liveness: int = Field(3, ge=3, le=100)
    """Fewer than 3 would let a busy, healthy peer be declared dead: a send replaces a heartbeat."""
    max_frame_bytes: int = Field(1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    request_timeout_s: float = Field(5.0, gt=0)
    request_retries: int = Field(2, ge=0, le=100)
    outbox_limit: int = Field(100_000, ge=1)
    max_batch: int = Field(1024, ge=1, le=1024)


class SecuritySection(_Strict):
    curve: bool = False
    """Encrypt and authenticate every bus socket with CURVE (keys from `kubesim keys`)."""
    keys_dir: Path = Path(".kubesim/keys")
    fault_admins: list[str] = ["admin"]
    """With CURVE on, the key names allowed to set fault rules (`kubesim faults` uses 'admin')."""


class RetentionSection(_Strict):
    """How much the log collector keeps: the oldest lines go first, past either bound."""

    max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=4 << 30)
    """Bytes on disk; the collector holds the lines in memory too, at about five times this."""
    max_age_s: float = Field(24 * 3600, gt=0)
    """Real seconds (log lines carry real times, whatever the cluster's time_scale)."""


class LoggingSection(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"
    retention: RetentionSection = RetentionSection()
    """The log collector's (a process running component ``log-collector``; with none, nothing is shipped)."""


class MetricsSection(_Strict):
    host: str = "127.0.0.1"

    @field_validator("host")
    @classmethod
    def loopback_only(cls, host: str) -> str:
        try:
            ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("metrics are served on a loopback address only, e.g. 127.0.0.1")
        return host


class SupervisorSection(_Strict):
    restart_backoff_initial_s: float = Field(0.5, gt=0)
    restart_backoff_max_s: float = Field(30.0, gt=0)
    restart_backoff_reset_s: float = Field(30.0, gt=0)
    """A child that ran this long without dying starts again from the initial backoff."""
    stop_grace_s: float = Field(5.0, gt=0)
    """How long a stopping child gets after SIGTERM before SIGKILL."""


class StoreSection(_Strict):
    """The replicated store (the cluster's etcd): its members and how they run."""

    host: str = "127.0.0.1"
    members: dict[str, int] = Field(default_factory=dict)
    """Member (process) name -> the port it listens on for the other members and for clients."""
    data_dir: Path = Path(".kubesim/store")
    """Each member keeps its WAL and snapshots in ``<data_dir>/<member>``."""
    fsync: bool = True
    """fsync the WAL before acknowledging (off: faster, and a crash of every member may lose writes)."""
    heartbeat_interval_ms: int = Field(100, ge=1, le=10_000)
    """Real milliseconds between leader heartbeats (etcd's --heartbeat-interval); one raft tick."""
    election_timeout_ms: int = Field(1000, ge=3, le=60_000)
    """Real milliseconds a follower waits for a leader (etcd's --election-timeout); randomized up to 2x."""
    snapshot_count: int = Field(100_000, ge=10)
    """Applied entries between snapshots (etcd's --snapshot-count, whose default is 100,000)."""
    background_snapshots: bool = True
    """Write snapshots from a forked child, so a member's loop (a leader's heartbeats) never stops for it."""
    catch_up_entries: int = Field(5_000, ge=0)
    """Entries kept below a snapshot so a follower slightly behind needs no snapshot."""
    max_request_bytes: int = Field(1_572_864, ge=1024, le=64 * 1024 * 1024)
    """Largest write accepted (etcd's --max-request-bytes)."""
    max_message_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=1024 * 1024 * 1024)
    """Largest message between members and to clients (a snapshot travels as one)."""

    @model_validator(mode="after")
    def check(self) -> StoreSection:
        if self.members and len(self.members) not in (1, 3, 5, 7):
            raise ValueError(f"store.members: a store has 3 or 5 members (1 to experiment), not {len(self.members)}")
        ports = list(self.members.values())
        if len(ports) != len(set(ports)) or not all(1 <= p <= 65535 for p in ports):
            raise ValueError("store.members: each member needs its own port in 1..65535")
        if self.max_message_bytes < 2 * self.max_request_bytes:
            raise ValueError("store.max_message_bytes: must be at least twice max_request_bytes, so the "
                             "largest write fits in one append with room to spare")
        if self.election_timeout_ms < 3 * self.heartbeat_interval_ms:
            raise ValueError("store.election_timeout_ms: must be at least 3 heartbeat intervals "
                             "(etcd advises 10), or followers time out between heartbeats")
        return self

    def endpoints(self) -> dict[str, tuple[str, int]]:
        return {name: (self.host, port) for name, port in self.members.items()}


class ApiServerSection(_Strict):
    """The API server (the broker's ``apiserver`` actor): ranges, caches, users and RBAC."""

    service_cluster_ip_range: str = "10.96.0.0/12"
    """kube-apiserver's --service-cluster-ip-range: where Service ClusterIPs come from."""
    service_node_port_range: str = "30000-32767"
    watch_cache_size: int = Field(10_000, ge=100)
    """Events each resource's watch cache keeps; a watch from before them gets 410 Gone."""
    watcher_buffer: int = Field(10_000, ge=10)
    """Events one slow watcher may have queued before it is cut off."""
    watch_window: int = Field(64, ge=1, le=10_000)
    """Watch messages a client may leave unacknowledged; beyond them its events queue (flow control)."""
    bookmark_interval_s: float = Field(60.0, gt=0)
    """A quiet watch gets a bookmark this often, as kube-apiserver's watch cache does (about a minute)."""
    compaction_interval_s: float = Field(300.0, gt=0)
    """kube-apiserver's --etcd-compaction-interval (cluster seconds)."""
    users: dict[str, str | dict[str, Any]] | None = None
    """Bus identity (exact, or a prefix ending in '*') -> Kubernetes user; None takes the defaults.
    With CURVE off the identity is the name a process registers with, so only listed names get in."""
    rbac: list[dict[str, Any]] = Field(default_factory=list)
    """Extra roles and bindings on top of Kubernetes' defaults (see actors.apiserver.rbac)."""
    secure_port: int | None = Field(None, ge=1, le=65535)
    """kube-apiserver's --secure-port: the HTTPS front real kubectl talks to, on 127.0.0.1 (None: no
    front). Its certificates and the admin's token live in <state_dir>/pki."""
    tokens: dict[str, str | dict[str, Any]] = Field(default_factory=dict)
    """Bearer token -> user (kube-apiserver's --token-auth-file), besides the generated admin token."""

    @field_validator("service_cluster_ip_range")
    @classmethod
    def check_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a CIDR: {exc}") from None
        if net.version != 4 or net.prefixlen > 28:
            raise ValueError("an IPv4 CIDR of at most /28 is needed")
        return value

    @field_validator("service_node_port_range")
    @classmethod
    def check_ports(cls, value: str) -> str:
        lo, _, hi = value.partition("-")
        if not (lo.isdigit() and hi.isdigit() and 1 <= int(lo) < int(hi) <= 65535):
            raise ValueError("a port range like 30000-32767 is needed")
        return value

    @model_validator(mode="after")
    def check_policy(self) -> ApiServerSection:
        from actors.apiserver.authn import Authenticator, TokenAuthenticator
        from actors.apiserver.rbac import policy_from_config

        if self.users is not None:
            Authenticator(self.users)
        TokenAuthenticator(self.tokens)
        policy_from_config(self.rbac)
        return self

    def node_ports(self) -> tuple[int, int]:
        lo, _, hi = self.service_node_port_range.partition("-")
        return int(lo), int(hi)


class ProcessSection(_Strict):
    component: str
    """What the process runs: a name from ``kubesim.components``."""
    metrics_port: int = Field(0, ge=0, le=65535)
    """0 lets the system pick a free port; file_sd targets tell Prometheus which."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Component-specific options."""


class ClusterConfig(_Strict):
    cluster: ClusterSection = ClusterSection()
    bus: BusSection = BusSection()
    security: SecuritySection = SecuritySection()
    logging: LoggingSection = LoggingSection()
    metrics: MetricsSection = MetricsSection()
    supervisor: SupervisorSection = SupervisorSection()
    store: StoreSection = StoreSection()
    apiserver: ApiServerSection = ApiServerSection()
    processes: dict[str, ProcessSection]

    @model_validator(mode="after")
    def check_processes(self) -> ClusterConfig:
        for name, proc in self.processes.items():
            if proc.component not in COMPONENTS:
                raise ValueError(
                    f"processes.{name}.component: {proc.component!r} is not one of {', '.join(sorted(COMPONENTS))}"
                )
        brokers = [n for n, p in self.processes.items() if COMPONENTS[p.component].is_broker]
        if len(brokers) != 1:
            raise ValueError("exactly one process must be the broker (component 'apiserver' or 'broker'), "
                             f"found {len(brokers)}")
        for name, proc in self.processes.items():
            if not name.replace("-", "").isalnum() or len(name) > 63:
                raise ValueError(f"processes.{name}: a process name is letters, digits and '-' (at most 63)")
            try:
                COMPONENTS[proc.component].args.model_validate(proc.args)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"processes.{name}.args.{where}: {err['msg']}") from None
            sock = self.control_socket(name).absolute()
            if len(str(sock).encode()) > MAX_UNIX_SOCKET_PATH:
                raise ValueError(f"cluster.state_dir: the control socket {sock} is longer than the "
                                 f"{MAX_UNIX_SOCKET_PATH} bytes a Unix socket path may have; use a shorter state_dir")
        store_procs = {n for n, p in self.processes.items() if p.component == "store"}
        if store_procs != set(self.store.members):
            missing = sorted(set(self.store.members) - store_procs)
            extra = sorted(store_procs - set(self.store.members))
            raise ValueError("store.members and the processes running component 'store' must be the same"
                             + (f"; no store process for {missing}" if missing else "")
                             + (f"; not in store.members: {extra}" if extra else ""))
        ports = [p.metrics_port for p in self.processes.values() if p.metrics_port]
        if len(ports) != len(set(ports)):
            raise ValueError("processes: two processes share a metrics_port")
        if not self.security.curve:
            for where, host in (("bus.host", self.bus.host), ("store.host", self.store.host)):
                try:
                    check_bind_host(host, curve=False)
                except BindRefused as exc:
                    raise ValueError(f"{where}: {exc}") from None
        return self

    # Derived values the rest of the program uses -------------------------------
    @property
    def broker_process(self) -> str:
        return next(n for n, p in self.processes.items() if COMPONENTS[p.component].is_broker)

    def bus_settings(self) -> BusSettings:
        b = self.bus
        return BusSettings(
            broker_host=b.host,
            broker_port=b.port,
            heartbeat_interval_s=b.heartbeat_interval_s,
            heartbeat_liveness=b.heartbeat_liveness,
            max_frame_bytes=b.max_frame_bytes,
            request_timeout_s=b.request_timeout_s,
            request_retries=b.request_retries,
            outbox_limit=b.outbox_limit,
            max_batch=b.max_batch,
        )

    def process(self, name: str) -> ProcessSection:
        try:
            return self.processes[name]
        except KeyError:
            raise ConfigError(f"no process {name!r} in the cluster config (have: {', '.join(self.processes)})") from None

    @property
    def targets_dir(self) -> Path:
        return self.cluster.state_dir / "prometheus" / "targets"

    def pki_dir(self) -> Path:
        return self.cluster.state_dir / "pki"

    def logs_dir(self) -> Path:
        """Where the log collector keeps its segments."""
        return self.cluster.state_dir / "logs"

    @property
    def log_collector(self) -> str | None:
        """The process running the log collector (whose actor is ``<process>.collector``), if the cluster has one."""
        return next((n for n, p in self.processes.items() if p.component == "log-collector"), None)

    def control_socket(self, name: str) -> Path:
        return self.cluster.state_dir / "run" / f"{name}.sock"


def load(path: Path = DEFAULT_CONFIG) -> ClusterConfig:
    """Read and validate a cluster file; raises :class:`ConfigError` naming what is wrong."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the cluster config: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the cluster config is a mapping of sections, got {type(data).__name__}")
    return parse(data, str(path))


def parse(data: dict, source: str = "<config>") -> ClusterConfig:
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = f" (got {err['input']!r})" if err["type"] not in ("missing", "value_error") else ""
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{source}: {where}: {msg}{got}")
        raise ConfigError("\n".join(problems)) from None
