"""Idempotency-Key for creating endpoints: a retry with the same key and body gets the first response and
creates nothing new; the same key with another body is a 409.

The key is claimed in the request's own transaction, so a failed first attempt leaves nothing behind and a
concurrent retry waits for the first to finish (see claim_idempotency_key in sql/web.sql).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from psycopg import AsyncConnection

from app.web.client import client_address
from app.web.errors import AppError, conflict
from app.web.repository import WebRepository
from app.web.responses import encode_json

HEADER = "idempotency-key"


def _owner(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    if user is not None:
        return f"user:{user.id}"
    return f"address:{client_address(request, request.app.state.settings)}"


async def idempotent(
    request: Request[Any, Any, Any],
    conn: AsyncConnection[Any],
    create: Callable[[], Awaitable[Response[Any]]],
) -> Response[Any]:
    key = request.headers.get(HEADER)
    if key is None:
        return await create()
    if not 1 <= len(key) <= 255:
        raise AppError(400, "Idempotency-Key must be 1 to 255 characters")
    owner = _owner(request)
    fingerprint = hashlib.sha256(
        b"\0".join([request.method.encode(), request.url.path.encode(), await request.body()])
    ).digest()
    repository = WebRepository(conn)
    if await repository.claim_idempotency_key(owner, key, fingerprint):
        response = await create()
        body = encode_json(response.content)
        # Response.headers is a plain dict: the handler may have written "Location" in any letter case.
        location = next((str(v) for k, v in response.headers.items() if k.lower() == "location"), None)
        await repository.store_idempotent_response(owner, key, response.status_code, body, location)
        return response
    stored = await repository.idempotent_response(owner, key)
    if stored is None or stored.status_code is None or stored.response is None:
        raise conflict("A request with this Idempotency-Key is still being processed")
    if stored.request_hash != fingerprint:
        raise conflict("This Idempotency-Key was used with a different request", key="Idempotency-Key")
    headers = {"Idempotent-Replayed": "true"}
    if stored.location:
        headers["Location"] = stored.location
    return Response(content=stored.response, status_code=stored.status_code, media_type=MediaType.JSON, headers=headers)
