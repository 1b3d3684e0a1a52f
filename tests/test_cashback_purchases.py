"""Purchases and their cashback (docs/rules/cashback.md): the automatic status, the monthly tier computed at read time,
ownership, the manager's approve/reject, editing and deleting while 'Em validação'."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.cashback_upstream import AUTO_APPROVED_CPF, Reseller, decoded, mask, new_reseller, random_cpf
from tests.support import Account, assert_envelope, error_keys, new_user

D = Decimal


async def buy(
    client: httpx.AsyncClient,
    who: Account,
    cpf: str,
    value: str,
    day: str = "2024-05-10",
    code: str | None = None,
    expect: int = 201,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /api/v1/purchases; the value is sent as a JSON number written exactly as given."""
    code = code or f"C-{random_cpf()}"
    content = f'{{"code": "{code}", "value": {value}, "date": "{day}", "cpf": "{cpf}"}}'
    response = await client.post(
        "/api/v1/purchases",
        content=content,
        headers={"content-type": "application/json", **who.headers, **(headers or {})},
    )
    assert response.status_code == expect, response.text
    return decoded(response)


async def get(client: httpx.AsyncClient, who: Account, purchase_id: int) -> Any:
    response = await client.get(f"/api/v1/purchases/{purchase_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    return decoded(response)


@pytest.fixture
async def reseller(client: httpx.AsyncClient) -> Reseller:
    return await new_reseller(client)


# Status -----------------------------------------------------------------------------------------------------


async def test_a_new_purchase_is_em_validacao(client: httpx.AsyncClient, reseller: Reseller) -> None:
    body = await buy(client, reseller, reseller.cpf, "150.00", code="NF-1")
    assert body["status"] == "Em validação"
    assert body["code"] == "NF-1"
    assert body["value"] == D("150.00")
    assert body["date"] == "2024-05-10"
    assert body["cashback_percent"] == D("10")
    assert body["cashback_value"] == D("15.00")


@pytest.mark.parametrize("written", [AUTO_APPROVED_CPF, mask(AUTO_APPROVED_CPF)])
async def test_the_auto_approved_cpf_gets_aprovado(client: httpx.AsyncClient, written: str) -> None:
    special = await new_reseller(client, cpf=mask(AUTO_APPROVED_CPF))
    body = await buy(client, special, written, "80.00")
    assert body["status"] == "Aprovado"


async def test_created_purchase_has_a_location(client: httpx.AsyncClient, reseller: Reseller) -> None:
    response = await client.post(
        "/api/v1/purchases",
        json={"code": "LOC-1", "value": 10, "date": "2024-05-01", "cpf": mask(reseller.cpf)},
        headers=reseller.headers,
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/purchases/{response.json()['id']}"
    assert (await get(client, reseller, response.json()["id"]))["code"] == "LOC-1"


# The tier table ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "percent", "cashback"),
    [
        ("999.99", "10", "100.00"),  # 99.999 -> 100.00
        ("1000.00", "10", "100.00"),  # the 10 % tier includes 1000.00
        ("1000.01", "15", "150.00"),  # 150.0015
        ("1500.00", "15", "225.00"),  # the 15 % tier includes 1500.00
        ("1500.01", "20", "300.00"),  # 300.002
    ],
)
async def test_tier_boundaries(
    client: httpx.AsyncClient, reseller: Reseller, value: str, percent: str, cashback: str
) -> None:
    body = await buy(client, reseller, reseller.cpf, value)
    assert body["cashback_percent"] == D(percent)
    assert body["cashback_value"] == D(cashback)


async def test_the_700_plus_500_example(client: httpx.AsyncClient, reseller: Reseller) -> None:
    first = await buy(client, reseller, reseller.cpf, "700.00", day="2024-05-02")
    assert first["cashback_percent"] == D("10")  # alone in its month so far
    second = await buy(client, reseller, reseller.cpf, "500.00", day="2024-05-20")
    assert (second["cashback_percent"], second["cashback_value"]) == (D("15"), D("75.00"))
    # The second purchase moved the first one into the 15 % tier too.
    first = await get(client, reseller, first["id"])
    assert (first["cashback_percent"], first["cashback_value"]) == (D("15"), D("105.00"))


async def test_purchases_in_different_months_do_not_mix(client: httpx.AsyncClient, reseller: Reseller) -> None:
    january = await buy(client, reseller, reseller.cpf, "700.00", day="2024-01-31")
    february = await buy(client, reseller, reseller.cpf, "500.00", day="2024-02-01")
    assert (await get(client, reseller, january["id"]))["cashback_value"] == D("70.00")
    assert (await get(client, reseller, february["id"]))["cashback_value"] == D("50.00")
    # The same calendar month of another year is another month.
    next_year = await buy(client, reseller, reseller.cpf, "500.00", day="2025-01-15")
    assert next_year["cashback_percent"] == D("10")


async def test_resellers_do_not_share_a_month(client: httpx.AsyncClient, reseller: Reseller) -> None:
    other = await new_reseller(client)
    await buy(client, reseller, reseller.cpf, "700.00")
    theirs = await buy(client, other, other.cpf, "500.00")
    assert theirs["cashback_percent"] == D("10")


async def test_a_rejected_purchase_leaves_the_month_total(
    client: httpx.AsyncClient,
    reseller: Reseller,
    admin: Account,
) -> None:
    kept = await buy(client, reseller, reseller.cpf, "700.00")
    rejected = await buy(client, reseller, reseller.cpf, "500.00")
    assert (await get(client, reseller, kept["id"]))["cashback_value"] == D("105.00")
    response = await client.post(f"/api/v1/purchases/{rejected['id']}/reject", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert decoded(response)["status"] == "Reprovado"
    # The rejected one earns nothing and no longer lifts its month-mate into the 15 % tier.
    assert decoded(response)["cashback_value"] == D("0")
    assert (await get(client, reseller, kept["id"]))["cashback_value"] == D("70.00")


async def test_editing_a_purchase_changes_its_month_mates(client: httpx.AsyncClient, reseller: Reseller) -> None:
    first = await buy(client, reseller, reseller.cpf, "700.00")
    second = await buy(client, reseller, reseller.cpf, "200.00")
    assert (await get(client, reseller, first["id"]))["cashback_value"] == D("70.00")
    response = await client.patch(f"/api/v1/purchases/{second['id']}", json={"value": 500}, headers=reseller.headers)
    assert response.status_code == 200, response.text
    assert decoded(response)["cashback_value"] == D("75.00")
    assert (await get(client, reseller, first["id"]))["cashback_value"] == D("105.00")
    # Moving it to another month takes it out of this one.
    response = await client.patch(
        f"/api/v1/purchases/{second['id']}", json={"date": "2024-06-01"}, headers=reseller.headers
    )
    assert decoded(response)["cashback_value"] == D("50.00")
    assert (await get(client, reseller, first["id"]))["cashback_value"] == D("70.00")


async def test_deleting_a_purchase_changes_its_month_mates(client: httpx.AsyncClient, reseller: Reseller) -> None:
    first = await buy(client, reseller, reseller.cpf, "700.00")
    second = await buy(client, reseller, reseller.cpf, "500.00")
    assert (await get(client, reseller, first["id"]))["cashback_value"] == D("105.00")
    response = await client.delete(f"/api/v1/purchases/{second['id']}", headers=reseller.headers)
    assert response.status_code == 204
    assert (await get(client, reseller, first["id"]))["cashback_value"] == D("70.00")
    assert_envelope(await client.get(f"/api/v1/purchases/{second['id']}", headers=reseller.headers), 404)


@pytest.mark.parametrize(
    ("value", "cashback"),
    [
        ("12.25", "1.23"),  # 1.225: half-up (half-even would give 1.22, a float 1.2249999...)
        ("0.25", "0.03"),  # 0.025
        ("0.05", "0.01"),  # 0.005
        ("0.04", "0.00"),  # 0.004
        ("10.99", "1.10"),  # 1.099
    ],
)
async def test_cashback_is_rounded_half_up_to_cents(
    client: httpx.AsyncClient, reseller: Reseller, value: str, cashback: str
) -> None:
    body = await buy(client, reseller, reseller.cpf, value)
    assert body["cashback_value"] == D(cashback)


async def test_rounding_in_the_15_percent_tier(client: httpx.AsyncClient, reseller: Reseller) -> None:
    await buy(client, reseller, reseller.cpf, "1000.00")
    small = await buy(client, reseller, reseller.cpf, "0.10")  # total 1000.10 -> 15 %: 0.015 -> 0.02
    assert (small["cashback_percent"], small["cashback_value"]) == (D("15"), D("0.02"))


# Listing ----------------------------------------------------------------------------------------------------


async def test_list_by_month_with_cashback(client: httpx.AsyncClient, reseller: Reseller) -> None:
    await buy(client, reseller, reseller.cpf, "700.00", day="2024-05-02", code="MAY-1")
    await buy(client, reseller, reseller.cpf, "500.00", day="2024-05-30", code="MAY-2")
    await buy(client, reseller, reseller.cpf, "300.00", day="2024-06-01", code="JUN-1")
    response = await client.get("/api/v1/purchases", params={"month": "2024-05"}, headers=reseller.headers)
    assert response.status_code == 200, response.text
    page = decoded(response)
    assert page["next_cursor"] is None
    assert [(p["code"], p["cashback_value"]) for p in page["items"]] == [
        ("MAY-2", D("75.00")),
        ("MAY-1", D("105.00")),
    ]
    assert set(page["items"][0]) == {"id", "code", "value", "date", "cashback_percent", "cashback_value", "status"}
    everything = decoded(await client.get("/api/v1/purchases", headers=reseller.headers))
    assert [p["code"] for p in everything["items"]] == ["JUN-1", "MAY-2", "MAY-1"]


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient, reseller: Reseller) -> None:
    codes = []
    for day in range(1, 6):
        codes.append((await buy(client, reseller, reseller.cpf, "10.00", day=f"2024-05-{day:02d}"))["code"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/purchases", params=params, headers=reseller.headers)).json()
        seen += [p["code"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(codes))


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"month": "2024-13"}, "month"),
        ({"month": "2024-5"}, "month"),
        ({"month": "may"}, "month"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cpf": "123"}, "cpf"),
    ],
)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, reseller: Reseller, params: dict[str, str], key: str
) -> None:
    response = await client.get("/api/v1/purchases", params=params, headers=reseller.headers)
    assert_envelope(response, 400)
    assert error_keys(response) == {key}


