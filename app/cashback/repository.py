"""Statements of sql/cashback.sql."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

from psycopg.errors import UniqueViolation

from app.cashback.schemas import CreatedPurchase, PurchaseOut, ResellerOut
from app.db.sql import Repository


class DuplicateCode(Exception):
    """The new code of an edited purchase belongs to another purchase (the unique index said so)."""


class CashbackRepository(Repository):
    area = "cashback"

    async def create_reseller(self, user_id: UUID, cpf: str) -> bool:
        """False when the CPF is taken."""
        return await self.fetch_value("create_reseller", user_id=user_id, cpf=cpf) is not None

    async def reseller_view(self, user_id: UUID) -> ResellerOut | None:
        return await self.fetch_one("reseller_view", ResellerOut, user_id=user_id)

    async def reseller_by_cpf(self, cpf: str) -> UUID | None:
        return await self.fetch_value("reseller_by_cpf", cpf=cpf)

    async def create_purchase(self, *, code: str, value: Decimal, purchased_on: dt.date, cpf: str) -> CreatedPurchase:
        created = await self.fetch_one(
            "create_purchase", CreatedPurchase, code=code, value=value, purchased_on=purchased_on, cpf=cpf
        )
        assert created is not None  # the statement always returns one row
        return created

    async def purchase_views(
        self,
        *,
        reseller_id: UUID,
        month_start: dt.date | None = None,
        after: tuple[dt.date, int] | None = None,
        limit: int,
    ) -> list[PurchaseOut]:
        """One reseller's purchases, newest first (one statement per filter shape: see tests/test_sql_plans.py)."""
        after_date, after_id = after or (None, None)
        return await self.fetch_all(
            "purchase_views",
            PurchaseOut,
            reseller_id=reseller_id,
            month_start=month_start,
            after_date=after_date,
            after_id=after_id,
            limit=limit,
        )

    async def purchase_view(self, purchase_id: int, reseller_id: UUID | None) -> PurchaseOut | None:
        """One purchase with its cashback; when reseller_id is given, only if that reseller owns it."""
        return await self.fetch_one("purchase_view", PurchaseOut, purchase_id=purchase_id, reseller_id=reseller_id)

    async def purchase_status(self, purchase_id: int, reseller_id: UUID | None) -> str | None:
        return await self.fetch_value("purchase_status", purchase_id=purchase_id, reseller_id=reseller_id)

    async def update_purchase(
        self,
        purchase_id: int,
        reseller_id: UUID,
        *,
        code: str | None,
        value: Decimal | None,
        purchased_on: dt.date | None,
    ) -> bool:
        """False when nothing was changed (unknown, not the owner's, or no longer 'Em validação');
        DuplicateCode when the new code is taken."""
        try:
            changed = await self.fetch_value(
                "update_purchase",
                purchase_id=purchase_id,
                reseller_id=reseller_id,
                code=code,
                value=value,
                purchased_on=purchased_on,
            )
        except UniqueViolation:
            raise DuplicateCode from None
        return changed is not None

    async def delete_purchase(self, purchase_id: int, reseller_id: UUID) -> bool:
        return await self.fetch_value("delete_purchase", purchase_id=purchase_id, reseller_id=reseller_id) is not None

    async def approve_purchase(self, purchase_id: int) -> bool:
        return await self.fetch_value("approve_purchase", purchase_id=purchase_id) is not None

    async def reject_purchase(self, purchase_id: int) -> bool:
        return await self.fetch_value("reject_purchase", purchase_id=purchase_id) is not None
