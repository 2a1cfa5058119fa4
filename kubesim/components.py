"""What each kind of process runs: the component registry.

A Procfile line names a *process* of the cluster file; the process names a
*component* from this table, which builds the process's runtime and puts its
actors in it. Later components (store members, apiserver, scheduler, nodes...)
are added here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from actors.demo import Pinger, Ponger
from bus.runtime import Runtime

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


def _broker(rt: Runtime, args: dict[str, Any]) -> None:
    """The broker routes; later it will also host the API server's actors."""


def _demo_pong(rt: Runtime, args: dict[str, Any]) -> None:
    rt.add(Ponger(str(args.get("name", "ponger"))))


def _demo_ping(rt: Runtime, args: dict[str, Any]) -> None:
    rt.add(Pinger(str(args.get("name", "pinger")), target=str(args.get("target", "ponger")),
                  interval_s=float(args.get("interval_s", 1.0))))


#: component name -> (is the broker, function that adds the actors)
COMPONENTS: dict[str, tuple[bool, Callable[[Runtime, dict[str, Any]], None]]] = {
    "broker": (True, _broker),
    "demo-pong": (False, _demo_pong),
    "demo-ping": (False, _demo_ping),
}


def build(cfg: ClusterConfig, process: str) -> Runtime:
    """The runtime of ``process`` with its actors added, not yet started."""
    from kubesim.process import runtime_for  # keeps security wiring in one place

    proc = cfg.process(process)
    is_broker, add_actors = COMPONENTS[proc.component]
    rt = runtime_for(cfg, process, broker=is_broker)
    add_actors(rt, proc.args)
    return rt
