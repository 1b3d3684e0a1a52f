"""Login (docs/rules/users.md): Gobid's cookie flow with CSRF, cross-site refusal, session cookies and their expiry,
bearer tokens, revocation on deactivation and password change, tokens stored hashed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from app.config import Settings
from tests.support import (
    PASSWORD,
    Account,
    RunningServer,
    assert_envelope,
    bearer_login,
    cookie_login,
    create_account,
    error_keys,
    eventually,
    new_user,
    serve_app,
    unique_email,
    with_settings,
)

ME = "/api/v1/users/me"


def session_cookie_of(response: httpx.Response) -> str | None:
    """The attributes line of the `session` cookie the response sets."""
    for line in response.headers.get_list("set-cookie"):
        if line.startswith("session="):
            return line
    return None


def attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def attribute(set_cookie: str, name: str) -> str | None:
    for part in set_cookie.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value
    return None


async def with_cookie(server: RunningServer, method: str, path: str, session: str, **kwargs: Any) -> httpx.Response:
    """A request that carries exactly the given session cookie (plus any csrftoken cookie passed in kwargs)."""
    headers = dict(kwargs.pop("headers", {}))
    extra_cookies = kwargs.pop("cookies", {})
    headers["Cookie"] = "; ".join([f"session={session}", *[f"{k}={v}" for k, v in extra_cookies.items()]])
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as fresh:
        return await fresh.request(method, path, headers=headers, **kwargs)


# The Gobid flow ----------------------------------------------------------------------------------------------


async def test_gobid_flow_csrftoken_signup_login_protected_call_logout(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    token_response = await client.get("/api/v1/csrftoken")
    assert token_response.status_code == 200
    csrf = token_response.json()["csrf_token"]
    assert client.cookies.get("csrftoken") == csrf
    csrf_header = {"X-CSRF-Token": csrf}

    email = unique_email("gobid")
    signup = await client.post(
        "/api/v1/users/signupuser",
        json={"user_name": "Ana Gobid", "email": email, "password": PASSWORD, "bio": "leiloeira"},
        headers=csrf_header,
    )
    assert signup.status_code == 201, signup.text
    user_id = signup.json()["user_id"]
    assert set(signup.json()) == {"user_id"}

    login = await client.post(
        "/api/v1/users/loginuser", json={"email": email, "password": PASSWORD}, headers=csrf_header
    )
    assert login.status_code == 200, login.text
    assert login.json() == {"message": login.json()["message"], "user_id": user_id}
    first_session = client.cookies.get("session")
    assert first_session

    # Logging in again (with the session cookie, so the CSRF token is required) rotates the session id.
    again = await client.post(
        "/api/v1/users/loginuser", json={"email": email, "password": PASSWORD}, headers=csrf_header
    )
    assert again.status_code == 200, again.text
    session = client.cookies.get("session")
    assert session
    assert session != first_session
    assert_envelope(await with_cookie(server, "GET", ME, first_session), 401)

    # The same CSRF token keeps working after the rotation: it does not depend on the session.
    patched = await client.patch(f"/api/v1/users/{user_id}", json={"bio": "nova bio"}, headers=csrf_header)
    assert patched.status_code == 200, patched.text
    me = await client.get(ME)
    assert me.status_code == 200
    assert me.json()["bio"] == "nova bio"
    assert me.json()["name"] == "Ana Gobid"

    logout = await client.post("/api/v1/users/logout", headers=csrf_header)
    assert logout.status_code == 200, logout.text
    cleared = session_cookie_of(logout)
    assert cleared is not None
    assert attribute(cleared, "max-age") == "0"

    # The session is gone server-side: replaying the old cookie is refused.
    assert_envelope(await with_cookie(server, "GET", ME, session), 401)
    refused = await with_cookie(
        server,
        "PATCH",
        f"/api/v1/users/{user_id}",
        session,
        json={"bio": "depois do logout"},
        headers=csrf_header,
        cookies={"csrftoken": csrf},
    )
    assert_envelope(refused, 401)


async def test_signup_alias_works(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users/signup", json={"user_name": "Alias", "email": unique_email(), "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    assert "user_id" in response.json()


async def test_wrong_password_and_unknown_email_get_the_same_401(client: httpx.AsyncClient, user: Account) -> None:
    for path in ("/api/v1/users/loginuser", "/api/v1/auth/token"):
        wrong = await client.post(path, json={"email": user.email, "password": "wrong password!"})
        unknown = await client.post(path, json={"email": unique_email("nobody"), "password": "wrong password!"})
        assert_envelope(wrong, 401)
        assert wrong.status_code == unknown.status_code
        assert wrong.json() == unknown.json()
        assert session_cookie_of(wrong) is None


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.post("/api/v1/auth/token", json={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_password_spaces_are_kept_at_signup_and_login(client: httpx.AsyncClient) -> None:
    account = await create_account(client, password="  spaced out password  ")
    assert (
        await client.post("/api/v1/auth/token", json={"email": account.email, "password": account.password})
    ).status_code == 200
    trimmed = await client.post("/api/v1/auth/token", json={"email": account.email, "password": "spaced out password"})
    assert_envelope(trimmed, 401)


# CSRF ------------------------------------------------------------------------------------------------------


async def test_cookie_request_needs_the_csrf_token(client: httpx.AsyncClient, server: RunningServer) -> None:
    account = await create_account(client)
    csrf = await cookie_login(client, account)
    path = f"/api/v1/users/{account.id}"

    missing = await client.patch(path, json={"bio": "x"})
    assert "CSRF" in assert_envelope(missing, 403)["detail"]

    other_valid = await other_token(server)
    mismatched = await client.patch(path, json={"bio": "x"}, headers={"X-CSRF-Token": other_valid})
    assert_envelope(mismatched, 403)

    # A token of the right shape signed with another key, sent as both cookie and header (double submit).
    forged = "csrf:" + secrets.token_urlsafe(24)
    forged += "." + hmac.new(b"not-the-server-key", forged.encode(), hashlib.sha256).hexdigest()
    session = client.cookies.get("session")
    assert session
    forged_response = await with_cookie(
        server,
        "PATCH",
        path,
        session,
        json={"bio": "x"},
        headers={"X-CSRF-Token": forged},
        cookies={"csrftoken": forged},
    )
    assert_envelope(forged_response, 403)

    # Non-ASCII garbage in the header is a refusal, not a crash.
    garbage = await with_cookie(
        server,
        "PATCH",
        path,
        session,
        json={"bio": "x"},
        headers={"X-CSRF-Token": "\xe9t\xe9".encode("latin-1")},
        cookies={"csrftoken": csrf},
    )
    assert_envelope(garbage, 403)

    unchanged = await client.get("/api/v1/users/me")
    assert unchanged.json()["bio"] is None
    ok = await client.patch(path, json={"bio": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text


async def other_token(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.url) as fresh:
        return (await fresh.get("/api/v1/csrftoken")).json()["csrf_token"]


async def test_unknown_or_expired_session_cookie_still_needs_the_token(server: RunningServer) -> None:
    # The anonymous sign-up needs no token, but not when a (dead) session cookie rides along.
    body = {"user_name": "Stale", "email": unique_email(), "password": PASSWORD}
    refused = await with_cookie(server, "POST", "/api/v1/users/signupuser", "no-such-session", json=body)
    assert_envelope(refused, 403)
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        assert (await anonymous.post("/api/v1/users/signupuser", json=body)).status_code == 201


async def test_bearer_requests_need_no_csrf_token(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.patch(f"/api/v1/users/{user.id}", json={"name": "Bearer"}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Bearer"


async def test_csrftoken_endpoint_keeps_a_valid_token_and_replaces_a_bad_one(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/v1/csrftoken")).json()["csrf_token"]
    assert (await client.get("/api/v1/csrftoken")).json()["csrf_token"] == first
    client.cookies.clear()
    client.cookies.set("csrftoken", "csrf:made-up.0000")
    replaced = (await client.get("/api/v1/csrftoken")).json()["csrf_token"]
    assert replaced not in (first, "csrf:made-up.0000")


# Cross-site requests -----------------------------------------------------------------------------------------


async def test_foreign_origin_and_cross_site_fetches_are_refused(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    def body() -> dict[str, str]:
        return {"user_name": "Origin", "email": unique_email(), "password": PASSWORD}

    path = "/api/v1/users/signupuser"
    assert_envelope(await client.post(path, json=body(), headers={"Origin": "http://evil.example"}), 403)
    assert_envelope(await client.post(path, json=body(), headers={"Origin": "null"}), 403)
    assert_envelope(await client.post(path, json=body(), headers={"Sec-Fetch-Site": "cross-site"}), 403)
    # Even an API client with a bearer token is refused when a browser says the request is cross-site.
    account = await new_user(client)
    cross = await client.patch(
        f"/api/v1/users/{account.id}", json={"bio": "x"}, headers={**account.headers, "Origin": "https://evil.example"}
    )
    assert_envelope(cross, 403)

    assert (await client.post(path, json=body(), headers={"Origin": server.url})).status_code == 201
    assert (await client.post(path, json=body(), headers={"Sec-Fetch-Site": "same-origin"})).status_code == 201
    # Safe methods are not refused.
    assert (await client.get("/api/v1/csrftoken", headers={"Origin": "http://evil.example"})).status_code == 200


async def test_allowed_origins_setting_is_honoured(settings: Settings) -> None:
    changed = with_settings(settings, allowed_origins=("https://shop.example", "http://localhost:5173"))
    async with serve_app(changed) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        path = "/api/v1/users/signupuser"
        for origin in ("https://shop.example", "http://localhost:5173"):
            body = {"user_name": "Allowed", "email": unique_email(), "password": PASSWORD}
            assert (await http.post(path, json=body, headers={"Origin": origin})).status_code == 201
        body = {"user_name": "Refused", "email": unique_email(), "password": PASSWORD}
        assert_envelope(await http.post(path, json=body, headers={"Origin": "https://evil.example"}), 403)


# Session cookies ---------------------------------------------------------------------------------------------


async def test_session_cookie_attributes(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await create_account(client)
    login = await client.post("/api/v1/users/loginuser", json={"email": account.email, "password": PASSWORD})
    cookie = session_cookie_of(login)
    assert cookie is not None
    assert {"httponly", "path", "samesite", "max-age"} <= attributes(cookie)
    assert attribute(cookie, "samesite").lower() == "lax"
    assert attribute(cookie, "path") == "/"
    assert attribute(cookie, "max-age") == str(settings.session_ttl)
    assert "secure" not in attributes(cookie)  # plain HTTP on localhost works (Gobid's did not)

    async with (
        serve_app(with_settings(settings, cookie_secure=True)) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        secure_login = await http.post("/api/v1/users/loginuser", json={"email": account.email, "password": PASSWORD})
        assert secure_login.status_code == 200
        secure_cookie = session_cookie_of(secure_login)
        assert secure_cookie is not None
        assert {"secure", "httponly"} <= attributes(secure_cookie)
        assert attribute(secure_cookie, "samesite").lower() == "lax"


async def test_session_expires_after_its_absolute_lifetime_even_when_used(settings: Settings) -> None:
    changed = with_settings(settings, session_ttl=2, session_idle_ttl=3600)
    async with serve_app(changed) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await create_account(http)
        await cookie_login(http, account)
        assert (await http.get(ME)).status_code == 200

        async def refused() -> bool:
            return (await http.get(ME)).status_code == 401

        await eventually(refused, timeout=10, interval=0.2)


async def test_session_idle_expiry(settings: Settings) -> None:
    changed = with_settings(settings, session_ttl=3600, session_idle_ttl=3)
    async with serve_app(changed) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await create_account(http)
        await cookie_login(http, account)
        # Kept busy for longer than the idle timeout: still alive.
        loop = asyncio.get_running_loop()
        until = loop.time() + 4.5
        while loop.time() < until:
            assert (await http.get(ME)).status_code == 200
            await asyncio.sleep(0.2)
        # Left alone for longer than the idle timeout: expired.
        await asyncio.sleep(4)
        assert_envelope(await http.get(ME), 401)


async def test_bearer_token_expires(settings: Settings) -> None:
    changed = with_settings(settings, token_ttl=2)
    async with serve_app(changed) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await new_user(http)
        assert (await http.get(ME, headers=account.headers)).status_code == 200

        async def refused() -> bool:
            return (await http.get(ME, headers=account.headers)).status_code == 401

        await eventually(refused, timeout=10, interval=0.2)


# Bearer tokens ---------------------------------------------------------------------------------------------


async def test_token_endpoint_json_shape(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await create_account(client)
    before = datetime.now(UTC)
    response = await client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    assert len(body["access_token"]) >= 43  # 256 random bits, base64url
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    expected = before + timedelta(seconds=settings.token_ttl)
    assert abs((expires_at - expected).total_seconds()) < 60
    # RFC 6749 5.1: never cached.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_token_endpoint_accepts_the_oauth2_password_form(client: httpx.AsyncClient) -> None:
    account = await create_account(client)
    response = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == account.id

    wrong = await client.post("/api/v1/auth/token", data={"username": account.email, "password": "not it at all"})
    unknown = await client.post("/api/v1/auth/token", data={"username": unique_email(), "password": "not it at all"})
    assert_envelope(wrong, 401)
    assert wrong.json() == unknown.json()

    missing = await client.post("/api/v1/auth/token", data={"password": PASSWORD})
    assert_envelope(missing, 400)
    assert error_keys(missing) == {"username"}


async def test_delete_token_revokes_only_that_token(client: httpx.AsyncClient) -> None:
    account = await new_user(client)
    second = Account(id=account.id, email=account.email, password=PASSWORD)
    await bearer_login(client, second)
    revoke = await client.delete("/api/v1/auth/token", headers=account.headers)
    assert revoke.status_code == 204, revoke.text
    assert_envelope(await client.get(ME, headers=account.headers), 401)
    assert_envelope(await client.delete("/api/v1/auth/token", headers=account.headers), 401)
    assert (await client.get(ME, headers=second.headers)).status_code == 200
    assert_envelope(await client.delete("/api/v1/auth/token"), 401)


async def test_sessions_table_holds_only_token_hashes(
    client: httpx.AsyncClient, server: RunningServer, settings: Settings
) -> None:
    account = await new_user(client)
    await cookie_login(client, account)
    cookie_token = client.cookies.get("session")
    assert cookie_token
    assert account.token
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        rows = await (
            await conn.execute("SELECT * FROM sessions WHERE user_id = %s ORDER BY kind", [account.id])
        ).fetchall()
    assert len(rows) == 2
    stored = {bytes(row[0]) for row in rows}
    assert stored == {hashlib.sha256(t.encode()).digest() for t in (cookie_token, account.token)}
    dump = repr(rows)
    for raw in (cookie_token, account.token):
        assert raw not in dump
        assert raw.encode() not in stored


# Deactivation and password change revoke sessions ------------------------------------------------------------


async def test_inactive_user_cannot_log_in_and_deactivation_revokes_sessions(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, admin: Account
) -> None:
    account = await new_user(client)
    await cookie_login(other_client, account)
    assert (await other_client.get(ME)).status_code == 200

    deactivate = await client.patch(f"/api/v1/users/{account.id}", json={"active": False}, headers=admin.headers)
    assert deactivate.status_code == 200, deactivate.text
    assert deactivate.json()["active"] is False

    assert_envelope(await client.get(ME, headers=account.headers), 401)
    assert_envelope(await other_client.get(ME), 401)
    unknown = await client.post("/api/v1/auth/token", json={"email": unique_email(), "password": PASSWORD})
    for path in ("/api/v1/auth/token", "/api/v1/users/loginuser"):
        refused = await client.post(path, json={"email": account.email, "password": PASSWORD})
        assert_envelope(refused, 401)
        assert refused.json() == unknown.json()

    reactivate = await client.patch(f"/api/v1/users/{account.id}", json={"active": True}, headers=admin.headers)
    assert reactivate.status_code == 200
    await bearer_login(client, account)
    assert (await client.get(ME, headers=account.headers)).status_code == 200


async def test_password_change_revokes_sessions(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    account = await new_user(client)
    csrf = await cookie_login(other_client, account)
    path = f"/api/v1/users/{account.id}"

    no_current = await client.patch(path, json={"password": "a brand new password"}, headers=account.headers)
    assert_envelope(no_current, 400)
    assert error_keys(no_current) == {"current_password"}
    wrong_current = await client.patch(
        path, json={"password": "a brand new password", "current_password": "not the password"}, headers=account.headers
    )
    assert_envelope(wrong_current, 400)
    assert (await client.get(ME, headers=account.headers)).status_code == 200

    changed = await other_client.patch(
        path, json={"password": "a brand new password", "current_password": PASSWORD}, headers={"X-CSRF-Token": csrf}
    )
    assert changed.status_code == 200, changed.text
    assert_envelope(await client.get(ME, headers=account.headers), 401)
    assert_envelope(await other_client.get(ME), 401)
    old = await client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    assert_envelope(old, 401)
    new = await client.post("/api/v1/auth/token", json={"email": account.email, "password": "a brand new password"})
    assert new.status_code == 200


async def test_expired_sessions_are_pruned(settings: Settings) -> None:
    from app.maintenance import prune_once

    changed = with_settings(settings, session_ttl=1, token_ttl=1)
    async with serve_app(changed) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await new_user(http)
        await cookie_login(http, account)

        async def expired() -> bool:
            return (await http.get(ME, headers=account.headers)).status_code == 401

        await eventually(expired, timeout=10, interval=0.2)
        await prune_once(srv.app)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        left = await (await conn.execute("SELECT count(*) FROM sessions WHERE user_id = %s", [account.id])).fetchone()
    assert left == (0,)


async def test_the_session_says_who_is_calling_and_never_fails(client: httpx.AsyncClient) -> None:
    """GET /auth/session: what /users/me shows, or {"user": null} for nobody (a page asks without an error)."""
    anonymous = await client.get("/api/v1/auth/session")
    assert (anonymous.status_code, anonymous.json()) == (200, {"user": None})
    account = await create_account(client)
    csrf = await cookie_login(client, account)
    me = (await client.get("/api/v1/users/me")).json()
    assert (await client.get("/api/v1/auth/session")).json() == {"user": me}
    await client.post("/api/v1/users/logout", headers={"X-CSRF-Token": csrf})
    assert (await client.get("/api/v1/auth/session")).json() == {"user": None}
