"""Idempotency-Key for creating endpoints: a retry with the same key and body gets the first response and
creates nothing new; the same key with another body is a 409.

The key is claimed in the request's own transaction, so a failed first attempt leaves nothing behind and a
concurrent retry waits for the first to finish (see claim_idempotency_key in sql/web.sql).

No secret rests in the stored response: a field shown only once (SHOWN_ONCE, a generated password) is left out
of it, and the replay says so with `<field>_shown: true` instead (issue 11, finding 12). Everything else a
creating endpoint answers is either public to its owner or already stored in its own table (a ticket's
public_token must be, to be looked up), so replaying it to the same owner, key and body exposes nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from psycopg import AsyncConnection

from app.web.client import client_address
from app.web.errors import AppError, Refusal, conflict
from app.web.repository import WebRepository
from app.web.responses import encode_json

HEADER = "idempotency-key"
SHOWN_ONCE = ("generated_password",)
_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # money stays exact through the round trip
Body = TypeVar("Body")


def _to_store(body: bytes) -> bytes:
    """The response as it is stored for replays: without the fields that may be shown only once."""
    if not any(f'"{name}"'.encode() in body for name in SHOWN_ONCE):
        return body
    document = _DECODER.decode(body)
    for name in SHOWN_ONCE:
        if document.pop(name, None) is not None:
            document[f"{name}_shown"] = True
    return encode_json(document)


def _owner(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    if user is not None:
        return f"user:{user.id}"
    return f"address:{client_address(request, request.app.state.settings)}"


# Declared by every route that calls `idempotent` (the OpenAPI document's 409).
KEY_REUSED = Refusal(409, "the Idempotency-Key is still being processed, or was used with another request")


async def idempotent(
    request: Request[Any, Any, Any],
    conn: AsyncConnection[Any],
    create: Callable[[], Awaitable[Response[Body]]],
) -> Response[Body]:
    """The response of `create()`, or, for a retry, the stored bytes of the first one (the same Body, encoded)."""
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
        body = _to_store(encode_json(response.content))
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
    replay = Response(
        content=stored.response, status_code=stored.status_code, media_type=MediaType.JSON, headers=headers
    )
    return cast("Response[Body]", replay)  # the JSON of the Body the first attempt answered
