"""The auction WebSocket, `GET /api/v1/products/ws/subscribe/{product_id}` (docs/rules/auctions.md, "WebSocket").

Served by the live-feed protocol (app/realtime/feed.py): refusals before accept (foreign Origin 403, unknown
product 404, bad `since` 400), subscribe, snapshot (kind 6) or the replay after `?since=`, pump. Anyone may
watch; a socket opened with a session may bid, for as long as that session lives (docs/rules/realtime.md,
guarantee 7: once it ends, the socket watches on anonymously, and a bid's own transaction checks the session
anyway). Each frame is a bid placed in its own transaction on its own pooled connection.

Ordering: the pump is the only writer of the socket. Replies (kinds 2, 3) go through `reply`, and the
bidder's acknowledgement goes through the hub like every other event: the bid event carries the socket's
subscription id as its `origin`, and rendering turns kind 4 into kind 1 for that one socket. So every socket
sees the events of its product in seq order, and its own acknowledgement exactly where its bid sits in that
order, never before an earlier bid's kind 4.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket
from psycopg import AsyncConnection

from app.auctions import privacy, wire
from app.auctions.repository import AuctionsRepository
from app.auctions.schemas import ProductOut
from app.auctions.service import SESSION_ENDED, place_bid, topic_of
from app.auth.principal import Principal
from app.realtime.feed import Feed, LiveSocket, Refused, Rights, Start, serve_feed
from app.realtime.repository import Event
from app.web.errors import AppError
from app.web.validation import decode_document, validate_document

log = logging.getLogger("app.auctions")

SOCKET_PATH = "/api/v1/products/ws/subscribe/{product_id:str}"

_encode = msgspec.json.Encoder(decimal_format="number").encode


class _Frames:
    """One event encoded for every socket of the process: `public` for anyone, `named` (with the bidder's user
    id) for the sockets of that bidder and of the seller, encoded when one of them first needs it. *Why:* at most
    two encodings per event, whatever the number of sockets, and no JSON encoding per socket."""

    __slots__ = ("message", "named_text", "public", "subject")

    def __init__(self, event: Event) -> None:
        self.message = wire.render_event(event.payload, event.seq, "")
        self.subject = privacy.subject_of(self.message)
        self.public = _encode(privacy.anonymised(self.message)).decode()
        self.named_text: str | None = None

    def named(self) -> str:
        if self.named_text is None:
            self.named_text = _encode(self.message).decode()
        return self.named_text


# Keyed by topic and seq; bounded, the oldest events go first.
_SHARED_LIMIT = 2048
_shared: OrderedDict[tuple[str, int], _Frames] = OrderedDict()


def _frames(event: Event) -> _Frames:
    key = (event.topic, event.seq)
    frames = _shared.get(key)
    if frames is None:
        frames = _shared[key] = _Frames(event)
        if len(_shared) > _SHARED_LIMIT:
            _shared.popitem(last=False)
    return frames


def snapshot_message(product: ProductOut) -> dict[str, Any]:
    """Kind 6 of `product` as a reader sees it (its ids shaped by privacy.product_for first)."""
    snapshot = wire.Snapshot(
        seq=product.last_seq,
        product_id=product.id,
        status=product.status,
        amount=product.current_bid,
        user_id=product.current_bidder_id,
        current_bid=product.current_bid,
        current_bidder_id=product.current_bidder_id,
        current_bidder=product.current_bidder,
        current_price=product.current_price,
        minimum_bid=product.minimum_bid,
        baseprice=product.baseprice,
        min_increment=product.min_increment,
        ends_at=product.ends_at,
        bid_count=product.bid_count,
        winner_id=product.winner_id,
        winner=product.winner,
        winning_bid=product.winning_bid,
    )
    return wire.as_dict(snapshot)


def final_message(product: ProductOut) -> dict[str, Any]:
    """The kind 5 a socket opened on an auction that is already over receives, as of the product's last seq."""
    closed = product.status == "closed"
    finished = wire.Finished(
        status="closed" if closed else "cancelled",
        winner_id=product.winner_id,
        amount=product.winning_bid,
        message="The auction is finished" if closed else "The seller cancelled the auction",
        winner=product.winner,
    )
    return wire.as_dict(finished) | {"seq": product.last_seq}


