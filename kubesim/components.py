"""What each kind of process runs: the component registry.

A Procfile line names a *process* of the cluster file; the process names a
*component* from this table, which builds the process's runtime and puts its
actors in it. Each component declares the ``args`` it takes as a pydantic
model, so ``kubesim check`` (and every start) rejects a wrong or misspelt
argument by name. Later components (store members, apiserver, scheduler,
nodes...) are added here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field

from actors.demo import Pinger, Ponger
from bus.runtime import Runtime


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PongArgs(NoArgs):
    name: str = Field("ponger", min_length=1, max_length=253)
    """The actor's name, the address pingers send to."""


class PingArgs(NoArgs):
    name: str = Field("pinger", min_length=1, max_length=253)
    target: str = Field("ponger", min_length=1, max_length=253)
    """Which actor to ping."""
    interval_s: float = Field(1.0, gt=0, le=3600)
    """Cluster seconds between pings; each ping's deadline too."""


@dataclass(frozen=True)
class Component:
    is_broker: bool
    args: type[BaseModel]
    add_actors: Callable[[Runtime, BaseModel], None]


COMPONENTS: dict[str, Component] = {
    # The broker routes; later it will also host the API server's actors.
    "broker": Component(True, NoArgs, lambda rt, args: None),
    "demo-pong": Component(False, PongArgs, lambda rt, a: rt.add(Ponger(a.name))),
    "demo-ping": Component(False, PingArgs,
                           lambda rt, a: rt.add(Pinger(a.name, target=a.target, interval_s=a.interval_s))),
}

