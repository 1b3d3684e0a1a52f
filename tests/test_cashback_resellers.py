"""Resellers (docs/rules/cashback.md): registration with a CPF, CPF validation, duplicates, login by e-mail or CPF, the
profile, account deletion and the LGPD export."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.cashback_upstream import AUTO_APPROVED_CPF, mask, new_reseller, random_cpf
from tests.support import PASSWORD, assert_envelope, error_keys, new_user, unique_email


def _body(cpf: object, email: str | None = None) -> dict[str, object]:
    return {"full_name": "Ana Revenda", "cpf": cpf, "email": email or unique_email("ana"), "password": PASSWORD}


@pytest.mark.parametrize("cpf", ["153.509.460-56", "15350946056", " 153.509.460-56 "])
async def test_valid_cpf_masked_or_digits_is_stored_as_digits(client: httpx.AsyncClient, cpf: str) -> None:
    email = unique_email("ana")
    response = await client.post("/api/v1/resellers", json=_body(cpf, email))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["cpf"] == "15350946056"
    assert body["full_name"] == "Ana Revenda"
    assert body["email"] == email
    assert "password" not in response.text
    assert "password_hash" not in response.text


@pytest.mark.parametrize(
    ("cpf", "why"),
    [
        ("153.509.460-57", "check digits"),  # second check digit wrong
        ("15350946066", "check digits"),  # first check digit wrong
        ("111.111.111-11", "all digits equal"),  # passes the arithmetic, refused anyway
        ("00000000000", "all digits equal"),
        ("1535094605", "11 digits"),  # too short
        ("153509460560", "11 digits"),  # too long
        ("153.509.46-056", "11 digits"),  # a mask in the wrong places
        ("153.509.460-5a", "only digits"),  # letters
        ("abcdefghijk", "only digits"),
        ("", "11 digits"),
    ],
)
async def test_invalid_cpf_is_400_naming_the_field(client: httpx.AsyncClient, cpf: str, why: str) -> None:
    response = await client.post("/api/v1/resellers", json=_body(cpf))
    assert_envelope(response, 400)
    assert error_keys(response) == {"cpf"}
    assert why in response.json()["extra"][0]["message"]


async def test_cpf_must_be_a_string(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/resellers", json=_body(15350946056))
    assert_envelope(response, 400)
    assert error_keys(response) == {"cpf"}


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/resellers", json={"full_name": "", "cpf": "123", "email": "nope", "password": "short", "x": 1}
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"full_name", "cpf", "email", "password", "x"}


async def test_duplicate_cpf_is_409_and_leaves_no_account_behind(client: httpx.AsyncClient) -> None:
    cpf = random_cpf()
    assert (await client.post("/api/v1/resellers", json=_body(cpf))).status_code == 201
    email = unique_email("second")
    response = await client.post("/api/v1/resellers", json=_body(mask(cpf), email))
    assert_envelope(response, 409)
    assert error_keys(response) == {"cpf"}
    # The user row of the refused registration was rolled back with it: the e-mail is still free.
    assert (await client.post("/api/v1/resellers", json=_body(random_cpf(), email))).status_code == 201


async def test_duplicate_email_in_any_letter_case_is_409(client: httpx.AsyncClient) -> None:
    email = unique_email("case")
    assert (await client.post("/api/v1/resellers", json=_body(random_cpf(), email))).status_code == 201
    response = await client.post("/api/v1/resellers", json=_body(random_cpf(), email.upper()))
    assert_envelope(response, 409)
    assert error_keys(response) == {"email"}


async def test_email_of_a_plain_user_is_taken_too(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    response = await client.post("/api/v1/resellers", json=_body(random_cpf(), user.email))
    assert_envelope(response, 409)


async def test_concurrent_registrations_with_one_cpf_create_exactly_one(client: httpx.AsyncClient) -> None:
    cpf = random_cpf()
    responses = await asyncio.gather(*[client.post("/api/v1/resellers", json=_body(cpf)) for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


async def test_idempotency_key_replays_the_registration(client: httpx.AsyncClient) -> None:
    body = _body(random_cpf())
    headers = {"Idempotency-Key": "reseller-1"}
    first = await client.post("/api/v1/resellers", json=body, headers=headers)
    again = await client.post("/api/v1/resellers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize("form", ["digits", "masked", "email"])
async def test_login_by_cpf_or_email_with_json(client: httpx.AsyncClient, form: str) -> None:
    reseller = await new_reseller(client)
    login = {"digits": reseller.cpf, "masked": mask(reseller.cpf), "email": reseller.email.upper()}[form]
    response = await client.post("/api/v1/auth/token", json={"email": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await client.get("/api/v1/resellers/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == reseller.id


@pytest.mark.parametrize("form", ["digits", "masked", "email"])
async def test_login_by_cpf_or_email_with_the_oauth2_form(client: httpx.AsyncClient, form: str) -> None:
    reseller = await new_reseller(client)
    login = {"digits": reseller.cpf, "masked": mask(reseller.cpf), "email": reseller.email}[form]
    response = await client.post("/api/v1/auth/token", data={"username": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["id"] == reseller.id


async def test_login_with_cpf_and_wrong_password_is_the_same_401(client: httpx.AsyncClient) -> None:
    reseller = await new_reseller(client)
    wrong = await client.post("/api/v1/auth/token", json={"email": reseller.cpf, "password": "wrong password"})
    unknown = await client.post("/api/v1/auth/token", json={"email": random_cpf(), "password": PASSWORD})
    half_masked = await client.post(
        "/api/v1/auth/token", json={"email": reseller.cpf[:9] + "-" + reseller.cpf[9:], "password": PASSWORD}
    )
    for response in (wrong, unknown, half_masked):
        assert_envelope(response, 401)
    assert wrong.json() == unknown.json()


async def test_reseller_profile(client: httpx.AsyncClient) -> None:
    reseller = await new_reseller(client, name="Maria Silva")
    response = await client.get("/api/v1/resellers/me", headers=reseller.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["full_name"] == "Maria Silva"
    assert body["cpf"] == reseller.cpf
    assert body["email"] == reseller.email
    # full_name is the user's name: one account for the whole product.
    me = await client.get("/api/v1/users/me", headers=reseller.headers)
    assert me.json()["name"] == "Maria Silva"


async def test_profile_of_a_user_who_is_not_a_reseller_is_404(client: httpx.AsyncClient, user) -> None:
    assert_envelope(await client.get("/api/v1/resellers/me", headers=user.headers), 404)
    assert_envelope(await client.get("/api/v1/resellers/me"), 401)


async def test_the_auto_approved_cpf_registers_like_any_other(client: httpx.AsyncClient) -> None:
    reseller = await new_reseller(client, cpf=mask(AUTO_APPROVED_CPF))
    assert reseller.cpf == AUTO_APPROVED_CPF


async def test_export_includes_the_reseller_and_purchases(client: httpx.AsyncClient) -> None:
    reseller = await new_reseller(client)
    created = await client.post(
        "/api/v1/purchases",
        json={"code": "EXP-1", "value": 120.5, "date": "2024-03-10", "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    assert created.status_code == 201, created.text
    document = (await client.get("/api/v1/users/me/export", headers=reseller.headers)).json()
    assert document["reseller"]["cpf"] == reseller.cpf
    [purchase] = document["reseller"]["purchases"]
    assert purchase["code"] == "EXP-1"
    assert purchase["value"] == 120.5
    assert purchase["date"] == "2024-03-10"
    assert purchase["status"] == "Em validação"


async def test_export_of_a_user_who_is_not_a_reseller_has_no_reseller(client: httpx.AsyncClient, user) -> None:
    document = (await client.get("/api/v1/users/me/export", headers=user.headers)).json()
    assert document["reseller"] is None


async def test_account_deletion_forgets_the_cpf_and_keeps_the_purchases(
    client: httpx.AsyncClient,
    admin,
) -> None:
    reseller = await new_reseller(client)
    created = await client.post(
        "/api/v1/purchases",
        json={"code": "KEEP-1", "value": 99.9, "date": "2024-03-10", "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    purchase_id = created.json()["id"]
    response = await client.request("DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=reseller.headers)
    assert response.status_code == 204, response.text
    # The CPF is free again (anonymized), the CPF no longer logs in, and the purchase is kept for the records.
    login = await client.post("/api/v1/auth/token", json={"email": reseller.cpf, "password": PASSWORD})
    assert_envelope(login, 401)
    kept = await client.get(f"/api/v1/purchases/{purchase_id}", headers=admin.headers)
    assert kept.status_code == 200
    assert kept.json()["code"] == "KEEP-1"
    listed = await client.get("/api/v1/purchases", params={"cpf": reseller.cpf}, headers=admin.headers)
    assert listed.json()["items"] == []
    again = await new_reseller(client, cpf=reseller.cpf)
    assert again.cpf == reseller.cpf
