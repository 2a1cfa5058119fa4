"""One-shot bus clients for the command line (``kubesim faults``).

A short-lived runtime joins the bus as ``kubesim-cli-<pid>`` (identity
``admin`` when CURVE is on), asks one question, and leaves. A store member
is asked over a direct link to its own port, as the store's clients do.
"""

from __future__ import annotations

import os

from bus import logs
from bus.clock import RealClock
from bus.messages import ClearFaults, FaultsState, SetFaults
from bus.runtime import Actor, RequestFailed
from kubesim.config import ClusterConfig


class FaultsFailed(RuntimeError):
    """The process did not confirm the new rules."""


def set_faults(cfg: ClusterConfig, process: str, rules: list[dict], seed: int | None,
               timeout_s: float = 5.0) -> list[dict]:
    """Replace ``process``'s fault rules (``[]`` clears them); returns the rules in force."""
    from kubesim.process import runtime_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    name = f"kubesim-cli-{os.getpid()}"
    member = cfg.store.members.get(process)
    # Store members are not on the broker's bus (they must not depend on it): reach them directly.
    rt = runtime_for(cfg, name, broker=False, key_name="admin", clock=RealClock(), standalone=member is not None)
    asker = rt.add(Actor(f"{name}.asker"))
    if member is not None:
        from kubesim.store import server_keys

        keys = server_keys(cfg) or {}
        rt.direct_link().connect([f"{process}.bus"], cfg.store.host, member, keys.get(process))
    rt.start()
    msg = SetFaults(rules, seed) if rules else ClearFaults()
    # Replacing the rules is idempotent, so a retry is safe (a new direct connection may not be up yet).
    fut = asker.request(f"{process}.bus", msg, timeout_s=timeout_s, retries=3)
    try:
        while not fut.done():
            rt.run_once(0.05)
        reply = fut.result()
    except RequestFailed as exc:
        raise FaultsFailed(f"{process}: {exc}") from None
    finally:
        rt.shutdown()
    assert isinstance(reply, FaultsState), f"unexpected reply {reply!r}"
    return reply.rules