async def test_listing_needs_a_login(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/api/v1/purchases"), 401)


# Ownership --------------------------------------------------------------------------------------------------


async def test_another_resellers_purchase_is_404_to_read_edit_and_delete(
    client: httpx.AsyncClient, reseller: Reseller
) -> None:
    other = await new_reseller(client)
    theirs = await buy(client, other, other.cpf, "100.00")
    path = f"/api/v1/purchases/{theirs['id']}"
    assert_envelope(await client.get(path, headers=reseller.headers), 404)
    assert_envelope(await client.patch(path, json={"value": 1}, headers=reseller.headers), 404)
    assert_envelope(await client.delete(path, headers=reseller.headers), 404)
    # Same answers as for a purchase that does not exist; and it was not touched.
    assert_envelope(await client.get("/api/v1/purchases/999999", headers=reseller.headers), 404)
    assert (await get(client, other, theirs["id"]))["value"] == D("100.00")
    mine = decoded(await client.get("/api/v1/purchases", headers=reseller.headers))
    assert mine["items"] == []


async def test_creating_with_someone_elses_cpf_is_403(client: httpx.AsyncClient, reseller: Reseller) -> None:
    other = await new_reseller(client)
    await buy(client, reseller, mask(other.cpf), "100.00", expect=403)
    await buy(client, reseller, random_cpf(), "100.00", expect=403)
    assert (await client.get("/api/v1/purchases", params={"cpf": other.cpf}, headers=other.headers)).json()[
        "items"
    ] == []


async def test_a_user_who_is_not_a_reseller_cannot_register_purchases(client: httpx.AsyncClient) -> None:
    plain = await new_user(client)
    other = await new_reseller(client)
    await buy(client, plain, other.cpf, "100.00", expect=403)


async def test_listing_someone_elses_cpf_needs_the_claim(client: httpx.AsyncClient, reseller: Reseller) -> None:
    other = await new_reseller(client)
    response = await client.get("/api/v1/purchases", params={"cpf": other.cpf}, headers=reseller.headers)
    assert_envelope(response, 403)
    own = await client.get("/api/v1/purchases", params={"cpf": mask(reseller.cpf)}, headers=reseller.headers)
    assert own.status_code == 200


async def test_a_manager_lists_by_cpf_and_approves_or_rejects(
    client: httpx.AsyncClient, reseller: Reseller, admin: Account
) -> None:
    first = await buy(client, reseller, reseller.cpf, "700.00", code="M-1")
    second = await buy(client, reseller, reseller.cpf, "500.00", code="M-2")
    listed = await client.get("/api/v1/purchases", params={"cpf": mask(reseller.cpf)}, headers=admin.headers)
    assert [p["code"] for p in listed.json()["items"]] == ["M-2", "M-1"]
    assert (await get(client, admin, first["id"]))["code"] == "M-1"

    approved = await client.post(f"/api/v1/purchases/{first['id']}/approve", headers=admin.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "Aprovado"
    # Approving twice is a status conflict that names the current status.
    again = await client.post(f"/api/v1/purchases/{first['id']}/approve", headers=admin.headers)
    assert_envelope(again, 409)
    assert again.json()["extra"] == [{"key": "status", "message": "Aprovado"}]

    rejected = await client.post(f"/api/v1/purchases/{second['id']}/reject", headers=admin.headers)
    assert rejected.json()["status"] == "Reprovado"
    assert_envelope(await client.post(f"/api/v1/purchases/{second['id']}/approve", headers=admin.headers), 409)
    assert_envelope(await client.post(f"/api/v1/purchases/{second['id']}/reject", headers=admin.headers), 409)
    # An approval can be reversed.
    reversed_ = await client.post(f"/api/v1/purchases/{first['id']}/reject", headers=admin.headers)
    assert reversed_.json()["status"] == "Reprovado"
    assert_envelope(await client.post("/api/v1/purchases/999999/approve", headers=admin.headers), 404)


async def test_a_manager_lists_an_unknown_cpf_as_empty(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/api/v1/purchases", params={"cpf": random_cpf()}, headers=admin.headers)
    assert response.json() == {"items": [], "next_cursor": None}


async def test_approving_needs_the_claim(client: httpx.AsyncClient, reseller: Reseller) -> None:
    mine = await buy(client, reseller, reseller.cpf, "100.00")
    assert_envelope(await client.post(f"/api/v1/purchases/{mine['id']}/approve", headers=reseller.headers), 403)
    assert_envelope(await client.post(f"/api/v1/purchases/{mine['id']}/reject", headers=reseller.headers), 403)


async def test_a_manager_registers_a_purchase_for_a_reseller(
    client: httpx.AsyncClient, reseller: Reseller, admin: Account
) -> None:
    created = await buy(client, admin, mask(reseller.cpf), "100.00")
    assert (await get(client, reseller, created["id"]))["status"] == "Em validação"
    response = await client.post(
        "/api/v1/purchases",
        json={"code": "X-1", "value": 1, "date": "2024-05-01", "cpf": random_cpf()},
        headers=admin.headers,
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"cpf"}


async def test_no_edit_or_delete_once_decided(client: httpx.AsyncClient, reseller: Reseller, admin: Account) -> None:
    mine = await buy(client, reseller, reseller.cpf, "100.00")
    await client.post(f"/api/v1/purchases/{mine['id']}/approve", headers=admin.headers)
    path = f"/api/v1/purchases/{mine['id']}"
    response = await client.patch(path, json={"value": 5}, headers=reseller.headers)
    assert_envelope(response, 409)
    assert response.json()["extra"] == [{"key": "status", "message": "Aprovado"}]
    assert_envelope(await client.delete(path, headers=reseller.headers), 409)
    # Auto-approved purchases are decided from the start.
    special = await new_reseller(client, cpf=AUTO_APPROVED_CPF)
    auto = await buy(client, special, AUTO_APPROVED_CPF, "10.00")
    assert_envelope(await client.delete(f"/api/v1/purchases/{auto['id']}", headers=special.headers), 409)


async def test_a_manager_cannot_edit_someone_elses_purchase(
    client: httpx.AsyncClient, reseller: Reseller, admin: Account
) -> None:
    mine = await buy(client, reseller, reseller.cpf, "100.00")
    assert_envelope(
        await client.patch(f"/api/v1/purchases/{mine['id']}", json={"value": 1}, headers=admin.headers), 404
    )


# Codes, validation, idempotency ---------------------------------------------------------------------------


async def test_duplicate_purchase_code_is_409(client: httpx.AsyncClient, reseller: Reseller) -> None:
    await buy(client, reseller, reseller.cpf, "10.00", code="DUP-1")
    response = await client.post(
        "/api/v1/purchases",
        json={"code": "DUP-1", "value": 20, "date": "2024-05-01", "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    assert_envelope(response, 409)
    assert error_keys(response) == {"code"}
    # Also when someone else holds the code, and when an edit would take it.
    other = await new_reseller(client)
    await buy(client, other, other.cpf, "10.00", code="DUP-1", expect=409)
    second = await buy(client, reseller, reseller.cpf, "10.00", code="DUP-2")
    response = await client.patch(f"/api/v1/purchases/{second['id']}", json={"code": "DUP-1"}, headers=reseller.headers)
    assert_envelope(response, 409)
    assert (await get(client, reseller, second["id"]))["code"] == "DUP-2"


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ({"code": "V", "value": 10.001, "date": "2024-05-01"}, {"value"}),
        ({"code": "V", "value": 0, "date": "2024-05-01"}, {"value"}),
        ({"code": "V", "value": -5, "date": "2024-05-01"}, {"value"}),
        ({"code": "V", "value": "10.00", "date": "2024-05-01"}, {"value"}),
        ({"code": "V", "value": 10, "date": "2024-05-01T10:00:00Z"}, {"date"}),
        ({"code": "V", "value": 10, "date": "2024-02-30"}, {"date"}),
        ({"code": "", "value": 10, "date": "2024-05-01"}, {"code"}),
        ({"code": "V", "value": 10, "date": "2024-05-01", "cpf": "153.509.460-57"}, {"cpf"}),
        ({"value": 10, "date": "2024-05-01", "extra": 1}, {"code", "extra"}),
    ],
)
async def test_invalid_purchase_bodies_are_400(
    client: httpx.AsyncClient, reseller: Reseller, body: dict[str, Any], keys: set[str]
) -> None:
    response = await client.post("/api/v1/purchases", json={"cpf": reseller.cpf} | body, headers=reseller.headers)
    assert_envelope(response, 400)
    assert error_keys(response) == keys


async def test_a_purchase_cannot_be_in_the_future(client: httpx.AsyncClient, reseller: Reseller) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    response = await client.post(
        "/api/v1/purchases",
        json={"code": "F-1", "value": 10, "date": tomorrow, "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"date"}


async def test_an_empty_edit_is_400(client: httpx.AsyncClient, reseller: Reseller) -> None:
    mine = await buy(client, reseller, reseller.cpf, "10.00")
    assert_envelope(await client.patch(f"/api/v1/purchases/{mine['id']}", json={}, headers=reseller.headers), 400)


async def test_idempotency_key_replays_the_purchase(client: httpx.AsyncClient, reseller: Reseller) -> None:
    headers = {"Idempotency-Key": "buy-1"}
    first = await buy(client, reseller, reseller.cpf, "10.00", code="IDEM-1", headers=headers)
    again = await buy(client, reseller, reseller.cpf, "10.00", code="IDEM-1", headers=headers)
    assert again == first
    changed = await client.post(
        "/api/v1/purchases",
        json={"code": "IDEM-1", "value": 11, "date": "2024-05-10", "cpf": reseller.cpf},
        headers={**reseller.headers, **headers},
    )
    assert_envelope(changed, 409)
    listed = (await client.get("/api/v1/purchases", headers=reseller.headers)).json()
    assert len(listed["items"]) == 1


async def test_out_of_range_ids_months_and_cursors_are_not_500s(
    client: httpx.AsyncClient, reseller: Reseller, admin: Account
) -> None:
    huge = "/api/v1/purchases/99999999999999999999"
    assert_envelope(await client.get(huge, headers=reseller.headers), 404)
    assert_envelope(await client.patch(huge, json={"value": 1}, headers=reseller.headers), 404)
    assert_envelope(await client.delete(huge, headers=reseller.headers), 404)
    assert_envelope(await client.post(huge + "/approve", headers=admin.headers), 404)
    response = await client.get("/api/v1/purchases", params={"month": "0000-01"}, headers=reseller.headers)
    assert_envelope(response, 400)
    crafted = base64.urlsafe_b64encode(b'["2024-05-01", 99999999999999999999]').decode().rstrip("=")
    response = await client.get("/api/v1/purchases", params={"cursor": crafted}, headers=reseller.headers)
    assert_envelope(response, 400)
    assert error_keys(response) == {"cursor"}
