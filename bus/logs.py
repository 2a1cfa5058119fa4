"""Structured logs for every process, carrying the trace of the message at hand.

Console rendering by default, one JSON object per line with
``LOG_FORMAT=json``. While a handler runs, the runtime sets
:data:`trace` to the handled message's trace id, and every line logged in the
meantime carries it as ``trace_id`` — so one request can be followed across
processes by grepping one id. Setting an attribute costs far less per message
than binding structlog context variables.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

LEVELS = ("debug", "info", "warning", "error")


class _Trace:
    """The trace id of the message being handled right now, if any."""

    __slots__ = ("trace_id",)

    def __init__(self) -> None:
        self.trace_id: str | None = None


trace = _Trace()


def _add_trace(_logger, _method, event_dict):
    if trace.trace_id is not None and "trace_id" not in event_dict:
        event_dict["trace_id"] = trace.trace_id
    return event_dict


def configure(process: str, level: str = "info", fmt: str | None = None, ship=None) -> None:
    """Set up structlog for this process. ``$LOG_FORMAT`` wins over ``fmt``; console by default.

    ``ship``: a processor that copies each line for the log collector (:func:`bus.logship.ship_processor`);
    it sees the line with its level and trace id, before it is rendered."""
    fmt = (os.environ.get("LOG_FORMAT") or fmt or "console").lower()
    if fmt not in ("console", "json"):
        raise ValueError(f"LOG_FORMAT: expected 'console' or 'json', got {fmt!r}")
    if level not in LEVELS:
        raise ValueError(f"logging.level: expected one of {', '.join(LEVELS)}, got {level!r}")
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace,
    ]
    if ship is not None:
        processors.append(ship)
    if fmt == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(process=process)


def get(name: str, **bound):
    """A logger for one actor or module."""
    return structlog.get_logger(name).bind(component=name, **bound)
