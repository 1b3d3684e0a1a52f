"""CPF (Cadastro de Pessoas Físicas): the field type every request body with a CPF uses.

Accepted as 11 digits (`15350946056`) or masked (`153.509.460-56`); both mod-11 check digits must match and a
number with all digits equal (`111.111.111-11`, which passes the arithmetic) is refused. Stored and answered as
11 digits.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from app.web.validation import Check

_DIGITS = re.compile(r"^[0-9]{11}$")
_MASKED = re.compile(r"^[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}$")
# A login that looks like a CPF, masked or not (the e-mail/CPF choice of POST /api/v1/auth/token).
_LOOSE = re.compile(r"^[0-9.\-]*$")


def check_digit(digits: str) -> int:
    """The mod-11 check digit of the digits so far (9 for the first, 10 for the second)."""
    weight = len(digits) + 1
    total = sum(int(d) * (weight - i) for i, d in enumerate(digits))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def normalize_cpf(value: str) -> str:
    """The CPF as 11 digits, or ValueError with the message to show for the field."""
    text = value.strip()
    if _MASKED.match(text):
        text = text.replace(".", "").replace("-", "")
    elif not _DIGITS.match(text):
        if not _LOOSE.match(text):
            raise ValueError("A CPF has only digits, optionally masked as 000.000.000-00")
        raise ValueError("A CPF has 11 digits, written as 00000000000 or 000.000.000-00")
    if len(set(text)) == 1:
        raise ValueError("A CPF cannot have all digits equal")
    if check_digit(text[:9]) != int(text[9]) or check_digit(text[:10]) != int(text[10]):
        raise ValueError("The CPF's check digits do not match")
    return text


def format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


# The field type: `cpf: Cpf` in a msgspec Struct validates and normalizes to 11 digits (a 400 naming the field).
Cpf = Annotated[
    str,
    msgspec.Meta(
        max_length=14,
        description="CPF: 11 digits or masked as 000.000.000-00, with valid check digits",
        examples=["153.509.460-56"],
    ),
    Check(normalize_cpf),
]
