"""Rate limits (docs/rules/users.md): 429 with Retry-After, counted in PostgreSQL so that every server process shares
them; login and token per client address and per account; anonymous creation and password reset per address;
RATE_LIMITS=off turns them off.

Counters use fixed windows aligned to the clock (app/web/ratelimit.py). A burst that straddled a window boundary
would be split over two windows, so each test first makes sure enough of the current window is left.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.web.ratelimit import ANONYMOUS_CREATE, LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS, PASSWORD_RESET, Rule
from tests.support import (
    PASSWORD,
    assert_envelope,
    create_account,
    serve_app,
    start_server_process,
    unique_email,
    with_settings,
)


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


async def test_login_is_limited_per_account_whatever_the_address(settings: Settings) -> None:
    # Behind a trusted proxy each request may come from another client address (X-Forwarded-For).
    async with (
        serve_app(limited(settings, trusted_proxies=("127.0.0.1",))) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        victim = await create_account(http)
        bystander = await create_account(http)
        await room_in_window(LOGIN_PER_ACCOUNT)
        for i in range(LOGIN_PER_ACCOUNT.limit):
            response = await http.post(
                "/api/v1/auth/token",
                json={"email": victim.email.upper() if i % 2 else victim.email, "password": "guessing password"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            )
            assert_envelope(response, 401)
        blocked = await http.post(
            "/api/v1/users/loginuser",
            json={"email": victim.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.77"},
        )
        assert_rate_limited(blocked, LOGIN_PER_ACCOUNT)
        # Another account is not affected.
        other = await http.post(
            "/api/v1/auth/token",
            json={"email": bystander.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.78"},
        )
        assert other.status_code == 200, other.text


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
