"""Statements of sql/auctions.sql."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import msgspec

from app.auctions.schemas import BidOut, ProductOut, ProductSummary
from app.db.sql import Repository


class BidOutcome(msgspec.Struct):
    """What place_bid found and did: the judgement, and for an accepted bid the bid, its event's seq and the
    (possibly moved) end."""

    outcome: Literal["session_ended", "accepted", "closed", "ended", "own_auction", "too_low"]
    status: str
    minimum: Decimal
    extend_seconds: int
    at: datetime
    bid_id: int | None
    created_at: datetime | None
    bidder_number: int
    ends_at: datetime
    extended: bool
    minimum_bid: Decimal
    seq: int | None
    published: int


class CancelResult(msgspec.Struct):
    seller_id: UUID
    status: str
    bid_count: int
    ended: bool
    cancelled: bool


class ClosedAuction(msgspec.Struct):
    id: UUID
    winner_id: UUID | None
    winner: int | None
    winning_bid: Decimal | None
    auction_end: datetime
    bid_count: int


class UserAuction(msgspec.Struct):
    """An open auction a user sells or bids on, locked while their account changes."""

    id: UUID
    selling: bool
    leading: bool
    bid_count: int


class Recomputed(msgspec.Struct):
    """A product after a bidder's bids were withdrawn: what its kind 8 event announces."""

    id: UUID
    current_bid: Decimal | None
    current_bidder_id: UUID | None
    current_bidder: int | None
    current_price: Decimal
    minimum_bid: Decimal
    bid_count: int
    bidder_count: int
    ends_at: datetime
    withdrawn_bid_ids: list[int]


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

    async def product_seller(self, product_id: UUID) -> UUID | None:
        return await self.fetch_value("product_seller", product_id=product_id)

    async def list_products(
        self, *, status: str | None, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[ProductSummary]:
        after_created_at, after_id = after or (None, None)
        if status is None:
            return await self.fetch_all(
                "list_products", ProductSummary, after_created_at=after_created_at, after_id=after_id, limit=limit
            )
        return await self.fetch_all(
            "list_products_by_status",
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

    async def place_bid(
        self,
        product_id: UUID,
        bidder_id: UUID,
        amount: Decimal,
        origin: str | None,
        session_hash: bytes | None,
        idle_seconds: int,
    ) -> BidOutcome | None:
        """lock_bidder_session, lock_product and place_bid as one transaction in one round trip (in the caller's
        transaction when it opened one)."""
        params = {
            "product_id": product_id,
            "bidder_id": bidder_id,
            "amount": amount,
            "origin": origin,
            "session_hash": session_hash,
            "idle_seconds": idle_seconds,
        }
        async with self._atomic_pipeline():
            if session_hash is not None:
                await self._execute("lock_bidder_session", params)
            await self._execute("lock_product", params)
            cursor = await self._execute("place_bid", params)
        row = await cursor.fetchone()
        return None if row is None else msgspec.convert(row, BidOutcome)

    async def cancel_product(self, product_id: UUID, seller_id: UUID) -> CancelResult | None:
        return await self.fetch_one("cancel_product", CancelResult, product_id=product_id, seller_id=seller_id)

    async def lock_due_auctions(self, limit: int, skip: list[UUID]) -> list[UUID]:
        return [row["id"] for row in await self.fetch_rows("lock_due_auctions", limit=limit, skip=skip)]

    async def close_auction(self, product_id: UUID) -> ClosedAuction | None:
        return await self.fetch_one("close_auction", ClosedAuction, product_id=product_id)

    async def lock_auctions_of_user(self, user_id: UUID) -> list[UserAuction]:
        return await self.fetch_all("lock_auctions_of_user", UserAuction, user_id=user_id)

    async def withdraw_bids_of_user(self, user_id: UUID) -> list[Recomputed]:
        return await self.fetch_all("withdraw_bids_of_user", Recomputed, user_id=user_id)

    async def cancel_auctions_of_seller(self, user_id: UUID) -> list[UUID]:
        return [row["id"] for row in await self.fetch_rows("cancel_auctions_of_seller", user_id=user_id)]
