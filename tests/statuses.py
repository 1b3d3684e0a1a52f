"""Which (operation, status) pairs the test session observed, and which of them the OpenAPI document does not list.

Every server a test starts in-process (`tests.support.serve_app`, the fuzzer's too) is wrapped by `observe`, which
notes the method, the route's path template and the status of each response of a documented operation, whatever
caused it. At the end of the session `conftest.pytest_sessionfinish` fails the run when a pair is not in the
document (docs/rules/README.md, "Every answer documented"): a route that starts answering a status nobody declared
is caught by the test that made it answer, not by a reader of the document.
"""

from __future__ import annotations

import re
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

# (method, path as the document writes it, status), over the whole session.
OBSERVED: set[tuple[str, str, int]] = set()
_PARAMETER = re.compile(r"\{(\w+):[^}]+\}")


def document_path(template: str) -> str:
    """`/users/{user_id:uuid}` (Litestar's template) -> `/users/{user_id}` (the document's)."""
    return _PARAMETER.sub(r"{\1}", template)


def _documented_operation(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    if handler is None or scope["method"] in ("HEAD", "OPTIONS"):
        return False  # no route matched (a 404 or 405 of the router), or Litestar's own OPTIONS answer
    return handler.fn.__module__.startswith("app.") and handler.resolve_include_in_schema()


def observe(app: ASGIApp) -> ASGIApp:
    """Wraps the app's outermost ASGI handler; the router writes the matched handler and template into the scope."""

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and _documented_operation(scope):
                OBSERVED.add((scope["method"].lower(), document_path(scope["path_template"]), message["status"]))
            await send(message)

        await app(scope, receive, sending)

    return recorded


def undocumented(observed: set[tuple[str, str, int]], document: dict[str, Any]) -> list[str]:
    """The observed pairs the document does not list, as `METHOD /path: status` lines."""
    missing = []
    for method, path, status in sorted(observed):
        operation = document["paths"].get(path, {}).get(method)
        if operation is None or str(status) not in operation.get("responses", {}):
            missing.append(f"{method.upper()} {path}: {status}")
    return missing
