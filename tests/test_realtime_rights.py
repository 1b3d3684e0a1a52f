"""Rights are live (docs/rules/realtime.md, guarantee 7; docs/rules/users.md, "Long-lived connections"): a
socket's rights are its session's rights now. Whatever ends a session (logout, token revocation, deactivation,
deletion) or takes a right away (removal from a clinic's staff) reaches the open sockets of that session or user
on every process, also when the LISTEN connection was lost, and a bid's own transaction never accepts a bid of
a dead session.

Each test prints the delay it measured (`pytest -s`), from the answer of the request that ended the session to
what the client then sees (the refusal of its next bid, or the close of its feed).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from app.config import Settings
from tests.auctions_support import Watcher, create_auction, http_bid, watch
from tests.clinic_support import add_staff, api, create_clinic, create_service, issue
from tests.conftest import admin_login
from tests.support import (
    Account,
    RunningServer,
    ServerProcess,
    cookie_login,
    create_account,
    eventually,
    new_user,
    serve_app,
    start_server_process,
    with_settings,
)

SESSION_ENDED = 4401
RIGHT_LOST = 4403


def _measured(what: str, since: float) -> float:
    delay = time.monotonic() - since
    print(f"\nMEASURED {what}: {delay * 1000:.0f} ms")
    return delay


async def _async(value: object) -> object:
    return value


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _cookie_account(client: httpx.AsyncClient) -> tuple[Account, str]:
    """A browser: logged in with a session cookie; the Account's headers carry that cookie (for its sockets)."""
    account = await create_account(client)
    csrf = await cookie_login(client, account)
    account.token = client.cookies["session"]
    account.headers = {"Cookie": f"session={account.token}"}
    return account, csrf


async def _bid_refused_after(watcher: Watcher, amount: float) -> dict[str, Any]:
    """Bids on the socket; returns the answer, which must be a refusal (kind 2)."""
    answered = len(watcher.of_kind(1, 2))
    await watcher.send({"kind": 0, "amount": amount})
    await watcher.wait_for(lambda _: len(watcher.of_kind(1, 2)) > answered, timeout=5)
    reply = watcher.of_kind(1, 2)[answered]
    assert reply["kind"] == 2, reply
    assert "session has ended" in reply["message"], reply
    return reply


async def _logout(client: httpx.AsyncClient, _: Account, csrf: str) -> None:
    assert (await client.post("/api/v1/users/logout", headers={"X-CSRF-Token": csrf})).status_code == 200


async def _revoke(client: httpx.AsyncClient, account: Account, _: str) -> None:
    assert (await client.delete("/api/v1/auth/token", headers=account.headers)).status_code == 204


async def _deactivate(client: httpx.AsyncClient, account: Account, _: str) -> None:
    admin = await admin_login(client)
    response = await client.patch(f"/api/v1/users/{account.id}", json={"active": False}, headers=admin.headers)
    assert response.status_code == 200, response.text


async def _delete_account(client: httpx.AsyncClient, account: Account, _: str) -> None:
    response = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": account.password}, headers=account.headers
    )
    assert response.status_code == 204, response.text


