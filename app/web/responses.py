"""JSON rendering: msgspec with Decimal as a JSON number (money is exact on the wire, never a float)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.enums import MediaType
from litestar.serialization import default_serializer

_ENCODER = msgspec.json.Encoder(enc_hook=default_serializer, decimal_format="number")


def encode_json(value: Any) -> bytes:
    return _ENCODER.encode(value)


class AppResponse(Response[Any]):
    """The app's response class: as Litestar's, but money (Decimal) is rendered as a JSON number."""

    def render(self, content: Any, media_type: str, enc_hook: Any = default_serializer) -> bytes:
        if media_type == MediaType.JSON and not isinstance(content, bytes | str):
            return _ENCODER.encode(content)
        return super().render(content, media_type, enc_hook)
