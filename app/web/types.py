"""Field types shared by the request bodies of every area: money, e-mail, passwords, names, aware datetimes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from app.mail.address import header_safe, mail_address
from app.web.validation import Check, KeepWhitespace


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are refused (and app.web.validation lists every problem)."""


MONEY_LIMIT = Decimal("1e12")  # NUMERIC(14,2): at most 12 digits before the point


def _money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("Must be a finite number")
    if value <= 0:
        raise ValueError("Must be greater than 0")
    if abs(value) >= MONEY_LIMIT:
        raise ValueError("Must be less than 1000000000000")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise ValueError("At most two decimal places")
    return value.quantize(Decimal("0.01"))


def _json_number(value: object) -> object:
    # msgspec's strict mode still reads "105.50" as a Decimal; money is a JSON number on the wire.
    if isinstance(value, str | bool):
        raise ValueError("Expected a JSON number")
    return value


# A positive amount of money with at most two decimals, a JSON number on the wire (never a float inside).
Money = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={"type": "number", "multipleOf": 0.01, "exclusiveMinimum": 0, "maximum": 999999999999.99}
    ),
    Check(_json_number, before=True),
    Check(_money),
]


def normalize_email(value: str) -> str:
    """Trimmed, then the one address rule (app.mail.address): the domain lower-cased ASCII, the local part as
    given (uniqueness ignores case anyway)."""
    return mail_address(value.strip())


Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, examples=["ana@example.com"]), Check(normalize_email)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128), KeepWhitespace]
# Names can reach a mail header (a subject, a greeting): no line breaks or control characters.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100), Check(header_safe)]
Bio = Annotated[str, msgspec.Meta(max_length=255)]
# RFC 3339 with an offset; a naive datetime is refused.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
