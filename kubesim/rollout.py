"""``kubesim rollout status|history|undo|pause|resume``: kubectl's rollout verbs for Deployments.

    kubesim rollout status deployment/NAME [-n NS] [--timeout S]   wait until the rollout is done
    kubesim rollout history deployment/NAME [-n NS]                 the revisions and their change causes
    kubesim rollout undo deployment/NAME [-n NS] [--to-revision N]  put back an earlier revision's template
    kubesim rollout pause deployment/NAME [-n NS]                   stop rolling out template changes
    kubesim rollout resume deployment/NAME [-n NS]                  roll them out again

The texts are kubectl's (``k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go``,
``history.go``, ``rollback.go``); the decisions come from the Deployment
controller's helpers, so the CLI and the controller agree on what a revision is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from actors.apiserver.status import ApiError
from actors.controllers.deployment import (
    RollbackError,
    history,
    owned_replicasets,
    rollback_annotations,
    rollback_source,
    templates_equal,
    unhashed_template,
)

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


def add_parser(sub) -> None:
    p = sub.add_parser("rollout", help="manage a Deployment's rollout: status, history, undo, pause, resume")
    ops = p.add_subparsers(dest="rollout_command", required=True)
    for name, text in (("status", "wait until the rollout is done"), ("history", "the rollout's revisions"),
                       ("undo", "roll back to an earlier revision"), ("pause", "stop rolling out changes"),
                       ("resume", "roll out changes again")):
        o = ops.add_parser(name, help=text)
        o.add_argument("target", help="deployment/NAME (or 'deployment NAME')")
        o.add_argument("name", nargs="?", default="")
        o.add_argument("-n", "--namespace", default="default")
        if name == "status":
            o.add_argument("--timeout", type=float, default=0.0, help="give up after this many seconds (0: never)")
        if name == "undo":
            o.add_argument("--to-revision", type=int, default=0)
        o.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _target(args) -> str:
    kind, _, name = args.target.partition("/")
    name = name or args.name
    if kind.lower() not in ("deployment", "deployments", "deploy", "deployment.apps", "deployments.apps") or not name:
        raise ValueError(f'rollout supports deployment/NAME here, not "{args.target}"')
    return name


def status_message(d: dict) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: the line to print, and whether the rollout is done."""
    name = d["metadata"]["name"]
    spec, status = d.get("spec") or {}, d.get("status") or {}
    if int(d["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            raise ValueError(f'deployment "{name}" exceeded its progress deadline')
    replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {replicas} new replicas '
                "have been updated..."), False
    if total > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas are '
                "pending termination..."), False
    if available < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas '
                "are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def undo_plan(d: dict, replicasets: list[dict], to_revision: int = 0) -> tuple[str, list[dict] | None]:
    """What ``rollout undo`` says and the JSON patch it sends (None: nothing to do), as kubectl's
    DeploymentRollbacker: refused while paused; skipped when the template is already that revision's;
    else the template (without its hash label) and the revision's annotations go back together."""
    name = d["metadata"]["name"]
    source = rollback_source(d, replicasets, to_revision)
    if (d.get("spec") or {}).get("paused"):
        raise RollbackError(f"you cannot rollback a paused deployment; resume it first with 'kubesim rollout "
                            f"resume deployment/{name}' and try again")
    template = unhashed_template(source)
    if templates_equal(template, (d.get("spec") or {}).get("template")):
        return f"skipped rollback (current template already matches revision {to_revision})", None
    annotations_op = "replace" if "annotations" in d["metadata"] else "add"  # replace needs the member
    return "rolled back", [{"op": "replace", "path": "/spec/template", "value": template},
                           {"op": annotations_op, "path": "/metadata/annotations",
                            "value": rollback_annotations(d, source)}]


def pause_patch(d: dict, pause: bool) -> dict:
    """The merge patch ``rollout pause`` (or ``resume``) sends; ValueError with kubectl's complaint when
    there is nothing to do (its ObjectPauser / ObjectResumer)."""
    name, paused = d["metadata"]["name"], bool((d.get("spec") or {}).get("paused"))
    if pause and paused:
        raise ValueError(f'deployments.apps "{name}" is already paused')
    if not pause and not paused:
        raise ValueError(f'deployments.apps "{name}" is not paused')
    return {"spec": {"paused": True if pause else None}}


def run(cfg: ClusterConfig, args) -> int:
    from bus import logs
    from kubesim.apiserver import session_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    try:
        name = _target(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ns = args.namespace
    with session_for(cfg) as s:
        try:
            if args.rollout_command == "status":
                return _status(s, name, ns, args.timeout)
            d = s.run(s.api.get("deployments", name, ns))
            if args.rollout_command in ("pause", "resume"):
                pause = args.rollout_command == "pause"
                s.run(s.api.patch("deployments", name, pause_patch(d, pause), ns, patch_type="merge"))
                print(f"deployment.apps/{name} {'paused' if pause else 'resumed'}")
                return 0
            rss = owned_replicasets(d, s.run(s.api.list("replicasets", ns))["items"])
            if args.rollout_command == "history":
                print(f"deployment.apps/{name} ")
                print("REVISION  CHANGE-CAUSE")
                for revision, cause in history(d, rss):
                    print(f"{revision:<10}{cause or '<none>'}")
                return 0
            message, patch = undo_plan(d, rss, args.to_revision)
            if patch is not None:
                s.run(s.api.patch("deployments", name, patch, ns, patch_type="json"))
            print(f"deployment.apps/{name} {message}")
            return 0
        except (RollbackError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ApiError as exc:
            print(f"Error from server ({exc.reason}): {exc.message}", file=sys.stderr)
            return 1


def _status(s, name: str, ns: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    last = ""
    while True:
        message, done = status_message(s.run(s.api.get("deployments", name, ns)))
        if message != last:
            print(message, flush=True)
            last = message
        if done:
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        s.wait_for(lambda: False, 0.5)
