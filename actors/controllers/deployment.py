"""The Deployment controller: one ReplicaSet per pod template, rolled from the old ones to the new one.

Kubernetes' ``pkg/controller/deployment`` in kubesim's controller shape
(:mod:`actors.controllers.base`). A Deployment owns ReplicaSets (controller
ownerReference); the one whose pod template equals the Deployment's (the
``pod-template-hash`` label aside) is the *new* one, the others are *old*.
One :meth:`DeploymentController.sync` per key, in syncDeployment's order:

1. the Deployment from the cache (gone: nothing to do); an empty selector
   only earns a ``SelectingAll`` warning;
2. its ReplicaSets: those whose controller reference carries its uid
   (orphans are not adopted here);
3. being deleted: the status only;
4. ``spec.paused`` toggles a ``Progressing: Unknown`` condition; a paused
   Deployment, or one whose ReplicaSets were sized for another
   ``spec.replicas`` (a *scaling event*: their ``desired-replicas``
   annotation says so), is scaled proportionally and gets its status — no
   rollout step;
5. otherwise one rollout step, by strategy:

   - **RollingUpdate**: scale the new ReplicaSet up while the ReplicaSets'
     ``spec.replicas`` sum stays within ``replicas + maxSurge``; else scale
     old ones down while the ReplicaSets' ``status.availableReplicas`` sum
     stays at or above ``replicas - maxUnavailable`` (unhealthy old
     replicas go first, as they cost no availability);
   - **Recreate**: scale every old ReplicaSet to 0, wait until none of
     their pods runs, then create or scale the new one to ``replicas``;

   a finished rollout deletes old ReplicaSets at 0 beyond
   ``revisionHistoryLimit``, oldest revision first;
6. the status (counts, ``Available`` and ``Progressing`` conditions with
   Kubernetes' reasons and messages), written only when it changed, and a
   delay to look again when ``progressDeadlineSeconds`` would run out.

Kubernetes writes the status up to three times in one sync (after creating
the new ReplicaSet, after a pause toggles, at the end); here the conditions
those writes carry are gathered in a working copy and written once, at the
end (a failure to create the new ReplicaSet still writes at once, then
raises, as Kubernetes does).

Revisions live in the ReplicaSets' ``deployment.kubernetes.io/revision``
annotation: a new ReplicaSet gets the highest old revision + 1, and a
template that comes back (``kubesim rollout undo``) moves its ReplicaSet to
a new top revision, the old number kept in ``revision-history``.
:func:`history` and :func:`rollback_template` read them for the CLI.

The ReplicaSet name is ``<deployment>-<hash>``; :func:`pod_template_hash`
documents the hash. Time comes from the context (``ctx.wall`` for the
condition timestamps and the deadline); nothing here reads a clock.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from typing import Any

from actors.apiserver.objects import parse_rfc3339, rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import (
    Context,
    Controller,
    Obj,
    controller_of,
    key_of,
    owner_reference,
    split_key,
)

# --- annotations and labels (k8s.io/kubernetes/pkg/controller/deployment/util) -------------------------
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
POD_TEMPLATE_HASH = "pod-template-hash"
"""The label that tells a Deployment's ReplicaSets (and their pods) apart (DefaultDeploymentUniqueLabelKey)."""

NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
"""Deployment annotations not copied to its new ReplicaSet (nor back by a rollback): annotationsToSkip."""

MAX_REVISION_HISTORY_CHARS = 2000
"""Longest ``revision-history`` annotation kept (kube-controller-manager's default)."""

MAX_INT32 = 2**31 - 1
"""``progressDeadlineSeconds`` / ``revisionHistoryLimit`` of this value mean "none" (HasProgressDeadline)."""

# --- condition types and reasons -------------------------------------------------------------------------
AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

SCALING_EVENT = "ScalingReplicaSet"
REQUEUE_MARGIN_S = 1.0
"""Added to the progress-deadline wait (Kubernetes adds a second against clock skew), and the least wait."""


# === pure helpers ========================================================================================

