"""The rules of an auction that HTTP and the WebSocket share: placing a bid, cancelling, closing, and the events
each announces on the product's topic (docs/rules/auctions.md, docs/rules/realtime.md).

Every function runs inside the caller's transaction; the events it publishes are announced on commit only.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, OperationalError

from app.auctions import wire
from app.auctions.repository import AuctionsRepository, ClosedAuction
from app.auctions.schemas import PlacedBid
from app.realtime.repository import publish
from app.web.errors import AppError, Refusal, conflict, forbidden, not_found, status_conflict, unprocessable

log = logging.getLogger("app.auctions")

CLOSE_BATCH = 100


def topic_of(product_id: UUID | str) -> str:
    return f"product:{product_id}"


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


# The refusal of a bid whose session is over (logged out, revoked, expired, account deactivated or deleted):
# HTTP 401, and kind 2 on a socket, the same text either way (docs/rules/realtime.md guarantee 7).
SESSION_ENDED = "Your session has ended: log in again to bid"


BID_REFUSALS = (
    Refusal(401, "the session ended while the bid was being placed"),
    Refusal(409, "the auction is closed or cancelled (its status in `extra`)"),
    Refusal(422, "the bid is below the minimum, or on the bidder's own auction"),
)
CANCEL_REFUSALS = (
    Refusal(403, "only the seller can cancel an auction"),
    Refusal(409, "the auction has ended, is cancelled, or already has bids"),
)


async def place_bid(
    conn: AsyncConnection[Any],
    product_id: UUID,
    bidder_id: UUID,
    amount: Decimal,
    *,
    session_hash: bytes | None,
    idle_seconds: int,
    origin: str | None = None,
) -> PlacedBid:
    """Lock the bidder's session and the product, judge the bid, record it and announce it (kind 4; kind 1 for
    the socket named by `origin`), plus kind 7 when anti-sniping moved the end. `session_hash` is the session
    the bid comes with: it must still be live in the bid's own transaction (None only for demo data). Raises
    AppError: 401 session over, 404 unknown product, 409 closed or ended, 422 own auction or too low (the message
    states the minimum)."""
    judged = await AuctionsRepository(conn).place_bid(product_id, bidder_id, amount, origin, session_hash, idle_seconds)
    if judged is None:
        raise not_found("Product not found")
    if judged.outcome == "session_ended":
        raise AppError(401, SESSION_ENDED)
    if judged.outcome == "closed":
        raise _closed(judged.status)
    if judged.outcome == "ended":
        raise _closed("closed", "The auction has ended")
    if judged.outcome == "own_auction":
        raise unprocessable("You cannot bid on your own auction", key="amount")
    if judged.outcome == "too_low":
        raise unprocessable(f"Bid too low: the minimum is {_money(judged.minimum)}", key="amount")
    assert judged.bid_id is not None
    assert judged.created_at is not None
    assert judged.seq is not None
    return PlacedBid(
        id=judged.bid_id,
        product_id=product_id,
        bidder_id=bidder_id,
        bidder=judged.bidder_number,
        amount=amount,
        created_at=judged.created_at,
        seq=judged.seq,
        ends_at=judged.ends_at,
        extended=judged.extended,
        minimum_bid=judged.minimum_bid,
    )


def _closed(status: str, detail: str | None = None) -> AppError:
    error = status_conflict(status)
    if detail:
        error.detail = detail
    else:
        error.detail = f"The auction is {status}"
    return error


async def cancel_auction(conn: AsyncConnection[Any], product_id: UUID, seller_id: UUID) -> None:
    """The seller withdraws an auction before its first bid; announced as kind 5 with status cancelled."""
    result = await AuctionsRepository(conn).cancel_product(product_id, seller_id)
    if result is None:
        raise not_found("Product not found")
    if result.seller_id != seller_id:
        raise forbidden("Only the seller can cancel an auction")
    if result.cancelled:
        await _announce_cancelled(conn, product_id, "The seller cancelled the auction")
        return
    if result.status != "open":
        raise _closed(result.status)
    if result.ended:
        raise _closed("closed", "The auction has ended")
    raise _closed("open", "The auction already has bids and can no longer be cancelled")


async def _announce(conn: AsyncConnection[Any], product_id: UUID, message: wire.Message) -> None:
    await publish(conn, topic_of(product_id), wire.as_dict(message))


async def _announce_cancelled(conn: AsyncConnection[Any], product_id: UUID, message: str) -> None:
    await _announce(conn, product_id, wire.Finished(status="cancelled", winner_id=None, amount=None, message=message))


async def close_account_auctions(conn: AsyncConnection[Any], user_id: UUID, deleting: bool) -> None:
    """An account is deactivated (or deleted): its live bids on open auctions are withdrawn, each product's
    best remaining bid leads (kind 8), and its open auctions without bids are cancelled (kind 5), all in the
    caller's transaction. A deletion is refused first (409) while the account leads an open auction or sells
    one that has bids ("Account states"). Its open auctions with bids keep running (docs/security.md)."""
    repo = AuctionsRepository(conn)
    locked = await repo.lock_auctions_of_user(user_id)
    if deleting:
        if any(auction.leading for auction in locked):
            raise conflict("The account leads an open auction; it can be deleted once the auction is over")
        if any(auction.selling and auction.bid_count > 0 for auction in locked):
            raise conflict("The account sells an open auction that has bids; it can be deleted once it is over")
    for product in await repo.withdraw_bids_of_user(user_id):
        await _announce(
            conn,
            product.id,
            wire.BidsWithdrawn(
                amount=product.current_bid,
                user_id=product.current_bidder_id,
                current_bid=product.current_bid,
                current_bidder_id=product.current_bidder_id,
                current_bidder=product.current_bidder,
                current_price=product.current_price,
                minimum_bid=product.minimum_bid,
                bid_count=product.bid_count,
                ends_at=product.ends_at,
                withdrawn_bid_ids=product.withdrawn_bid_ids,
                message="Bids of a deactivated account were withdrawn",
            ),
        )
    for product_id in await repo.cancel_auctions_of_seller(user_id):
        await _announce_cancelled(conn, product_id, "The auction was cancelled: the seller's account was closed")


async def close_due_auctions(conn: AsyncConnection[Any], skip: set[UUID]) -> int:
    """Close one batch of ended auctions and announce each (kind 5 with the winner) in the same transaction;
    returns the batch's size. Each auction closes in a savepoint of its own: one that cannot be closed (a row
    some constraint or trigger refuses) is rolled back alone, logged and added to `skip` for the rest of the
    pass, so it never holds back the auctions behind it. A lost connection is not that: it propagates."""
    repo = AuctionsRepository(conn)
    due = await repo.lock_due_auctions(CLOSE_BATCH, list(skip))
    for product_id in due:
        try:
            async with conn.transaction():
                auction = await repo.close_auction(product_id)
                if auction is not None:
                    await _announce_closed(conn, auction)
        except OperationalError:
            raise
        except Exception:
            log.exception("auction %s could not be closed; the closer goes on with the others", product_id)
            skip.add(product_id)
    return len(due)


async def _announce_closed(conn: AsyncConnection[Any], auction: ClosedAuction) -> None:
    if auction.winner_id is None:
        message = "The auction finished without bids"
    else:
        message = f"Sold for {_money(auction.winning_bid or Decimal(0))}"
    await _announce(
        conn,
        auction.id,
        wire.Finished(
            status="closed",
            winner_id=auction.winner_id,
            amount=auction.winning_bid,
            message=message,
            winner=auction.winner,
        ),
    )
