"""Message kinds the components exchange, declared once.

The bus's own kinds live in :mod:`bus.messages`; everything the components
say to each other is declared here with the same decorator, so the codec can
reject a body with a missing, extra or mistyped field before a handler sees it.
"""

from __future__ import annotations

from bus.messages import message


@message("demo.Ping")
class Ping:
    """A demo request: "are you there?"."""

    seq: int
    """The pinger's sequence number, echoed back."""
    payload: bytes = b""
    """Optional bytes, to exercise sizes."""


@message("demo.Pong")
class Pong:
    """The answer to :class:`Ping`."""

    seq: int
    """The sequence number of the Ping this answers."""
    served_by: str
    """The actor that answered."""
    served: int
    """How many pings that actor has answered so far."""
