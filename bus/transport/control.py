"""A local request/reply socket: how a supervisor takes orders.

The chaos runner and ``kubesim ctl`` must reach a supervisor even when the
broker is dead (killing the broker is one of the things they do), so this is
a socket of its own on a Unix domain path in the cluster's state directory,
not a bus actor. Requests and replies are small msgpack maps. It is a Unix
socket in a directory only its owner may enter: that, not CURVE, is what
keeps other users of the machine from killing cluster processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq

from bus.codec import Rejected, pack_value, unpack_value

MAX_CONTROL_BYTES = 64 * 1024


class ControlUnreachable(RuntimeError):
    """Nobody answered on a control socket in time."""


class ControlServer:
    """The supervisor's side: poll :attr:`socket`, then :meth:`serve_one`."""

    def __init__(self, ctx: zmq.Context, path: Path) -> None:
        # The socket is not encrypted: only this user may reach it.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        self.path = path
        self._ctx = ctx
        self.socket = self._open()

    def _open(self) -> zmq.Socket:
        self.path.unlink(missing_ok=True)
        sock = self._ctx.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL_BYTES)
        sock.bind(f"ipc://{self.path}")
        return sock

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for a request; True if one is waiting."""
        return bool(self.socket.poll(int(timeout_s * 1000)))

    def serve_one(self, handle) -> bool:
        """Answer one pending request with ``handle(request_dict) -> reply_dict``."""
        try:
            parts = self.socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return False
        try:
            if len(parts) != 1:
                raise Rejected("frame_count", f"a control request is one frame, got {len(parts)}")
            request = unpack_value(parts[0], MAX_CONTROL_BYTES)
            if not isinstance(request, dict):
                raise Rejected("bad_frame", "a control request is a map")
            reply = handle(request)
        except Rejected as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # the supervisor must outlive any request
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            self.socket.send(pack_value(reply))
        except zmq.ZMQError:
            # A request that left the REP socket unable to answer: start a fresh one.
            self.socket.close(0)
            self.socket = self._open()
        return True

    def close(self) -> None:
        self.socket.close(0)
        self.path.unlink(missing_ok=True)


def request(path: Path, command: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one control command and wait for the answer."""
    if not path.exists():
        raise ControlUnreachable(f"no control socket at {path} (is the supervisor running?)")
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"ipc://{path}")
        sock.send(pack_value(command))
        if not sock.poll(int(timeout_s * 1000)):
            raise ControlUnreachable(f"no answer from {path} within {timeout_s} s")
        reply = unpack_value(sock.recv(), MAX_CONTROL_BYTES)
    finally:
        sock.close(0)
    if not isinstance(reply, dict):
        raise ControlUnreachable(f"malformed answer from {path}")
    return reply