def replicas_of(obj: Obj) -> int:
    """``spec.replicas``, 1 when unset (the API default for Deployments and ReplicaSets)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _status_int(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _annotations(obj: Obj) -> dict[str, str]:
    return _meta(obj).get("annotations") or {}


def int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An intstr as a count of ``total``: ``"25%"`` of 4 is 1; percentages round up or down as asked."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    pct = int(text[:-1])
    return -(-pct * total // 100) if round_up else pct * total // 100


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """``(surge, unavailable)`` for ``desired`` replicas: surge rounds up, unavailable down, and if
    both come to 0 unavailable is 1, so a rollout can always move (ResolveFenceposts)."""
    surge = int_or_percent(max_surge, desired, round_up=True)
    unavailable = int_or_percent(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _fenceposts(d: Obj) -> tuple[int, int]:
    # The API server defaults both to 25%; a hand-made object without them gets the same.
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"),
                              replicas_of(d))


def max_surge(d: Obj) -> int:
    """How many pods above ``replicas`` a rolling Deployment may run (0 for Recreate)."""
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    """How many of ``replicas`` may be unavailable during a rolling update (0 for Recreate or 0 replicas)."""
    replicas = replicas_of(d)
    if not is_rolling(d) or replicas == 0:
        return 0
    return min(_fenceposts(d)[1], replicas)


def has_progress_deadline(d: Obj) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    return limit is not None and int(limit) != MAX_INT32


def revision(obj: Obj) -> int | None:
    """The revision annotation: 0 when absent, None when it is not a number (such objects are skipped)."""
    text = _annotations(obj).get(REVISION)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        return None


def max_revision(replicasets: Iterable[Obj]) -> int:
    return max((r for rs in replicasets if (r := revision(rs)) is not None), default=0)


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


_SAFE = "bcdfghjklmnpqrstvwxz2456789"
"""Letters that cannot spell words (no vowels, no 0/1/3 that read as o/l/e): apimachinery's rand alphabet."""


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a pod template: stable across processes and runs.

    FNV-1a (32 bit) over the template as canonical JSON (keys sorted, no
    spaces), followed by the decimal ``collision_count`` when there is one;
    the hash's decimal digits are then each mapped to a letter of
    :data:`_SAFE` (as Kubernetes' ``rand.SafeEncodeString`` maps them), which
    gives 1-10 characters, almost always 9 or 10, of ``[2-9bcd]``.
    Kubernetes hashes the Go struct's printed form, so the values differ from
    a real cluster's; only the shape is the same.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        data += str(int(collision_count)).encode()
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(_fnv32a(data)))


def _without_empty(value: Any) -> Any:
    # Semantic equality: an absent field, null, {} and [] all mean "unset" (Go's nil vs empty).
    if isinstance(value, dict):
        out = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def templates_equal(a: Obj | None, b: Obj | None) -> bool:
    """Whether two pod templates are the same but for the pod-template-hash label (EqualIgnoreHash)."""
    def strip(t: Obj | None) -> Any:
        t = copy.deepcopy(t or {})
        labels = (t.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH, None)
        return _without_empty(t)
    return strip(a) == strip(b)


def _template_of(obj: Obj) -> Obj:
    return (obj.get("spec") or {}).get("template") or {}


def _created_key(rs: Obj) -> tuple[str, str]:
    # ReplicaSetsByCreationTimestamp: RFC 3339 "Z" strings order as times; ties go by name.
    meta = _meta(rs)
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")


def by_creation(replicasets: Iterable[Obj]) -> list[Obj]:
    return sorted(replicasets, key=_created_key)


def by_revision(replicasets: Iterable[Obj]) -> list[Obj]:
    """Oldest revision first; unparsable revisions and ties by creation (ReplicaSetsByRevision)."""
    return sorted(replicasets, key=lambda rs: (revision(rs) if revision(rs) is not None else -1,
                                               _created_key(rs)))


def active(replicasets: Iterable[Obj | None]) -> list[Obj]:
    """The ReplicaSets asked for pods (FilterActiveReplicaSets)."""
    return [rs for rs in replicasets if rs is not None and replicas_of(rs) > 0]


