"""``kubesim cluster status``: which of the cluster's components are up, at a glance.

Two views, as an operator checks a real cluster (``systemctl status`` on the
machines, then ``kubectl get nodes`` and who holds the leader leases):

- **processes** — each process of the cluster file, as its supervisor
  (``kubesim run NAME``) reports it: running, stopped, paused, restarting,
  its pid and restart count; "no supervisor" when no supervisor answers (a
  process started with ``kubesim child``, or not started at all);
- **the API** — the nodes and their Ready condition, and which process holds
  each control-plane Lease (scheduler, controller manager, cloud controller
  manager), if the API server answers.

The exit status is 0 when every process runs under its supervisor and the
API server answered, 1 otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

LEASES = (("kube-system", "kube-scheduler"), ("kube-system", "kube-controller-manager"),
          ("kube-system", "cloud-controller-manager"))
"""The control-plane Leases whose holders are shown."""
CONTROL_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class ProcessRow:
    name: str
    component: str
    state: str
    """running, stopped, paused, backoff... as the supervisor says; "no supervisor" if none answered."""
    pid: int | None = None
    restarts: int = 0


def process_rows(cfg: ClusterConfig) -> list[ProcessRow]:
    """Each process's supervisor's answer (a short timeout each: a dead supervisor must not stall the view)."""
    from bus.transport.control import ControlUnreachable, request
    from kubesim.workers import HOLLOW_NODES_PROCESS

    rows = []
    processes = [(name, proc.component) for name, proc in cfg.processes.items()]
    if HOLLOW_NODES_PROCESS not in cfg.processes and cfg.control_socket(HOLLOW_NODES_PROCESS).exists():
        processes.append((HOLLOW_NODES_PROCESS, "hollow-nodes"))  # `kubesim run nodes`, not in the file
    for name, component in processes:
        try:
            reply = request(cfg.control_socket(name), {"command": "status"}, CONTROL_TIMEOUT_S)
        except ControlUnreachable:
            rows.append(ProcessRow(name, component, "no supervisor"))
            continue
        rows.append(ProcessRow(name, component, str(reply.get("state") or "unknown"), reply.get("pid"),
                               int(reply.get("restarts") or 0)))
    return rows


def node_rows(nodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, STATUS as kubectl get nodes shows it) per node."""
    out = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
        status = {"True": "Ready", "False": "NotReady"}.get((ready or {}).get("status"), "Unknown")
        if (node.get("spec") or {}).get("unschedulable"):
            status += ",SchedulingDisabled"
        out.append((node["metadata"]["name"], status))
    return out


def render(processes: list[ProcessRow], nodes: list[tuple[str, str]] | None,
           leaders: list[tuple[str, str]] | None, api_error: str = "") -> str:
    """The view as text: three tables, or what kept the API part from being shown."""
    def table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        return ["   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header, *rows]]

    lines = table(("PROCESS", "COMPONENT", "STATE", "PID", "RESTARTS"),
                  [(p.name, p.component, p.state, p.pid if p.pid is not None else "-", p.restarts) for p in processes])
    lines.append("")
    if nodes is None or leaders is None:
        lines.append(f"API server: {api_error or 'no answer'}")
    else:
        lines += node_lines(nodes, table)
        lines.append("")
        lines += table(("LEASE", "HOLDER"), leaders)
    return "\n".join(lines) + "\n"


NODES_LISTED = 20
"""More nodes than this (hollow ones, say) are summed up: a count per status, and only the nodes not Ready."""


def node_lines(nodes: list[tuple[str, str]], table) -> list[str]:
    if not nodes:
        return ["No nodes registered"]
    if len(nodes) <= NODES_LISTED:
        return table(("NODE", "STATUS"), nodes)
    counts: dict[str, int] = {}
    for _, status in nodes:
        counts[status] = counts.get(status, 0) + 1
    lines = [f"{len(nodes):,} nodes: " + ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items()))]
    unwell = [(name, status) for name, status in nodes if status != "Ready"]
    if unwell:
        shown = unwell[:NODES_LISTED]
        lines += table(("NODE", "STATUS"), shown)
        if len(unwell) > len(shown):
            lines.append(f"... and {len(unwell) - len(shown):,} more not Ready")
    return lines


def healthy(processes: list[ProcessRow], api_answered: bool) -> bool:
    """Every process runs under its supervisor, and the API server answered."""
    return api_answered and all(p.state == "running" for p in processes)


def run(cfg: ClusterConfig, args) -> int:
    from actors.apiserver.status import ApiError
    from bus import logs
    from kubesim.apiserver import session_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    processes = process_rows(cfg)
    nodes = leaders = None
    error = ""
    with session_for(cfg, timeout_s=3.0, deadline_s=5.0) as s:
        try:
            nodes = node_rows(s.run(s.api.list("nodes"), timeout_s=10)["items"])
            leaders = []
            for namespace, name in LEASES:
                try:
                    lease = s.run(s.api.get("leases", name, namespace), timeout_s=10)
                    leaders.append((name, (lease.get("spec") or {}).get("holderIdentity") or "-"))
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    leaders.append((name, "-"))
        except (ApiError, TimeoutError) as exc:
            nodes = leaders = None
            error = str(exc)
    sys.stdout.write(render(processes, nodes, leaders, error))
    return 0 if healthy(processes, nodes is not None) else 1
