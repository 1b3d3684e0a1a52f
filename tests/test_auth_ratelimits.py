"""Rate limits (docs/rules/users.md): 429 with Retry-After, counted in PostgreSQL so that every server process shares
them; login and token per client and per (account, client) pair, counting only failures, every other password
check too; anonymous creation and password reset per client (an IPv4 address or an IPv6 /64); RATE_LIMITS=off
turns them off.

Counters use fixed windows aligned to the clock (app/web/ratelimit.py). A burst that straddled a window boundary
would be split over two windows, so each test first makes sure enough of the current window is left.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from app.auth.principal import SESSION_COOKIE
from app.config import Settings
from app.web.client import client_bucket
from app.web.device import DEVICE_COOKIE
from app.web.ratelimit import ANONYMOUS_CREATE, LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS, PASSWORD_RESET, Rule
from tests.cashback_upstream import mask, new_reseller
from tests.support import (
    PASSWORD,
    assert_envelope,
    create_account,
    new_user,
    serve_app,
    start_server_process,
    unique_email,
    with_settings,
)

LOGIN = "/api/v1/users/loginuser"
TOKEN = "/api/v1/auth/token"
RESET = "/api/v1/auth/password-reset"


async def room_in_window(rule: Rule, seconds_needed: float = 20.0) -> None:
    """Waits for the next window when fewer than `seconds_needed` seconds are left in the current one."""
    left = rule.window_seconds - (time.time() % rule.window_seconds)
    if left < seconds_needed:
        await asyncio.sleep(left + 0.2)


def assert_rate_limited(response: httpx.Response, rule: Rule) -> None:
    assert_envelope(response, 429)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= rule.window_seconds


def limited(settings: Settings, **changes: object) -> Settings:
    return with_settings(settings, rate_limits=True, **changes)


async def test_login_is_limited_per_client_address(settings: Settings) -> None:
    async with serve_app(limited(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await create_account(http)
        await room_in_window(LOGIN_PER_ADDRESS)
        # Distinct (unknown) e-mails, so only the per-address counter can trip.
        for _ in range(LOGIN_PER_ADDRESS.limit):
            response = await http.post(
                "/api/v1/users/loginuser", json={"email": unique_email(), "password": "wrong pw!"}
            )
            assert_envelope(response, 401)
        # Over the limit even with the right password, and on the token endpoint too (one budget for both).
        blocked = await http.post("/api/v1/users/loginuser", json={"email": account.email, "password": PASSWORD})
        assert_rate_limited(blocked, LOGIN_PER_ADDRESS)
        token = await http.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
        assert_rate_limited(token, LOGIN_PER_ADDRESS)


def via(address: str) -> dict[str, str]:
    """The request as the trusted proxy (127.0.0.1 in these tests) forwards it for `address`."""
    return {"X-Forwarded-For": address}


def trusting_the_proxy(settings: Settings) -> Settings:
    return limited(settings, trusted_proxies=("127.0.0.1",))


async def test_failed_guesses_never_lock_the_owner_out(settings: Settings) -> None:
    async with serve_app(trusting_the_proxy(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        victim = await create_account(http)
        wrong = {"email": victim.email, "password": "guessing password"}
        right = {"email": victim.email, "password": PASSWORD}
        await room_in_window(LOGIN_PER_ACCOUNT)
        # One client uses up its budget for the account; twenty more (spoofed) addresses fail once each.
        for _ in range(LOGIN_PER_ACCOUNT.limit):
            assert_envelope(await http.post(TOKEN, json=wrong, headers=via("203.0.113.1")), 401)
        for i in range(20):
            assert_envelope(await http.post(TOKEN, json=wrong, headers=via(f"198.51.100.{i + 1}")), 401)
        # The failing pair is refused, even with the right password...
        assert_rate_limited(await http.post(TOKEN, json=wrong, headers=via("203.0.113.1")), LOGIN_PER_ACCOUNT)
        assert_rate_limited(await http.post(LOGIN, json=right, headers=via("203.0.113.1")), LOGIN_PER_ACCOUNT)
        # ...while the owner, from a client that has not been failing, logs in; with the token endpoint too.
        owner = await http.post(LOGIN, json=right, headers=via("192.0.2.10"))
        assert owner.status_code == 200, owner.text
        http.cookies.clear()  # an API client, no cookies
        assert (await http.post(TOKEN, json=right, headers=via("192.0.2.11"))).status_code == 200


async def test_a_device_cookie_has_its_own_budget(settings: Settings) -> None:
    """The owner's browser and the attacker share one address (a NAT); the browser's device cookie, set at its
    last successful login, gives it a budget of its own for that account."""
    shared = via("203.0.113.50")
    async with (
        serve_app(trusting_the_proxy(settings)) as srv,
        httpx.AsyncClient(base_url=srv.url) as browser,
        httpx.AsyncClient(base_url=srv.url) as attacker,
    ):
        owner = await create_account(browser)
        right = {"email": owner.email, "password": PASSWORD}
        await room_in_window(LOGIN_PER_ACCOUNT)
        first = await browser.post(LOGIN, json=right, headers=shared)
        assert first.status_code == 200, first.text
        assert DEVICE_COOKIE in first.cookies
        for _ in range(LOGIN_PER_ACCOUNT.limit):
            wrong = {"email": owner.email, "password": "guessing password"}
            assert_envelope(await attacker.post(LOGIN, json=wrong, headers=shared), 401)
        assert_rate_limited(await attacker.post(LOGIN, json=right, headers=shared), LOGIN_PER_ACCOUNT)
        csrf = (await browser.get("/api/v1/csrftoken")).json()["csrf_token"]
        again = await browser.post(LOGIN, json=right, headers=shared | {"X-CSRF-Token": csrf})
        assert again.status_code == 200, again.text
        # The cookie names its account: it buys nothing against another one.
        stranger = await create_account(attacker)
        browser.cookies.delete(SESSION_COOKIE)
        for _ in range(LOGIN_PER_ACCOUNT.limit):
            guess = {"email": stranger.email, "password": "guessing password"}
            assert_envelope(await browser.post(LOGIN, json=guess, headers=shared), 401)
        other = {"email": stranger.email, "password": PASSWORD}
        assert_rate_limited(await browser.post(LOGIN, json=other, headers=shared), LOGIN_PER_ACCOUNT)


async def test_one_account_is_one_bucket_however_it_is_spelled(settings: Settings) -> None:
    async with serve_app(limited(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        reseller = await new_reseller(http, email=unique_email("izabel"))
        unknown = unique_email("izidora")
        await room_in_window(LOGIN_PER_ACCOUNT)
        for login, password in ((reseller.email, PASSWORD), (unknown, "anything at all")):
            spellings = [
                login.upper(),
                login.replace("i", "\u0130"),  # İ: PostgreSQL's lower() makes it i
                f" {login.title()}",
            ]
            if login == reseller.email:
                spellings += [reseller.cpf, mask(reseller.cpf)]
            for i in range(LOGIN_PER_ACCOUNT.limit):
                guess = {"email": spellings[i % len(spellings)], "password": "guessing password"}
                assert_envelope(await http.post(TOKEN, json=guess), 401)
            # One bucket: the next try, in yet another spelling and with the right password, is refused.
            last = await http.post(TOKEN, json={"email": login, "password": password})
            assert_rate_limited(last, LOGIN_PER_ACCOUNT)


async def test_every_password_check_is_limited(settings: Settings) -> None:
    async with serve_app(trusting_the_proxy(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        changer = await new_user(http)
        deleter = await new_user(http)
        await room_in_window(LOGIN_PER_ACCOUNT)
        # Two clients, so that neither draws on the other's per-client budget.
        changer.headers |= via("203.0.113.1")
        deleter.headers |= via("203.0.113.2")
        change = {"password": "a brand new password", "current_password": "guessing password"}
        changes = [
            await http.patch(f"/api/v1/users/{changer.id}", json=change, headers=changer.headers) for _ in range(35)
        ]
        deletions = [
            await http.request("DELETE", "/api/v1/users/me", json={"password": "guess"}, headers=deleter.headers)
            for _ in range(35)
        ]
        for responses, wrong in ((changes, 400), (deletions, 403)):
            statuses = [r.status_code for r in responses]
            assert statuses == [wrong] * LOGIN_PER_ACCOUNT.limit + [429] * (35 - LOGIN_PER_ACCOUNT.limit), statuses
            assert_rate_limited(responses[-1], LOGIN_PER_ACCOUNT)
        # The failing pair stays refused with the right password; the account itself is untouched.
        right = {"password": "a brand new password", "current_password": PASSWORD}
        assert_rate_limited(
            await http.patch(f"/api/v1/users/{changer.id}", json=right, headers=changer.headers), LOGIN_PER_ACCOUNT
        )
        assert (await http.get("/api/v1/users/me", headers=deleter.headers)).status_code == 200


async def test_client_buckets_are_ipv4_addresses_and_ipv6_slash_64s(settings: Settings) -> None:
    async with serve_app(trusting_the_proxy(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:

        async def reset(address: str) -> httpx.Response:
            return await http.post(RESET, json={"email": unique_email()}, headers=via(address))

        for i in range(PASSWORD_RESET.limit):
            assert (await reset(f"2001:db8:1:2::{i + 1:x}")).status_code == 202
        # Another address of the same /64 is the same client; the next /64 is another one.
        assert_rate_limited(await reset("2001:db8:1:2:ffff:ffff:ffff:fffe"), PASSWORD_RESET)
        assert (await reset("2001:db8:1:3::1")).status_code == 202
        # An IPv4-mapped IPv6 address is its IPv4 address.
        for _ in range(PASSWORD_RESET.limit):
            assert (await reset("203.0.113.9")).status_code == 202
        assert_rate_limited(await reset("::ffff:203.0.113.9"), PASSWORD_RESET)
        assert (await reset("203.0.113.10")).status_code == 202


def test_client_bucket_prefix_lengths_are_settings(settings: Settings) -> None:
    wide = with_settings(settings, ipv4_bucket_prefix=24, ipv6_bucket_prefix=48)
    assert client_bucket("2001:db8:1:2::1", settings) == client_bucket("2001:db8:1:2:8000::1", settings)
    assert client_bucket("2001:db8:1:2::1", settings) != client_bucket("2001:db8:1:3::1", settings)
    assert client_bucket("2001:db8:1:2::1", wide) == client_bucket("2001:db8:1:ff::1", wide)
    assert client_bucket("203.0.113.9", settings) != client_bucket("203.0.113.10", settings)
    assert client_bucket("203.0.113.9", wide) == client_bucket("::ffff:203.0.113.200", wide)
    assert client_bucket("unknown", settings) == "unknown"


@pytest.mark.slow
async def test_limits_are_shared_by_two_server_processes(settings: Settings, tmp_path: Path) -> None:
    shared = limited(settings)
    first = await start_server_process(shared, tmp_path, name="first")
    second = await start_server_process(shared, tmp_path, name="second")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await room_in_window(LOGIN_PER_ADDRESS)
            statuses = []
            for i in range(LOGIN_PER_ADDRESS.limit + 1):
                target = (first, second)[i % 2]
                response = await http.post(
                    target.url + "/api/v1/users/loginuser", json={"email": unique_email(), "password": "wrong pw!"}
                )
                statuses.append(response.status_code)
            # Counted per process, each would still be far below the limit; shared, the 31st hit is refused.
            assert statuses[:-1] == [401] * LOGIN_PER_ADDRESS.limit
            assert statuses[-1] == 429
            assert_rate_limited(response, LOGIN_PER_ADDRESS)
            again = await http.post(first.url + "/api/v1/auth/token", json={"email": unique_email(), "password": "x"})
            assert_rate_limited(again, LOGIN_PER_ADDRESS)
    finally:
        first.stop()
        second.stop()


async def test_anonymous_signup_is_limited_per_address(settings: Settings) -> None:
    async with serve_app(limited(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        await room_in_window(ANONYMOUS_CREATE, seconds_needed=30)
        for i in range(ANONYMOUS_CREATE.limit):
            path = "/api/v1/users" if i % 2 else "/api/v1/users/signupuser"
            body = {"email": unique_email(), "password": PASSWORD}
            if not i % 2:
                body["user_name"] = "Limited"
            response = await http.post(path, json=body)
            assert response.status_code == 201, response.text
        blocked = await http.post(
            "/api/v1/users/signupuser", json={"user_name": "One more", "email": unique_email(), "password": PASSWORD}
        )
        assert_rate_limited(blocked, ANONYMOUS_CREATE)


async def test_password_reset_is_limited_per_address(settings: Settings) -> None:
    async with serve_app(limited(settings)) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        for _ in range(PASSWORD_RESET.limit):
            response = await http.post("/api/v1/auth/password-reset", json={"email": unique_email()})
            assert response.status_code == 202, response.text
        blocked = await http.post("/api/v1/auth/password-reset", json={"email": unique_email()})
        assert_rate_limited(blocked, PASSWORD_RESET)


async def test_rate_limits_off_never_refuses(client: httpx.AsyncClient, settings: Settings) -> None:
    assert settings.rate_limits is False  # the test environment sets RATE_LIMITS=off
    account = await create_account(client)
    for _ in range(LOGIN_PER_ADDRESS.limit + 5):
        response = await client.post("/api/v1/auth/token", json={"email": account.email, "password": "wrong pw!"})
        assert_envelope(response, 401)
    for _ in range(PASSWORD_RESET.limit + 2):
        assert (await client.post("/api/v1/auth/password-reset", json={"email": unique_email()})).status_code == 202
    assert (
        await client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    ).status_code == 200