def find_new_replicaset(d: Obj, replicasets: Iterable[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (FindNewReplicaSet)."""
    template = _template_of(d)
    return next((rs for rs in by_creation(replicasets) if templates_equal(_template_of(rs), template)), None)


def new_rs_new_replicas(d: Obj, all_rss: Iterable[Obj], new_rs: Obj) -> int:
    """The size the new ReplicaSet may grow to now (NewRSNewReplicas).

    RollingUpdate: up by what ``replicas + maxSurge`` leaves over the
    ReplicaSets' ``spec.replicas`` sum, never past ``replicas``. Recreate: ``replicas``.
    """
    replicas = replicas_of(d)
    if not is_rolling(d):
        return replicas
    current = sum(replicas_of(rs) for rs in all_rss)
    max_total = replicas + max_surge(d)
    if current >= max_total:
        return replicas_of(new_rs)
    return replicas_of(new_rs) + min(max_total - current, replicas - replicas_of(new_rs))


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The ReplicaSet runs all of the Deployment's replicas, available, and was sized for them."""
    if rs is None:
        return False
    try:
        desired = int(_annotations(rs).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    replicas = replicas_of(d)
    return replicas_of(rs) == replicas and desired == replicas and _status_int(rs, "availableReplicas") == replicas


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only ReplicaSet with replicas, or the newest if none has any; None when several have (FindActiveOrLatest)."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=_created_key, reverse=True)
    running = active(newest_first + [new_rs])
    if not running:
        return new_rs if new_rs is not None else newest_first[0]
    return running[0] if len(running) == 1 else None


def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _fraction(rs: Obj, d: Obj, status_replicas: int) -> int:
    # getReplicaSetFraction: the ReplicaSet's share of the new size, in proportion to the size it was
    # made for (its max-replicas annotation; the Deployment's status.replicas without one).
    replicas = replicas_of(d)
    if replicas == 0:
        return -replicas_of(rs)
    try:
        annotated = int(_annotations(rs)[MAX_REPLICAS])
    except (KeyError, ValueError):
        annotated = status_replicas
    if annotated <= 0:
        return 0  # nothing to be proportional to (Kubernetes divides by zero); the leftover step covers it
    return _round_half_away(replicas_of(rs) * (replicas + max_surge(d)) / annotated) - replicas_of(rs)


def proportional_sizes(d: Obj, active_rss: list[Obj], status_replicas: int) -> list[tuple[Obj, int]]:
    """The new sizes when a Deployment with several active ReplicaSets is scaled (scale()'s rolling part).

    The difference between ``replicas + maxSurge`` and the current sum is
    shared in proportion to each ReplicaSet's size, largest first (on ties,
    newest first when growing, oldest first when shrinking); what rounding
    leaves over goes to the first. Returned in the order to apply.
    """
    allowed = replicas_of(d) + max_surge(d) if replicas_of(d) > 0 else 0
    to_add = allowed - sum(replicas_of(rs) for rs in active_rss)
    order = list(active_rss)
    if to_add > 0:  # bigger first; among equals the newer
        order = sorted(by_creation(order), key=lambda rs: -replicas_of(rs))
        order = _stable_newer_first(order)
    elif to_add < 0:  # bigger first; among equals the older
        order = sorted(by_creation(order), key=lambda rs: -replicas_of(rs))
    sizes: list[int] = []
    added = 0
    for rs in order:
        proportion = 0
        if to_add != 0 and replicas_of(rs) != 0 and to_add != added:
            fraction, left = _fraction(rs, d, status_replicas), to_add - added
            proportion = min(fraction, left) if to_add > 0 else max(fraction, left)
        sizes.append(replicas_of(rs) + proportion)
        added += proportion
    if order and to_add != 0:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return list(zip(order, sizes, strict=True))


def _stable_newer_first(order: list[Obj]) -> list[Obj]:
    # Within runs of equal size, reverse the creation order (sorted() above kept it oldest first).
    out: list[Obj] = []
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and replicas_of(order[j]) == replicas_of(order[i]):
            j += 1
        out.extend(reversed(order[i:j]))
        i = j
    return out


# --- conditions ---------------------------------------------------------------------------------------

def get_condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == type_),
                None)


def new_condition(type_: str, status: str, reason: str, message: str, wall: float) -> Obj:
    now = rfc3339(wall)
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """Put ``cond`` in ``status`` (SetDeploymentCondition): same status and reason as the present one —
    nothing changes (not even the message); same status — the transition time is kept. The new
    condition goes last."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    remove_condition(status, cond["type"])
    status["conditions"] = (status.get("conditions") or []) + [cond]


def remove_condition(status: Obj, type_: str) -> None:
    kept = [c for c in status.get("conditions") or [] if not (isinstance(c, dict) and c.get("type") == type_)]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, base: Obj, wall: float) -> Obj:
    """The Deployment status its ReplicaSets give (calculateStatus).

    Counts are sums over the ReplicaSets' status (``unavailableReplicas`` is
    the ``spec.replicas`` sum less the available, never below 0); zero counts
    are left out, as Go's ``omitempty`` leaves them out. Conditions start
    from ``base``'s; ``Available`` is set from ``replicas - maxUnavailable``.
    """
    available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
    total = sum(replicas_of(rs) for rs in all_rss)
    counts = {
        "observedGeneration": int(_meta(d).get("generation") or 0),
        "replicas": sum(_status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": _status_int(new_rs, "replicas"),
        "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if base.get("collisionCount") is not None:
        status["collisionCount"] = base["collisionCount"]
    if base.get("conditions"):
        status["conditions"] = copy.deepcopy(base["conditions"])
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE,
                                             "Deployment has minimum availability.", wall))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                             "Deployment does not have minimum availability.", wall))
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    """All replicas updated and available, no old pods, this generation seen (DeploymentComplete)."""
    replicas = replicas_of(d)
    return (int(status.get("updatedReplicas") or 0) == replicas and int(status.get("replicas") or 0) == replicas
            and int(status.get("availableReplicas") or 0) == replicas
            and int(status.get("observedGeneration") or 0) >= int(_meta(d).get("generation") or 0))


def deployment_progressing(old: Obj, new: Obj) -> bool:
    """New pods updated, ready or available, or old pods gone, since ``old`` (DeploymentProgressing)."""
    def n(status: Obj, field: str) -> int:
        return int(status.get(field) or 0)
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas")
            or n(new, "replicas") - n(new, "updatedReplicas") < n(old, "replicas") - n(old, "updatedReplicas")
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas"))


def _deadline_s(d: Obj) -> int:
    return int((d.get("spec") or {})["progressDeadlineSeconds"])


def deployment_timed_out(d: Obj, status: Obj, wall: float) -> bool:
    """No progress reported for ``progressDeadlineSeconds`` (DeploymentTimedOut)."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    return parse_rfc3339(cond["lastUpdateTime"]) + _deadline_s(d) < wall


