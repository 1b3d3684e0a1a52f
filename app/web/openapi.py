"""OpenAPI: operation ids, every answer of every operation, and money (Decimal) declared `type: number`.

- Every operation's `operationId` is its handler's function name (snake_case, unique across the document: a
  duplicate fails when the document is built), so the route, the handler, the repository method and the SQL
  statement share a name (docs/rules/README.md, "Operation ids"). The security schemes: app/auth/openapi.py.
- A handler that reads its body itself (several media types) declares it with `request_body_of`: Litestar only
  documents a `data` parameter, and a generated client needs the body to send it.
- An optional Literal is `oneOf: [enum, null]` (`OptionalLiteralSchemaPlugin`), which generators read as one enum.
- Litestar declares Decimal as a string and ignores msgspec's `extra_json_schema`; `DecimalSchemaPlugin` declares
  it a number and carries the bounds of `app.web.types.Money` (multipleOf, exclusiveMinimum, maximum).
- Every status an operation can answer is in its `responses`, with the one error envelope (`ErrorBody`) and a line
  saying when: `declare_responses` gathers the `Refusal`s declared (app.web.errors.refuses) on the handler, its
  guards and the dependencies it uses, and adds what holds for every route of a kind (`kind_refusals`).
  docs/rules/README.md, "Every answer documented".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.types import Method
from litestar.typing import FieldDefinition

from app.web.errors import ErrorBody, Refusal, refusals_of


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


# Every answer documented ----------------------------------------------------------------------------------------

BODY_INVALID = Refusal(400, "the body is malformed, or a field is missing, unknown or invalid (each one in `extra`)")
PARAMETER_INVALID = Refusal(400, "a path or query parameter is malformed or out of range")
BODY_TOO_LARGE = Refusal(413, "the body is larger than MAX_BODY_BYTES")
NOT_JSON = Refusal(415, "the body is not sent as application/json")
NOT_FOUND = Refusal(404, "nothing the caller may see has the id of the path")
DATABASE_DOWN = Refusal(503, "the database is unavailable; Retry-After says when to try again")

# What a handler asks for that is not a parameter of the request.
_NOT_PARAMETERS = frozenset({"self", "request", "socket", "state", "scope", "headers", "cookies", "query", "data"})
_USE_THE_DATABASE = frozenset({"db", "rate_limiter"})


def dependencies_used(handler: HTTPRouteHandler) -> set[str]:
    """The names the handler's signature asks for, and, transitively, those its dependencies ask for."""
    provided = handler.resolve_dependencies()
    used: set[str] = set()
    pending = list(handler.parsed_fn_signature.parameters)
    while pending:
        name = pending.pop()
        if name in used:
            continue
        used.add(name)
        if (dependency := provided.get(name)) is not None:
            pending += list(dependency.parsed_fn_signature.parameters)
    return used


def declared_refusals(handler: HTTPRouteHandler) -> list[Refusal]:
    """What the handler, its guards and the dependencies it uses declare they can refuse."""
    provided = handler.resolve_dependencies()
    sources = [handler.fn, *handler.resolve_guards()]
    sources += [provided[name].dependency for name in sorted(dependencies_used(handler)) if name in provided]
    return [refusal for source in sources for refusal in refusals_of(source)]


def kind_refusals(handler: HTTPRouteHandler, path_parameters: set[str], unsafe: tuple[Refusal, ...]) -> list[Refusal]:
    """What every route of a kind can answer: a body is validated (400), bounded (413) and must be JSON (415);
    parameters are validated (400); a path id is looked up (404); an unsafe method passes `unsafe` (the CSRF
    and Origin checks); the database, used by the route or by the credentials it takes, can be down (503)."""
    found: list[Refusal] = []
    used = dependencies_used(handler)
    provided = handler.resolve_dependencies()
    if "data" in handler.parsed_fn_signature.parameters:
        found += [BODY_INVALID, BODY_TOO_LARGE, NOT_JSON]
    if path_parameters or any(name not in provided and name not in _NOT_PARAMETERS for name in used):
        found.append(PARAMETER_INVALID)
    if path_parameters:
        found.append(NOT_FOUND)
    if not handler.http_methods <= {"GET", "HEAD", "OPTIONS"}:
        found += unsafe
    if used & _USE_THE_DATABASE or handler.security:
        found.append(DATABASE_DOWN)
    return found


def responses_of(refusals: list[Refusal]) -> dict[int, ResponseSpec]:
    """One response per status, the error envelope its body (none for another success, such as a 204 when there
    is nothing to do), the reasons joined in one line."""
    reasons: dict[int, list[str]] = {}
    for refusal in refusals:
        if refusal.when not in reasons.setdefault(refusal.status, []):
            reasons[refusal.status].append(refusal.when)
    return {
        status: ResponseSpec(
            data_container=ErrorBody if status >= 400 else None, description="; ".join(whens), generate_examples=False
        )
        for status, whens in sorted(reasons.items())
    }


def declare_responses(app: Litestar, unsafe: tuple[Refusal, ...]) -> None:
    """Sets each HTTP route handler's `responses` (after its `security`, before the document is first built)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            path_parameters = set(route.path_parameters)
            for handler in route.route_handlers:
                refusals = declared_refusals(handler) + kind_refusals(handler, path_parameters, unsafe)
                handler.responses = {**responses_of(refusals), **(handler.responses or {})}


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
