"""OpenAPI: money (Decimal) is declared `type: number`, as it travels on the wire.

Litestar declares Decimal as a string and ignores msgspec's `extra_json_schema`; this plugin declares it a number
and carries the bounds of `app.web.types.Money` (multipleOf, exclusiveMinimum, maximum) into the document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

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
