"""One-shot bus clients for the command line (``kubesim faults``, ``kubesim node restart-kubelet``).

A short-lived runtime joins the bus as ``kubesim-cli-<pid>`` (identity
``admin`` when CURVE is on), asks one question, and leaves. A store member
is asked over a direct link to its own port, as the store's clients do.
"""

from __future__ import annotations

import os

from actors.messages import KubeletRestart, KubeletRestarted
from bus import logs
from bus.clock import RealClock
from bus.messages import ClearFaults, FaultsState, Message, SetFaults
from bus.runtime import Actor, RequestFailed
from kubesim.config import ClusterConfig


class FaultsFailed(RuntimeError):
    """The process did not confirm the new rules."""


class RestartFailed(RuntimeError):
    """The kubelet did not confirm its restart."""


def _ask_many(cfg: ClusterConfig, questions: dict[str, Message], *, timeout_s: float, retries: int,
              member: str | None = None) -> dict[str, object]:
    """Requests from one fresh CLI runtime, all at once, ``timeout_s`` real seconds each attempt; each answer or
    the :class:`RequestFailed` its request ended with. ``member``: the actors are a store member's, reached over
    a direct link."""
    from kubesim.process import runtime_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    name = f"kubesim-cli-{os.getpid()}"
    port = cfg.store.members.get(member) if member else None
    # Store members are not on the broker's bus (they must not depend on it): reach them directly.
    rt = runtime_for(cfg, name, broker=False, key_name="admin", clock=RealClock(), standalone=port is not None)
    asker = rt.add(Actor(f"{name}.asker"))
    if port is not None:
        from kubesim.store import server_keys

        keys = server_keys(cfg) or {}
        rt.direct_link().connect(list(questions), cfg.store.host, port, keys.get(member))
    rt.start()
    futures = {dst: asker.request(dst, msg, timeout_s=timeout_s, retries=retries) for dst, msg in questions.items()}
    try:
        while not all(f.done() for f in futures.values()):
            rt.run_once(0.05)
    finally:
        rt.shutdown()
    out: dict[str, object] = {}
    for dst, fut in futures.items():
        try:
            out[dst] = fut.result()
        except RequestFailed as exc:
            out[dst] = exc
    return out


def _ask(cfg: ClusterConfig, dst: str, msg: Message, *, timeout_s: float, retries: int,
         member: str | None = None) -> Message:
    """One request from a fresh CLI runtime (see :func:`_ask_many`); raises :class:`RequestFailed`."""
    answer = _ask_many(cfg, {dst: msg}, timeout_s=timeout_s, retries=retries, member=member)[dst]
    if isinstance(answer, RequestFailed):
        raise answer
    return answer


def ask_each(cfg: ClusterConfig, questions: dict[str, Message], *, timeout_s: float = 3.0) -> dict[str, object]:
    """Ask several actors at once (a store member's over a direct link to it); each answer, or the exception a
    request ended with (a process that is down answers with :class:`RequestFailed` after ``timeout_s``)."""
    by_member: dict[str | None, dict[str, Message]] = {}
    for dst, msg in questions.items():
        process = dst.partition(".")[0]
        by_member.setdefault(process if process in cfg.store.members else None, {})[dst] = msg
    out: dict[str, object] = {}
    for member, asked in by_member.items():
        out.update(_ask_many(cfg, asked, timeout_s=timeout_s, retries=1, member=member))
    return out


def set_faults(cfg: ClusterConfig, process: str, rules: list[dict], seed: int | None,
               timeout_s: float = 5.0) -> list[dict]:
    """Replace ``process``'s fault rules (``[]`` clears them); returns the rules in force."""
    msg = SetFaults(rules, seed) if rules else ClearFaults()
    # Replacing the rules is idempotent, so a retry is safe (a new direct connection may not be up yet).
    try:
        reply = _ask(cfg, f"{process}.bus", msg, timeout_s=timeout_s, retries=3,
                     member=process if process in cfg.store.members else None)
    except RequestFailed as exc:
        raise FaultsFailed(f"{process}: {exc}") from None
    assert isinstance(reply, FaultsState), f"unexpected reply {reply!r}"
    return reply.rules


def restart_kubelet(cfg: ClusterConfig, node: str, timeout_s: float = 10.0) -> KubeletRestarted:
    """Restart ``node``'s kubelet alone (its process, runtime and kube-proxy carry on); the kubelet's answer."""
    # Not retried: a reply lost after the restart would restart the kubelet a second time.
    try:
        reply = _ask(cfg, f"{node}.kubelet", KubeletRestart(), timeout_s=timeout_s, retries=0)
    except RequestFailed as exc:
        raise RestartFailed(f"{node}: {exc}") from None
    assert isinstance(reply, KubeletRestarted), f"unexpected reply {reply!r}"
    return reply
