"""``kubesim kubeconfig``: a kubeconfig with which real ``kubectl`` reaches the cluster as its admin.

kubeadm writes ``/etc/kubernetes/admin.conf`` when it makes a cluster; kind
and minikube write their context for you. kubesim writes one on request:
the HTTPS front's address (``apiserver.secure_port`` on 127.0.0.1), the
cluster CA as ``certificate-authority-data`` (so TLS is verified, not
skipped), and the admin's bearer token. The CA and the token are the ones the
API server uses, made on first use by whichever comes first
(:mod:`kubesim.pki`).
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import yaml

from kubesim.config import ClusterConfig

__all__ = ["add_parser", "kubeconfig", "run"]


def kubeconfig(cfg: ClusterConfig) -> dict:
    """The kubeconfig document for ``cfg``'s admin (the front must be on: ``secure_port`` set)."""
    from kubesim.pki import (  # cryptography: only for this command
        ensure_admin_token,
        ensure_pki,
    )

    port = cfg.apiserver.secure_port
    if port is None:
        raise ValueError("the cluster has no HTTPS front: set apiserver.secure_port in the cluster file")
    pki = ensure_pki(cfg.pki_dir())
    token = ensure_admin_token(cfg.pki_dir())
    name = cfg.cluster.name
    user = f"{name}-admin"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": base64.b64encode(pki.ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }


def add_parser(sub) -> None:
    p = sub.add_parser("kubeconfig", help="write a kubeconfig for real kubectl (the admin user, over HTTPS)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="where to write it (default: <state_dir>/kubeconfig; '-' prints it)")


def run(cfg: ClusterConfig, args) -> int:
    try:
        doc = kubeconfig(cfg)
    except (ValueError, OSError) as exc:  # PkiError is a ValueError
        print(f"kubesim kubeconfig: {exc}", file=sys.stderr)
        return 1
    text = yaml.safe_dump(doc, sort_keys=False)
    out = args.output if args.output is not None else cfg.cluster.state_dir / "kubeconfig"
    if str(out) == "-":
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    # It holds the admin's token: readable by its owner only, as admin.conf is.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(out, 0o600)
    print(f"wrote {out}; use it with:\n  export KUBECONFIG={out.resolve()}\n  kubectl get nodes", file=sys.stderr)
    return 0
