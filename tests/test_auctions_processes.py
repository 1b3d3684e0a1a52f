"""Auctions across real server processes (docs/rules/realtime.md, 3; docs/rules/auctions.md, "Bidding rules"
and "Closing"): cross-process delivery, 50 concurrent bidders, closing exactly once, closing at start-up."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.auctions_support import Watcher, amount, create_auction, http_bid, watch
from tests.support import Account, ServerProcess, eventually, new_user, serve_app, start_server_process, with_settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def two_processes(settings: Settings, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    first, second = await asyncio.gather(
        start_server_process(settings, tmp_path, name="first"), start_server_process(settings, tmp_path, name="second")
    )
    try:
        yield [first, second]
    finally:
        first.stop()
        second.stop()


async def _all_bids(client: httpx.AsyncClient, product_id: str) -> list[dict[str, Any]]:
    bids: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"/api/v1/products/{product_id}/bids", params=params)).json()
        bids += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return bids


async def test_a_bid_on_one_process_reaches_subscribers_of_the_other(two_processes: list[ServerProcess]) -> None:
    first, second = two_processes
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=30) as one,
        httpx.AsyncClient(base_url=second.url, timeout=30) as two,
    ):
        seller, bidder = await new_user(one), await new_user(one)
        product_id = await create_auction(one, seller, baseprice=10)
        on_first = await watch(first.ws_url, product_id, account=bidder)
        on_second = await watch(second.ws_url, product_id)
        try:
            await on_first.wait_kind(6)
            await on_second.wait_kind(6)
            # A socket bid on the first process...
            await on_first.send({"kind": 0, "amount": 10})
            ack = (await on_first.wait_kind(1))[0]
            seen = (await on_second.wait_kind(4))[0]
            assert ack["seq"] == seen["seq"] == 1
            assert seen["bid_id"] == ack["bid_id"]
            assert (seen["user_id"], seen["bidder"]) == (None, 1)  # an anonymous watcher reads the number
            # ...and an HTTP bid on the second.
            placed = await http_bid(two, bidder, product_id, 25)
            assert placed.status_code == 201
            relayed = (await on_first.wait_kind(4))[0]
            assert relayed["seq"] == placed.json()["seq"] == 2
            assert amount(relayed["amount"]) == amount(25)
        finally:
            await on_first.close()
            await on_second.close()


MINIMUM = re.compile(r"minimum is (\d+\.\d\d)")


async def test_fifty_concurrent_bidders_on_two_processes(two_processes: list[ServerProcess]) -> None:
    clients = [httpx.AsyncClient(base_url=p.url, timeout=30) for p in two_processes]
    try:
        seller = await new_user(clients[0])
        bidders: list[Account] = list(await asyncio.gather(*(new_user(clients[i % 2]) for i in range(50))))
        product_id = await create_auction(clients[0], seller, seconds=7, baseprice=10, min_increment=1)
        watchers = [await watch(p.ws_url, product_id) for p in two_processes]
        acknowledged: dict[int, dict[str, Any]] = {}  # bid id -> seq, amount, bidder
        refusals: list[str] = []

        async def http_bidder(i: int, bidder: Account) -> None:
            client = clients[i % 2]
            guess = amount(10)
            while True:
                response = await http_bid(client, bidder, product_id, str(guess))
                if response.status_code == 201:
                    body = response.json()
                    acknowledged[body["id"]] = {"seq": body["seq"], "amount": amount(body["amount"]), "by": bidder.id}
                    guess = amount(body["amount"]) + random.randint(1, 3)
                elif response.status_code == 422:
                    refusals.append(response.json()["detail"])
                    match = MINIMUM.search(response.json()["detail"])
                    assert match, response.text
                    guess = amount(match.group(1)) + random.randint(0, 2)
                else:
                    assert response.status_code == 409, response.text
                    return

        async def socket_bidder(i: int, bidder: Account) -> None:
            own = await watch(two_processes[i % 2].ws_url, product_id, account=bidder)
            try:
                snapshot = (await own.wait_kind(6))[0]
                minimum = amount(snapshot["minimum_bid"])
                while True:
                    answered = len(own.of_kind(1, 2))
                    await own.send({"kind": 0, "amount": float(minimum + random.randint(0, 2))})
                    # The answer, or the end of the auction (kind 5, then the server closes the socket).
                    await own.wait_for(lambda _, n=answered: len(own.of_kind(1, 2)) > n or own.closed)
                    if len(own.of_kind(1, 2)) == answered:
                        assert own.of_kind(5), own.messages[-3:]
                        return
                    reply = own.of_kind(1, 2)[answered]
                    if reply["kind"] == 1:
                        acknowledged[reply["bid_id"]] = {
                            "seq": reply["seq"],
                            "amount": amount(reply["amount"]),
                            "by": bidder.id,
                        }
                    elif "minimum" in reply["message"]:
                        refusals.append(reply["message"])
                    else:
                        assert "ended" in reply["message"] or "closed" in reply["message"], reply
                        return
                    bids = own.of_kind(1, 4)
                    if bids:
                        minimum = max(minimum, amount(bids[-1]["minimum_bid"]))
            finally:
                await own.close()

        await asyncio.gather(
            *((socket_bidder if i % 2 == 0 else http_bidder)(i, bidder) for i, bidder in enumerate(bidders))
        )
        for w in watchers:
            await w.wait_kind(5)
        product = (await clients[1].get(f"/api/v1/products/{product_id}")).json()
        rows = await _all_bids(clients[1], product_id)
        assert product["status"] == "closed"
        assert len(acknowledged) >= 20
        assert refusals  # the bidders really competed

        # Every acknowledged bid is in the table, and every row was acknowledged.
        assert {r["id"] for r in rows} == set(acknowledged)
        for w in watchers:
            events = w.events()
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            bids, finish = events[:-1], events[-1]
            assert all(e["kind"] == 4 for e in bids)
            assert [e["bid_id"] for e in bids] == [
                b for b, _ in sorted(acknowledged.items(), key=lambda x: x[1]["seq"])
            ]
            for e in bids:
                assert acknowledged[e["bid_id"]]["seq"] == e["seq"]
            # Accepted amounts in seq order strictly increase, by at least the increment.
            amounts = [amount(e["amount"]) for e in bids]
            assert amounts[0] >= amount(10)
            assert all(b - a >= 1 for a, b in itertools.pairwise(amounts)), list(
                zip(amounts, [e["seq"] for e in bids], strict=True)
            )
            # The finish names the last bid as the winner.
            assert finish["kind"] == 5
            assert finish["winner"] == bids[-1]["bidder"]
            assert amount(finish["amount"]) == amounts[-1]
        # No bid was accepted after the close.
        ends_at = datetime.fromisoformat(product["ends_at"])
        closed_at = datetime.fromisoformat(product["closed_at"])
        assert all(datetime.fromisoformat(r["created_at"]) < ends_at <= closed_at for r in rows)
        assert amount(product["winning_bid"]) == max(amount(r["amount"]) for r in rows)
    finally:
        for client in clients:
            await client.aclose()


async def test_two_processes_close_each_auction_exactly_once(
    two_processes: list[ServerProcess], settings: Settings
) -> None:
    first, second = two_processes
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        seller = await new_user(client)
        bidders = [await new_user(client) for _ in range(3)]
        products = [await create_auction(client, seller, seconds=2.5, baseprice=10) for _ in range(6)]
        for n, product_id in enumerate(products[:5]):  # the last one gets no bid
            for i, bidder in enumerate(bidders[: 1 + n % 3]):
                assert (await http_bid(client, bidder, product_id, 10 + i)).status_code == 201
        watchers: dict[str, list[Watcher]] = {
            p: [await watch(first.ws_url, p, account=seller), await watch(second.ws_url, p)] for p in products
        }
        try:
            for n, product_id in enumerate(products):
                for w in watchers[product_id]:
                    finished = (await w.wait_kind(5))[0]
                    await w.wait_closed()
                    assert len(w.of_kind(5)) == 1
                    if n < 5:
                        # The seller reads the winner's id, an anonymous watcher their number alone.
                        seen_id = bidders[n % 3].id if w is watchers[product_id][0] else None
                        assert (finished["winner_id"], finished["winner"]) == (seen_id, 1 + n % 3)
                        assert amount(finished["amount"]) == amount(10 + n % 3)
                    else:
                        assert finished["winner_id"] is None
                        assert finished["amount"] is None
                    assert finished["status"] == "closed"
        finally:
            for ws in watchers.values():
                for w in ws:
                    await w.close()
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute("SELECT topic, count(*) FROM events WHERE payload->>'kind' = '5' GROUP BY topic")
        counts = dict(await cursor.fetchall())
    assert counts == {f"product:{p}": 1 for p in products}


async def test_an_auction_that_ended_while_stopped_is_closed_at_start_up(settings: Settings) -> None:
    never = with_settings(settings, closer_interval=3600.0)  # only the start-up pass can close it
    async with serve_app(never) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        seller, bidder = await new_user(client), await new_user(client)
        product_id = await create_auction(client, seller, seconds=1.5, baseprice=10)
        assert (await http_bid(client, bidder, product_id, 12)).status_code == 201
        ends_at = datetime.fromisoformat((await client.get(f"/api/v1/products/{product_id}")).json()["ends_at"])
    # The server is stopped; the end passes.
    await eventually(lambda: _now_after(ends_at))
    async with serve_app(never) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        product = (await client.get(f"/api/v1/products/{product_id}", headers=bidder.headers)).json()
        assert product["status"] == "closed"
        assert product["winner_id"] == bidder.id
        assert amount(product["winning_bid"]) == amount(12)
        late = await watch(server.ws_url, product_id)
        await late.wait_closed()
        assert [m["kind"] for m in late.messages] == [6, 5]
        assert (late.messages[1]["winner_id"], late.messages[1]["winner"]) == (None, 1)


async def _now_after(moment: datetime) -> bool:
    return datetime.now(UTC) > moment
