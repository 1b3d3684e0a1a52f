"""The auction WebSocket in one server (docs/rules/auctions.md, "WebSocket"; docs/rules/realtime.md): snapshot, kinds,
refusals, replay with since, anti-sniping, finished auctions."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.auctions_support import amount, create_auction, http_bid, socket_url, watch, watching
from tests.support import RunningServer, eventually, new_user

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_snapshot_then_live_bids_with_seq(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, baseprice=50, min_increment=1)
    bidder = await new_user(client)
    assert (await http_bid(client, bidder, product_id, 50)).status_code == 201
    async with watching(server.ws_url, product_id) as anonymous:
        snapshot = (await anonymous.wait_kind(6))[0]
        assert snapshot["seq"] == 1
        assert snapshot["status"] == "open"
        assert amount(snapshot["current_bid"]) == amount(50)
        assert (snapshot["current_bidder_id"], snapshot["current_bidder"]) == (None, 1)  # anonymous: the number
        assert amount(snapshot["minimum_bid"]) == amount(51)
        assert "reset" not in snapshot
        assert snapshot["ends_at"]

        placed = (await http_bid(client, bidder, product_id, 60)).json()
        new_bid = (await anonymous.wait_kind(4))[0]
        assert new_bid["seq"] == placed["seq"] == 2
        assert amount(new_bid["amount"]) == amount(60)
        assert (new_bid["user_id"], new_bid["bidder"]) == (None, 1)
        assert new_bid["ends_at"]
        assert "origin" not in new_bid


async def test_the_bidding_socket_gets_kind_1_every_other_socket_kind_4(
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    bidder = await new_user(client)
    async with (
        watching(server.ws_url, product_id, account=bidder) as tab1,
        watching(server.ws_url, product_id, account=bidder) as tab2,
        watching(server.ws_url, product_id) as stranger,
    ):
        for w in (tab1, tab2, stranger):
            await w.wait_kind(6)
        await tab1.send({"kind": 0, "amount": 12.5})
        ack = (await tab1.wait_kind(1))[0]
        assert ack["seq"] == 1
        assert amount(ack["amount"]) == amount("12.50")
        for other in (tab2, stranger):
            seen = (await other.wait_kind(4))[0]
            assert seen["seq"] == 1
            assert seen["user_id"] == (bidder.id if other is tab2 else None)  # the bidder's own tab, a stranger
            assert not other.of_kind(1)
        assert not tab1.of_kind(4)
        # An HTTP bid by the same user is kind 4 for every socket, its own tabs included.
        await http_bid(client, bidder, product_id, 20)
        for w in (tab1, tab2, stranger):
            assert (await w.wait_for(lambda m: [x for x in m if x.get("seq") == 2]))[0]["kind"] == 4
        bids = (await client.get(f"/api/v1/products/{product_id}/bids")).json()["items"]
        assert [b["id"] for b in bids][::-1] == [ack["bid_id"], tab2.of_kind(4)[1]["bid_id"]]


async def test_refusals_over_the_socket(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, baseprice=100, min_increment=10)
    bidder = await new_user(client)
    async with (
        watching(server.ws_url, product_id, account=user) as seller,
        watching(server.ws_url, product_id, account=bidder) as buyer,
        watching(server.ws_url, product_id) as anonymous,
    ):
        await seller.send({"kind": 0, "amount": 500})
        own = (await seller.wait_kind(2))[0]
        assert "own auction" in own["message"]
        assert "seq" not in own

        await buyer.send({"kind": 0, "amount": 99})
        low = (await buyer.wait_kind(2))[0]
        assert "100.00" in low["message"]

        await anonymous.send({"kind": 0, "amount": 1000})
        login = (await anonymous.wait_kind(2))[0]
        assert "login" in login["message"].lower()

        # Malformed frames: kind 3 each time, and the socket stays usable.
        for frame in [
            "{not json",
            "[1, 2]",
            json.dumps({"kind": 9}),
            json.dumps({"kind": 0, "amount": "100"}),
            json.dumps({"kind": 0, "amount": 1.001}),
            json.dumps({"kind": 0, "amount": 150, "user_id": "x"}),
            "",
        ]:
            await buyer.send(frame)
        invalid = await buyer.wait_kind(3, count=7)
        assert all("seq" not in m and m["message"] for m in invalid)
        await buyer.ws.send(b"\x00\x01binary")
        await buyer.wait_kind(3, count=8)

        await buyer.send({"kind": 0, "amount": 100})
        assert amount((await buyer.wait_kind(1))[0]["amount"]) == amount(100)
        await buyer.send({"kind": 0, "amount": 105})
        assert "110.00" in (await buyer.wait_kind(2, count=2))[1]["message"]
        # Nothing refused was announced: one event only.
        assert [m["seq"] for m in anonymous.events()] == [1]


async def test_oversized_frame_closes_the_socket(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user)
    async with watching(server.ws_url, product_id) as watcher:
        await watcher.wait_kind(6)
        await watcher.send("x" * (server.app.state.settings.max_ws_frame_bytes + 1))
        closed = await watcher.wait_closed()
        assert closed.code == 1009  # message too big


async def test_unknown_product_is_404_before_accept(server: RunningServer) -> None:
    for product in (UNKNOWN, "not-a-uuid"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(socket_url(server.ws_url, product))
        assert refused.value.response.status_code == 404
        body = json.loads(refused.value.response.body)
        assert body["status_code"] == 404


async def test_foreign_origin_is_403_before_accept(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user)
    with pytest.raises(InvalidStatus) as refused:
        await connect(socket_url(server.ws_url, product_id), origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    # The page's own origin is fine.
    own_origin = server.url
    async with connect(socket_url(server.ws_url, product_id), origin=own_origin) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["kind"] == 6


async def test_bad_since_is_400_before_accept(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user)
    with pytest.raises(InvalidStatus) as refused:
        await connect(socket_url(server.ws_url, product_id) + "?since=-1")
    assert refused.value.response.status_code == 400


async def test_reconnect_with_since_gets_exactly_the_missed_events(
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    bidders = [await new_user(client) for _ in range(2)]
    watcher = await watch(server.ws_url, product_id)
    for i in range(3):
        assert (await http_bid(client, bidders[i % 2], product_id, 10 + i)).status_code == 201
    await watcher.wait_for(lambda _: len(watcher.events()) == 3)
    last_seen = watcher.events()[-1]["seq"]
    await watcher.close()

    missed = []
    for i in range(3, 8):
        missed.append((await http_bid(client, bidders[i % 2], product_id, 10 + i)).json())
    resumed = await watch(server.ws_url, product_id, since=last_seen)
    try:
        await resumed.wait_for(lambda _: len(resumed.events()) >= 5)
        live = (await http_bid(client, bidders[0], product_id, 100)).json()
        await resumed.wait_for(lambda _: len(resumed.events()) >= 6)
        assert not resumed.of_kind(6)  # no snapshot after a replay
        assert [m["seq"] for m in resumed.events()] == [4, 5, 6, 7, 8, 9]
        assert [m["bid_id"] for m in resumed.events()] == [b["id"] for b in missed] + [live["id"]]
        assert [amount(m["amount"]) for m in resumed.events()[:5]] == [amount(10 + i) for i in range(3, 8)]
    finally:
        await resumed.close()

    # Nothing missed: no replay, no snapshot, then the live stream.
    current = await watch(server.ws_url, product_id, since=9)
    try:
        await http_bid(client, bidders[1], product_id, 200)
        await current.wait_for(lambda m: len(m) >= 1)
        assert [m["seq"] for m in current.messages] == [10]
    finally:
        await current.close()


async def test_since_beyond_what_can_be_replayed_gets_a_reset_snapshot(
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
    settings,
) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    bidder = await new_user(client)
    for i in range(3):
        await http_bid(client, bidder, product_id, 10 + i)
    # Retention pruned the older events (the newest of a topic is always kept).
    import psycopg

    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute("DELETE FROM events WHERE topic = %s AND seq < 3", (f"product:{product_id}",))
    for since in (1, 99):
        async with watching(server.ws_url, product_id, since=since) as watcher:
            snapshot = (await watcher.wait_kind(6))[0]
            assert snapshot["reset"] is True
            assert snapshot["seq"] == 3
            assert amount(snapshot["current_bid"]) == amount(12)


async def test_anti_sniping_extends_the_end_and_announces_kind_7(
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
) -> None:
    product_id = await create_auction(client, user, seconds=2, baseprice=10, extend_seconds=30)
    bidder = await new_user(client)
    before = (await client.get(f"/api/v1/products/{product_id}")).json()["ends_at"]
    async with watching(server.ws_url, product_id) as watcher:
        await watcher.wait_kind(6)
        placed = (await http_bid(client, bidder, product_id, 10)).json()
        assert placed["extended"] is True
        extended = (await watcher.wait_kind(7))[0]
        assert extended["seq"] == placed["seq"] + 1
        assert datetime.fromisoformat(extended["ends_at"]) > datetime.fromisoformat(before)
        bid_event = watcher.of_kind(4)[0]
        assert bid_event["ends_at"] == extended["ends_at"]
    product = (await client.get(f"/api/v1/products/{product_id}")).json()
    assert product["status"] == "open"
    assert datetime.fromisoformat(product["ends_at"]) > datetime.fromisoformat(before)
    # A bid far from the end extends nothing.
    far = await create_auction(client, user, seconds=60, baseprice=10, extend_seconds=5)
    placed = (await http_bid(client, bidder, far, 11)).json()
    assert placed["extended"] is False
    assert (await client.get(f"/api/v1/products/{far}")).json()["last_seq"] == 1


async def test_finished_auction_sends_final_state_and_kind_5_then_closes(
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
) -> None:
    product_id = await create_auction(client, user, seconds=1.5, baseprice=10)
    bidder = await new_user(client)
    async with watching(server.ws_url, product_id) as live:
        await live.wait_kind(6)
        await http_bid(client, bidder, product_id, 15)
        finished = (await live.wait_kind(5))[0]
        assert (finished["winner_id"], finished["winner"]) == (None, 1)
        assert amount(finished["amount"]) == amount(15)
        assert finished["status"] == "closed"
        assert finished["seq"] == 2
        closed = await live.wait_closed()
        assert closed.code == 1000

    late = await watch(server.ws_url, product_id)
    closed = await late.wait_closed()
    assert closed.code == 1000
    assert [m["kind"] for m in late.messages] == [6, 5]
    assert late.messages[0]["status"] == "closed"
    assert (late.messages[1]["winner_id"], late.messages[1]["winner"]) == (None, 1)
    await late.close()


async def test_cancel_is_announced_as_kind_5_cancelled(server: RunningServer, client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user)
    async with watching(server.ws_url, product_id) as watcher:
        await watcher.wait_kind(6)
        assert (await client.delete(f"/api/v1/products/{product_id}", headers=user.headers)).status_code == 204
        finished = (await watcher.wait_kind(5))[0]
        assert finished["status"] == "cancelled"
        assert finished["winner_id"] is None
        assert finished["seq"] == 1
        await watcher.wait_closed()


async def test_auction_without_bids_closes_without_a_winner(
    server: RunningServer, client: httpx.AsyncClient, user
) -> None:
    product_id = await create_auction(client, user, seconds=1.3)

    async def closed() -> dict:
        product = (await client.get(f"/api/v1/products/{product_id}")).json()
        return product if product["status"] == "closed" else {}

    product = await eventually(closed)
    assert product["winner_id"] is None
    assert product["winning_bid"] is None
