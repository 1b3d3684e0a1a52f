"""A bidder's user id reaches only that bidder and the product's seller (docs/rules/auctions.md, "Bidders' user
ids"; docs/security.md, threat model 7): anonymous watchers and other users read the id fields as null beside
the bidder's number in the auction, on the socket (kinds 1, 4, 5, 6 and the replay after `?since=`) and in the
REST reads (one product, the product list, the bid history, a placed bid)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auctions_support import create_auction, http_bid, watch, watching
from tests.support import Account, RunningServer, eventually, new_user


def _ids(message: dict[str, Any], *fields: str) -> list[Any]:
    return [message[field] for field in fields]


async def test_only_the_bidder_and_the_seller_read_the_bidders_id_on_the_socket(
    server: RunningServer, client: httpx.AsyncClient, user: Account
) -> None:
    seller, bidder, other = user, await new_user(client), await new_user(client)
    product_id = await create_auction(client, seller, seconds=6, baseprice=10)
    async with (
        watching(server.ws_url, product_id, account=bidder) as tab1,
        watching(server.ws_url, product_id, account=bidder) as tab2,
        watching(server.ws_url, product_id, account=seller) as owner,
        watching(server.ws_url, product_id, account=other) as rival,
        watching(server.ws_url, product_id) as anonymous,
    ):
        for socket in (tab1, tab2, owner, rival, anonymous):
            await socket.wait_kind(6)
        await tab1.send({"kind": 0, "amount": 12})
        [ack] = await tab1.wait_kind(1)
        assert (ack["user_id"], ack["bidder"]) == (bidder.id, 1)
        for socket, expected in ((tab2, bidder.id), (owner, bidder.id), (rival, None), (anonymous, None)):
            [new_bid] = await socket.wait_kind(4)
            assert (new_bid["user_id"], new_bid["bidder"]) == (expected, 1)

        # A socket opened now gets the leader in its snapshot, named the same way.
        for account, expected in ((bidder, bidder.id), (seller, bidder.id), (other, None), (None, None)):
            async with watching(server.ws_url, product_id, account=account) as late:
                [snapshot] = await late.wait_kind(6)
                assert _ids(snapshot, "user_id", "current_bidder_id") == [expected, expected]
                assert snapshot["current_bidder"] == 1

        for socket, expected in ((tab1, bidder.id), (tab2, bidder.id), (owner, bidder.id), (rival, None)):
            [finished] = await socket.wait_kind(5, timeout=20)
            assert (finished["status"], finished["winner_id"], finished["winner"]) == ("closed", expected, 1)
        [finished] = await anonymous.wait_kind(5)
        assert (finished["winner_id"], finished["winner"]) == (None, 1)

    # After the end: the final snapshot and kind 5, and the replay from the start, follow the same rule.
    for account, expected in ((bidder, bidder.id), (seller, bidder.id), (other, None), (None, None)):
        final = await watch(server.ws_url, product_id, account=account)
        replay = await watch(server.ws_url, product_id, account=account, since=0)
        await final.wait_closed()
        await replay.wait_closed()
        snapshot, finished = final.messages
        assert _ids(snapshot, "user_id", "current_bidder_id", "winner_id") == [expected] * 3
        assert (snapshot["current_bidder"], snapshot["winner"]) == (1, 1)
        assert (finished["kind"], finished["winner_id"], finished["winner"]) == (5, expected, 1)
        assert [(m["kind"], m.get("user_id", m.get("winner_id"))) for m in replay.messages] == [
            (4, expected),
            (5, expected),
        ]
        await final.close()
        await replay.close()


async def test_only_the_bidder_and_the_seller_read_the_bidders_id_over_http(
    client: httpx.AsyncClient, user: Account
) -> None:
    seller, bidder, other = user, await new_user(client), await new_user(client)
    product_id = await create_auction(client, seller, seconds=4, baseprice=10)
    placed = await http_bid(client, bidder, product_id, 10)
    assert placed.status_code == 201
    assert (placed.json()["bidder_id"], placed.json()["bidder"]) == (bidder.id, 1)

    async def reads(headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        product = (await client.get(f"/api/v1/products/{product_id}", headers=headers)).json()
        listed = (await client.get("/api/v1/products", headers=headers)).json()["items"]
        [bid] = (await client.get(f"/api/v1/products/{product_id}/bids", headers=headers)).json()["items"]
        [summary] = [p for p in listed if p["id"] == product_id]
        return product, summary, bid

    readers = ((bidder.headers, bidder.id), (seller.headers, bidder.id), (other.headers, None), ({}, None))
    for headers, expected in readers:
        product, summary, bid = await reads(headers)
        assert (product["current_bidder_id"], product["current_bidder"]) == (expected, 1)
        assert summary["current_bidder_id"] == expected
        assert (bid["bidder_id"], bid["bidder"]) == (expected, 1)

    async def closed() -> bool:
        return (await client.get(f"/api/v1/products/{product_id}")).json()["status"] == "closed"

    await eventually(closed, timeout=20)
    for headers, expected in readers:
        product, summary, _ = await reads(headers)
        assert (product["winner_id"], product["winner"]) == (expected, 1)
        assert summary["winner_id"] == expected
