"""The auction WebSocket, `GET /api/v1/products/ws/subscribe/{product_id}` (auctions.md, realtime.md).

A Litestar WebSocket listener with a `connection_lifespan`: the lifespan refuses the upgrade with an HTTP status
before accept (foreign Origin 403, unknown product 404, bad `since` 400), subscribes to the product's topic
BEFORE reading the snapshot (so nothing committed in between is missed), sends the snapshot (kind 6) or the
replay after `?since=`, then starts the subscription's pump. The listener itself only reads frames: each
frame is a bid placed in its own transaction on its own pooled connection.

Ordering: the pump is the only writer of the socket. Replies (kinds 2, 3) go through `sub.reply`, and the
bidder's acknowledgement goes through the hub like every other event: the bid event carries the socket's
subscription id as its `origin`, and rendering turns kind 4 into kind 1 for that one socket. So every socket
sees the events of its product in seq order, and its own acknowledgement exactly where its bid sits in that
order, never before an earlier bid's kind 4.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket_listener
from litestar.exceptions import WebSocketDisconnect

from app.auctions.repository import AuctionsRepository
from app.auctions.schemas import ProductOut, SocketBid
from app.auctions.service import (
    BID_REFUSED,
    FINISHED,
    INVALID_MESSAGE,
    SNAPSHOT,
    finished_message,
    place_bid,
    render_event,
    topic_of,
)
from app.auth.csrf import origin_allowed
from app.realtime.hub import Hub, Subscription
from app.realtime.repository import Event
from app.realtime.sockets import deny, pump, send_json
from app.web.errors import AppError
from app.web.validation import decode_document, validate_document

log = logging.getLogger("app.auctions")

SOCKET_PATH = "/api/v1/products/ws/subscribe/{product_id:str}"

_decode_frame = decode_document  # the shared decoder: a 400 AppError for anything it cannot decode
_encode = msgspec.json.Encoder(decimal_format="number").encode

# Most sockets see an event exactly alike: encode it once for all of them (keyed by topic and seq).
_SHARED_LIMIT = 2048
_shared: OrderedDict[tuple[str, int], str] = OrderedDict()


def _renderer(subscription_id: str) -> Callable[[Event], dict[str, Any] | str]:
    def render(event: Event) -> dict[str, Any] | str:
        if event.payload.get("origin") == subscription_id:
            return render_event(event.payload, event.seq, subscription_id)  # this socket's own bid: kind 1
        key = (event.topic, event.seq)
        text = _shared.get(key)
        if text is None:
            text = _encode(render_event(event.payload, event.seq, subscription_id)).decode()
            _shared[key] = text
            if len(_shared) > _SHARED_LIMIT:
                _shared.popitem(last=False)
        return text

    return render


def _is_finish(event: Event) -> bool:
    return event.payload.get("kind") == FINISHED


def snapshot_message(product: ProductOut, *, reset: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "kind": SNAPSHOT,
        "seq": product.last_seq,
        "product_id": product.id,
        "status": product.status,
        "amount": product.current_bid,
        "user_id": product.current_bidder_id,
        "current_bid": product.current_bid,
        "current_bidder_id": product.current_bidder_id,
        "current_price": product.current_price,
        "minimum_bid": product.minimum_bid,
        "baseprice": product.baseprice,
        "min_increment": product.min_increment,
        "ends_at": product.ends_at,
        "bid_count": product.bid_count,
        "winner_id": product.winner_id,
        "winning_bid": product.winning_bid,
    }
    if reset:
        message["reset"] = True
    return message


def _frame_error(exc: AppError) -> str:
    details = "; ".join(f"{e.key}: {e.message}" if e.key else e.message for e in exc.field_errors)
    return f"{exc.detail}: {details}" if details else exc.detail


class AuctionFeed:
    """One subscribed socket: its subscription, the pump task writing to it, and the bids it sends."""

    def __init__(self, socket: WebSocket[Any, Any, Any], product_id: UUID, hub: Hub, sub: Subscription) -> None:
        self.socket = socket
        self.product_id = product_id
        self.hub = hub
        self.sub = sub
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(pump(self.socket, self.sub, _renderer(self.sub.id), final=_is_finish))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.hub.unsubscribe(self.sub)

    async def handle(self, raw: str) -> None:
        """One inbound frame: a bid (kind 0), or a kind 3 reply; refusals are kind 2."""
        try:
            if not raw.strip():
                raise AppError(400, "Expected a JSON text frame")
            try:
                document = _decode_frame(raw)
            except msgspec.DecodeError as exc:
                raise AppError(400, f"Malformed JSON: {exc}") from None
            command = validate_document(document, SocketBid)
            assert isinstance(command, SocketBid)
        except AppError as exc:
            self.sub.reply({"kind": INVALID_MESSAGE, "message": f"Not a valid command: {_frame_error(exc)}"})
            return
        user = self.socket.scope.get("user")
        if user is None:
            self.sub.reply({"kind": BID_REFUSED, "message": "Login required to bid"})
            return
        pool = self.socket.app.state.pool
        try:
            async with pool.connection() as conn:
                await place_bid(conn, self.product_id, user.id, command.amount, origin=self.sub.id)
        except AppError as exc:
            self.sub.reply({"kind": BID_REFUSED, "message": exc.detail, "amount": command.amount})
        except Exception:
            log.exception("bid over the socket failed")
            self.sub.reply({"kind": BID_REFUSED, "message": "The bid could not be placed now; try again"})


def _parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


async def open_feed(socket: WebSocket[Any, Any, Any]) -> AuctionFeed | None:
    """Refuse (before accept), or accept and send the initial state. None when the socket is done already:
    refused, or an auction that is over (final state and kind 5 sent, closed normally)."""
    app = socket.app
    if not origin_allowed(socket, app.state.settings):
        await deny(socket, 403, "WebSocket from a foreign Origin refused")
        return None
    product_id = _parse_uuid(socket.path_params["product_id"])
    if product_id is None:
        await deny(socket, 404, "Product not found")
        return None
    since: int | None = None
    raw_since = socket.query_params.get("since")
    if raw_since is not None:
        if not raw_since.isdigit() or len(raw_since) > 18:
            await deny(socket, 400, "since must be a whole number >= 0")
            return None
        since = int(raw_since)
    hub: Hub = app.state.hub
    topic = topic_of(product_id)
    sub = hub.subscribe(topic)  # before the snapshot: what commits after it is queued, older seqs are skipped
    try:
        try:
            async with app.state.pool.connection() as conn:
                product = await AuctionsRepository(conn).product_view(product_id)
        except Exception:
            log.exception("could not read the product for a socket")
            hub.unsubscribe(sub)
            await deny(socket, 503, "The database is unavailable, try again shortly")
            return None
        if product is None:
            hub.unsubscribe(sub)
            await deny(socket, 404, "Product not found")
            return None
        await socket.accept()
        replayed = await hub.replay(topic, since) if since is not None else None
        finish_sent = False
        if replayed is None:
            await send_json(socket, snapshot_message(product, reset=since is not None))
            sub.last_seq = product.last_seq
        else:
            render = _renderer(sub.id)
            for event in replayed:
                await socket.send_data(_as_text(render(event)), mode="text")
                finish_sent = finish_sent or _is_finish(event)
            sub.last_seq = replayed[-1].seq if replayed else since  # type: ignore[assignment]
        if product.status != "open":
            if not finish_sent:
                await send_json(
                    socket, finished_message(product.status, product.winner_id, product.winning_bid, product.last_seq)
                )
            hub.unsubscribe(sub)
            await socket.close(code=1000)
            return None
    except (WebSocketDisconnect, OSError, RuntimeError):
        hub.unsubscribe(sub)  # the client went away while we were starting
        return None
    except BaseException:
        hub.unsubscribe(sub)
        raise
    feed = AuctionFeed(socket, product_id, hub, sub)
    feed.start()
    return feed


def _as_text(message: dict[str, Any] | str) -> str:
    return message if isinstance(message, str) else _encode(message).decode()


@asynccontextmanager
async def _feed_lifespan(socket: WebSocket[Any, Any, Any]) -> AsyncIterator[None]:
    feed = await open_feed(socket)
    if feed is None:
        # Refused before accept, or already closed: there are no frames to read, the listener loop ends at once.
        socket.connection_state = "disconnect"
        with contextlib.suppress(WebSocketDisconnect):
            yield
        return
    socket.state.auction_feed = feed
    try:
        yield
    except WebSocketDisconnect:
        pass
    finally:
        await feed.close()


@websocket_listener(SOCKET_PATH, connection_lifespan=_feed_lifespan, name="auction_socket")
async def auction_socket(data: str, socket: WebSocket[Any, Any, Any]) -> None:
    """Watch an auction live (anyone) and bid (logged in): Gobid's message kinds 0-7."""
    feed: AuctionFeed = socket.state.auction_feed
    await feed.handle(data)
