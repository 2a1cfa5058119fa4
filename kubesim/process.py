"""One component process: its runtime, security, metrics endpoint and logs.

``kubesim child NAME`` runs this; the supervisor (``kubesim run NAME``)
starts it as a child and restarts it when it dies.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

from actors.runtime.server import RuntimeServer
from bus import logs
from bus.clock import Clock, make_clock
from bus.gcpauses import GcCollector, GcPauses
from bus.logship import (
    LogBuffer,
    LogShipper,
    LogSource,
    container_entry,
    ship_processor,
)
from bus.metrics import BusCollector, serve
from bus.runtime import Runtime
from bus.transport.curve import load_allowed, load_keypair, load_public
from bus.transport.sockets import Security
from kubesim.components import COMPONENTS

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

GC_MAINTAIN_S = 5.0
"""Real seconds between checks for a full collection whose survivors are to be frozen."""


def security_for(cfg: ClusterConfig, key_name: str, broker: bool) -> Security:
    """CURVE keys named ``key_name`` when the cluster turns CURVE on; the key's name is the identity."""
    if not cfg.security.curve:
        return Security()
    keys = cfg.security.keys_dir
    if broker:
        return Security(curve=True, keypair=load_keypair(keys, key_name), allowed=load_allowed(keys))
    return Security(curve=True, keypair=load_keypair(keys, key_name),
                    broker_public=load_public(keys, cfg.broker_process))


def runtime_for(cfg: ClusterConfig, process: str, *, broker: bool, key_name: str | None = None,
                clock: Clock | None = None, standalone: bool = False) -> Runtime:
    """A runtime for ``process``, holding the key ``key_name`` (default: the process's own).

    A ``standalone`` runtime (a store member, a store client) has no broker
    link: it listens for, and connects to, its peers directly.
    """
    key_name = key_name or process
    curve = cfg.security.curve
    settings = cfg.bus_settings()
    if standalone:
        # Store traffic carries snapshots and whole ranges: its own, larger frame limit.
        settings = replace(settings, max_frame_bytes=cfg.store.max_message_bytes)
    elif broker:
        # The broker's own actors (the API server) read the store over direct links, with the store's
        # limit; its socket to the peers keeps the bus's.
        settings = replace(settings, max_frame_bytes=max(settings.max_frame_bytes, cfg.store.max_message_bytes),
                           peer_max_frame_bytes=settings.max_frame_bytes)
    return Runtime(process, settings, clock or make_clock(cfg.cluster.time_scale), broker=broker,
                   security=security_for(cfg, key_name, broker or standalone), identity=key_name if curve else process,
                   fault_admins=frozenset(cfg.security.fault_admins) if curve else None, standalone=standalone)


def build(cfg: ClusterConfig, process: str) -> Runtime:
    """The runtime of ``process`` with its component's actors added, not yet started."""
    proc = cfg.process(process)
    component = COMPONENTS[proc.component]
    rt = runtime_for(cfg, process, broker=component.is_broker, standalone=component.standalone)
    component.add_actors(rt, component.args.model_validate(proc.args), cfg, process)
    return rt


def ship_logs(cfg: ClusterConfig, rt: Runtime, process: str, buffer: LogBuffer) -> None:
    """Add the process's log shipper, and on a node have the containers' lines shipped too."""
    component = cfg.process(process).component
    if COMPONENTS[component].standalone:
        # A store member is on no broker's bus (it must not depend on it): the collector fetches its lines.
        rt.add(LogSource(f"{process}.logship", buffer, process))
        return
    rt.add(LogShipper(f"{process}.logship", buffer, f"{cfg.log_collector}.collector", process))
    if component != "node":
        return  # hollow nodes run no log agent (kubemark's do not): thousands of containers' lines are noise
    clock = rt.clock

    def sink(namespace: str, pod: str, container: str, attempt: int, stream: str, text: str, at: float) -> None:
        real = time.time() - (clock.wall() - at) / clock.scale  # the line's cluster time, as a real one
        buffer.add(container_entry(real, process, component, namespace, pod, container, attempt, stream, text))

    for actor in rt.actors():
        if isinstance(actor, RuntimeServer):
            actor.ship_logs(sink)


def run_child(cfg: ClusterConfig, process: str) -> None:
    """Build the process's runtime, serve its metrics, and run until signalled."""
    proc = cfg.process(process)
    buffer = LogBuffer() if cfg.log_collector else None
    logs.configure(process, cfg.logging.level, cfg.logging.format,
                   ship=ship_processor(buffer, process, proc.component) if buffer is not None else None)
    log = logs.get(f"{process}.process")
    rt = build(cfg, process)
    if buffer is not None:
        ship_logs(cfg, rt, process, buffer)
    REGISTRY.register(BusCollector(rt.metrics))
    pauses = GcPauses(warn=log.warning)
    pauses.install()
    REGISTRY.register(GcCollector(pauses))
    rt.call_every(GC_MAINTAIN_S * rt.clock.scale, pauses.maintain)
    server = serve(process, cfg.metrics.host, proc.metrics_port, cfg.targets_dir,
                   {"component": proc.component, "cluster": cfg.cluster.name})
    log.info("started", component=proc.component, metrics=f"http://{cfg.metrics.host}:{server.port}/metrics",
             actors=rt.actor_names(), time_scale=cfg.cluster.time_scale)
    try:
        rt.run()
    finally:
        server.close()
        log.info("stopped")
