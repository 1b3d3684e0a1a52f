"""Request and response bodies of the auctions area (the WebSocket's messages are in app/auctions/wire.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.web.types import AwareDatetime, Money, Strict

ProductName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(min_length=10, max_length=255)]
ExtendSeconds = Annotated[int, msgspec.Meta(ge=0, le=3600, description="Anti-sniping window in seconds (0: off)")]
Status = Literal["open", "closed", "cancelled"]


class CreateProduct(Strict):
    product_name: ProductName
    description: Description
    baseprice: Money
    auction_end: AwareDatetime
    min_increment: Money | None = None
    extend_seconds: ExtendSeconds | None = None


class CreatedProduct(msgspec.Struct):
    id: UUID
    product_id: UUID


class PlaceBid(Strict):
    amount: Money


class ProductOut(msgspec.Struct):
    id: UUID
    seller_id: UUID
    product_name: str
    description: str
    baseprice: Decimal
    min_increment: Decimal
    auction_end: datetime
    ends_at: datetime
    extend_seconds: int
    status: Status
    current_price: Decimal
    current_bid: Decimal | None
    current_bidder_id: UUID | None  # this and winner_id: null but to that bidder and the seller (privacy.py)
    current_bidder: int | None  # the leader's number in this auction ("Licitante 3")
    minimum_bid: Decimal
    bid_count: int
    bidder_count: int
    winner_id: UUID | None
    winner: int | None
    winning_bid: Decimal | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_seq: int


class ProductSummary(msgspec.Struct):
    id: UUID
    seller_id: UUID
    product_name: str
    description: str
    baseprice: Decimal
    min_increment: Decimal
    ends_at: datetime
    status: Status
    current_price: Decimal
    current_bid: Decimal | None
    current_bidder_id: UUID | None
    bid_count: int
    bidder_count: int
    winner_id: UUID | None
    winning_bid: Decimal | None
    created_at: datetime


class BidOut(msgspec.Struct):
    id: int
    product_id: UUID
    bidder_id: UUID | None  # null but to the bidder and the seller (app/auctions/privacy.py)
    bidder: int  # the bidder's number in this auction
    amount: Decimal
    created_at: datetime


class PlacedBid(msgspec.Struct):
    """An accepted bid, with the seq of the event that announced it."""

    id: int
    product_id: UUID
    bidder_id: UUID
    bidder: int
    amount: Decimal
    created_at: datetime
    seq: int
    ends_at: datetime
    extended: bool
    minimum_bid: Decimal
