"""Passwords (docs/rules/users.md, "Passwords"): argon2id at the configured cost (one test on the production
parameters), hashes upgraded at login when the parameters change, and a login that answers the same whether the
account is unknown, the password wrong, the account inactive or deleted. Timings are not asserted (speed belongs
in benchmarks); the unknown-account path verifying a dummy hash is what makes them alike."""

from __future__ import annotations

import re

import httpx
import psycopg

from app.config import Settings
from tests.support import PASSWORD, assert_envelope, create_account, new_user, serve_app, unique_email, with_settings


async def stored_hash(settings: Settings, user_id: str) -> str:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        row = await (await conn.execute("SELECT password_hash FROM users WHERE id = %s", [user_id])).fetchone()
    assert row is not None
    return row[0]


def parameters(password_hash: str) -> tuple[str, int, int, int]:
    match = re.match(r"^\$(argon2id)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", password_hash)
    assert match, password_hash
    return match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))


async def test_production_argon2_parameters(settings: Settings) -> None:
    production_cost = with_settings(settings, argon2_memory_kib=19 * 1024, argon2_time_cost=2, argon2_parallelism=1)
    async with serve_app(production_cost) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        account = await create_account(http)
        login = await http.post("/api/v1/users/loginuser", json={"email": account.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert parameters(await stored_hash(settings, account.id)) == ("argon2id", 19 * 1024, 2, 1)
        http.cookies.clear()  # with the session cookie, any POST would need the CSRF token
        wrong = await http.post("/api/v1/auth/token", json={"email": account.email, "password": "not it at all"})
        assert_envelope(wrong, 401)


async def test_hash_is_upgraded_at_login_when_the_parameters_change(settings: Settings) -> None:
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        account = await create_account(http)
    before = await stored_hash(settings, account.id)
    assert parameters(before) == ("argon2id", settings.argon2_memory_kib, settings.argon2_time_cost, 1)

    stronger = with_settings(settings, argon2_memory_kib=2048, argon2_time_cost=2)
    async with serve_app(stronger) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        # A failed login changes nothing.
        wrong = await http.post("/api/v1/auth/token", json={"email": account.email, "password": "not it at all"})
        assert_envelope(wrong, 401)
        assert await stored_hash(settings, account.id) == before

        login = await http.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        after = await stored_hash(settings, account.id)
        assert parameters(after) == ("argon2id", 2048, 2, 1)
        # The upgraded hash still takes the same password.
        again = await http.post("/api/v1/users/loginuser", json={"email": account.email, "password": PASSWORD})
        assert again.status_code == 200
        assert await stored_hash(settings, account.id) == after


async def test_every_failed_login_looks_the_same(client: httpx.AsyncClient, admin) -> None:
    wrong_password = await new_user(client)
    inactive = await new_user(client)
    deleted = await new_user(client)
    assert (
        await client.patch(f"/api/v1/users/{inactive.id}", json={"active": False}, headers=admin.headers)
    ).status_code == 200
    gone = await client.request("DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=deleted.headers)
    assert gone.status_code == 204

    attempts = {
        "unknown e-mail": (unique_email("ghost"), PASSWORD),
        "wrong password": (wrong_password.email, "not the password"),
        "inactive account": (inactive.email, PASSWORD),
        "deleted account": (deleted.email, PASSWORD),
    }
    for path in ("/api/v1/users/loginuser", "/api/v1/auth/token"):
        answers = {}
        for case, (email, password) in attempts.items():
            response = await client.post(path, json={"email": email, "password": password})
            assert_envelope(response, 401)
            answers[case] = (response.status_code, response.json(), "set-cookie" in response.headers)
        assert len(set(map(repr, answers.values()))) == 1, answers


async def test_passwords_are_stored_as_argon2id_only(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await create_account(client)
    password_hash = await stored_hash(settings, account.id)
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
