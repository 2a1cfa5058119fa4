"""API errors as Kubernetes reports them: a ``Status`` object with a code and a reason.

Every refusal the API server makes reaches the client as the same ``Status``
body a real API server sends (``k8s.io/apimachinery/pkg/api/errors``), so
``kubesim`` prints the message kubectl would print, a controller can test
``err.reason == "Conflict"``, and the HTTP front later returns the body
unchanged. :class:`ApiError` carries one through Python code; the builders
word each reason as Kubernetes does.
"""

from __future__ import annotations

from typing import Any

from actors.apiserver.fielderrors import FieldError, aggregate_message, status_causes

__all__ = [
    "ApiError",
    "already_exists",
    "bad_request",
    "conflict",
    "forbidden",
    "gone",
    "internal",
    "invalid",
    "method_not_allowed",
    "not_found",
    "status_ok",
    "too_large",
    "too_many_requests",
    "unauthorized",
    "timeout",
    "unavailable",
]


class ApiError(Exception):
    """A request the API server refused or could not carry out, as a ``Status``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_status(cls, status: dict) -> ApiError:
        return cls(int(status.get("code") or 500), str(status.get("reason") or "Unknown"),
                   str(status.get("message") or "unknown error"), status.get("details"))

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def status_ok(details: dict | None = None) -> dict[str, Any]:
    """What a delete answers when the object is gone (Kubernetes returns ``Success``)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body


def _details(resource: str, name: str, group: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"kind": resource}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    _details(resource, name, group))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    _details(resource, name, group))


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    _details(resource, name, group))


STALE = "the object has been modified; please apply your changes to the latest version and try again"
"""Kubernetes' explanation of a Conflict on a stale resourceVersion."""


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiError:
    """422 with one cause per field error: ``Pod "x" is invalid: spec.containers[0].image: Required value``."""
    message = _cap(aggregate_message(kind, name, errors, group), MAX_MESSAGE_CHARS)
    causes = status_causes(errors)[:MAX_CAUSES]
    for cause in causes:
        cause["message"] = _cap(cause["message"], MAX_MESSAGE_CHARS // 4)
    details = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", message, details)


#: Field errors echo the offending value: a huge value must not make the answer too big to send.
MAX_MESSAGE_CHARS = 16 * 1024
MAX_CAUSES = 100


def _cap(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most] + "… (truncated)"


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return ApiError(401, "Unauthorized", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def too_many_requests(message: str) -> ApiError:
    return ApiError(429, "TooManyRequests", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message)
