"""Statements of sql/auctions.sql."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import msgspec

from app.auctions.schemas import BidOut, ProductOut, ProductSummary
from app.db.sql import Repository


class BidJudgement(msgspec.Struct):
    id: UUID
    seller_id: UUID
    status: str
    auction_end: datetime
    extend_seconds: int
    min_increment: Decimal
    current_bid: Decimal | None
    minimum: Decimal
    at: datetime
    outcome: Literal["accepted", "closed", "ended", "own_auction", "too_low"]


class RecordedBid(msgspec.Struct):
    id: int
    created_at: datetime
    ends_at: datetime
    minimum_bid: Decimal


class CancelResult(msgspec.Struct):
    seller_id: UUID
    status: str
    bid_count: int
    ended: bool
    cancelled: bool


class ClosedAuction(msgspec.Struct):
    id: UUID
    winner_id: UUID | None
    winning_bid: Decimal | None
    auction_end: datetime
    bid_count: int


class AuctionsRepository(Repository):
    area = "auctions"

    async def create_product(
        self,
        *,
        seller_id: UUID,
        product_name: str,
        description: str,
        baseprice: Decimal,
        auction_end: datetime,
        min_increment: Decimal | None,
        extend_seconds: int | None,
    ) -> UUID:
        return await self.fetch_value(
            "create_product",
            seller_id=seller_id,
            product_name=product_name,
            description=description,
            baseprice=baseprice,
            auction_end=auction_end,
            min_increment=min_increment,
            extend_seconds=extend_seconds,
        )

    async def create_product_with_id(
        self,
        *,
        id: UUID,
        seller_id: UUID,
        product_name: str,
        description: str,
        baseprice: Decimal,
        auction_end: datetime,
        min_increment: Decimal,
        extend_seconds: int,
    ) -> UUID | None:
        return await self.fetch_value(
            "create_product_with_id",
            id=id,
            seller_id=seller_id,
            product_name=product_name,
            description=description,
            baseprice=baseprice,
            auction_end=auction_end,
            min_increment=min_increment,
            extend_seconds=extend_seconds,
        )

    async def product_view(self, product_id: UUID) -> ProductOut | None:
        return await self.fetch_one("product_view", ProductOut, product_id=product_id)

    async def product_exists(self, product_id: UUID) -> bool:
        return bool(await self.fetch_value("product_exists", product_id=product_id))

    async def list_products(
        self, *, status: str | None, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[ProductSummary]:
        after_created_at, after_id = after or (None, None)
        return await self.fetch_all(
            "list_products",
            ProductSummary,
            status=status,
            after_created_at=after_created_at,
            after_id=after_id,
            limit=limit,
        )

    async def list_bids(self, product_id: UUID, *, after: tuple[datetime, int] | None, limit: int) -> list[BidOut]:
        after_created_at, after_id = after or (None, None)
        return await self.fetch_all(
            "list_bids",
            BidOut,
            product_id=product_id,
            after_created_at=after_created_at,
            after_id=after_id,
            limit=limit,
        )

    async def lock_product_for_bid(self, product_id: UUID, bidder_id: UUID, amount: Decimal) -> BidJudgement | None:
        return await self.fetch_one(
            "lock_product_for_bid", BidJudgement, product_id=product_id, bidder_id=bidder_id, amount=amount
        )

    async def record_bid(self, product_id: UUID, bidder_id: UUID, amount: Decimal, at: datetime) -> RecordedBid:
        recorded = await self.fetch_one(
            "record_bid", RecordedBid, product_id=product_id, bidder_id=bidder_id, amount=amount, at=at
        )
        assert recorded is not None
        return recorded

    async def cancel_product(self, product_id: UUID, seller_id: UUID) -> CancelResult | None:
        return await self.fetch_one("cancel_product", CancelResult, product_id=product_id, seller_id=seller_id)

    async def demo_user_id(self, email: str) -> UUID:
        return await self.fetch_value("demo_user_id", email=email)

    async def close_due_auctions(self, limit: int) -> list[ClosedAuction]:
        return await self.fetch_all("close_due_auctions", ClosedAuction, limit=limit)
