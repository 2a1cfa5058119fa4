"""``kubesim cloud ...``: the simulated cloud provider, as a user (or the chaos runner) drives it.

    kubesim cloud terminate NODE    the node's instance is gone: the cloud controller manager deletes the Node
    kubesim cloud instances         each instance the cloud knows the state of

The provider's inventory is the ConfigMap ``kube-system/kubesim-cloud`` (see actors.cloud.controllers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from actors.apiserver.status import ApiError
from actors.cloud.controllers import INVENTORY_NAME, INVENTORY_NAMESPACE, TERMINATED

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


def add_parser(sub) -> None:
    p = sub.add_parser("cloud", help="the simulated cloud provider: terminate a node's instance")
    ops = p.add_subparsers(dest="cloud_command", required=True)
    o = ops.add_parser("terminate", help="terminate NODE's instance (its Node is then deleted)")
    o.add_argument("node")
    ops.add_parser("instances", help="the instances whose state the cloud records")
    for action in ops.choices.values():  # `kubesim cloud terminate n --config x.yaml` works too
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


async def terminate(api, node: str) -> None:
    """Record ``node``'s instance as terminated (create the inventory if there is none)."""
    patch = {"data": {node: TERMINATED}}
    try:
        await api.patch("configmaps", INVENTORY_NAME, patch, INVENTORY_NAMESPACE, patch_type="merge")
    except ApiError as exc:
        if exc.code != 404:
            raise
        await api.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": INVENTORY_NAME, "namespace": INVENTORY_NAMESPACE}, **patch})


def run(cfg: ClusterConfig, args) -> int:
    from bus import logs
    from kubesim.apiserver import session_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    with session_for(cfg) as s:
        try:
            if args.cloud_command == "terminate":
                s.run(terminate(s.api, args.node))
                print(f"instance of node/{args.node} terminated")
            else:
                try:
                    inventory = s.run(s.api.get("configmaps", INVENTORY_NAME, INVENTORY_NAMESPACE))
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    inventory = {}
                for node, state in sorted((inventory.get("data") or {}).items()):
                    print(f"{node}\t{state}")
        except ApiError as exc:
            print(f"Error from server ({exc.reason}): {exc.message}", file=sys.stderr)
            return 1
    return 0