ENDINGS: dict[str, Callable[[httpx.AsyncClient, Account, str], Awaitable[None]]] = {
    "logout": _logout,
    "token revoked": _revoke,
    "deactivated": _deactivate,
    "deleted": _delete_account,
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_a_socket_can_no_longer_bid_once_its_session_ends(
    server: RunningServer, client: httpx.AsyncClient, user: Account, ending: str
) -> None:
    product_id = await create_auction(client, user, baseprice=10)
    rival = await new_user(client)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        if ending == "logout":
            bidder, csrf = await _cookie_account(browser)
        else:
            bidder, csrf = await new_user(browser), ""
        watcher = await watch(server.ws_url, product_id, account=bidder)
        try:
            await watcher.wait_kind(6)
            await watcher.send({"kind": 0, "amount": 10})
            await watcher.wait_kind(1)
            # Someone else leads, so nothing about the auction stands in the way of ending the account.
            assert (await http_bid(client, rival, product_id, 20)).status_code == 201

            await ENDINGS[ending](browser, bidder, csrf)
            ended = time.monotonic()
            await _bid_refused_after(watcher, 30)
            _measured(f"{ending} -> bid on the open socket refused", ended)
            # The refusal above may come from the bid's own transaction; the socket itself also knows by now.
            rights = server.app.state.rights
            await eventually(lambda: _async(all(str(h.user_id) != bidder.id for h in rights.holders())), timeout=5)
            _measured(f"{ending} -> socket's bidding right withdrawn", ended)
            # The socket stays open as an anonymous watcher: it still receives the auction's events.
            assert (await http_bid(client, rival, product_id, 40)).status_code == 201
            await watcher.wait_for(lambda m: any(x.get("kind") == 4 and x.get("amount") == 40 for x in m), timeout=5)
            assert watcher.closed is None
            product = (await client.get(f"/api/v1/products/{product_id}", headers=rival.headers)).json()
            assert product["current_bidder_id"] == rival.id
            # A closed account's bids leave the auction (docs/security.md, "Account side effects").
            assert product["bid_count"] == (2 if ending in ("deactivated", "deleted") else 3)
        finally:
            await watcher.close()


class QueueFeed:
    """A staff member's /ws/queue socket, read in the background."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    @classmethod
    async def open(cls, base_ws_url: str, clinic_id: int, account: Account) -> QueueFeed:
        ws = await connect(base_ws_url + api(clinic_id, "/ws/queue"), additional_headers=account.headers)
        feed = cls(Watcher(ws))
        await feed.watcher.wait_for(lambda m: m and m[0]["type"] == "queue.snapshot", timeout=5)
        return feed

    def changes(self) -> int:
        return sum(m["type"] == "queue.changed" for m in self.watcher.messages)

    async def closed_with(self, since: float, what: str) -> int:
        closed = await self.watcher.wait_closed(timeout=5)
        _measured(what, since)
        assert closed.code is not None
        return closed.code


async def _staff_clinic(client: httpx.AsyncClient) -> tuple[Account, int, int]:
    admin = await admin_login(client)
    clinic = await create_clinic(client, admin)
    service = await create_service(client, admin, clinic["id"], "RT")
    return admin, clinic["id"], service["id"]


async def test_the_queue_feed_closes_when_its_staff_right_or_session_goes(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    admin, cid, service_id = await _staff_clinic(client)
    removed = await add_staff(client, admin, cid)
    revoked = await add_staff(client, admin, cid)
    removed_feed = await QueueFeed.open(server.ws_url, cid, removed)
    revoked_feed = await QueueFeed.open(server.ws_url, cid, revoked)
    try:
        await issue(client, cid, service_id)
        for feed in (removed_feed, revoked_feed):
            await feed.watcher.wait_for(lambda _, f=feed: f.changes() == 1, timeout=5)

        # Removed from the clinic's staff: the session lives on, the right is gone.
        response = await client.patch(api(cid, f"/staff/{removed.id}"), json={"active": False}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert await removed_feed.closed_with(time.monotonic(), "staff removal -> /ws/queue closed") == RIGHT_LOST

        # The token revoked: the session is over.
        assert (await client.delete("/api/v1/auth/token", headers=revoked.headers)).status_code == 204
        assert await revoked_feed.closed_with(time.monotonic(), "token revoked -> /ws/queue closed") == SESSION_ENDED

        # Neither receives anything more.
        await issue(client, cid, service_id)
        assert removed_feed.changes() == revoked_feed.changes() == 1
    finally:
        await removed_feed.watcher.close()
        await revoked_feed.watcher.close()


async def test_the_queue_feed_of_a_clinic_admin_by_claim_closes_when_the_claim_is_revoked(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """`clinics:manage` makes its holder admin (so staff) of every clinic: losing the claim loses the feed."""
    admin, cid, _ = await _staff_clinic(client)
    manager = await new_user(client)
    claim = f"/api/v1/users/{manager.id}/claims/2"  # clinics:manage
    assert (await client.put(claim, headers=admin.headers)).status_code == 204
    feed = await QueueFeed.open(server.ws_url, cid, manager)
    try:
        assert (await client.delete(claim, headers=admin.headers)).status_code == 204
        assert await feed.closed_with(time.monotonic(), "claim revoked -> /ws/queue closed") == RIGHT_LOST
    finally:
        await feed.watcher.close()


async def test_rights_are_rechecked_without_any_notification(settings: Settings) -> None:
    """The backstop: a session that expires by time (no row deleted, nothing announced) is noticed by the
    periodic re-check."""
    quick = with_settings(settings, rights_recheck_interval=1.0)
    async with serve_app(quick) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        admin, cid, _ = await _staff_clinic(client)
        member = await add_staff(client, admin, cid)
        feed = await QueueFeed.open(server.ws_url, cid, member)
        try:
            async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE sessions SET expires_at = now() WHERE token_hash = %s", (_hash(member.token or ""),)
                )
            expired = time.monotonic()
            assert await feed.closed_with(expired, "session expired (periodic re-check) -> closed") == SESSION_ENDED
        finally:
            await feed.watcher.close()


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


@pytest.mark.slow
async def test_rights_follow_on_every_process_even_without_the_listen_connection(
    two_processes: list[ServerProcess], settings: Settings
) -> None:
    first, second = two_processes
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=30) as one,
        httpx.AsyncClient(base_url=first.url, timeout=30) as browser,
    ):
        admin, cid, _ = await _staff_clinic(one)
        seller = await new_user(one)
        product_id = await create_auction(one, seller, baseprice=10)
        # A browser logged in with a cookie on the first process, its sockets on the second.
        member, csrf = await _cookie_account(browser)
        invited = await one.post(
            api(cid, "/staff/invitations"), json={"email": member.email, "service_ids": []}, headers=admin.headers
        )
        assert invited.status_code == 201, invited.text
        queue = await QueueFeed.open(second.ws_url, cid, member)
        auction = await watch(second.ws_url, product_id, account=member)
        try:
            await auction.wait_kind(6)
            await _logout(browser, member, csrf)
            ended = time.monotonic()
            assert await queue.closed_with(ended, "logout on process A -> /ws/queue on B closed") == SESSION_ENDED
            await _bid_refused_after(auction, 10)
            _measured("logout on process A -> bid on B refused", ended)
        finally:
            await queue.watcher.close()
            await auction.close()

        # The LISTEN connections die, and the token is revoked while nobody listens: the second process learns it
        # when it is back (it re-checks every socket after reconnecting), not from the lost notification.
        staff = await add_staff(one, admin, cid)
        queue = await QueueFeed.open(second.ws_url, cid, staff)
        try:
            async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
                cursor = await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'marketplace-listen' AND datname = current_database()"
                )
                assert len(await cursor.fetchall()) == 2  # one per process
                await conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_hash(staff.token or ""),))
            revoked = time.monotonic()
            assert await queue.closed_with(revoked, "revoked while LISTEN was down -> closed") == SESSION_ENDED
        finally:
            await queue.watcher.close()


async def test_an_http_bid_whose_session_ends_during_it_is_refused(
    server: RunningServer, client: httpx.AsyncClient, user: Account, settings: Settings
) -> None:
    """The bid's own transaction checks the session: deleted (in SQL, so no notification helps) after the
    request was authenticated but before the bid commits, the bid is refused."""
    product_id = await create_auction(client, user, baseprice=10)
    bidder = await new_user(client)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("SELECT 1 FROM sessions WHERE token_hash = %s FOR UPDATE", (_hash(bidder.token or ""),))
        bid = asyncio.create_task(http_bid(client, bidder, product_id, 10))

        async def bid_waits_or_is_done() -> bool:
            if bid.done():
                return True
            async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as probe:
                cursor = await probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                row = await cursor.fetchone()
                return bool(row and row[0])

        await eventually(bid_waits_or_is_done, timeout=5)
        await conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_hash(bidder.token or ""),))
        await conn.commit()
    response = await bid
    assert response.status_code == 401, response.text
    assert "session" in response.json()["detail"]
    product = (await client.get(f"/api/v1/products/{product_id}")).json()
    assert product["bid_count"] == 0
