"""The browser-facing defences, swept over the app's own route table: CSRF on every unsafe route for cookie
sessions, the Origin check on every WebSocket, security headers on every response, CORS closed unless
ALLOWED_ORIGINS opens it, and production mode refusing the development secret and any debug switch."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.auth.principal import SESSION_COOKIE
from app.config import DEVELOPMENT_SECRET, ConfigError, Settings, settings_from_env
from app.main import create_app
from tests.security_support import fill_path, public_things, route_table
from tests.support import (
    Account,
    RunningServer,
    assert_envelope,
    cookie_login,
    create_account,
    serve_app,
    with_settings,
)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
FOREIGN = "https://evil.example"


# CSRF ---------------------------------------------------------------------------------------------------------


async def test_every_unsafe_route_refuses_a_cookie_session_without_the_csrf_token(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    account = await create_account(client)
    token = await cookie_login(client, account)
    http, _ = route_table(server.app)
    unsafe = [(m, p) for m, p in http if m in UNSAFE]
    assert len(unsafe) >= 30, unsafe
    values = {"user_id": account.id}
    for method, template in unsafe:
        url = fill_path(template, values)
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": token + "x"}):
            response = await client.request(method, url, json={}, headers=headers)
            body = assert_envelope(response, 403)
            assert "csrf" in body["detail"].lower(), (method, template, body)
    # Nothing was done: the account still exists and logs in, and the session still works with its token.
    me = await client.get("/api/v1/users/me")
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    changed = await client.patch(
        f"/api/v1/users/{account.id}", json={"name": "With Token"}, headers={"X-CSRF-Token": token}
    )
    assert changed.status_code == 200, changed.text


# WebSocket Origin -----------------------------------------------------------------------------------------------


async def test_every_websocket_refuses_a_foreign_origin(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    values = await public_things(client, admin)
    _, sockets = route_table(server.app)
    assert len(sockets) >= 3, sockets
    own_origin = server.url
    for template in sockets:
        url = server.ws_url + fill_path(template, values)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=FOREIGN, additional_headers=admin.headers, open_timeout=10):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403, (template, refused.value.response.status_code)
        # The same upgrade from the server's own origin is let in: the refusal was the Origin's.
        async with connect(url, origin=own_origin, additional_headers=admin.headers, open_timeout=10) as ws:  # type: ignore[arg-type]
            assert ws.response.status_code == 101, template


# Security headers --------------------------------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response, where: str) -> None:
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy"), where
    if headers.get("content-type", "").startswith("text/html"):
        policy = headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, where
        assert "frame-ancestors 'none'" in policy, where


async def test_security_headers_on_every_get_route_and_on_errors(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    values = await public_things(client, admin)
    http, _ = route_table(server.app)
    pages = 0
    for method, template in http:
        if method != "GET":
            continue
        url = fill_path(template, values | {"file_path": "clinic/tv.js"})
        for headers in ({}, admin.headers):
            response = await client.get(url, headers=headers)
            _assert_security_headers(response, f"GET {template} -> {response.status_code}")
            pages += response.headers.get("content-type", "").startswith("text/html")
    assert pages >= 4  # the docs, the auction page, the kiosk and the TV
    errors = [
        await client.get("/no/such/route"),
        await client.delete("/health"),
        await client.get("/api/v1/users/me"),
        await client.post("/api/v1/users/signupuser", content=b"{not json"),
        await client.post("/api/v1/users/signupuser", content=b"x" * 70_000),
    ]
    assert [r.status_code for r in errors] == [404, 405, 401, 400, 413]
    for response in errors:
        _assert_security_headers(response, f"error {response.status_code}")
        assert "strict-transport-security" not in response.headers


async def test_hsts_on_every_response_when_https_is_configured(settings: Settings) -> None:
    async with (
        serve_app(with_settings(settings, cookie_secure=True)) as running,
        httpx.AsyncClient(base_url=running.url) as client,
    ):
        for response in [
            await client.get("/health"),
            await client.get("/docs"),
            await client.get("/no/such/route"),
            await client.get("/api/v1/users/me"),
        ]:
            assert response.headers["strict-transport-security"].startswith("max-age="), response.url
            _assert_security_headers(response, str(response.url))


async def test_the_csrf_cookie_has_the_host_prefix_when_cookies_are_secure(settings: Settings) -> None:
    async with (
        serve_app(with_settings(settings, cookie_secure=True)) as running,
        httpx.AsyncClient(base_url=running.url) as client,
    ):
        account = await create_account(client)
        issued = await client.get("/api/v1/csrftoken")
        token = issued.json()["csrf_token"]
        name, _, rest = issued.headers["set-cookie"].partition("=")
        attributes = [a.strip().lower() for a in rest.split(";")[1:]]
        assert name == "__Host-csrftoken", issued.headers["set-cookie"]
        assert "secure" in attributes, attributes
        assert "path=/" in attributes, attributes
        assert not any(a.startswith("domain") for a in attributes), attributes
        # httpx keeps Secure cookies off plain http: the test sends them itself, as a browser would over https.
        client.cookies.clear()
        login = await client.post(
            "/api/v1/users/loginuser",
            json={"email": account.email, "password": account.password},
            headers={"Cookie": f"__Host-csrftoken={token}"},
        )
        assert login.status_code == 200, login.text
        session = f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"

        async def rename(name: str, csrf_cookie: str) -> httpx.Response:
            client.cookies.clear()
            return await client.patch(
                f"/api/v1/users/{account.id}",
                json={"name": name},
                headers={"Cookie": f"{session}; {csrf_cookie}={token}", "X-CSRF-Token": token},
            )

        changed = await rename("Host", "__Host-csrftoken")
        assert changed.status_code == 200, changed.text
        # The unprefixed cookie (which a sibling subdomain or a plain-http page could plant) is not read.
        assert_envelope(await rename("Planted", "csrftoken"), 403)


# CORS -----------------------------------------------------------------------------------------------------------


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, x-csrf-token",
    }


async def test_cors_is_closed_by_default(client: httpx.AsyncClient, user: Account) -> None:
    for origin in (FOREIGN, "https://shop.example"):
        preflight = await client.options("/api/v1/users/me", headers=_preflight(origin, "GET"))
        assert "access-control-allow-origin" not in preflight.headers, preflight.headers
        actual = await client.get("/api/v1/users/me", headers={"Origin": origin, **user.headers})
        assert "access-control-allow-origin" not in actual.headers
        assert "access-control-allow-credentials" not in actual.headers


async def test_cors_opens_only_for_allowed_origins_with_credentials(settings: Settings) -> None:
    shop = "https://shop.example"
    async with (
        serve_app(with_settings(settings, allowed_origins=(shop,))) as running,
        httpx.AsyncClient(base_url=running.url) as client,
    ):
        preflight = await client.options("/api/v1/users/loginuser", headers=_preflight(shop))
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == shop
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "x-csrf-token" in preflight.headers["access-control-allow-headers"].lower()
        assert "POST" in preflight.headers["access-control-allow-methods"]
        actual = await client.get("/api/v1/csrftoken", headers={"Origin": shop})
        assert actual.headers["access-control-allow-origin"] == shop
        assert actual.headers["access-control-allow-credentials"] == "true"

        refused = await client.options("/api/v1/users/loginuser", headers=_preflight(FOREIGN))
        assert "access-control-allow-origin" not in refused.headers, refused.headers
        assert refused.status_code < 500
        _assert_security_headers(refused, "refused preflight")
        other = await client.get("/api/v1/csrftoken", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in other.headers
        # And an unsafe request from the foreign origin is refused outright, CORS or not.
        posted = await client.post("/api/v1/users/signupuser", json={}, headers={"Origin": FOREIGN})
        assert_envelope(posted, 403)


# Production mode ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, DEVELOPMENT_SECRET, "short"])
def test_production_refuses_the_development_or_a_weak_secret(secret: str | None) -> None:
    environ = {"APP_ENV": "production"} | ({"SECRET_KEY": secret} if secret else {})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings_from_env(environ)


async def test_production_never_runs_in_debug_whatever_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Litestar reads these two variables when the app does not say otherwise.
    monkeypatch.setenv("LITESTAR_DEBUG", "1")
    monkeypatch.setenv("LITESTAR_PDB", "1")
    production = settings_from_env(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "s" * 48,
            "DATABASE_URL": settings.database_url or "",
            "SMTP_URL": "smtp://127.0.0.1:9",  # production needs both (finding 8); nothing is sent here
            "ALLOWED_ORIGINS": "https://shop.example.com",
        }
    )
    assert production.cookie_secure is True
    app = create_app(production)
    assert app.debug is False
    assert app.pdb_on_exception is False
    async with serve_app(production) as running, httpx.AsyncClient(base_url=running.url) as client:
        response = await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")
        body = assert_envelope(response, 401)
        assert "Traceback" not in response.text
        assert body["extra"] == []
        assert response.headers["strict-transport-security"]
        bad = await client.post("/api/v1/users/signupuser", content=b"{")
        assert_envelope(bad, 400)
        assert "Traceback" not in bad.text
        assert "site-packages" not in bad.text
