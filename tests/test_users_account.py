"""The caller's own account and who may change whom (docs/rules/users.md): PATCH /users/{id} for self and for
users:manage, export (LGPD access right), deletion (deactivate and anonymize), Idempotency-Key on creation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from app.config import Settings
from tests.support import (
    PASSWORD,
    Account,
    assert_envelope,
    bearer_login,
    cookie_login,
    create_account,
    error_keys,
    new_user,
    unique_email,
)


async def user_rows(settings: Settings, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            f"SELECT id::text, name, email, bio, active, password_hash, deleted_at FROM users WHERE {where}", params
        )
        return await cursor.fetchall()


# PATCH /users/{id} ---------------------------------------------------------------------------------------------


async def test_self_changes_name_and_bio_but_not_role_or_active(client: httpx.AsyncClient, user: Account) -> None:
    path = f"/api/v1/users/{user.id}"
    response = await client.patch(
        path, json={"name": "  Nome Novo  ", "bio": "Vendo antiguidades"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Nome Novo"
    assert body["bio"] == "Vendo antiguidades"
    assert "password_hash" not in body

    for change in ({"role_id": 1}, {"active": False}, {"role_id": 4}):
        assert_envelope(await client.patch(path, json=change, headers=user.headers), 403)
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    assert me["role_description"] == "Usuário"
    assert me["active"] is True

    too_long = await client.patch(path, json={"name": "x" * 101, "bio": "y" * 256}, headers=user.headers)
    assert_envelope(too_long, 400)
    assert error_keys(too_long) == {"name", "bio"}


async def test_a_plain_user_cannot_see_or_patch_another_user(client: httpx.AsyncClient, user: Account) -> None:
    other = await new_user(client)
    for method, path, body in (
        ("GET", f"/api/v1/users/{other.id}", None),
        ("GET", f"/api/v1/users/{other.id}/role", None),
        ("PATCH", f"/api/v1/users/{other.id}", {"bio": "hacked"}),
        ("PATCH", f"/api/v1/users/{other.id}", {"password": "new password 123", "current_password": PASSWORD}),
    ):
        response = await client.request(method, path, json=body, headers=user.headers)
        unknown = await client.request(
            method, path.replace(other.id, "00000000-0000-0000-0000-000000000000"), json=body, headers=user.headers
        )
        assert_envelope(response, 404)
        assert response.json() == unknown.json()
    assert (await client.get("/api/v1/users/me", headers=other.headers)).json()["bio"] is None
    assert_envelope(await client.get("/api/v1/users", headers=user.headers), 403)


async def test_users_manage_sets_role_and_active_but_not_another_users_password(
    client: httpx.AsyncClient, admin: Account
) -> None:
    target = await new_user(client)
    path = f"/api/v1/users/{target.id}"
    response = await client.patch(path, json={"role_id": 2}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["role_description"] == "Moderador"
    assert response.json()["effective_claims"] == ["auctions:sell", "purchases:manage"]
    # A live token sees its new rights at once.
    assert (await client.get("/api/v1/users/me", headers=target.headers)).json()["role_id"] == 2

    pw = await client.patch(
        path, json={"password": "admin chose this", "current_password": "whatever"}, headers=admin.headers
    )
    assert_envelope(pw, 403)
    unknown_role = await client.patch(path, json={"role_id": 999}, headers=admin.headers)
    assert_envelope(unknown_role, 400)
    assert error_keys(unknown_role) == {"role_id"}
    assert_envelope(
        await client.patch(
            "/api/v1/users/00000000-0000-0000-0000-000000000000", json={"active": False}, headers=admin.headers
        ),
        404,
    )


# Export ------------------------------------------------------------------------------------------------------


async def test_export_returns_everything_stored_about_the_caller(client: httpx.AsyncClient, admin: Account) -> None:
    account = await create_account(client, name="Exportada")
    await client.post(
        "/api/v1/users/signupuser", json={"user_name": "Other", "email": unique_email(), "password": PASSWORD}
    )
    account = await bearer_login(client, account)
    await client.patch(f"/api/v1/users/{account.id}", json={"bio": "minha bio"}, headers=account.headers)
    assert (await client.put(f"/api/v1/users/{account.id}/claims/3", headers=admin.headers)).status_code == 204

    response = await client.get("/api/v1/users/me/export", headers=account.headers)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["user"]["id"] == account.id
    assert document["user"]["email"] == account.email
    assert document["user"]["name"] == "Exportada"
    assert document["user"]["bio"] == "minha bio"
    assert document["user"]["role"] == "Usuário"
    assert document["claims"] == ["purchases:manage"]
    assert [s["kind"] for s in document["sessions"]] == ["bearer"]
    assert [entry["action"] for entry in document["audit_log"]] == ["claim.grant"]
    text = response.text
    for secret in ("argon2", "password_hash", "token_hash", account.token or "-"):
        assert secret not in text
    assert "Other" not in text
    assert_envelope(await client.get("/api/v1/users/me/export"), 401)


# DELETE /users/me --------------------------------------------------------------------------------------------


async def test_delete_me_anonymizes_keeps_the_row_and_frees_the_email(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await new_user(client, name="Apagada")
    await client.patch(f"/api/v1/users/{account.id}", json={"bio": "dados pessoais"}, headers=account.headers)
    csrf = await cookie_login(other_client, account)

    wrong = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": "not my password"}, headers=account.headers
    )
    assert_envelope(wrong, 403)
    missing = await client.request("DELETE", "/api/v1/users/me", headers=account.headers)
    assert_envelope(missing, 400)
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200

    deleted = await other_client.request(
        "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers={"X-CSRF-Token": csrf}
    )
    assert deleted.status_code == 204, deleted.text

    rows = await user_rows(settings, "id = %s", [account.id])
    assert len(rows) == 1
    _, name, email, bio, active, password_hash, deleted_at = rows[0]
    assert name is None
    assert bio is None
    assert account.email.split("@")[0] not in email
    assert active is False
    assert password_hash is None
    assert deleted_at is not None

    assert_envelope(await client.get("/api/v1/users/me", headers=account.headers), 401)
    assert_envelope(await other_client.get("/api/v1/users/me"), 401)
    refused = await client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    assert_envelope(refused, 401)

    again = await client.post(
        "/api/v1/users/signupuser", json={"user_name": "De volta", "email": account.email, "password": PASSWORD}
    )
    assert again.status_code == 201, again.text
    assert again.json()["user_id"] != account.id
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        actions = await (
            await conn.execute("SELECT action FROM audit_log WHERE subject = %s", [f"user:{account.id}"])
        ).fetchall()
    assert ("user.delete",) in actions


# Idempotency-Key on POST /users ------------------------------------------------------------------------------


async def test_idempotency_key_replays_the_first_response(client: httpx.AsyncClient, settings: Settings) -> None:
    email = unique_email("idem")
    headers = {"Idempotency-Key": "create-ana-1"}
    first = await client.post("/api/v1/users", json={"email": email, "name": "Ana"}, headers=headers)
    assert first.status_code == 201, first.text
    retry = await client.post("/api/v1/users", json={"email": email, "name": "Ana"}, headers=headers)
    assert retry.status_code == 201, retry.text
    # The same response, except that the generated password is shown only once (docs/security.md).
    shown_once = {k: v for k, v in first.json().items() if k != "generated_password"}
    assert retry.json() == shown_once | {"generated_password_shown": True}
    assert retry.headers["location"] == first.headers["location"]
    assert len(await user_rows(settings, "lower(email) = lower(%s)", [email])) == 1

    other_body = await client.post("/api/v1/users", json={"email": unique_email(), "name": "Bia"}, headers=headers)
    assert_envelope(other_body, 409)
    # Without a key, the same body is a duplicate e-mail.
    assert_envelope(await client.post("/api/v1/users", json={"email": email, "name": "Ana"}), 409)


async def test_concurrent_retries_with_one_key_create_one_user(client: httpx.AsyncClient, settings: Settings) -> None:
    email = unique_email("race")
    body = {"email": email, "password": PASSWORD}

    async def attempt() -> httpx.Response:
        return await client.post("/api/v1/users", json=body, headers={"Idempotency-Key": "same-key"})

    responses = await asyncio.gather(*(attempt() for _ in range(6)))
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await user_rows(settings, "lower(email) = lower(%s)", [email])) == 1


async def test_idempotency_key_on_signup_and_per_caller(client: httpx.AsyncClient, user: Account) -> None:
    body = {"user_name": "Gobid", "email": unique_email(), "password": PASSWORD}
    first = await client.post("/api/v1/users/signupuser", json=body, headers={"Idempotency-Key": "k1"})
    retry = await client.post("/api/v1/users/signupuser", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    # The key belongs to its caller: a logged-in user reusing it creates its own resource.
    mine = await client.post(
        "/api/v1/users", json={"email": unique_email()}, headers={**user.headers, "Idempotency-Key": "k1"}
    )
    assert mine.status_code == 201, mine.text
    assert_envelope(
        await client.post("/api/v1/users", json={"email": unique_email()}, headers={"Idempotency-Key": "x" * 256}), 400
    )
