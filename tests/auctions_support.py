"""Helpers the auction and real-time tests share (no tests here): auctions, and WebSocket watchers that collect
every message a socket receives."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import Account, eventually

SOCKET = "/api/v1/products/ws/subscribe/{product_id}"


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def create_auction(
    client: httpx.AsyncClient,
    seller: Account,
    *,
    seconds: float = 3600,
    baseprice: float | str = 100,
    min_increment: float | str | None = None,
    extend_seconds: int | None = None,
    name: str = "Bicicleta aro 29",
) -> str:
    body: dict[str, Any] = {
        "product_name": name,
        "description": "Mountain bike, pouco uso, freio a disco.",
        "baseprice": float(baseprice),
        "auction_end": in_seconds(seconds),
    }
    if min_increment is not None:
        body["min_increment"] = float(min_increment)
    if extend_seconds is not None:
        body["extend_seconds"] = extend_seconds
    response = await client.post("/api/v1/products/", json=body, headers=seller.headers)
    assert response.status_code == 201, response.text
    return response.json()["product_id"]


async def http_bid(client: httpx.AsyncClient, bidder: Account, product_id: str, amount: float | str) -> httpx.Response:
    return await client.post(
        f"/api/v1/products/{product_id}/bids", json={"amount": float(amount)}, headers=bidder.headers
    )


def amount(value: Any) -> Decimal:
    """A JSON number as exact money."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Closed:
    """How the server closed the socket (code None: no close frame, the connection dropped)."""

    code: int | None
    reason: str | None


class Watcher:
    """A WebSocket subscriber that reads every message into `messages` in the background."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.closed: Closed | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self.messages.append(json.loads(raw))
        self.closed = Closed(code=self.ws.close_code, reason=self.ws.close_reason)

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def of_kind(self, *kinds: int) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("kind") in kinds]

    def events(self) -> list[dict[str, Any]]:
        """Messages that are events (they carry seq), snapshots excluded."""
        return [m for m in self.messages if "seq" in m and m.get("kind") != 6]

    async def wait_for(self, check: Callable[[list[dict[str, Any]]], Any], timeout: float = 15.0) -> Any:
        async def done() -> Any:
            return check(self.messages)

        return await eventually(done, timeout=timeout, interval=0.005)

    async def wait_kind(self, kind: int, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        return await self.wait_for(lambda _: len(self.of_kind(kind)) >= count and self.of_kind(kind), timeout)

    async def wait_closed(self, timeout: float = 15.0) -> Closed:
        async def done() -> Any:
            return self.closed

        return await eventually(done, timeout=timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


def socket_url(base_ws_url: str, product_id: str, since: int | None = None) -> str:
    url = base_ws_url + SOCKET.format(product_id=product_id)
    return url if since is None else f"{url}?since={since}"


async def watch(
    base_ws_url: str, product_id: str, *, account: Account | None = None, since: int | None = None
) -> Watcher:
    """Subscribe and wait for the first message (the snapshot, or the replay's first event)."""
    headers = account.headers if account is not None else {}
    ws = await connect(socket_url(base_ws_url, product_id, since), additional_headers=headers, open_timeout=15)
    return Watcher(ws)


@contextlib.asynccontextmanager
async def watching(base_ws_url: str, product_id: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    watcher = await watch(base_ws_url, product_id, **kwargs)
    try:
        yield watcher
    finally:
        await watcher.close()
