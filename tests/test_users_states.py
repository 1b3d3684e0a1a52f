"""Account states (docs/rules/users.md): invited, active, deactivated, deleted. An invitation never takes an address
from its owner (finding 5: the reset code activates it, sign-up says so); codes never bring a deactivated account
back (finding 4); authority deletes; ADMIN_EMAIL restores an Administrador only when none is active; the
migration derives each stored account's state."""

from __future__ import annotations

import logging

import httpx
import psycopg
import pytest

from app.config import Settings
from app.db.migrations import apply_migrations, rollback_migrations
from tests.clinic_support import api, create_clinic
from tests.conftest import admin_login
from tests.support import (
    PASSWORD,
    Account,
    SmtpServer,
    assert_envelope,
    bearer_login,
    code_in,
    new_user,
    serve_app,
    unique_email,
)
from tests.test_auth_password_reset import CONFIRM, NEW_PASSWORD, RESET, mail_client, outbox_addresses, reset_code
from tests.test_clinic_activation import _activation
from tests.test_users_roles_claims import audit_rows, me

__all__ = ["mail_client"]  # a fixture, used by name

MIGRATION = "0010_users_authority"


async def state_of(settings: Settings, user_id: str) -> str:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        row = await (await conn.execute("SELECT state FROM users WHERE id = %s", [user_id])).fetchone()
    assert row is not None
    return row[0]


async def invite(http: httpx.AsyncClient, admin: Account, clinic_id: int, email: str) -> str:
    response = await http.post(api(clinic_id, "/staff/invitations"), json={"email": email}, headers=admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "invited"
    return response.json()["user_id"]


async def test_an_invited_address_stays_its_owners(
    mail_client: httpx.AsyncClient, smtp: SmtpServer, settings: Settings
) -> None:
    admin = await admin_login(mail_client)
    clinic = await create_clinic(mail_client, admin)
    email = unique_email("squatted")
    user_id = await invite(mail_client, admin, clinic["id"], email)
    invitation_code = code_in((await smtp.wait_for(email))[0])

    for path, body in (
        ("/api/v1/users/signup", {"user_name": "Dona", "email": email, "password": PASSWORD}),
        ("/api/v1/users", {"email": email.upper(), "password": PASSWORD}),
    ):
        refused = assert_envelope(await mail_client.post(path, json=body), 409)
        assert "password reset" in refused["detail"], refused

    # The reset code proves the address: it sets the password and activates the account.
    owner = Account(id=user_id, email=email, password=NEW_PASSWORD)
    code = await reset_code(mail_client, smtp, owner, count=2)
    confirmed = await mail_client.post(CONFIRM, json={"email": email, "code": code, "new_password": NEW_PASSWORD})
    assert confirmed.status_code == 200, confirmed.text
    await bearer_login(mail_client, owner)
    view = await me(mail_client, owner)
    assert (view["id"], view["active"], view["state"]) == (user_id, True, "active")
    assert [row[1] for row in await audit_rows(settings, f"user:{user_id}")] == ["user.activate"]

    # The clinic's code still joins the staff, now of an active account.
    joined = await mail_client.post("/api/v1/auth/activate", json=_activation(email, invitation_code))
    assert joined.status_code == 200, joined.text
    assert joined.json()["clinic_ids"] == [clinic["id"]]


async def test_codes_never_bring_a_deactivated_account_back(
    mail_client: httpx.AsyncClient, smtp: SmtpServer, settings: Settings
) -> None:
    admin = await admin_login(mail_client)
    email = unique_email("twice")
    first, second = [await create_clinic(mail_client, admin) for _ in range(2)]
    user_id = await invite(mail_client, admin, first["id"], email)
    await invite(mail_client, admin, second["id"], email)
    codes = [code_in(m) for m in await smtp.wait_for(email, count=2)]
    activated = await mail_client.post("/api/v1/auth/activate", json=_activation(email, codes[0]))
    assert activated.status_code == 200, activated.text
    mail_client.cookies.clear()
    account = Account(id=user_id, email=email, password=PASSWORD)
    reset = await reset_code(mail_client, smtp, account, count=3)  # asked for while still active

    deactivated = await mail_client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=admin.headers)
    assert deactivated.json()["active"] is False

    again = await mail_client.post("/api/v1/auth/activate", json=_activation(email, codes[1]))
    refused = assert_envelope(again, 409)
    assert "deactivated" in refused["detail"]
    confirm = await mail_client.post(CONFIRM, json={"email": email, "code": reset, "new_password": NEW_PASSWORD})
    assert_envelope(confirm, 409)
    mailed = len(await outbox_addresses(settings))
    assert (await mail_client.post(RESET, json={"email": email})).status_code == 202
    assert len(await outbox_addresses(settings)) == mailed  # nothing sent to a deactivated account
    assert_envelope(await mail_client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}), 401)
    assert await state_of(settings, user_id) == "deactivated"

    # Only authority brings it back; the password is the one it had.
    back = await mail_client.patch(f"/api/v1/users/{user_id}", json={"active": True}, headers=admin.headers)
    assert back.json()["state"] == "active"
    await bearer_login(mail_client, account)


