"""Authority over other accounts (docs/rules/users.md): changing another user's role, claims or state needs
users:manage and every claim the target is assigned now and after the change; name and bio belong to their owner;
the last active Administrador stays, enforced by the database; built-in claims are switched only by an actor
assigned all four; every change and every refused attempt is in audit_log (issue 11, finding 2)."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.support import Account, assert_envelope, bearer_login, new_user
from tests.test_users_roles_claims import audit_rows, me

ADMINISTRADOR, MODERADOR, TI, USUARIO = 1, 2, 3, 4
PURCHASES_MANAGE, AUCTIONS_SELL = 3, 4


async def user_with_role(client: httpx.AsyncClient, admin: Account, role_id: int) -> Account:
    account = await new_user(client)
    response = await client.patch(f"/api/v1/users/{account.id}", json={"role_id": role_id}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return account


async def active_administradores(settings: Settings) -> list[str]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute("SELECT id::text FROM users WHERE role_id = 1 AND active ORDER BY id")
        return [row[0] for row in await cursor.fetchall()]


async def test_ti_manages_usuarios_and_ti_but_never_an_administrador_or_a_moderador(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    ti = await user_with_role(client, admin, TI)
    for role_id in (ADMINISTRADOR, MODERADOR):
        target = await user_with_role(client, admin, role_id)
        path = f"/api/v1/users/{target.id}"
        for change in ({"role_id": USUARIO}, {"active": False}, {"role_id": TI, "active": True}):
            refused = assert_envelope(await client.patch(path, json=change, headers=ti.headers), 403)
            assert "claims you do not hold" in refused["detail"]
        assert_envelope(await client.put(f"{path}/claims/{AUCTIONS_SELL}", headers=ti.headers), 403)
        assert_envelope(await client.delete(f"{path}/claims/{AUCTIONS_SELL}", headers=ti.headers), 403)
        assert_envelope(await client.delete(path, headers=ti.headers), 403)
        view = await me(client, target)
        assert (view["role_id"], view["active"], view["claims"]) == (role_id, True, [])
        ti_id = (await me(client, ti))["id"]
        refusals = [(actor, action) for actor, action, _ in await audit_rows(settings, f"user:{target.id}")]
        assert refusals[-6:] == [
            (ti_id, "user.update.refused"),
            (ti_id, "user.update.refused"),
            (ti_id, "user.update.refused"),
            (ti_id, "claim.grant.refused"),
            (ti_id, "claim.revoke.refused"),
            (ti_id, "user.delete.refused"),
        ]

    # Name and bio are the owner's alone, whoever asks.
    usuario = await new_user(client, name="Original")
    for account in (ti, admin):
        renamed = await client.patch(f"/api/v1/users/{usuario.id}", json={"name": "Hacked"}, headers=account.headers)
        assert_envelope(renamed, 403)
    assert (await me(client, usuario))["name"] == "Original"

    # A Usuário and another TI user are within reach; handing out Moderador (purchases:manage) is not.
    path = f"/api/v1/users/{usuario.id}"
    assert (await client.patch(path, json={"role_id": TI}, headers=ti.headers)).status_code == 200
    assert (await client.patch(path, json={"active": False}, headers=ti.headers)).json()["active"] is False
    assert (await client.patch(path, json={"active": True}, headers=ti.headers)).json()["active"] is True
    assert (await client.patch(path, json={"role_id": USUARIO}, headers=ti.headers)).status_code == 200
    assert_envelope(await client.patch(path, json={"role_id": MODERADOR}, headers=ti.headers), 403)


async def test_a_claim_the_manager_lacks_puts_the_account_out_of_reach_even_when_inactive(
    client: httpx.AsyncClient, admin: Account
) -> None:
    ti = await user_with_role(client, admin, TI)
    buyer = await new_user(client)
    assert (await client.put(f"/api/v1/users/{buyer.id}/claims/{PURCHASES_MANAGE}", headers=admin.headers)).is_success
    assert_envelope(await client.patch(f"/api/v1/users/{buyer.id}", json={"active": False}, headers=ti.headers), 403)
    assert_envelope(await client.put(f"/api/v1/users/{buyer.id}/claims/{PURCHASES_MANAGE}", headers=ti.headers), 403)

    reporter = await new_user(client)
    extra = (await client.post("/api/v1/claims", json={"description": "reports:view"}, headers=admin.headers)).json()
    assert (await client.put(f"/api/v1/users/{reporter.id}/claims/{extra['id']}", headers=admin.headers)).is_success
    assert (
        await client.patch(f"/api/v1/claims/{extra['id']}", json={"active": False}, headers=admin.headers)
    ).is_success
    assert (await me(client, reporter))["effective_claims"] == ["auctions:sell"]
    # Assigned, though inactive: TI still cannot touch the account.
    assert_envelope(await client.patch(f"/api/v1/users/{reporter.id}", json={"role_id": TI}, headers=ti.headers), 403)
    assert (await client.patch(f"/api/v1/users/{reporter.id}", json={"role_id": TI}, headers=admin.headers)).is_success


async def test_built_in_claims_are_switched_only_by_an_actor_assigned_all_four(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    ti = await user_with_role(client, admin, TI)
    for change in ({"active": False}, {"active": True}):
        assert_envelope(await client.patch(f"/api/v1/claims/{AUCTIONS_SELL}", json=change, headers=ti.headers), 403)
    assert (await me(client, ti))["effective_claims"] == ["auctions:sell", "users:manage"]
    assert_envelope(await client.patch("/api/v1/claims/1", json={"active": False}, headers=ti.headers), 422)
    assert_envelope(await client.patch("/api/v1/claims/1", json={"active": False}, headers=admin.headers), 422)
    assert [row[1] for row in await audit_rows(settings, f"claim:{AUCTIONS_SELL}")] == [
        "claim.update.refused",
        "claim.update.refused",
    ]
    for active in (False, True):
        response = await client.patch(f"/api/v1/claims/{AUCTIONS_SELL}", json={"active": active}, headers=admin.headers)
        assert response.json()["active"] is active


async def test_the_last_active_administrador_is_never_removed(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    admin_id = (await me(client, admin))["id"]
    path = f"/api/v1/users/{admin_id}"
    for change in ({"role_id": USUARIO}, {"active": False}):
        refused = assert_envelope(await client.patch(path, json=change, headers=admin.headers), 409)
        assert "last active Administrador" in refused["detail"]
    assert_envelope(await client.delete(path, headers=admin.headers), 409)
    assert_envelope(
        await client.request("DELETE", "/api/v1/users/me", json={"password": admin.password}, headers=admin.headers),
        409,
    )
    assert (await me(client, admin))["role_description"] == "Administrador"
    actions = [row[1] for row in await audit_rows(settings, f"user:{admin_id}")]
    assert actions == ["user.update.refused", "user.update.refused", "user.delete.refused", "user.delete.refused"]

    # The database itself refuses, whatever the role is called, a statement removing every Administrador at once too.
    second = await user_with_role(client, admin, ADMINISTRADOR)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("UPDATE roles SET description = 'Chefe' WHERE id = 1")
        await conn.commit()
        for statement in (
            "UPDATE users SET role_id = 4 WHERE role_id = 1",
            "UPDATE users SET state = 'deactivated' WHERE role_id = 1",
            "DELETE FROM users WHERE role_id = 1",
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                await conn.execute(statement)
            await conn.rollback()
    assert await active_administradores(settings) == sorted([admin_id, second.id])


async def test_two_administradores_removing_each_other_at_once_leave_one(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    first = admin
    first.id = (await me(client, admin))["id"]
    second = await user_with_role(client, admin, ADMINISTRADOR)
    changes = [{"role_id": USUARIO}, {"active": False}]
    for round_number in range(6):
        change_second = changes[round_number % 2]
        change_first = changes[(round_number // 2) % 2]
        responses = await asyncio.gather(
            client.patch(f"/api/v1/users/{second.id}", json=change_second, headers=first.headers),
            client.patch(f"/api/v1/users/{first.id}", json=change_first, headers=second.headers),
        )
        statuses = [r.status_code for r in responses]
        remaining = await active_administradores(settings)
        assert len(remaining) == 1, (round_number, statuses, [r.text for r in responses])
        assert statuses.count(200) == 1, statuses
        # The survivor brings the other back for the next round.
        survivor, removed = (first, second) if remaining == [first.id] else (second, first)
        back = await client.patch(
            f"/api/v1/users/{removed.id}", json={"role_id": ADMINISTRADOR, "active": True}, headers=survivor.headers
        )
        assert back.status_code == 200, back.text
        await bearer_login(client, removed)
        assert len(await active_administradores(settings)) == 2
