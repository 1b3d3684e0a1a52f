"""Request and response bodies of resellers, purchases and the accumulated cashback."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec

from app.cashback.cpf import Cpf
from app.web.types import Email, Money, Name, Password, Strict

PurchaseCode = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["NF-2024-0001"])]
PurchaseDate = Annotated[dt.date, msgspec.Meta(description="The purchase's calendar date (YYYY-MM-DD)")]

# Statuses are the challenge's own words.
IN_VALIDATION = "Em validação"
APPROVED = "Aprovado"
REJECTED = "Reprovado"


class CreateReseller(Strict):
    full_name: Name
    cpf: Cpf
    email: Email
    password: Password


class ResellerOut(msgspec.Struct):
    id: UUID
    full_name: str | None
    cpf: str | None
    email: str
    created_at: dt.datetime


class CreatePurchase(Strict):
    code: PurchaseCode
    value: Money
    date: PurchaseDate
    cpf: Cpf


class UpdatePurchase(Strict):
    """What the owner may change while the purchase is 'Em validação' (at least one field)."""

    code: PurchaseCode | None = None
    value: Money | None = None
    date: PurchaseDate | None = None

    def __post_init__(self) -> None:
        if self.code is None and self.value is None and self.date is None:
            raise ValueError("Send at least one of code, value, date")


class PurchaseOut(msgspec.Struct):
    id: int
    code: str
    value: Annotated[Decimal, msgspec.Meta(extra_json_schema={"type": "number"})]
    date: dt.date
    status: str
    cashback_percent: Annotated[Decimal, msgspec.Meta(extra_json_schema={"type": "number"})]
    cashback_value: Annotated[Decimal, msgspec.Meta(extra_json_schema={"type": "number"})]


class CreatedPurchase(msgspec.Struct):
    reseller_id: UUID | None
    purchase_id: int | None


class AccumulatedCashback(msgspec.Struct):
    credit: int
    cpf: str