def requeue_after(d: Obj, status: Obj, wall: float) -> float | None:
    """Seconds until the progress deadline would pass, when a rollout is under way (requeueStuckDeployment)."""
    cond = get_condition(status, PROGRESSING)
    if not has_progress_deadline(d) or cond is None:
        return None
    if deployment_complete(d, status) or cond.get("reason") == TIMED_OUT:
        return None
    after = parse_rfc3339(cond["lastUpdateTime"]) + _deadline_s(d) - wall
    return after + REQUEUE_MARGIN_S if after >= REQUEUE_MARGIN_S else REQUEUE_MARGIN_S


def _normal(status: Obj) -> Obj:
    # Go compares structs: an absent count is a zero one.
    return {k: v for k, v in (status or {}).items() if v not in (None, 0, [], {})}


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """Copy the Deployment's annotations to its new ReplicaSet and raise its revision to
    ``new_revision`` if lower, remembering the old one in ``revision-history``; a ReplicaSet about
    to be created also gets the replica annotations. Mutates ``rs``; whether anything changed
    (SetNewReplicaSetAnnotations)."""
    meta = rs.setdefault("metadata", {})
    ann = meta.setdefault("annotations", {})
    changed = False
    for k, v in _annotations(d).items():
        if k not in NOT_COPIED and ann.get(k) != v:
            ann[k] = v
            changed = True
    old_text = ann.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return changed  # not ours to fix; Kubernetes leaves it too
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:  # a template coming back: keep the numbers it had
            parts = [p for p in ann.get(REVISION_HISTORY, "").split(",") if p] + [old_text]
            while len(parts) > 1 and len(",".join(parts)) > MAX_REVISION_HISTORY_CHARS:
                parts.pop(0)
            ann[REVISION_HISTORY] = ",".join(parts)
    if not exists:
        changed = _set_replicas_annotations(d, rs) or changed
    return changed


def _replicas_annotations(d: Obj) -> dict[str, str]:
    return {DESIRED_REPLICAS: str(replicas_of(d)), MAX_REPLICAS: str(replicas_of(d) + max_surge(d))}


def _set_replicas_annotations(d: Obj, rs: Obj) -> bool:
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    want = _replicas_annotations(d)
    if all(ann.get(k) == v for k, v in want.items()):
        return False
    ann.update(want)
    return True