async def test_authority_transitions_and_deletion(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    clinic = await create_clinic(client, admin)
    invited_id = await invite(client, admin, clinic["id"], unique_email("pending"))
    refused = assert_envelope(
        await client.patch(f"/api/v1/users/{invited_id}", json={"active": True}, headers=admin.headers), 409
    )
    assert refused["extra"] == [{"key": "state", "message": "invited"}]
    assert await state_of(settings, invited_id) == "invited"

    target = await new_user(client)
    deleted = await client.delete(f"/api/v1/users/{target.id}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.text
    assert await state_of(settings, target.id) == "deleted"
    assert_envelope(await client.get("/api/v1/users/me", headers=target.headers), 401)
    view = (await client.get(f"/api/v1/users/{target.id}", headers=admin.headers)).json()
    assert (view["active"], view["state"], view["name"]) == (False, "deleted", None)
    assert target.email not in view["email"]
    assert_envelope(await client.patch(f"/api/v1/users/{target.id}", json={"active": True}, headers=admin.headers), 409)
    assert_envelope(await client.delete(f"/api/v1/users/{target.id}", headers=admin.headers), 409)
    assert [row[1] for row in await audit_rows(settings, f"user:{target.id}")] == [
        "user.delete",
        "user.update.refused",
        "user.delete.refused",
    ]


async def test_admin_email_restores_an_administrador_only_when_none_is_active(settings: Settings) -> None:
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        first = await admin_login(http)
        first.id = (await me(http, first))["id"]
        second = await new_user(http)
        promoted = await http.patch(f"/api/v1/users/{second.id}", json={"role_id": 1}, headers=first.headers)
        assert promoted.status_code == 200, promoted.text
        for change in ({"role_id": 4}, {"active": False}):
            response = await http.patch(f"/api/v1/users/{first.id}", json=change, headers=second.headers)
            assert response.status_code == 200, response.text

    # Another Administrador is active: start-up leaves ADMIN_EMAIL's account alone.
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        assert_envelope(
            await http.post("/api/v1/auth/token", json={"email": first.email, "password": first.password}), 401
        )

    # None is: an operator's SQL went around the rule (the trigger switched off), say.
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE users SET state = 'deactivated' WHERE id = %s", [second.id])
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        restored = await me(http, await admin_login(http))
        assert (restored["id"], restored["role_id"], restored["active"]) == (first.id, 1, True)
    actions = [row[1] for row in await audit_rows(settings, f"user:{first.id}")]
    assert actions[-1] == "admin.restore"
    assert await state_of(settings, second.id) == "deactivated"


def test_the_migration_derives_each_accounts_state(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    rolled: list[str] = []
    while MIGRATION not in rolled:
        step = rollback_migrations(database_url, 1)
        assert step, f"{MIGRATION} was never rolled back"
        rolled += step
    # The four kinds of account the schema before this migration could hold, each labelled in its bio.
    rows = {
        "active": ("a@example.com", "hash", True, None),
        "deleted": ("deleted-x@invalid", None, False, "now"),
        "invited": ("i@example.com", None, False, None),
        "deactivated": ("d@example.com", "hash", False, None),
    }
    with psycopg.connect(database_url) as conn:
        for label, (email, password_hash, active, deleted_at) in rows.items():
            conn.execute(
                "INSERT INTO users (email, password_hash, role_id, active, deleted_at, bio)"
                " VALUES (%s, %s, 4, %s, %s::timestamptz, %s)",
                [email, password_hash, active, deleted_at, label],
            )
    with caplog.at_level(logging.WARNING, logger="app.db.migrations"):
        apply_migrations(database_url)
    assert "users.state derived from the stored accounts: active: 1, deactivated: 1, deleted: 1, invited: 1" in (
        caplog.text
    )
    with psycopg.connect(database_url) as conn:
        found = dict(conn.execute("SELECT bio, state FROM users WHERE bio IS NOT NULL").fetchall())
        assert found == {state: state for state in rows}
        assert conn.execute("SELECT count(*) FROM users WHERE active <> (state = 'active')").fetchone() == (0,)
