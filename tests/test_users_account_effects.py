"""What ending sessions and closing accounts set off (docs/rules/users.md "Account states"): a deactivated account's
bids are withdrawn and the runner-up leads (announced on the auction's socket), its auctions without bids are
cancelled, deletion is refused while the account leads or sells with bids, and every path that ends a user's
sessions (or removes them from a clinic's staff) frees their rooms and puts a called ticket back in the line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from app.config import Settings
from app.maintenance import prune_once
from tests.auctions_support import amount, create_auction, http_bid, watching
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.conftest import admin_login
from tests.support import (
    PASSWORD,
    Account,
    RunningServer,
    SmtpServer,
    assert_envelope,
    code_in,
    cookie_login,
    eventually,
    new_user,
    serve_app,
    with_settings,
)

WITHDRAWN = 8


async def _product(client: httpx.AsyncClient, product_id: str, reader: Account | None = None) -> dict[str, Any]:
    """The product as `reader` reads it (anonymous by default: bidders' ids null but to them and the seller)."""
    response = await client.get(f"/api/v1/products/{product_id}", headers=reader.headers if reader else {})
    assert response.status_code == 200, response.text
    return response.json()


async def _deactivate(client: httpx.AsyncClient, admin: Account, account: Account) -> None:
    response = await client.patch(f"/api/v1/users/{account.id}", json={"active": False}, headers=admin.headers)
    assert response.status_code == 200, response.text


# Deactivation: bids withdrawn, auctions without bids cancelled ----------------------------------------------------


async def test_deactivating_a_bidder_withdraws_its_bids_and_the_runner_up_leads_live(
    server: Any, client: httpx.AsyncClient, admin: Account
) -> None:
    seller, leader, runner_up = await new_user(client), await new_user(client), await new_user(client)
    product = await create_auction(client, seller, baseprice=100, min_increment=5)
    assert (await http_bid(client, runner_up, product, 100)).status_code == 201
    assert (await http_bid(client, leader, product, 120)).status_code == 201
    async with watching(server.ws_url, product) as watcher:
        await watcher.wait_kind(6)
        await _deactivate(client, admin, leader)
        [event] = await watcher.wait_kind(WITHDRAWN, timeout=5)

    assert (event["current_bidder_id"], event["current_bidder"]) == (None, 1)  # anonymous: the runner-up's number
    assert amount(event["current_bid"]) == amount(100)
    assert amount(event["minimum_bid"]) == amount(105)
    assert event["bid_count"] == 1
    assert isinstance(event["seq"], int)
    state = await _product(client, product, seller)
    assert state["current_bidder_id"] == runner_up.id
    assert amount(state["current_bid"]) == amount(100)
    assert (state["bid_count"], state["bidder_count"]) == (1, 1)
    history = (await client.get(f"/api/v1/products/{product}/bids", headers=seller.headers)).json()["items"]
    assert [bid["bidder_id"] for bid in history] == [runner_up.id]
    # The next bid is judged against the runner-up's bid, not the withdrawn one.
    newcomer = await new_user(client)
    assert (await http_bid(client, newcomer, product, 105)).status_code == 201
    assert (await _product(client, product, seller))["current_bidder_id"] == newcomer.id


async def test_deactivating_a_seller_cancels_its_auctions_without_bids_and_keeps_the_others(
    server: Any, client: httpx.AsyncClient, admin: Account
) -> None:
    seller, bidder = await new_user(client), await new_user(client)
    without_bids = await create_auction(client, seller)
    with_bids = await create_auction(client, seller)
    assert (await http_bid(client, bidder, with_bids, 100)).status_code == 201
    async with watching(server.ws_url, without_bids) as watcher:
        await watcher.wait_kind(6)
        await _deactivate(client, admin, seller)
        [finished] = await watcher.wait_kind(5, timeout=5)
    assert finished["status"] == "cancelled"
    assert finished["winner_id"] is None
    assert (await _product(client, without_bids))["status"] == "cancelled"
    kept = await _product(client, with_bids, bidder)
    assert (kept["status"], kept["current_bidder_id"]) == ("open", bidder.id)


# Deletion: refused while leading or selling with bids ----------------------------------------------------------


async def _delete_me(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.request("DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=account.headers)


async def test_deleting_an_account_is_refused_while_it_leads_or_sells_an_auction_with_bids(
    client: httpx.AsyncClient,
) -> None:
    account, seller, rival = await new_user(client), await new_user(client), await new_user(client)
    led = await create_auction(client, seller)
    assert (await http_bid(client, account, led, 100)).status_code == 201
    refused = assert_envelope(await _delete_me(client, account), 409)
    assert "leads" in refused["detail"]
    assert (await client.get("/api/v1/users/me", headers=account.headers)).json()["active"] is True

    assert (await http_bid(client, rival, led, 101)).status_code == 201
    sold = await create_auction(client, account, seconds=2)
    unsold = await create_auction(client, account)
    assert (await http_bid(client, rival, sold, 100)).status_code == 201
    refused = assert_envelope(await _delete_me(client, account), 409)
    assert "sells" in refused["detail"]

    async def sold_closed() -> bool:
        return (await _product(client, sold))["status"] == "closed"

    await eventually(sold_closed, timeout=10)
    deleted = await _delete_me(client, account)
    assert deleted.status_code == 204, deleted.text
    assert (await _product(client, unsold))["status"] == "cancelled"
    # Its outbid bid is withdrawn too: it can never become the leader after the rival's is withdrawn.
    history = (await client.get(f"/api/v1/products/{led}/bids", headers=seller.headers)).json()["items"]
    assert [bid["bidder_id"] for bid in history] == [rival.id]


# Every path that ends a user's sessions frees the desk -------------------------------------------------------


@pytest.fixture
async def mail_client(settings: Settings, smtp: SmtpServer) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as http,
    ):
        yield http, srv.ws_url


Ending = Callable[[httpx.AsyncClient, SmtpServer, Account, Account, int], Awaitable[None]]


async def _logout(client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int) -> None:
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as browser:
        csrf = await cookie_login(browser, member)
        # Logging in again in the same browser replaces its session without leaving the desk.
        csrf = await cookie_login(browser, member)
        rooms = (await client.get(api(cid, "/rooms"), headers=admin.headers)).json()["items"]
        assert [room["occupied_by"] for room in rooms] == [member.id]
        # Logging out frees the room even while the member's bearer token lives (docs/rules/clinic.md).
        response = await browser.post("/api/v1/users/logout", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 200, response.text


async def _revoke(client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int) -> None:
    assert (await client.delete("/api/v1/auth/token", headers=member.headers)).status_code == 204


async def _change_password(
    client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int
) -> None:
    response = await client.patch(
        f"/api/v1/users/{member.id}",
        json={"password": "a brand new password", "current_password": member.password},
        headers=member.headers,
    )
    assert response.status_code == 200, response.text


async def _reset_password(
    client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int
) -> None:
    assert (await client.post("/api/v1/auth/password-reset", json={"email": member.email})).status_code == 202
    # The member's inbox also holds the "added to the staff" notice, which may arrive after the code.
    messages = await smtp.wait_for(member.email, count=2)
    code = code_in(next(m for m in messages if "reset" in m["Subject"]))
    response = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"email": member.email, "code": code, "new_password": "a brand new password"},
    )
    assert response.status_code == 200, response.text


async def _deactivation(client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int) -> None:
    await _deactivate(client, admin, member)


async def _deletion(client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int) -> None:
    assert (await _delete_me(client, member)).status_code == 204


async def _staff_removal(
    client: httpx.AsyncClient, smtp: SmtpServer, member: Account, admin: Account, cid: int
) -> None:
    response = await client.patch(api(cid, f"/staff/{member.id}"), json={"active": False}, headers=admin.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "end",
    [_logout, _revoke, _change_password, _reset_password, _deactivation, _deletion, _staff_removal],
    ids=lambda end: end.__name__.strip("_"),
)
async def test_ending_a_users_sessions_frees_their_room_and_puts_the_called_ticket_back(
    mail_client: tuple[httpx.AsyncClient, str], smtp: SmtpServer, end: Ending
) -> None:
    client, ws_url = mail_client
    admin = await admin_login(client)
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "CG")
    first = await issue(client, cid, service["id"])
    second = await issue(client, cid, service["id"])
    desk = await open_desk(client, admin, cid, "Sala 1")
    called = await call_next(client, cid, desk)
    assert called.json()["code"] == first["code"]

    queue_url = ws_url + api(cid, "/ws/queue")
    async with connect(queue_url, additional_headers=admin.headers) as queue:
        assert json.loads(await asyncio.wait_for(queue.recv(), 5))["type"] == "queue.snapshot"
        await end(client, smtp, desk.account, admin, cid)
        change = json.loads(await asyncio.wait_for(queue.recv(), 5))
    assert change | {"reason": "requeued", "step_id": called.json()["id"]} == change

    rooms = (await client.get(api(cid, "/rooms"), headers=admin.headers)).json()["items"]
    assert [room["occupied_by"] for room in rooms] == [None]
    ticket = (await client.get(api(cid, f"/tickets/{first['public_token']}"))).json()
    assert ticket["status"] == "waiting"
    # Back where it was in the line: still ahead of the ticket issued after it.
    waiting = (await client.get(api(cid, "/queue"), headers=admin.headers)).json()
    assert [step["code"] for step in waiting] == [first["code"], second["code"]]


async def test_sessions_that_expire_free_the_desk_when_pruned(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "CG")
    ticket = await issue(client, cid, service["id"])
    desk = await open_desk(client, admin, cid, "Sala 1")
    assert (await call_next(client, cid, desk)).json()["code"] == ticket["code"]
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("UPDATE sessions SET expires_at = now() WHERE user_id = %s", [desk.account.id])

    await prune_once(server.app)

    rooms = (await client.get(api(cid, "/rooms"), headers=admin.headers)).json()["items"]
    assert [room["occupied_by"] for room in rooms] == [None]
    assert (await client.get(api(cid, f"/tickets/{ticket['public_token']}"))).json()["status"] == "waiting"
