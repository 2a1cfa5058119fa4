"""Leader election through a Lease, as client-go's ``leaderelection`` does it.

Two schedulers (or controller managers) may run; only the one holding the
Lease ``kube-system/<name>`` acts. This is the decision logic alone
(``k8s.io/client-go/tools/leaderelection/leaderelection.go``,
``tryAcquireOrRenew``); the actor reads and writes the Lease through the API
server and calls it every retry period:

- A candidate may take the lease when nobody holds it, or when the record it
  *observed* has not changed for ``lease_duration_s`` of its own clock. Like
  client-go it never compares its clock with the holder's ``renewTime``:
  clocks on two machines disagree, the time since a change was seen does not.
- Taking it bumps ``leaseTransitions`` and sets ``acquireTime``; renewing
  keeps both and moves ``renewTime``.
- The holder stops acting when it has not renewed for ``renew_deadline_s``
  (shorter than the lease duration), so it has stopped before anyone else may
  start. The write itself is a compare-and-swap on the Lease's
  resourceVersion, so two candidates never both win one round.

:class:`LeaderElector` is pure: ``now`` is passed in (cluster seconds of the
monotonic clock), ``wall`` stamps the record. :func:`contend` is the thin I/O
round every leader-elected component runs with it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

#: client-go's defaults (kube-scheduler's --leader-elect-* flags).
LEASE_DURATION_S = 15.0
RENEW_DEADLINE_S = 10.0
RETRY_PERIOD_S = 2.0


def micro_time(wall: float) -> str:
    """A ``metav1.MicroTime`` as the API writes it: RFC 3339 with microseconds, UTC."""
    return _dt.datetime.fromtimestamp(wall, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Action:
    """What to do this round: ``create`` or ``update`` the Lease (``lease`` is the object to send), or ``wait``."""

    verb: str
    lease: Obj | None = None


class LeaderElector:
    """One candidate's view of the Lease and whether it leads."""

    def __init__(self, identity: str, namespace: str, name: str, *, lease_duration_s: float = LEASE_DURATION_S,
                 renew_deadline_s: float = RENEW_DEADLINE_S, retry_period_s: float = RETRY_PERIOD_S) -> None:
        assert lease_duration_s > renew_deadline_s > retry_period_s > 0, \
            "lease duration > renew deadline > retry period, or two leaders can overlap"
        self.identity = identity
        self.namespace = namespace
        self.name = name
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self.observed: Obj | None = None
        """The Lease as last read (with its resourceVersion), or None if there is none."""
        self._observed_spec: Obj | None = None
        self._observed_at = float("-inf")
        self._renewed_at: float | None = None
        """When our last successful acquire or renew was written."""

    # --- what the actor tells it ----------------------------------------------------------------
    def observe(self, lease: Obj | None, now: float) -> None:
        """The Lease as just read (None: it does not exist). A changed record restarts the countdown."""
        spec = (lease or {}).get("spec") or None
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = now
        self.observed = lease

    def written(self, lease: Obj, now: float) -> None:
        """Our create or update succeeded; ``lease`` is what the API server returned."""
        self.observe(lease, now)
        self._renewed_at = now

    # --- what it decides ----------------------------------------------------------------------
    @property
    def holder(self) -> str:
        return str((self._observed_spec or {}).get("holderIdentity") or "")

    def is_leader(self, now: float) -> bool:
        """Whether to act: we hold the lease and renewed it within the renew deadline."""
        return (self.holder == self.identity and self._renewed_at is not None
                and now - self._renewed_at < self.renew_deadline_s)

    def decide(self, now: float, wall: float) -> Action:
        """This round's move, from the last observed Lease."""
        stamp = micro_time(wall)
        if self.observed is None:
            return Action("create", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(stamp, acquire=stamp, transitions=0)})
        spec = self._observed_spec or {}
        holder = self.holder
        expired = now - self._observed_at >= self.lease_duration_s
        if holder and holder != self.identity and not expired:
            return Action("wait")
        lease = {k: v for k, v in self.observed.items() if k != "status"}
        lease["metadata"] = dict(self.observed.get("metadata") or {})  # keeps resourceVersion: a CAS
        if holder == self.identity:
            lease["spec"] = self._spec(stamp, acquire=spec.get("acquireTime") or stamp,
                                       transitions=int(spec.get("leaseTransitions") or 0))
        else:
            lease["spec"] = self._spec(stamp, acquire=stamp, transitions=int(spec.get("leaseTransitions") or 0) + 1)
        return Action("update", lease)

    def _spec(self, stamp: str, *, acquire: str, transitions: int) -> Obj:
        return {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration_s),
                "acquireTime": acquire, "renewTime": stamp, "leaseTransitions": transitions}


async def contend(elector: LeaderElector, api: Any, clock: Any) -> bool:
    """One round against the API server: read the Lease, then create, renew or take it if ``decide`` says so.

    The I/O shell every leader-elected component shares (``api`` has ApiClient's get/create/update,
    ``clock`` the Clock's monotonic/wall). Returns True when this round made the candidate the leader.
    A 409 is another candidate winning the round: not an error, just not us.
    """
    from actors.apiserver.status import ApiError

    try:
        lease = await api.get("leases", elector.name, elector.namespace)
    except ApiError as exc:
        if exc.code != 404:
            raise
        lease = None
    elector.observe(lease, clock.monotonic())
    action = elector.decide(clock.monotonic(), clock.wall())
    if action.verb == "wait":
        return False
    try:
        written = await (api.create(action.lease) if action.verb == "create" else api.update(action.lease))
    except ApiError as exc:
        if exc.code == 409:
            return False
        raise
    was = elector.is_leader(clock.monotonic())
    elector.written(written, clock.monotonic())
    return not was


class Contender:
    """An actor's part in an election: a round every retry period (and one at once), never two at a time.

    ``start()`` is what the actor's timer calls; a round that fails is logged and the next one tries again,
    as client-go's leader elector keeps retrying.
    """

    def __init__(self, actor: Any, elector: LeaderElector, api: Any) -> None:
        self.actor = actor
        self.elector = elector
        self.api = api
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._running = True
            self.actor.spawn(self._round())

    async def _round(self) -> None:
        from actors.apiserver.status import ApiError

        try:
            if await contend(self.elector, self.api, self.actor.clock):
                self.actor.log.info("became the leader", lease=f"{self.elector.namespace}/{self.elector.name}")
        except ApiError as exc:
            self.actor.log.warning("leader election round failed", error=str(exc))
        finally:
            self._running = False
