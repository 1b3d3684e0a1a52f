"""The auction socket's wire format is the catalogue of app/auctions/wire.py (docs/rules/auctions.md, "Message
kinds"): every event stored, SQL-built kinds 4 and 7 included, and every message a socket receives decodes as
its kind's Struct, with no field missing and none unknown."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import psycopg

from app.auctions import wire
from app.config import Settings
from tests.auctions_support import create_auction, http_bid, watch, watching
from tests.support import Account, RunningServer, eventually, new_user

EVENT_KINDS = {wire.NEW_BID, wire.FINISHED, wire.EXTENDED, wire.BIDS_WITHDRAWN}


def _decode_sent(message: dict[str, Any]) -> wire.Message:
    """A received message as its kind's Struct; events are stored without their seq, the feed adds it."""
    if message["kind"] in EVENT_KINDS:
        message = dict(message)
        assert isinstance(message.pop("seq"), int)
    return msgspec.json.decode(json.dumps(message), type=wire.Sent)


async def test_every_kind_matches_the_catalogue(
    server: RunningServer, client: httpx.AsyncClient, user: Account, admin: Account, settings: Settings
) -> None:
    bidder, other = await new_user(client), await new_user(client)
    late_bids = await create_auction(client, user, seconds=30, baseprice=10, extend_seconds=60)
    async with (
        watching(server.ws_url, late_bids, account=bidder) as bidding,
        watching(server.ws_url, late_bids) as anonymous,
    ):
        await bidding.wait_kind(wire.SNAPSHOT)
        await anonymous.wait_kind(wire.SNAPSHOT)
        await bidding.send("{}")
        await bidding.wait_kind(wire.INVALID_MESSAGE)
        await anonymous.send({"kind": 0, "amount": 10})
        await anonymous.wait_kind(wire.BID_REFUSED)
        await bidding.send({"kind": 0, "amount": 10})  # within the last 60 s: kinds 1 (4 for others) and 7
        await bidding.wait_kind(wire.BID_ACCEPTED)
        assert (await http_bid(client, other, late_bids, 11)).status_code == 201
        deactivated = await client.patch(f"/api/v1/users/{other.id}", json={"active": False}, headers=admin.headers)
        assert deactivated.status_code == 200, deactivated.text
        await anonymous.wait_kind(wire.BIDS_WITHDRAWN)
        await anonymous.wait_kind(wire.EXTENDED)
        received = bidding.messages + anonymous.messages

    cancelled = await create_auction(client, user)
    assert (await client.delete(f"/api/v1/products/{cancelled}", headers=user.headers)).status_code == 204
    sold = await create_auction(client, user, seconds=1.5, baseprice=10)
    assert (await http_bid(client, bidder, sold, 10)).status_code == 201
    await eventually(lambda: _status(client, sold, "closed"))
    for product_id in (cancelled, sold):
        late = await watch(server.ws_url, product_id)  # snapshot, then the final kind 5
        await late.wait_closed()
        received += late.messages
        await late.close()

    assert {m["kind"] for m in received} == set(range(1, 9))
    for message in received:
        _decode_sent(message)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        stored = await (await conn.execute("SELECT payload::text FROM events WHERE topic LIKE 'product:%'")).fetchall()
    payloads = [msgspec.json.decode(text, type=wire.Sent) for (text,) in stored]
    assert {type(p) for p in payloads} == {wire.NewBid, wire.Extended, wire.BidsWithdrawn, wire.Finished}
    # The socket's bid keeps its origin in the row (the feed drops it when sending); the HTTP bid has none.
    assert sorted(p.origin is None for p in payloads if isinstance(p, wire.NewBid)) == [False, True, True]


async def _status(client: httpx.AsyncClient, product_id: str, status: str) -> bool:
    return (await client.get(f"/api/v1/products/{product_id}")).json()["status"] == status