def _frame_error(exc: AppError) -> str:
    details = "; ".join(f"{e.key}: {e.message}" if e.key else e.message for e in exc.field_errors)
    return f"{exc.detail}: {details}" if details else exc.detail


class AuctionFeed(Feed):
    """One product's feed; its frames are bids (kind 0), answered with kind 2 (refused) or 3 (not a command)."""

    rights = Rights.OPTIONAL

    def __init__(self, product_id: UUID) -> None:
        super().__init__(topic_of(product_id))
        self.product_id = product_id
        # Read by start(), before any event is rendered: the seller, and whom the socket connected as.
        self.seller_id: UUID | None = None
        self.connected_as: UUID | None = None

    async def start(self, conn: AsyncConnection[Any], principal: Principal | None, *, snapshot: bool) -> Start:
        # Read even after a replay: whether the auction is over decides what comes next.
        product = await AuctionsRepository(conn).product_view(self.product_id)
        if product is None:
            raise Refused(404, "Product not found")
        self.seller_id = product.seller_id
        self.connected_as = principal.id if principal is not None else None
        product = privacy.product_for(self.connected_as, product)
        final = None
        if product.status != "open":
            final = final_message(product)
        return Start(seq=product.last_seq, snapshot=snapshot_message(product), final=final)

    def viewer(self, live: LiveSocket) -> UUID | None:
        """Whom the socket reads for: its session's user now (None once the session ended), or during the replay,
        before its session is followed, whom it connected as."""
        if live.holder is None:
            return self.connected_as
        principal = live.principal
        return principal.id if principal is not None else None

    def render(self, event: Event, live: LiveSocket) -> dict[str, Any] | str:
        """The event for this socket: kind 1 for its own bid, else one of the event's two shared encodings."""
        viewer = self.viewer(live)
        if event.payload.get("origin") == live.subscription.id:
            message = wire.render_event(event.payload, event.seq, live.subscription.id)
            subject = privacy.subject_of(message)
            return message if privacy.shown(viewer, subject, self.seller_id) else privacy.anonymised(message)
        frames = _frames(event)
        if frames.subject is not None and privacy.shown(viewer, frames.subject, self.seller_id):
            return frames.named()
        return frames.public

    def is_final(self, event: Event) -> bool:
        return event.payload.get("kind") == wire.FINISHED

    async def receive(self, raw: str, live: LiveSocket) -> None:
        """One inbound frame: a bid (kind 0), or a kind 3 reply; refusals are kind 2."""
        try:
            if not raw.strip():
                raise AppError(400, "Expected a JSON text frame")
            command = validate_document(decode_document(raw), wire.SocketBid)
            assert isinstance(command, wire.SocketBid)
        except AppError as exc:
            live.reply(wire.as_dict(wire.InvalidMessage(message=f"Not a valid command: {_frame_error(exc)}")))
            return
        user = live.principal
        if user is None:
            message = SESSION_ENDED if live.session_ended else "Login required to bid"
            live.reply(wire.as_dict(wire.BidRefused(message=message, amount=command.amount)))
            return
        app = live.socket.app
        try:
            async with app.state.pool.connection() as conn:
                await place_bid(
                    conn,
                    self.product_id,
                    user.id,
                    command.amount,
                    session_hash=user.session_hash,
                    idle_seconds=app.state.settings.session_idle_ttl,
                    origin=live.subscription.id,
                )
        except AppError as exc:
            live.reply(wire.as_dict(wire.BidRefused(message=exc.detail, amount=command.amount)))
        except Exception:
            log.exception("bid over the socket failed")
            live.reply(wire.as_dict(wire.BidRefused(message="The bid could not be placed now; try again")))


def _auction_feed(socket: WebSocket[Any, Any, Any]) -> AuctionFeed:
    try:
        return AuctionFeed(UUID(socket.path_params["product_id"]))
    except ValueError:
        raise Refused(404, "Product not found") from None


@websocket(SOCKET_PATH, name="auction_socket")
async def auction_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Watch an auction live (anyone) and bid (logged in): the message kinds of app/auctions/wire.py."""
    await serve_feed(socket, _auction_feed)
