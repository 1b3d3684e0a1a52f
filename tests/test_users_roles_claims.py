"""Roles and claims (docs/rules/users.md): GET/POST /roles, GET/POST/PATCH /claims for users:manage only, grants and
revokes of a user's claims (idempotent, audited), effective claims = active claims of the role plus the user's."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from app.config import Settings
from tests.support import Account, assert_envelope, bearer_login, error_keys, new_user

ROLES = {
    "Administrador": ["auctions:sell", "clinics:manage", "purchases:manage", "users:manage"],
    "Moderador": ["auctions:sell", "purchases:manage"],
    "TI": ["auctions:sell", "users:manage"],
    "Usuário": ["auctions:sell"],
}


async def audit_rows(settings: Settings, subject: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT actor_id::text, action, detail FROM audit_log WHERE subject = %s ORDER BY id", [subject]
        )
        return await cursor.fetchall()


async def me(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.get("/api/v1/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def every_page(client: httpx.AsyncClient, path: str, account: Account, limit: int = 3) -> list[dict[str, Any]]:
    """Walks the pagination of (docs/rules/README.md, "Lists") ({"items", "next_cursor"}) with a small page size."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=params, headers=account.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_roles_and_claims_come_from_the_migration(client: httpx.AsyncClient, admin: Account) -> None:
    roles = await every_page(client, "/api/v1/roles", admin)
    assert {role["description"]: role["claims"] for role in roles} == ROLES
    claims = await every_page(client, "/api/v1/claims", admin)
    assert {c["description"] for c in claims} == set(ROLES["Administrador"])
    assert all(c["active"] for c in claims)
    mine = await me(client, admin)
    assert mine["role_description"] == "Administrador"
    assert mine["effective_claims"] == ROLES["Administrador"]


async def test_only_users_manage_reaches_roles_and_claims(client: httpx.AsyncClient, user: Account) -> None:
    calls = [
        ("GET", "/api/v1/roles", None),
        ("POST", "/api/v1/roles", {"description": "Auditor"}),
        ("GET", "/api/v1/claims", None),
        ("POST", "/api/v1/claims", {"description": "reports:view"}),
        ("PATCH", "/api/v1/claims/4", {"active": False}),
        ("PUT", f"/api/v1/users/{user.id}/claims/4", None),
        ("DELETE", f"/api/v1/users/{user.id}/claims/4", None),
    ]
    for method, path, body in calls:
        assert_envelope(await client.request(method, path, json=body, headers=user.headers), 403)
        assert_envelope(await client.request(method, path, json=body), 401)


