"""Auctions over HTTP (docs/rules/auctions.md, "HTTP" and "Bidding rules"): creating, listing, bidding, cancelling."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from tests.auctions_support import amount, create_auction, http_bid, in_seconds
from tests.support import assert_envelope, error_keys, eventually, new_user


async def test_create_returns_201_with_id_and_product_id(client: httpx.AsyncClient, user) -> None:
    body = {
        "product_name": "Violão",
        "description": "Violão acústico com capa.",
        "baseprice": 320.5,
        "auction_end": in_seconds(60),
    }
    for path in ("/api/v1/products/", "/api/v1/products"):
        response = await client.post(path, json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"] == created["product_id"]
        assert response.headers["location"] == f"/api/v1/products/{created['id']}"
    product = (await client.get(f"/api/v1/products/{created['id']}")).json()
    assert product["status"] == "open"
    assert product["seller_id"] == user.id
    assert amount(product["baseprice"]) == amount("320.50")
    assert amount(product["min_increment"]) == amount("0.01")
    assert product["current_bid"] is None
    assert amount(product["current_price"]) == amount("320.50")
    assert amount(product["minimum_bid"]) == amount("320.50")
    assert product["winner_id"] is None
    assert product["bid_count"] == 0


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient, user) -> None:
    response = await client.post(
        "/api/v1/products/",
        json={
            "product_name": "",
            "description": "short",
            "baseprice": 0,
            "auction_end": "2030-01-01T12:00:00",
            "min_increment": 1.001,
            "extend_seconds": "30",
            "seller_id": "someone",
        },
        headers=user.headers,
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {
        "product_name",
        "description",
        "baseprice",
        "auction_end",
        "min_increment",
        "extend_seconds",
        "seller_id",
    }


async def test_auction_end_must_leave_the_minimum_duration(client: httpx.AsyncClient, user) -> None:
    # The test settings ask for at least 1 second.
    response = await client.post(
        "/api/v1/products/",
        json={
            "product_name": "Violão",
            "description": "Violão acústico com capa.",
            "baseprice": 10,
            "auction_end": in_seconds(-5),
        },
        headers=user.headers,
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"auction_end"}


async def test_creating_needs_login(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/products/",
        json={"product_name": "x", "description": "0123456789", "baseprice": 1, "auction_end": in_seconds(60)},
    )
    assert_envelope(response, 401)


async def test_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_envelope(await client.get(f"/api/v1/products/{unknown}"), 404)
    assert_envelope(await client.get(f"/api/v1/products/{unknown}/bids"), 404)


async def test_list_filters_by_status_and_pages_with_a_cursor(client: httpx.AsyncClient, user) -> None:
    ids = [await create_auction(client, user, name=f"Item {i}") for i in range(3)]
    cancelled = await create_auction(client, user, name="Withdrawn")
    assert (await client.delete(f"/api/v1/products/{cancelled}", headers=user.headers)).status_code == 204
    first = (await client.get("/api/v1/products", params={"status": "open", "limit": 2})).json()
    assert [p["id"] for p in first["items"]] == ids[::-1][:2]
    assert first["next_cursor"]
    second = (
        await client.get("/api/v1/products", params={"status": "open", "limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [p["id"] for p in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    item = first["items"][0]
    assert {"current_price", "bidder_count", "ends_at", "status"} <= set(item)
    only_cancelled = (await client.get("/api/v1/products", params={"status": "cancelled"})).json()
    assert [p["id"] for p in only_cancelled["items"]] == [cancelled]
    assert_envelope(await client.get("/api/v1/products", params={"status": "sold"}), 400)
    assert_envelope(await client.get("/api/v1/products", params={"cursor": "garbage!"}), 400)


async def test_bids_follow_the_minimum_and_the_history_is_newest_first(client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, baseprice=100, min_increment=5)
    ana, bruno = await new_user(client), await new_user(client)

    too_low = await http_bid(client, ana, product_id, 99.99)
    body = assert_envelope(too_low, 422)
    assert "100.00" in body["detail"]

    first = await http_bid(client, ana, product_id, 100)  # the first bid may equal the base price
    assert first.status_code == 201, first.text
    placed = first.json()
    assert placed["seq"] == 1
    assert placed["bidder_id"] == ana.id
    assert amount(placed["amount"]) == amount(100)

    below_increment = await http_bid(client, bruno, product_id, 104.99)
    assert "105.00" in assert_envelope(below_increment, 422)["detail"]
    second = await http_bid(client, bruno, product_id, 105)
    assert second.status_code == 201, second.text
    assert second.json()["seq"] == 2
    third = await http_bid(client, ana, product_id, 120.5)
    assert third.status_code == 201, third.text

    product = (await client.get(f"/api/v1/products/{product_id}", headers=ana.headers)).json()
    assert amount(product["current_bid"]) == amount("120.50")
    assert (product["current_bidder_id"], product["current_bidder"]) == (ana.id, 1)
    assert product["bid_count"] == 3
    assert product["bidder_count"] == 2
    assert amount(product["minimum_bid"]) == amount("125.50")
    assert product["last_seq"] == 3

    page = (await client.get(f"/api/v1/products/{product_id}/bids", params={"limit": 2})).json()
    assert [amount(b["amount"]) for b in page["items"]] == [amount("120.50"), amount(105)]
    rest = (
        await client.get(f"/api/v1/products/{product_id}/bids", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [amount(b["amount"]) for b in rest["items"]] == [amount(100)]
    assert rest["next_cursor"] is None


async def test_bid_refusals(client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    bidder = await new_user(client)
    own = await http_bid(client, user, product_id, 50)
    assert "own auction" in assert_envelope(own, 422)["detail"]
    anonymous = await client.post(f"/api/v1/products/{product_id}/bids", json={"amount": 50})
    assert_envelope(anonymous, 401)
    three_decimals = await http_bid(client, bidder, product_id, "10.001")
    assert_envelope(three_decimals, 400)
    as_string = await client.post(f"/api/v1/products/{product_id}/bids", json={"amount": "50"}, headers=bidder.headers)
    assert error_keys(as_string) == {"amount"}
    unknown = await http_bid(client, bidder, "00000000-0000-4000-8000-000000000000", 50)
    assert_envelope(unknown, 404)


async def test_bid_on_a_closed_auction_is_409(client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, seconds=1.5, baseprice=10)
    bidder = await new_user(client)
    assert (await http_bid(client, bidder, product_id, 10)).status_code == 201

    async def closed() -> bool:
        return (await client.get(f"/api/v1/products/{product_id}")).json()["status"] == "closed"

    await eventually(closed)
    late = await http_bid(client, bidder, product_id, 50)
    body = assert_envelope(late, 409)
    assert body["extra"] == [{"key": "status", "message": "closed"}]
    product = (await client.get(f"/api/v1/products/{product_id}", headers=user.headers)).json()  # the seller
    assert product["winner_id"] == bidder.id
    assert amount(product["winning_bid"]) == amount(10)
    assert product["bid_count"] == 1


async def test_idempotency_key_replays_the_first_bid(client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    bidder = await new_user(client)
    headers = bidder.headers | {"Idempotency-Key": "bid-1"}
    url = f"/api/v1/products/{product_id}/bids"
    first, retry = await asyncio.gather(
        client.post(url, json={"amount": 10}, headers=headers),
        client.post(url, json={"amount": 10}, headers=headers),
    )
    statuses = sorted([first.status_code, retry.status_code])
    assert statuses in ([201, 201], [201, 409]), (first.text, retry.text)
    again = await client.post(url, json={"amount": 10}, headers=headers)
    assert again.status_code == 201
    assert again.json()["id"] == (first if first.status_code == 201 else retry).json()["id"]
    other_body = await client.post(url, json={"amount": 11}, headers=headers)
    assert_envelope(other_body, 409)
    bids = (await client.get(f"/api/v1/products/{product_id}/bids")).json()["items"]
    assert len(bids) == 1


async def test_seller_cancels_before_the_first_bid_only(client: httpx.AsyncClient, user) -> None:
    other = await new_user(client)
    product_id = await create_auction(client, user, baseprice=10)
    assert_envelope(await client.delete(f"/api/v1/products/{product_id}", headers=other.headers), 403)
    assert_envelope(await client.delete(f"/api/v1/products/{product_id}"), 401)
    response = await client.delete(f"/api/v1/products/{product_id}", headers=user.headers)
    assert response.status_code == 204, response.text
    product = (await client.get(f"/api/v1/products/{product_id}")).json()
    assert product["status"] == "cancelled"
    assert product["winner_id"] is None
    assert product["last_seq"] == 1  # announced as an event
    again = await client.delete(f"/api/v1/products/{product_id}", headers=user.headers)
    assert assert_envelope(again, 409)["extra"] == [{"key": "status", "message": "cancelled"}]
    assert_envelope(await http_bid(client, other, product_id, 10), 409)

    with_bid = await create_auction(client, user, baseprice=10)
    assert (await http_bid(client, other, with_bid, 10)).status_code == 201
    refused = await client.delete(f"/api/v1/products/{with_bid}", headers=user.headers)
    assert "bids" in assert_envelope(refused, 409)["detail"]
    assert (await client.get(f"/api/v1/products/{with_bid}")).json()["status"] == "open"


async def test_times_are_rfc3339_with_offset(client: httpx.AsyncClient, user) -> None:
    product_id = await create_auction(client, user)
    product = (await client.get(f"/api/v1/products/{product_id}")).json()
    assert datetime.fromisoformat(product["ends_at"]).tzinfo is not None


async def test_demo_data_is_idempotent(settings) -> None:
    import psycopg

    from app.auctions.area import area
    from app.security import Passwords

    passwords = Passwords(settings)
    try:
        assert area.seed_demo is not None
        for _ in range(2):
            async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
                await area.seed_demo(conn, passwords)
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            products = await (await conn.execute("SELECT count(*), sum(bid_count) FROM products")).fetchone()
            events = await (await conn.execute("SELECT count(*) FROM events WHERE topic LIKE 'product:%'")).fetchone()
    finally:
        passwords.close()
    assert products == (3, 4)
    assert events == (4,)
