"""Cursor pagination, the same everywhere: ?limit=1..100 (default 50) and ?cursor=<opaque>,
answered with {"items": [...], "next_cursor": str | null}.

A cursor is the sort key of the last item returned, base64url-encoded JSON; statements page with a keyset
condition (`WHERE (created_at, id) < (:after_created_at, :after_id)`), so pages never skip or repeat rows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from app.web.errors import invalid_field

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Items per page (1-100)")]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="next_cursor of the previous page")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The sort key inside a cursor, converted to `types`; a tampered cursor is a 400 on `cursor`."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        return tuple(msgspec.convert(v, t, strict=False) for v, t in zip(values, types, strict=True))
    except (ValueError, binascii.Error, msgspec.DecodeError, msgspec.ValidationError):
        raise invalid_field("cursor", "Not a cursor this API issued") from None


def page_of(rows: list[T], limit: int, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """Statements fetch limit + 1 rows; the extra row only tells that another page exists."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(items=rows, next_cursor=encode_cursor(key(rows[-1])))
    return Page(items=rows, next_cursor=None)
