"""Tickets (docs/rules/clinic.md): per-day numbering, quotas, priorities the kiosk may issue, lookup by random token,
the kiosk's cached service list."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg

from app.clinic.repository import ClinicRepository
from app.config import Settings
from tests.clinic_support import add_staff, api, create_clinic, create_service, issue
from tests.support import Account, assert_envelope, error_keys, eventually, start_server_process


async def test_100_concurrent_tickets_are_numbered_001_to_100(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    service = await create_service(client, admin, clinic["id"], "EN")
    responses = await asyncio.gather(
        *[client.post(api(clinic["id"], "/tickets"), json={"service_id": service["id"]}) for _ in range(100)]
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    codes = sorted(r.json()["code"] for r in responses)
    assert codes == [f"EN-{n:03d}" for n in range(1, 101)]
    tokens = {r.json()["public_token"] for r in responses}
    assert len(tokens) == 100


async def test_numbering_restarts_each_clinic_day(
    settings: Settings, client: httpx.AsyncClient, admin: Account
) -> None:
    """The day is the clinic's: 23:59 and 00:01 in its time zone are two days, whatever UTC says."""
    clinic = await create_clinic(client, admin, timezone="America/Manaus")
    service = await create_service(client, admin, clinic["id"], "LAB")
    zone = ZoneInfo("America/Manaus")
    before_midnight = datetime(2030, 5, 10, 23, 58, tzinfo=zone)
    after_midnight = before_midnight + timedelta(minutes=3)
    assert before_midnight.astimezone(ZoneInfo("UTC")).date() == after_midnight.astimezone(ZoneInfo("UTC")).date()
    codes = []
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        repo = ClinicRepository(conn)
        for at in (before_midnight, before_midnight, after_midnight, after_midnight):
            row = await repo.issue_ticket(
                clinic_id=clinic["id"],
                service_id=service["id"],
                priority="normal",
                patient_name=None,
                origin="totem",
                issued_by=None,
                public_token=f"token-{at.timestamp()}-{len(codes)}-padding-padding",
                now=at,
            )
            assert row is not None
            codes.append(row.code)
    assert codes == ["LAB-001", "LAB-002", "LAB-001", "LAB-002"]


async def test_max_per_day_is_409_and_accepts_is_422(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    capped = await create_service(client, admin, clinic["id"], "CG", max_per_day=2)
    await issue(client, clinic["id"], capped["id"])
    await issue(client, clinic["id"], capped["id"])
    response = await client.post(api(clinic["id"], "/tickets"), json={"service_id": capped["id"]})
    assert_envelope(response, 409)
    only_priority = await create_service(client, admin, clinic["id"], "PR", accepts="priority")
    response = await client.post(api(clinic["id"], "/tickets"), json={"service_id": only_priority["id"]})
    assert_envelope(response, 422)
    assert error_keys(response) == {"priority"}
    assert (await issue(client, clinic["id"], only_priority["id"], "preferential"))["code"] == "PR-001"
    only_normal = await create_service(client, admin, clinic["id"], "NO", accepts="normal")
    response = await client.post(
        api(clinic["id"], "/tickets"), json={"service_id": only_normal["id"], "priority": "preferential"}
    )
    assert_envelope(response, 422)


async def test_kiosk_cannot_issue_emergency_but_reception_can(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    service = await create_service(client, admin, clinic["id"], "EM")
    response = await client.post(
        api(clinic["id"], "/tickets"), json={"service_id": service["id"], "priority": "emergency"}
    )
    assert_envelope(response, 403)
    reception = await add_staff(client, admin, clinic["id"])
    ticket = await issue(client, clinic["id"], service["id"], "emergency", headers=reception.headers)
    assert ticket["priority"] == "emergency"


async def test_unknown_service_is_400_and_unknown_clinic_404(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    response = await client.post(api(clinic["id"], "/tickets"), json={"service_id": 999999})
    assert_envelope(response, 400)
    assert error_keys(response) == {"service_id"}
    assert_envelope(await client.post(api(999999, "/tickets"), json={"service_id": 1}), 404)
    response = await client.post(api(clinic["id"], "/tickets"), json={"service_id": "1", "priority": "vip"})
    assert error_keys(response) == {"service_id", "priority"}


async def test_ticket_lookup_only_with_its_random_token(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    service = await create_service(client, admin, clinic["id"], "EN")
    await issue(client, clinic["id"], service["id"])
    ticket = await issue(client, clinic["id"], service["id"], patient_name="Maria")
    assert len(ticket["public_token"]) >= 22
    assert ticket["waiting_ahead"] == 1
    found = await client.get(api(clinic["id"], f"/tickets/{ticket['public_token']}"))
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["code"] == "EN-002"
    assert body["status"] == "waiting"
    assert body["position"] == 2
    assert [step["service"] for step in body["route"]] == [service["name"]]
    for guess in ("1", "2", "EN-002", ticket["public_token"][:-1] + "x"):
        assert_envelope(await client.get(api(clinic["id"], f"/tickets/{guess}")), 404)
    other = await create_clinic(client, admin)
    assert_envelope(await client.get(api(other["id"], f"/tickets/{ticket['public_token']}")), 404)


async def test_idempotency_key_returns_the_first_ticket(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    service = await create_service(client, admin, clinic["id"], "EN")
    headers = {"Idempotency-Key": "kiosk-tap-1"}
    body = {"service_id": service["id"]}
    first = await client.post(api(clinic["id"], "/tickets"), json=body, headers=headers)
    again = await client.post(api(clinic["id"], "/tickets"), json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (await issue(client, clinic["id"], service["id"]))["code"] == "EN-002"


async def test_disabled_service_leaves_the_kiosk_list_in_every_process(
    settings: Settings, client: httpx.AsyncClient, admin: Account, tmp_path: Path
) -> None:
    clinic = await create_clinic(client, admin)
    keep = await create_service(client, admin, clinic["id"], "CG")
    drop = await create_service(client, admin, clinic["id"], "EN")
    other = await start_server_process(settings, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=30) as remote:

            async def kiosk_ids(http: httpx.AsyncClient) -> set[int]:
                response = await http.get(api(clinic["id"], "/services"))
                assert response.status_code == 200, response.text
                return {s["id"] for s in response.json()}

            # Both processes have cached the list.
            assert await kiosk_ids(client) == {keep["id"], drop["id"]}
            assert await kiosk_ids(remote) == {keep["id"], drop["id"]}
            response = await client.patch(
                api(clinic["id"], f"/services/{drop['id']}"), json={"active": False}, headers=admin.headers
            )
            assert response.status_code == 200, response.text
            assert await kiosk_ids(client) == {keep["id"]}

            async def gone_remotely() -> bool:
                return await kiosk_ids(remote) == {keep["id"]}

            await eventually(gone_remotely, timeout=5)
            response = await client.post(api(clinic["id"], "/tickets"), json={"service_id": drop["id"]})
            assert_envelope(response, 400)
            # And back, through the other process this time.
            response = await remote.patch(
                api(clinic["id"], f"/services/{drop['id']}"), json={"active": True}, headers=admin.headers
            )
            assert response.status_code == 200, response.text

            async def back_here() -> bool:
                return await kiosk_ids(client) == {keep["id"], drop["id"]}

            await eventually(back_here, timeout=5)
    finally:
        other.stop()