async def test_create_role_and_claim_with_duplicates_refused(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    claim = await client.post("/api/v1/claims", json={"description": "reports:view"}, headers=admin.headers)
    assert claim.status_code == 201, claim.text
    assert claim.json()["description"] == "reports:view"
    assert claim.json()["active"] is True
    duplicate = await client.post("/api/v1/claims", json={"description": "reports:view"}, headers=admin.headers)
    assert_envelope(duplicate, 409)
    assert error_keys(duplicate) == {"description"}
    bad = await client.post("/api/v1/claims", json={"description": "Not A Claim!"}, headers=admin.headers)
    assert_envelope(bad, 400)

    role = await client.post(
        "/api/v1/roles", json={"description": "Auditor", "claim_ids": [claim.json()["id"], 4]}, headers=admin.headers
    )
    assert role.status_code == 201, role.text
    assert role.json()["claims"] == ["auctions:sell", "reports:view"]
    assert_envelope(await client.post("/api/v1/roles", json={"description": "Auditor"}, headers=admin.headers), 409)
    unknown = await client.post(
        "/api/v1/roles", json={"description": "Ghost", "claim_ids": [999]}, headers=admin.headers
    )
    assert_envelope(unknown, 400)
    assert error_keys(unknown) == {"claim_ids"}

    assert [row[1] for row in await audit_rows(settings, f"role:{role.json()['id']}")] == ["role.create"]
    assert [row[1] for row in await audit_rows(settings, f"claim:{claim.json()['id']}")] == ["claim.create"]


async def test_patch_claim_renames_and_deactivates(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    created = (await client.post("/api/v1/claims", json={"description": "reports:view"}, headers=admin.headers)).json()
    path = f"/api/v1/claims/{created['id']}"
    renamed = await client.patch(path, json={"description": "reports:read"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"id": created["id"], "description": "reports:read", "active": True}
    taken = await client.patch(path, json={"description": "auctions:sell"}, headers=admin.headers)
    assert_envelope(taken, 409)
    off = await client.patch(path, json={"active": False}, headers=admin.headers)
    assert off.json()["active"] is False
    assert off.json()["description"] == "reports:read"
    assert_envelope(await client.patch("/api/v1/claims/999", json={"active": False}, headers=admin.headers), 404)
    assert [row[1] for row in await audit_rows(settings, f"claim:{created['id']}")] == [
        "claim.create",
        "claim.update",
        "claim.update",
    ]


async def test_grant_and_revoke_are_idempotent_and_audited(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    target = await new_user(client)
    path = f"/api/v1/users/{target.id}/claims/3"  # purchases:manage
    for _ in range(2):
        response = await client.put(path, headers=admin.headers)
        assert response.status_code == 204, response.text
    assert (await me(client, target))["claims"] == ["purchases:manage"]
    assert "purchases:manage" in (await me(client, target))["effective_claims"]
    for _ in range(2):
        assert (await client.delete(path, headers=admin.headers)).status_code == 204
    assert (await me(client, target))["claims"] == []
    assert "purchases:manage" not in (await me(client, target))["effective_claims"]

    admin_id = (await me(client, admin))["id"]
    rows = await audit_rows(settings, f"user:{target.id}")
    assert [(actor, action) for actor, action, _ in rows] == [(admin_id, "claim.grant"), (admin_id, "claim.revoke")]
    assert rows[0][2] == {"claim": "purchases:manage"}

    assert_envelope(await client.put(f"/api/v1/users/{target.id}/claims/999", headers=admin.headers), 404)
    unknown_user = "/api/v1/users/00000000-0000-0000-0000-000000000000/claims/3"
    assert_envelope(await client.put(unknown_user, headers=admin.headers), 404)
    assert_envelope(await client.delete(unknown_user, headers=admin.headers), 404)


async def test_a_granted_claim_takes_effect_on_live_sessions(client: httpx.AsyncClient, admin: Account) -> None:
    target = await new_user(client)
    assert_envelope(await client.get("/api/v1/users", headers=target.headers), 403)
    assert (await client.put(f"/api/v1/users/{target.id}/claims/1", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/users", headers=target.headers)).status_code == 200


async def test_a_deactivated_claim_stops_counting(client: httpx.AsyncClient, admin: Account) -> None:
    target = await new_user(client)
    extra = (await client.post("/api/v1/claims", json={"description": "reports:view"}, headers=admin.headers)).json()
    assert (
        await client.put(f"/api/v1/users/{target.id}/claims/{extra['id']}", headers=admin.headers)
    ).status_code == 204
    assert (await me(client, target))["effective_claims"] == ["auctions:sell", "reports:view"]

    # Off for everyone: the user's own grant and the role's default claim alike.
    assert (
        await client.patch(f"/api/v1/claims/{extra['id']}", json={"active": False}, headers=admin.headers)
    ).status_code == 200
    assert (await client.patch("/api/v1/claims/4", json={"active": False}, headers=admin.headers)).status_code == 200
    view = await me(client, target)
    assert view["claims"] == ["reports:view"]  # still granted, but inactive
    assert view["effective_claims"] == []
    listed = (await client.get(f"/api/v1/users/{target.id}", headers=admin.headers)).json()
    assert listed["effective_claims"] == []

    assert (await client.patch("/api/v1/claims/4", json={"active": True}, headers=admin.headers)).status_code == 200
    assert (await me(client, target))["effective_claims"] == ["auctions:sell"]


async def test_nobody_hands_out_a_role_or_claim_they_do_not_hold(client: httpx.AsyncClient, admin: Account) -> None:
    it_staff = await new_user(client)
    assert (
        await client.patch(f"/api/v1/users/{it_staff.id}", json={"role_id": 3}, headers=admin.headers)
    ).status_code == 200
    it_staff = await bearer_login(client, it_staff)
    # TI holds users:manage and auctions:sell only.
    assert_envelope(
        await client.post("/api/v1/roles", json={"description": "Sneaky", "claim_ids": [2]}, headers=it_staff.headers),
        403,
    )
    assert_envelope(await client.patch("/api/v1/claims/3", json={"active": False}, headers=it_staff.headers), 403)
    assert_envelope(
        await client.post("/api/v1/users", json={"email": "boss@example.com", "role_id": 2}, headers=it_staff.headers),
        403,
    )
    ok = await client.post("/api/v1/roles", json={"description": "Sellers", "claim_ids": [4]}, headers=it_staff.headers)
    assert ok.status_code == 201, ok.text


async def test_role_changes_are_audited(client: httpx.AsyncClient, admin: Account, settings: Settings) -> None:
    target = await new_user(client)
    path = f"/api/v1/users/{target.id}"
    assert (await client.patch(path, json={"role_id": 2}, headers=admin.headers)).json()[
        "role_description"
    ] == "Moderador"
    assert (await client.patch(path, json={"active": False}, headers=admin.headers)).json()["active"] is False
    assert (await client.patch(path, json={"active": True}, headers=admin.headers)).json()["active"] is True
    created = await client.post("/api/v1/users", json={"email": "mod@example.com", "role_id": 2}, headers=admin.headers)
    assert created.status_code == 201
    assert [row[1] for row in await audit_rows(settings, f"user:{target.id}")] == [
        "role.grant",
        "user.deactivate",
        "user.activate",
    ]
    assert [row[1] for row in await audit_rows(settings, f"user:{created.json()['id']}")] == ["role.grant"]


async def test_claims_the_code_checks_cannot_be_renamed_and_users_manage_stays_on(
    client: httpx.AsyncClient, admin: Account
) -> None:
    renamed = await client.patch("/api/v1/claims/4", json={"description": "auctions:selling"}, headers=admin.headers)
    assert_envelope(renamed, 422)
    assert error_keys(renamed) == {"description"}
    off = await client.patch("/api/v1/claims/1", json={"active": False}, headers=admin.headers)
    assert_envelope(off, 422)
    assert error_keys(off) == {"active"}
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 200
    # Saying the same name again, or switching another built-in claim off and on, is fine.
    same = await client.patch("/api/v1/claims/4", json={"description": "auctions:sell"}, headers=admin.headers)
    assert same.status_code == 200, same.text
