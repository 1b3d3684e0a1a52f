"""Auctions under concurrent bids (docs/rules/auctions.md, "Bidding rules"): a bid is judged and counted on the state it
locked, so the counters and the history agree however the bids interleave."""

from __future__ import annotations

import asyncio
import itertools

import httpx

from tests.auctions_support import amount, create_auction, http_bid
from tests.support import new_user


async def test_concurrent_bids_of_the_same_bidders_count_each_bidder_once(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, user
) -> None:
    product_id = await create_auction(client, user, baseprice=1, min_increment="0.01")
    ana, bruno = await new_user(client), await new_user(client)
    # Each bidder's bids race each other (and the other bidder's): a bid that waited for the product's lock
    # must still see the bids committed while it waited.
    bids = [(ana if n % 2 == 0 else bruno, 1 + n) for n in range(24)]
    responses = await asyncio.gather(
        *(http_bid(client if n % 2 else other_client, who, product_id, value) for n, (who, value) in enumerate(bids))
    )
    accepted = [r.json() for r in responses if r.status_code == 201]
    assert {r.status_code for r in responses} <= {201, 422}
    assert accepted

    # Read as the seller, who reads the bidders' ids (docs/rules/auctions.md, "Bidders' user ids").
    history = (
        await client.get(f"/api/v1/products/{product_id}/bids", params={"limit": 100}, headers=user.headers)
    ).json()["items"]
    product = (await client.get(f"/api/v1/products/{product_id}", headers=user.headers)).json()
    assert product["bid_count"] == len(history) == len(accepted)
    assert product["bidder_count"] == len({b["bidder_id"] for b in history}) == len({b["bidder"] for b in history})
    # Accepted bids are strictly increasing in the order they were announced, and the leader is the last one.
    by_seq = sorted(accepted, key=lambda b: b["seq"])
    assert [b["seq"] for b in by_seq] == list(range(1, len(by_seq) + 1))
    assert all(amount(a["amount"]) < amount(b["amount"]) for a, b in itertools.pairwise(by_seq))
    assert amount(product["current_bid"]) == amount(by_seq[-1]["amount"])
    assert product["current_bidder_id"] == by_seq[-1]["bidder_id"]
    assert product["last_seq"] == by_seq[-1]["seq"]