def _controlled_by(obj: Obj, d: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == _meta(d).get("uid")


def owned_replicasets(d: Obj, replicasets: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets in ``d``'s namespace whose controller reference is ``d`` (by uid)."""
    ns = _meta(d).get("namespace", "")
    return [rs for rs in replicasets if _meta(rs).get("namespace", "") == ns and _controlled_by(rs, d)]


# --- for the CLI: rollout history / undo ------------------------------------------------------------

class RollbackError(ValueError):
    """A rollback that cannot be done; the message is kubectl's."""


def history(deployment: Obj, replicasets: Iterable[Obj]) -> list[tuple[int, str]]:
    """``(revision, change-cause)`` of the Deployment's ReplicaSets, oldest revision first.

    As ``kubectl rollout history``: a ReplicaSet without a revision
    annotation counts as revision 0, one with a garbled one is skipped, and
    for a revision held twice the later-listed ReplicaSet wins. The change
    cause is the ReplicaSet's ``kubernetes.io/change-cause`` annotation
    (copied from the Deployment when the ReplicaSet became new), or ``""``
    where kubectl prints ``<none>``.
    """
    found: dict[int, str] = {}
    for rs in owned_replicasets(deployment, replicasets):
        rev = revision(rs)
        if rev is not None:
            found[rev] = _annotations(rs).get(CHANGE_CAUSE, "")
    return sorted(found.items())


def rollback_source(deployment: Obj, replicasets: Iterable[Obj], to_revision: int = 0) -> Obj:
    """The ReplicaSet to roll back to: that of ``to_revision``, or with 0 the revision before the latest.

    Raises :class:`RollbackError` with kubectl's message when there is no
    such revision (kubectl's ``deploymentRevision``).
    """
    if to_revision < 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    owned = owned_replicasets(deployment, replicasets)
    if to_revision > 0:
        target = next((rs for rs in owned if revision(rs) == to_revision), None)
        if target is None:
            raise RollbackError(f"unable to find specified revision {to_revision} in history")
        return target
    ranked = sorted(((rev, i) for i, rs in enumerate(owned) if (rev := revision(rs)) is not None), reverse=True)
    if len(ranked) < 2:
        raise RollbackError(f'no rollout history found for deployment "{_meta(deployment).get("name")}"')
    return owned[ranked[1][1]]


def rollback_template(deployment: Obj, replicasets: Iterable[Obj], to_revision: int = 0) -> Obj:
    """The pod template to put back: :func:`rollback_source`'s, without the ``pod-template-hash`` label.

    So the template is the one the Deployment had. Whether it already is the
    Deployment's (kubectl then answers "skipped rollback") is
    :func:`templates_equal`'s to say.
    """
    return unhashed_template(rollback_source(deployment, replicasets, to_revision))


def unhashed_template(rs: Obj) -> Obj:
    """A copy of the ReplicaSet's pod template without the ``pod-template-hash`` label."""
    template = copy.deepcopy(_template_of(rs))
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


def rollback_annotations(deployment: Obj, source: Obj) -> dict[str, str]:
    """The Deployment's annotations after a rollback to ``source`` (kubectl's DeploymentRollbacker).

    The controller's own ones (revision, replica counts, last-applied) stay
    the Deployment's; every other one comes from the ReplicaSet, which kept
    those the Deployment had at that revision — its change-cause among them,
    so ``rollout history`` does not give the old template the newest cause.
    """
    out = {k: v for k, v in _annotations(deployment).items() if k in NOT_COPIED}
    out.update({k: v for k, v in _annotations(source).items() if k not in NOT_COPIED})
    return out


# === the controller ========================================================================================

class DeploymentController(Controller):
    """Rolls each Deployment's ReplicaSets towards its template; see the module docstring."""

    name = "deployment"
    watches = ("deployments", "replicasets", "pods")

    def __init__(self) -> None:
        self._rs_owner: dict[str, str] = {}
        """ReplicaSet uid -> the key of the Deployment controlling it (from the events observed)."""
        self._recreate: set[str] = set()
        """Keys of the Deployments with the Recreate strategy: the only ones pod events concern."""

    # --- informer events ------------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Index ReplicaSet owners and Recreate Deployments, for :meth:`keys` of pod events."""
        meta = _meta(obj)
        if resource == "replicasets":
            uid = str(meta.get("uid") or "")
            ref = controller_of(obj)
            if event_type == "DELETED" or ref is None or ref.get("kind") != "Deployment":
                self._rs_owner.pop(uid, None)
            else:
                self._rs_owner[uid] = f"{meta.get('namespace', '')}/{ref['name']}"
        elif resource == "deployments":
            key = key_of(obj)
            if event_type != "DELETED" and not is_rolling(obj):
                self._recreate.add(key)
            else:
                self._recreate.discard(key)

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A Deployment's key; for a ReplicaSet, the Deployment controlling it; for a pod, the Deployment
        over its ReplicaSet, but only for Recreate, which waits for old pods to be gone."""
        if resource == "deployments":
            return [key_of(obj)]
        ref = controller_of(obj)
        if ref is None:
            return []
        if resource == "replicasets":
            return [f"{_meta(obj).get('namespace', '')}/{ref['name']}"] if ref.get("kind") == "Deployment" else []
        if resource == "pods" and ref.get("kind") == "ReplicaSet":
            key = self._rs_owner.get(str(ref.get("uid") or ""))
            return [key] if key is not None and key in self._recreate else []
        return []

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        cached = ctx.caches["deployments"].get(name, ns)
        if cached is None:
            return None
        return await _Sync(copy.deepcopy(cached), ctx).run()


class _Sync:
    """One sync of one Deployment: its ReplicaSets as this sync changes them, and the status being built."""

    def __init__(self, d: Obj, ctx: Context) -> None:
        self.d = d
        self.ctx = ctx
        self.observed: Obj = copy.deepcopy(d.get("status") or {})
        """The status as read: what "changed" and "progressing" compare with."""
        self.status: Obj = copy.deepcopy(self.observed)
        """The working status: conditions set along the way (created, found, paused) go here first."""
        self.rss: dict[str, Obj] = {_meta(rs)["name"]: rs
                                    for rs in owned_replicasets(d, ctx.caches["replicasets"].list())}
        """Name -> ReplicaSet; replaced by what the API answers after each write."""
        self.new_name: str | None = None

    # --- the ReplicaSets ---------------------------------------------------------------------------------
    @property
    def new(self) -> Obj | None:
        return self.rss.get(self.new_name) if self.new_name is not None else None

    @property
    def old(self) -> list[Obj]:
        return [rs for name, rs in self.rss.items() if name != self.new_name]

    @property
    def all(self) -> list[Obj]:
        return list(self.rss.values())

    def _put(self, rs: Obj) -> None:
        self.rss[_meta(rs)["name"]] = rs

    # --- the order of syncDeployment -----------------------------------------------------------------
    async def run(self) -> float | None:
        d = self.d
        selector = (d.get("spec") or {}).get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            self.ctx.recorder.event(d, "Warning", "SelectingAll",
                                    "This deployment is selecting all pods. A non-empty selector is required.")
            if int(self.observed.get("observedGeneration") or 0) < int(_meta(d).get("generation") or 0):
                self.status["observedGeneration"] = int(_meta(d).get("generation") or 0)
                await self._write_status(self.status)
            return None
        await self._resolve()
        if _meta(d).get("deletionTimestamp"):
            await self._sync_status()
            return None
        self._check_paused_conditions()
        if (d.get("spec") or {}).get("paused") or self._is_scaling_event():
            return await self._sync_scaling()
        if is_rolling(d):
            return await self._rollout_rolling()
        return await self._rollout_recreate()

    def _check_paused_conditions(self) -> None:
        if not has_progress_deadline(self.d):
            return
        cond = get_condition(self.status, PROGRESSING)
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return  # a reported lack of progress is not overwritten
        paused = bool((self.d.get("spec") or {}).get("paused"))
        was_paused = cond is not None and cond.get("reason") == PAUSED
        if paused and not was_paused:
            set_condition(self.status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused",
                                                     self.ctx.wall))
        elif not paused and was_paused:
            set_condition(self.status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed",
                                                     self.ctx.wall))

    def _is_scaling_event(self) -> bool:
        """Some ReplicaSet with replicas was sized for another ``spec.replicas`` (isScalingEvent)."""
        for rs in active(self.all):
            try:
                desired = int(_annotations(rs)[DESIRED_REPLICAS])
            except (KeyError, ValueError):
                continue
            if desired != replicas_of(self.d):
                return True
        return False

    # --- new and old ReplicaSets (getAllReplicaSetsAndSyncRevision, getNewReplicaSet) ------------------
    async def _resolve(self) -> None:
        """Find the new ReplicaSet, if there is one yet, and bring its annotations up to date."""
        found = find_new_replicaset(self.d, self.all)
        self.new_name = _meta(found)["name"] if found is not None else None
        if found is not None:
            await self._sync_existing_new(found, max_revision(self.old) + 1)

    async def _ensure_new(self) -> Obj:
        """The new ReplicaSet, created if there is none yet (getNewReplicaSet with createIfNotExisted)."""
        if self.new is None:
            await self._create_new(max_revision(self.old) + 1)
        assert self.new is not None, "a create that did not raise made the new ReplicaSet"
        return self.new

    async def _sync_existing_new(self, rs: Obj, new_revision: int) -> None:
        body = copy.deepcopy(rs)
        changed = set_new_rs_annotations(self.d, body, new_revision, exists=True)
        min_ready = int((self.d.get("spec") or {}).get("minReadySeconds") or 0)
        if changed or int(body["spec"].get("minReadySeconds") or 0) != min_ready:
            _set_min_ready(body, min_ready)
            self._put(await self.ctx.api.update(body))
            return  # the rest follows on the next sync, which this write brings about
        self._set_revision(_annotations(rs).get(REVISION, ""))
        if has_progress_deadline(self.d) and get_condition(self.status, PROGRESSING) is None:
            set_condition(self.status, new_condition(PROGRESSING, "True", FOUND_NEW_RS,
                                                     f'Found new replica set "{_meta(rs)["name"]}"', self.ctx.wall))

    def _set_revision(self, rev: str) -> None:
        # Kubernetes writes the Deployment's own revision annotation with its status write; it rides along
        # in the body of this sync's status write.
        if rev:
            self.d.setdefault("metadata", {}).setdefault("annotations", {})[REVISION] = rev

    def _new_rs_body(self, new_revision: int) -> Obj:
        d, meta = self.d, _meta(self.d)
        template = copy.deepcopy(_template_of(d))
        rs_hash = pod_template_hash(template, self.status.get("collisionCount"))
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH: rs_hash}
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: rs_hash}
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{rs_hash}", "namespace": meta.get("namespace", ""),
                         "labels": dict(tmeta["labels"]), "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        _set_min_ready(rs, int((d.get("spec") or {}).get("minReadySeconds") or 0))
        set_new_rs_annotations(d, rs, new_revision, exists=False)
        rs["spec"]["replicas"] = new_rs_new_replicas(d, self.all + [rs], rs)
        return rs

    async def _create_new(self, new_revision: int) -> None:
        body = self._new_rs_body(new_revision)
        name, count = body["metadata"]["name"], body["spec"]["replicas"]
        try:
            created = await self.ctx.api.create(body)
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                await self._failed_create(name, exc)
                raise
            created = self._our_namesake(name)
            if created is None:
                # A hash collision: another template already has the name. The next try hashes anew.
                self.status["collisionCount"] = int(self.status.get("collisionCount") or 0) + 1
                await self._write_status(self.status)
                raise
            self._put(created)
            self.new_name = name
            self._set_revision(str(new_revision))
            return
        self._put(created)
        self.new_name = name
        if count > 0:
            self.ctx.recorder.event(self.d, "Normal", SCALING_EVENT, f"Scaled up replica set {name} from 0 to {count}")
        self._set_revision(str(new_revision))
        if has_progress_deadline(self.d):
            set_condition(self.status, new_condition(PROGRESSING, "True", NEW_RS_CREATED,
                                                     f'Created new replica set "{name}"', self.ctx.wall))

    def _our_namesake(self, name: str) -> Obj | None:
        # The create raced our own earlier one (a cache behind): the cached ReplicaSet, if it is ours and
        # has our template.
        rs = self.ctx.caches["replicasets"].get(name, _meta(self.d).get("namespace", ""))
        if rs is not None and _controlled_by(rs, self.d) and templates_equal(_template_of(rs), _template_of(self.d)):
            return rs
        return None

    async def _failed_create(self, name: str, exc: ApiError) -> None:
        msg = f'Failed to create new replica set "{name}": {exc.message}'
        if has_progress_deadline(self.d):
            set_condition(self.status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE, msg, self.ctx.wall))
            await self._write_status(self.status)
        self.ctx.recorder.event(self.d, "Warning", FAILED_RS_CREATE, msg)

    # --- scaling one ReplicaSet ------------------------------------------------------------------------
    async def _scale_and_record(self, rs: Obj, size: int) -> bool:
        """Resize ``rs`` if its size differs (scaleReplicaSetAndRecordEvent); whether it was resized."""
        if replicas_of(rs) == size:
            return False
        return await self._scale(rs, size)

    async def _scale(self, rs: Obj, size: int) -> bool:
        """Write ``size`` and the replica annotations if either differs (scaleReplicaSet); whether it was resized."""
        before = replicas_of(rs)
        want = _replicas_annotations(self.d)
        if before == size and all(_annotations(rs).get(k) == v for k, v in want.items()):
            return False
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = size
        body["metadata"].setdefault("annotations", {}).update(want)
        self._put(await self.ctx.api.update(body))
        if before == size:
            return False
        direction = "up" if before < size else "down"
        self.ctx.recorder.event(self.d, "Normal", SCALING_EVENT,
                                f"Scaled {direction} replica set {_meta(rs)['name']} from {before} to {size}")
        return True

    # --- paused, or a scaling event (sync, scale) ---------------------------------------------------------
    async def _sync_scaling(self) -> float | None:
        await self._scale_proportionally()
        if (self.d.get("spec") or {}).get("paused") and not _annotations(self.d).get(ROLLBACK_TO):
            await self._cleanup()
        await self._sync_status()
        return None

    async def _scale_proportionally(self) -> None:
        d, new = self.d, self.new
        only = find_active_or_latest(new, self.old)
        if only is not None:
            # Kubernetes stops at an equal size; refreshing stale replica annotations here too keeps a
            # ReplicaSet resized behind our back from reading as a scaling event for ever.
            await self._scale(only, replicas_of(d))
            return
        if is_saturated(d, new):
            for rs in active(self.old):
                await self._scale_and_record(rs, 0)
            return
        if not is_rolling(d):
            return
        running = active(self.old + [new])
        for rs, size in proportional_sizes(d, running, int(self.observed.get("replicas") or 0)):
            await self._scale(self.rss[_meta(rs)["name"]], size)

    # --- RollingUpdate (rolloutRolling) ------------------------------------------------------------------
    async def _rollout_rolling(self) -> float | None:
        await self._ensure_new()
        if await self._reconcile_new() or await self._reconcile_old():
            return await self._sync_rollout_status()
        if deployment_complete(self.d, self.observed):
            await self._cleanup()
        return await self._sync_rollout_status()

    async def _reconcile_new(self) -> bool:
        new, replicas = await self._ensure_new(), replicas_of(self.d)
        if replicas_of(new) == replicas:
            return False
        if replicas_of(new) > replicas:
            return await self._scale_and_record(new, replicas)
        return await self._scale_and_record(new, new_rs_new_replicas(self.d, self.all, new))

    async def _reconcile_old(self) -> bool:
        """Scale old ReplicaSets down as far as availability allows (reconcileOldReplicaSets).

        At most ``all - minAvailable - newUnavailable`` pods may go: the
        surge made room for them, and the new ReplicaSet's own unavailable
        pods do not count as available. Unhealthy old replicas go first
        (their loss costs nothing); then available ones, oldest ReplicaSet
        first, only as far as the available sum exceeds ``minAvailable``.
        """
        old = active(self.old)
        if not old:
            return False
        new = self.new
        min_available = replicas_of(self.d) - max_unavailable(self.d)
        new_unavailable = replicas_of(new) - _status_int(new, "availableReplicas") if new is not None else 0
        max_scaled_down = sum(replicas_of(rs) for rs in self.all) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = await self._cleanup_unhealthy(old, max_scaled_down)
        scaled = await self._scale_down_old(min_available)
        return cleaned + scaled > 0

    async def _cleanup_unhealthy(self, old: list[Obj], max_cleanup: int) -> int:
        total = 0
        for rs in by_creation(old):
            if total >= max_cleanup:
                break
            rs = self.rss[_meta(rs)["name"]]
            unhealthy = replicas_of(rs) - _status_int(rs, "availableReplicas")
            if replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            step = min(max_cleanup - total, unhealthy)
            await self._scale_and_record(rs, replicas_of(rs) - step)
            total += step
        return total

    async def _scale_down_old(self, min_available: int) -> int:
        available = sum(_status_int(rs, "availableReplicas") for rs in self.all)
        if available <= min_available:
            return 0
        budget, total = available - min_available, 0
        for rs in by_creation(self.old):
            if total >= budget:
                break
            if replicas_of(rs) == 0:
                continue
            step = min(replicas_of(rs), budget - total)
            await self._scale_and_record(rs, replicas_of(rs) - step)
            total += step
        return total

    # --- Recreate (rolloutRecreate) --------------------------------------------------------------------
    async def _rollout_recreate(self) -> float | None:
        scaled = False
        for rs in active(self.old):
            scaled = await self._scale_and_record(rs, 0) or scaled
        if scaled or self._old_pods_running():
            return await self._sync_rollout_status()
        await self._scale_and_record(await self._ensure_new(), replicas_of(self.d))
        if deployment_complete(self.d, self.observed):
            await self._cleanup()
        return await self._sync_rollout_status()

    def _old_pods_running(self) -> bool:
        """Old ReplicaSets still count pods, or a pod of theirs is not finished (oldPodsRunning)."""
        if sum(_status_int(rs, "replicas") for rs in self.old) > 0:
            return True
        pods = self.ctx.caches.get("pods")
        if pods is None:
            return False
        old_uids = {_meta(rs).get("uid") for rs in self.old}
        ns = _meta(self.d).get("namespace", "")
        for pod in pods.list():
            ref = controller_of(pod)
            if (_meta(pod).get("namespace", "") == ns and ref is not None and ref.get("uid") in old_uids
                    and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")):
                return True
        return False

    # --- old revisions (cleanupDeployment) ----------------------------------------------------------------
    async def _cleanup(self) -> None:
        if not has_revision_history_limit(self.d):
            return
        cleanable = [rs for rs in self.old if not _meta(rs).get("deletionTimestamp")]
        excess = len(cleanable) - int(self.d["spec"]["revisionHistoryLimit"])
        for rs in by_revision(cleanable)[:max(0, excess)]:
            meta = _meta(rs)
            if (_status_int(rs, "replicas") or replicas_of(rs)
                    or int(meta.get("generation") or 0) > _status_int(rs, "observedGeneration")):
                continue  # still has (or may have) pods
            try:
                await self.ctx.api.delete("replicasets", meta["name"], meta.get("namespace", ""))
            except ApiError as exc:
                if exc.code != 404:
                    raise
            del self.rss[meta["name"]]

    # --- status (syncDeploymentStatus, syncRolloutStatus) ---------------------------------------------------
    async def _sync_status(self) -> None:
        await self._write_status(calculate_status(self.d, self.all, self.new, self.status, self.ctx.wall))

    async def _sync_rollout_status(self) -> float | None:
        d, new, wall = self.d, self.new, self.ctx.wall
        status = calculate_status(d, self.all, new, self.status, wall)
        if not has_progress_deadline(d):
            remove_condition(status, PROGRESSING)
        current = get_condition(self.status, PROGRESSING)
        complete_before = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                           and current is not None and current.get("reason") == NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{_meta(new)["name"]}"' if new is not None else f'Deployment "{_meta(d)["name"]}"'
        if has_progress_deadline(d) and not complete_before:
            if deployment_complete(d, status):
                set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                     f"{subject} has successfully progressed.", wall))
            elif deployment_progressing(self.observed, status):
                cond = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, f"{subject} is progressing.", wall)
                if current is not None:
                    # Progress moves lastUpdateTime even with the same reason: that is the deadline's clock.
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(status, PROGRESSING)
                set_condition(status, cond)
            elif deployment_timed_out(d, status, wall):
                set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                     f"{subject} has timed out progressing.", wall))
        failure = self._replica_failure()
        if failure is not None:
            set_condition(status, failure)
        else:
            remove_condition(status, REPLICA_FAILURE)
        await self._write_status(status)
        return requeue_after(d, status, wall)

    def _replica_failure(self) -> Obj | None:
        # The new ReplicaSet's ReplicaFailure first, else any old one's (getReplicaFailures).
        candidates = ([self.new] if self.new is not None else []) + self.old
        for rs in candidates:
            for c in (rs.get("status") or {}).get("conditions") or []:
                if isinstance(c, dict) and c.get("type") == REPLICA_FAILURE:
                    return {"type": REPLICA_FAILURE, "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason"), "message": c.get("message")}
        return None

    async def _write_status(self, status: Obj) -> None:
        """Write ``status`` if it differs from the one read (Go's DeepEqual: absent counts are zeros)."""
        if _normal(status) == _normal(self.observed):
            return
        body = copy.deepcopy(self.d)
        body["status"] = status
        await self.ctx.api.update_status(body)


def _set_min_ready(rs: Obj, seconds: int) -> None:
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)
