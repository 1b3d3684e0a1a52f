"""Who reads a bidder's user id (docs/rules/auctions.md, "Bidders' user ids"): the bidder themself and the
product's seller, who must deliver to the winner. Everyone else (anonymous watchers, other bidders) reads null
in the id fields, kept for Gobid's clients, and tells bidders apart by their number in the auction. *Why:* a
stable id lets anyone follow one person from auction to auction, what they bid on and how much.

One rule (`shown`) for every place an id leaves the server: the REST bodies here, and the socket's messages
(`anonymised` below; app/auctions/feed.py picks a socket's variant of each event).
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import msgspec

from app.auctions.schemas import BidOut, ProductOut, ProductSummary

# The fields of a socket message that hold a bidder's user id. An event names one bidder at most (kind 4 the
# bidder, kind 5 the winner, kind 8 the new leader twice), so a viewer reads all of them or none.
ID_FIELDS = ("user_id", "current_bidder_id", "winner_id")

Product = TypeVar("Product", ProductOut, ProductSummary)


def shown(viewer: UUID | None, bidder: UUID | None, seller: UUID | None) -> bool:
    """Whether `viewer` (None: anonymous) may read `bidder`'s user id on `seller`'s product."""
    return viewer is not None and viewer in (bidder, seller)


def _id_for(viewer: UUID | None, bidder: UUID | None, seller: UUID) -> UUID | None:
    return bidder if shown(viewer, bidder, seller) else None


def product_for(viewer: UUID | None, product: Product) -> Product:
    """One product (`GET …/{id}`, the socket's kind 6) or a row of the list, as `viewer` reads it."""
    return msgspec.structs.replace(
        product,
        current_bidder_id=_id_for(viewer, product.current_bidder_id, product.seller_id),
        winner_id=_id_for(viewer, product.winner_id, product.seller_id),
    )


def bid_for(viewer: UUID | None, bid: BidOut, seller: UUID | None) -> BidOut:
    if shown(viewer, bid.bidder_id, seller):
        return bid
    return msgspec.structs.replace(bid, bidder_id=None)


def subject_of(message: dict[str, Any]) -> UUID | None:
    """The bidder a socket message names (its id as stored: a string from JSON), or None."""
    for field in ID_FIELDS:
        value = message.get(field)
        if value is not None:
            return value if isinstance(value, UUID) else UUID(value)
    return None


def anonymised(message: dict[str, Any]) -> dict[str, Any]:
    """The message as anyone but its bidder and the seller reads it: its id fields null, their keys kept."""
    return message | {field: None for field in ID_FIELDS if message.get(field) is not None}
