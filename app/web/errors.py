"""One JSON envelope for every error: {"status_code", "detail", "extra": [{"key", "message"}]}.

Litestar's own shape, produced for our exceptions, Litestar's, and the database's. Nothing a client sends may
end in a 500: an unexpected exception is logged with its traceback and answered with a bare 500 envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from psycopg import OperationalError, errors
from psycopg_pool import PoolTimeout

from app.web.observability import loggable_path

log = logging.getLogger("app.errors")


class FieldError(msgspec.Struct):
    key: str
    message: str


class ErrorBody(msgspec.Struct):
    """The body of every error: the status again, what went wrong, and each field problem in `extra`."""

    status_code: int
    detail: str
    extra: list[FieldError] = []


Declared = TypeVar("Declared", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Refusal:
    """A status an operation can answer instead of its success, and when, in one line: what the OpenAPI document
    lists for it (app/web/openapi.py, `declare_responses`; docs/rules/README.md, "Every answer documented")."""

    status: int
    when: str


def refuses(*refusals: Refusal) -> Callable[[Declared], Declared]:
    """Declares the refusals a route handler, guard or dependency provider can raise, next to the code that raises
    them: `@refuses(Refusal(409, "an account with this e-mail already exists"))` under the route decorator."""

    def declare(fn: Declared) -> Declared:
        fn.__refusals__ = (*refusals_of(fn), *refusals)  # type: ignore[attr-defined]
        return fn

    return declare


def refusals_of(fn: Any) -> tuple[Refusal, ...]:
    return getattr(fn, "__refusals__", ())


class AppError(HTTPException):
    """An error with a status code, a message and optional field problems, raised by any layer."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        extra: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.field_errors = extra or []


def bad_request(detail: str, *, key: str | None = None, message: str | None = None) -> AppError:
    extra = [FieldError(key=key, message=message or detail)] if key else None
    return AppError(400, detail, extra=extra)


def invalid_field(key: str, message: str) -> AppError:
    return AppError(400, "Validation failed", extra=[FieldError(key=key, message=message)])


def not_found(what: str = "Not found") -> AppError:
    return AppError(404, what)


def forbidden(detail: str = "Not allowed") -> AppError:
    return AppError(403, detail)


def conflict(detail: str, *, key: str | None = None, message: str | None = None) -> AppError:
    extra = [FieldError(key=key, message=message or detail)] if key else None
    return AppError(409, detail, extra=extra)


def status_conflict(current_status: str) -> AppError:
    """An invalid status transition: the current status is named in `extra` (docs/rules/README.md, "Errors")."""
    return AppError(
        409,
        f"Not allowed while the status is {current_status!r}",
        extra=[FieldError(key="status", message=current_status)],
    )


def state_conflict(state: str, detail: str | None = None) -> AppError:
    """A transition of an account's "Account states" (docs/rules/users.md) not allowed from `state`, which is
    named in `extra` as status_conflict names a status."""
    return AppError(
        409, detail or f"Not allowed while the account is {state}", extra=[FieldError(key="state", message=state)]
    )


def unprocessable(detail: str, *, key: str | None = None) -> AppError:
    extra = [FieldError(key=key, message=detail)] if key else None
    return AppError(422, detail, extra=extra)


def service_unavailable(detail: str, retry_after: int = 1) -> AppError:
    return AppError(503, detail, headers={"Retry-After": str(retry_after)})


def _envelope(status_code: int, detail: str, extra: list[Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=ErrorBody(status_code=status_code, detail=detail, extra=extra),
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _normalise_extra(extra: Any) -> list[Any]:
    """Litestar's validation errors carry {"message", "key", "source"}; keep key and message."""
    if not extra:
        return []
    if isinstance(extra, dict):
        extra = [extra]
    if not isinstance(extra, list):
        return [FieldError(key="", message=str(extra))]
    out: list[Any] = []
    for item in extra:
        if isinstance(item, FieldError):
            out.append(item)
        elif isinstance(item, dict):
            out.append(FieldError(key=str(item.get("key", "")), message=str(item.get("message", ""))))
        else:
            out.append(FieldError(key="", message=str(item)))
    return out


def websocket_denial(status_code: int, detail: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The ASGI messages that refuse a WebSocket upgrade with an HTTP status and the error envelope (the WebSocket
    Denial Response extension, which uvicorn supports)."""
    body = msgspec.json.encode(ErrorBody(status_code=status_code, detail=detail))
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "websocket.http.response.start", "status": status_code, "headers": raw_headers},
        {"type": "websocket.http.response.body", "body": body, "more_body": False},
    ]


def error_response(exc: AppError) -> Response[Any]:
    """The envelope of `exc` as a response, for a handler that must return (not raise) an error so that its
    transaction still commits (a counted attempt, say)."""
    return _envelope(exc.status_code, exc.detail, list(exc.field_errors), exc.headers)


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    extra = exc.field_errors if isinstance(exc, AppError) else _normalise_extra(exc.extra)
    detail = exc.detail
    if isinstance(exc, ValidationException) and not isinstance(exc, AppError):
        detail = "Validation failed" if extra else detail
    elif isinstance(exc, NotAuthorizedException) and not detail:
        detail = "Authentication required"
    elif isinstance(exc, PermissionDeniedException) and not detail:
        detail = "Not allowed"
    elif isinstance(exc, NotFoundException) and not detail:
        detail = "Not found"
    status = exc.status_code
    # Litestar words its body-size refusal in several ways; our own AppErrors say exactly what they mean.
    if status == 413 or (not isinstance(exc, AppError) and "too large" in detail.lower()):
        status, detail = 413, "Request body too large"
    return _envelope(status, detail, extra, exc.headers)


def constraint_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database refused a write that validation let through (two concurrent requests racing for one unique
    value, say). The constraint decided; the client gets a 409 or 400 naming nothing internal, and we log it,
    because a repository that expects such a race should turn it into its own precise error."""
    log.warning("constraint refused a request: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if isinstance(exc, errors.UniqueViolation | errors.ExclusionViolation):
        return _envelope(409, "This conflicts with an existing record", [])
    if isinstance(exc, errors.ForeignKeyViolation):
        return _envelope(409, "A referenced record does not exist or is still in use", [])
    return _envelope(400, "A value is out of the allowed range", [])


# What a client is told while the database is unreachable: HTTP 503, a WebSocket's 503 before accept, and the
# reason of its 1013 close after accept.
DATABASE_UNAVAILABLE = "The database is unavailable, try again shortly"
RETRY_AFTER = {"Retry-After": "2"}


def database_unavailable_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable: %s", exc)
    return _envelope(503, DATABASE_UNAVAILABLE, [], RETRY_AFTER)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, loggable_path(request.url.path), exc_info=exc)
    return _envelope(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error", [])


exception_handlers: dict[type[Exception] | int, Any] = {
    HTTPException: http_exception_handler,
    errors.IntegrityError: constraint_handler,
    errors.DataError: constraint_handler,
    PoolTimeout: database_unavailable_handler,
    OperationalError: database_unavailable_handler,
    Exception: internal_error_handler,
}
