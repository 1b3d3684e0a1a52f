"""The administrator at start-up (docs/rules/users.md, "Seeding"): ADMIN_EMAIL/ADMIN_PASSWORD create that
Administrador and never overwrite an existing password; in development, with no Administrador and no ADMIN_*,
start-up creates admin@localhost with a generated password and prints it once."""

from __future__ import annotations

import re

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.support import PASSWORD, Account, assert_envelope, bearer_login, create_account, serve_app, with_settings

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin password 1"


async def login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/token", json={"email": email, "password": password})


async def whoami(http: httpx.AsyncClient, token_response: httpx.Response) -> dict:
    headers = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
    return (await http.get("/api/v1/users/me", headers=headers)).json()


async def administrators(settings: Settings) -> list[str]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT u.email FROM users u JOIN roles r ON r.id = u.role_id WHERE r.description = 'Administrador'"
            " ORDER BY u.email"
        )
        return [row[0] for row in await cursor.fetchall()]


async def test_admin_from_settings_is_created_once_and_never_overwritten(settings: Settings) -> None:
    assert (settings.admin_email, settings.admin_password) == (ADMIN_EMAIL, ADMIN_PASSWORD)
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        token = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert token.status_code == 200, token.text
        me = await whoami(http, token)
        assert me["role_description"] == "Administrador"
        changed = await http.patch(
            f"/api/v1/users/{me['id']}",
            json={"password": "the admin changed it", "current_password": ADMIN_PASSWORD},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert changed.status_code == 200, changed.text
        plain = await create_account(http)

    # Restart with the same settings, and once more naming an existing plain account.
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        assert_envelope(await login(http, ADMIN_EMAIL, ADMIN_PASSWORD), 401)
        assert (await login(http, ADMIN_EMAIL, "the admin changed it")).status_code == 200
    takeover = with_settings(settings, admin_email=plain.email.upper(), admin_password="attacker password")
    async with serve_app(takeover) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        assert_envelope(await login(http, plain.email, "attacker password"), 401)
        own = await login(http, plain.email, PASSWORD)
        assert own.status_code == 200
        assert (await whoami(http, own))["role_description"] == "Usuário"
    assert await administrators(settings) == [ADMIN_EMAIL]


async def test_development_creates_admin_at_localhost_and_prints_the_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = with_settings(settings, admin_email=None, admin_password=None)
    async with serve_app(bare):
        pass
    printed = capsys.readouterr().out
    match = re.search(r"admin@localhost / (\S+)", printed)
    assert match, printed
    password = match.group(1)
    assert len(password) >= 16

    async with serve_app(bare) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        token = await login(http, "admin@localhost", password)
        assert token.status_code == 200, token.text
        assert (await whoami(http, token))["role_description"] == "Administrador"
    # Printed once: the second start-up found the Administrador.
    assert "admin@localhost" not in capsys.readouterr().out
    assert await administrators(settings) == ["admin@localhost"]


async def test_no_generated_admin_when_one_exists_or_in_production(settings: Settings) -> None:
    production = with_settings(settings, env="production", admin_email=None, admin_password=None)
    async with serve_app(production):
        pass
    assert await administrators(settings) == []

    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        await bearer_login(http, Account(id="", email=ADMIN_EMAIL, password=ADMIN_PASSWORD))
    async with serve_app(with_settings(settings, admin_email=None, admin_password=None)):
        pass
    assert await administrators(settings) == [ADMIN_EMAIL]
