"""Users: PillTrackr's create-user flow, Shipay's user management, validation and the error envelope."""

from __future__ import annotations

import httpx

from tests.support import PASSWORD, assert_envelope, bearer_login, error_keys, new_user, unique_email


async def test_pilltrackr_create_user_returns_201_with_location(client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == email
    assert body["role_description"] == "Usuário"
    assert response.headers["location"] == f"/api/v1/users/{body['id']}"
    assert "generated_password" not in body
    assert "password_hash" not in response.text


async def test_same_email_in_other_letter_case_is_409(client: httpx.AsyncClient) -> None:
    email = unique_email()
    assert (await client.post("/api/v1/users", json={"email": email, "password": PASSWORD})).status_code == 201
    response = await client.post("/api/v1/users", json={"email": email.upper(), "password": PASSWORD})
    body = assert_envelope(response, 409)
    assert error_keys(response) == {"email"}
    assert "already exists" in body["detail"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users", content=b'{"email": ', headers={"content-type": "application/json"})
    assert "Malformed JSON" in assert_envelope(response, 400)["detail"]


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users", json={"email": "not-an-email", "password": 12345678, "role_id": "2", "nickname": "x"}
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"email", "password", "role_id", "nickname"}


async def test_missing_required_field_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users", json={"password": PASSWORD})
    assert_envelope(response, 400)
    assert response.json()["extra"] == [{"key": "email", "message": "Field required"}]


async def test_a_string_is_not_an_integer(client: httpx.AsyncClient, admin) -> None:
    response = await client.post("/api/v1/users", json={"email": unique_email(), "role_id": "1"}, headers=admin.headers)
    assert_envelope(response, 400)
    assert error_keys(response) == {"role_id"}


async def test_body_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.post("/api/v1/users", json=[1, 2]), 400)


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users", json={"email": unique_email(), "password": "x" * 100_000})
    assert_envelope(response, 413)


async def test_generated_password_is_returned_once_and_logs_in(client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await client.post("/api/v1/users", json={"email": email, "name": "Gerada"})
    assert response.status_code == 201, response.text
    generated = response.json()["generated_password"]
    assert len(generated) >= 16
    login = await client.post("/api/v1/auth/token", json={"email": email, "password": generated})
    assert login.status_code == 200, login.text
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["email"] == email
    assert "generated_password" not in me.json()


async def test_role_lookup_of_a_user(client: httpx.AsyncClient, admin) -> None:
    someone = await new_user(client)
    response = await client.get(f"/api/v1/users/{someone.id}/role", headers=admin.headers)
    assert response.json() == {"role_id": 4, "role_description": "Usuário"}
    unknown = await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000/role", headers=admin.headers)
    assert_envelope(unknown, 404)


async def test_unknown_role_is_400_naming_the_field(client: httpx.AsyncClient, admin) -> None:
    response = await client.post("/api/v1/users", json={"email": unique_email(), "role_id": 999}, headers=admin.headers)
    assert_envelope(response, 400)
    assert error_keys(response) == {"role_id"}


async def test_setting_a_role_needs_users_manage(client: httpx.AsyncClient, user) -> None:
    anonymous = await client.post("/api/v1/users", json={"email": unique_email(), "role_id": 4})
    assert_envelope(anonymous, 403)
    plain = await client.post("/api/v1/users", json={"email": unique_email(), "role_id": 4}, headers=user.headers)
    assert_envelope(plain, 403)


async def test_listing_includes_users_without_claims(client: httpx.AsyncClient, admin) -> None:
    plain = await new_user(client)
    granted = await new_user(client)
    grant = await client.put(f"/api/v1/users/{granted.id}/claims/3", headers=admin.headers)
    assert grant.status_code == 204, grant.text
    rows: dict[str, dict] = {}
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/users", params=params, headers=admin.headers)).json()
        rows |= {row["id"]: row for row in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert rows[plain.id]["claims"] == []
    assert rows[granted.id]["claims"] == ["purchases:manage"]
    assert rows[granted.id]["role_description"] == "Usuário"
    by_role = (await client.get("/api/v1/users", params={"role_id": 1}, headers=admin.headers)).json()
    assert [row["email"] for row in by_role["items"]] == ["admin@example.com"]


async def test_password_hash_never_appears(client: httpx.AsyncClient, admin) -> None:
    someone = await new_user(client)
    for path in ["/api/v1/users", f"/api/v1/users/{someone.id}", "/api/v1/users/me", "/api/v1/users/me/export"]:
        response = await client.get(path, headers=admin.headers)
        assert response.status_code == 200, (path, response.text)
        assert "argon2" not in response.text
        assert "password_hash" not in response.text


async def test_nobody_grants_a_claim_they_lack(client: httpx.AsyncClient, admin) -> None:
    it_staff = await new_user(client)
    assert (
        await client.patch(f"/api/v1/users/{it_staff.id}", json={"role_id": 3}, headers=admin.headers)
    ).status_code == 200
    it_staff = await bearer_login(client, it_staff)
    target = await new_user(client)
    # TI holds users:manage and auctions:sell, but not purchases:manage (claim 3) nor the Administrador role.
    assert_envelope(await client.put(f"/api/v1/users/{target.id}/claims/3", headers=it_staff.headers), 403)
    assert_envelope(
        await client.patch(f"/api/v1/users/{target.id}", json={"role_id": 1}, headers=it_staff.headers), 403
    )
    allowed = await client.put(f"/api/v1/users/{target.id}/claims/4", headers=it_staff.headers)
    assert allowed.status_code == 204
