"""Strict request bodies: every field problem listed, not only the first.

Handlers declare `data: SomeStruct` as usual (so OpenAPI documents the body). Before Litestar parses the body,
`validate_body` (an app-wide `before_request` hook) decodes it strictly against that Struct, field by field, and
refuses it with one 400 listing every unknown, missing and invalid field. Strings are trimmed first, and
field-level normalizers and checks declared with `Check(...)` in the type's `Annotated` metadata run too. The
normalized body then replaces the raw one, so the handler receives exactly what was validated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import msgspec
from litestar import Request
from litestar.utils.scope.state import ScopeState

from app.mail.address import localhost_allowed
from app.web.errors import AppError, FieldError

Body = TypeVar("Body", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class Check:
    """A field check or normalizer: returns the value to keep, or raises ValueError with the message to show.

    It runs on the converted value, or with `before=True` on the value as it came in the JSON document.
    """

    apply: Callable[[Any], Any]
    before: bool = False


class KeepWhitespace:
    """Marks a string field that is not trimmed (passwords: spaces are part of them)."""


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str  # the JSON key
    type: Any
    required: bool
    checks: tuple[Check, ...]
    trim: bool


def _metadata_of(annotation: Any) -> list[Any]:
    """Annotated metadata of a type, also inside `X | None`."""
    found: list[Any] = []
    if get_origin(annotation) is Annotated:
        found.extend(annotation.__metadata__)
        found.extend(_metadata_of(get_args(annotation)[0]))
    else:
        for arg in get_args(annotation):
            if get_origin(arg) is Annotated:
                found.extend(_metadata_of(arg))
    return found


@cache
def _field_specs(struct_type: type[msgspec.Struct]) -> tuple[list[_FieldSpec], bool]:
    hints = get_type_hints(struct_type, include_extras=True)
    specs = []
    for f in msgspec.structs.fields(struct_type):
        metadata = _metadata_of(hints[f.name])
        specs.append(
            _FieldSpec(
                name=f.encode_name,
                type=hints[f.name],
                required=f.required,
                checks=tuple(m for m in metadata if isinstance(m, Check)),
                trim=not any(m is KeepWhitespace for m in metadata),
            )
        )
    return specs, bool(struct_type.__struct_config__.forbid_unknown_fields)


def _message(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    # msgspec appends " - at `$...`"; for a top-level field the key already says where.
    return text.split(" - at `$`")[0]


# JSON numbers with a fraction become Decimal, exactly as written: money never passes through a float.
_DOCUMENT_DECODER = msgspec.json.Decoder(float_hook=Decimal)

# None of our documents nests deeper than a few levels. Deeper ones are refused before anything recursive
# (msgspec's convert, to_builtins, our checks) walks them; msgspec's decoder itself raises RecursionError at about
# a thousand levels, which decode_document turns into the same 400.
MAX_DOCUMENT_DEPTH = 32
_TOO_DEEP = "Malformed JSON: nested too deeply"


def decode_document(raw: bytes | str) -> Any:
    """The JSON document in `raw` (an HTTP body or a socket frame), or one 400 AppError: malformed, not UTF-8,
    or nested too deeply. The one decoder every JSON input goes through, so none can raise anything else."""
    try:
        return _DOCUMENT_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise AppError(400, f"Malformed JSON: {exc}") from None
    except UnicodeDecodeError:
        raise AppError(400, "Malformed JSON: not valid UTF-8") from None
    except RecursionError:
        raise AppError(400, _TOO_DEEP) from None


def decode_strict(raw: bytes, struct_type: type[Body]) -> Body:
    """Decode `raw` into `struct_type`, raising one 400 AppError that lists every problem."""
    return validate_document(decode_document(raw) if raw.strip() else None, struct_type)


def _nested_too_deeply(document: Any) -> bool:
    """Whether `document` nests lists and objects deeper than MAX_DOCUMENT_DEPTH (iterative, never recursing)."""
    pending = [(document, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, list | dict):
            if depth > MAX_DOCUMENT_DEPTH:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _contains_nul(value: Any) -> bool:
    """Whether any string inside `value` holds U+0000 (iterative: a deeply nested document must not recurse)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


def validate_document(document: Any, struct_type: type[Body]) -> Body:
    if not isinstance(document, dict):
        raise AppError(400, "The body must be a JSON object")
    if _nested_too_deeply(document):
        raise AppError(400, _TOO_DEEP)
    specs, forbid_unknown = _field_specs(struct_type)
    known = {spec.name for spec in specs}
    errors: list[FieldError] = []
    if forbid_unknown:
        errors.extend(FieldError(key=str(key), message="Unknown field") for key in document if key not in known)
    cleaned: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in document:
            if spec.required:
                errors.append(FieldError(key=spec.name, message="Field required"))
            continue
        value = document[spec.name]
        if _contains_nul(value):
            # PostgreSQL text cannot hold U+0000: refused here instead of failing in the database.
            errors.append(FieldError(key=spec.name, message="Must not contain NUL characters"))
            continue
        if spec.trim and isinstance(value, str):
            value = value.strip()
        try:
            for check in spec.checks:
                if check.before and value is not None:
                    value = check.apply(value)
            value = msgspec.convert(value, spec.type, strict=True)
            for check in spec.checks:
                if not check.before and value is not None:
                    value = check.apply(value)
        except msgspec.ValidationError as exc:
            errors.append(FieldError(key=spec.name, message=_message(exc)))
            continue
        except ValueError as exc:
            errors.append(FieldError(key=spec.name, message=str(exc)))
            continue
        cleaned[spec.name] = value
    if errors:
        raise AppError(400, "Validation failed", extra=errors)
    try:
        # Rules that involve several fields live in the Struct's __post_init__.
        return msgspec.convert(cleaned, struct_type, strict=True)
    except msgspec.ValidationError as exc:
        raise AppError(400, "Validation failed", extra=[FieldError(key="", message=_message(exc))]) from None


@cache
def _body_type(handler: Any) -> tuple[type[msgspec.Struct], bool] | None:
    """The Struct a handler's `data` is declared as, and whether the body may be left out (`X | None`)."""
    parameter = handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation, False
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], msgspec.Struct):
        return members[0], True
    return None


async def validate_body(request: Request[Any, Any, Any]) -> None:
    """before_request hook: strict validation of JSON bodies declared as a msgspec Struct (or `Struct | None`,
    where an empty body stays None: any other body is judged here too, never by Litestar's own decoder)."""
    declared = _body_type(request.route_handler)
    if declared is None:
        return
    struct_type, optional = declared
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise AppError(415, "Send the body as application/json")
    raw = await request.body()
    if optional and not raw.strip():
        return
    # `localhost` alone is an e-mail domain in development only (docs/rules/users.md, "E-mail addresses").
    development = localhost_allowed.set(not request.app.state.settings.production)
    try:
        value = decode_strict(raw, struct_type)
    finally:
        localhost_allowed.reset(development)
    # Hand Litestar the normalized document instead of re-reading the raw body.
    ScopeState.from_scope(request.scope).json = msgspec.to_builtins(value)
