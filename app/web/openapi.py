"""OpenAPI: operation ids, and money (Decimal) declared `type: number`.

- Every operation's `operationId` is its handler's function name (snake_case, unique across the document: a
  duplicate fails when the document is built), so the route, the handler, the repository method and the SQL
  statement share a name (docs/rules/README.md, "Operation ids"). The security schemes: app/auth/openapi.py.
- A handler that reads its body itself (several media types) declares it with `request_body_of`: Litestar only
  documents a `data` parameter, and a generated client needs the body to send it.
- An optional Literal is `oneOf: [enum, null]` (`OptionalLiteralSchemaPlugin`), which generators read as one enum.
- Litestar declares Decimal as a string and ignores msgspec's `extra_json_schema`; `DecimalSchemaPlugin` declares
  it a number and carries the bounds of `app.web.types.Money` (multipleOf, exclusiveMinimum, maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.types import Method
from litestar.typing import FieldDefinition


def operation_id(handler: HTTPRouteHandler, http_method: Method, path_components: list[Any]) -> str:
    """OpenAPIConfig.operation_id_creator: the handler's function name."""
    return handler.handler_name


def request_body_of(bodies: dict[RequestEncodingType, type[msgspec.Struct]]) -> type[Operation]:
    """A route handler's `operation_class` declaring its body: media type -> the Struct it is decoded into."""
    _, schemas = msgspec.json.schema_components(bodies.values(), ref_template="#/components/schemas/{name}")
    content = {
        media_type.value: OpenAPIMediaType(schema=schemas[struct.__name__])  # type: ignore[arg-type]  # a JSON Schema
        for media_type, struct in bodies.items()
    }

    @dataclass
    class WithRequestBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(content=content, required=True)

    return WithRequestBody


# Money ----------------------------------------------------------------------------------------------------------

# JSON Schema keyword -> litestar Schema attribute, for the bounds a Money field declares.
_BOUNDS = {
    "multipleOf": "multiple_of",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
}


class DecimalSchemaPlugin(OpenAPISchemaPlugin):
    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = Schema(type=OpenAPIType.NUMBER)
        for meta in field_definition.metadata:
            if isinstance(meta, msgspec.Meta) and meta.extra_json_schema:
                for keyword, attribute in _BOUNDS.items():
                    if keyword in meta.extra_json_schema:
                        setattr(schema, attribute, meta.extra_json_schema[keyword])
        return schema


# Optional literals ----------------------------------------------------------------------------------------------


class OptionalLiteralSchemaPlugin(OpenAPISchemaPlugin):
    """`Literal[...] | None` as `oneOf: [the literal's enum, null]`, as Litestar writes every other optional type.
    Litestar's own `type: [null, string]` with null among the enum values made openapi-python-client write one
    enum class per type in the list (three identical ones for a product's status filter)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        values = [inner for inner in field_definition.inner_types if not inner.is_none_type]
        return field_definition.is_optional and len(values) == 1 and values[0].is_literal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        (literal,) = (inner for inner in field_definition.inner_types if not inner.is_none_type)
        return Schema(one_of=[schema_creator.for_field_definition(literal), Schema(type=OpenAPIType.NULL)])
