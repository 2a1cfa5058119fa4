"""The dashboard process: the web dashboard actor, wired to what only the program around it can reach.

The actor (:mod:`actors.dashboard.server`) draws and acts through the bus
and the API. Three things it shows or does belong to this layer, and are
handed in:

- each process's state as its supervisor reports it (``kubesim cluster
  status``'s view), asked for on a thread of its own every second: a
  supervisor's control socket is a blocking request, and a missing one
  would otherwise hold up the page for its timeout;
- the chaos runner's injectors (:class:`kubesim.chaos.console.ChaosConsole`);
- ``kubectl apply``'s three-way merge, for a manifest pasted into the page.

Open http://127.0.0.1:8080/ (``processes.dashboard.args.port``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from kubesim.args import NoArgs

if TYPE_CHECKING:
    from actors.apiserver.client import ApiClient
    from bus.runtime import Runtime
    from kubesim.config import ClusterConfig

#: Real seconds between asking every supervisor for its process's state.
POLL_S = 1.0


class DashboardArgs(NoArgs):
    port: int = Field(8080, ge=0, le=65535)
    """The page's port on 127.0.0.1 (0: any free one; the log line ``dashboard serving`` says which)."""


class ProcessPoller:
    """Every process's supervisor state, refreshed on a daemon thread; :meth:`rows` is the latest."""

    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self._rows: list[dict] = [{"name": n, "component": p.component, "state": "unknown", "pid": None,
                                   "restarts": 0} for n, p in cfg.processes.items()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def rows(self) -> list[dict]:
        return self._rows  # replaced whole by the thread, never changed in place: a read needs no lock

    def _run(self) -> None:
        from kubesim.clusterstatus import process_rows

        while not self._stop.is_set():
            try:
                self._rows = [{"name": r.name, "component": r.component, "state": r.state, "pid": r.pid,
                               "restarts": r.restarts} for r in process_rows(self.cfg)]
            except Exception as exc:  # a malformed answer: say so on the page, and ask again next round
                self._rows = [{**r, "state": f"unknown ({type(exc).__name__})"} for r in self._rows]
            self._stop.wait(POLL_S)


async def apply_text(api: ApiClient, text: str) -> list[str]:
    """``kubectl apply`` of a pasted manifest: a line per object (``deployment.apps/web created``, or the error).
    ValueError when the text does not parse or names no object."""
    from actors.apiserver.status import ApiError
    from kubesim.kubectl import (
        UsageError,
        apply_placed,
        display,
        parse_manifests,
        place,
    )

    try:
        manifests = parse_manifests("the pasted manifest", text)
        if not manifests:
            raise UsageError("no objects passed to apply")
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    results = []
    for m in manifests:
        try:
            p = place(m, None)
            results.append(f"{display(p.kind)}/{p.name} {await apply_placed(api, p, m.source)}")
        except UsageError as exc:
            results.append(f"error: {exc}")
        except ApiError as exc:
            results.append(f"Error from server ({exc.reason}): {exc.message}")
    return results


def add_dashboard(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.dashboard.server import Dashboard
    from kubesim.chaos.console import ChaosConsole
    from kubesim.store import server_keys

    assert isinstance(args, DashboardArgs)
    poller = ProcessPoller(cfg)
    poller.start()
    api = rt.add(ApiClient(f"{process}.api"))
    host = cfg.metrics.host  # loopback, as every listening socket of the cluster's (checked by the config)
    rt.add(Dashboard(
        f"{process}.dashboard", api, host=host, port=args.port, cluster=cfg.cluster.name,
        time_scale=cfg.cluster.time_scale, processes={n: p.component for n, p in cfg.processes.items()},
        members={m: (cfg.store.host, port) for m, port in cfg.store.members.items()}, broker=cfg.broker_process,
        collector=f"{cfg.log_collector}.collector" if cfg.log_collector else None, process_rows=poller.rows,
        chaos_factory=lambda dashboard: ChaosConsole(cfg, dashboard), apply=apply_text,
        member_keys=server_keys(cfg) or {}))
