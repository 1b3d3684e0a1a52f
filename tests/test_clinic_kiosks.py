"""Kiosks and the daily quota (docs/rules/clinic.md; issue 11, finding 6): anonymous internet clients draw from their
own share of a service's daily tickets and cannot deny the clinic's patients theirs; reception and the clinic's
registered kiosks draw from the whole quota."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.config import Settings
from tests.clinic_support import add_staff, api, create_clinic, create_service, issue
from tests.conftest import admin_login
from tests.support import assert_envelope, serve_app, with_settings

MAX_PER_DAY = 10  # the web share (WEB_TICKET_SHARE, 0.2 by default) is 2 of them


def internet(n: int) -> dict[str, str]:
    """An anonymous client somewhere on the internet, forwarded by the trusted proxy on loopback."""
    return {"X-Forwarded-For": f"203.0.113.{n}"}


@asynccontextmanager
async def behind_a_proxy(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a reverse proxy on loopback: client addresses come from X-Forwarded-For."""
    async with (
        serve_app(with_settings(settings, trusted_proxies=("127.0.0.1",))) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield client


async def test_anonymous_clients_cannot_use_up_the_tickets_of_reception_and_kiosks(settings: Settings) -> None:
    async with behind_a_proxy(settings) as client:
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        service = await create_service(client, admin, clinic["id"], "EN", max_per_day=MAX_PER_DAY)
        tickets = api(clinic["id"], "/tickets")

        statuses = [
            (await client.post(tickets, json={"service_id": service["id"]}, headers=internet(n))).status_code
            for n in range(MAX_PER_DAY + 1)
        ]
        assert statuses.count(201) == 2, statuses
        refused = await client.post(tickets, json={"service_id": service["id"]}, headers=internet(99))
        assert "web" in assert_envelope(refused, 409)["detail"]

        reception = await add_staff(client, admin, clinic["id"])
        assert (await issue(client, clinic["id"], service["id"], headers=reception.headers | internet(1)))["code"]

        # The clinic admin registers the kiosk's browser: it gets a long-lived cookie and draws from the full quota.
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as kiosk:
            registered = await kiosk.post(
                api(clinic["id"], "/kiosks"), json={"name": "Totem da entrada"}, headers=admin.headers
            )
            assert registered.status_code == 201, registered.text
            assert registered.json()["name"] == "Totem da entrada"
            assert kiosk.cookies.get("kiosk")
            codes = [(await issue(kiosk, clinic["id"], service["id"], headers=internet(7)))["code"] for _ in range(3)]
            assert codes == ["EN-004", "EN-005", "EN-006"]

            listed = await client.get(api(clinic["id"], "/kiosks"), headers=admin.headers)
            assert [k["name"] for k in listed.json()] == ["Totem da entrada"]
            assert "token" not in listed.json()[0]
            assert listed.json()[0]["last_used_at"]

            # A revoked kiosk is an anonymous client again: the web share is used up.
            kiosk_id = registered.json()["id"]
            revoked = await client.delete(api(clinic["id"], f"/kiosks/{kiosk_id}"), headers=admin.headers)
            assert revoked.status_code == 204, revoked.text
            again = await kiosk.post(tickets, json={"service_id": service["id"]}, headers=internet(7))
            assert_envelope(again, 409)

        # The rest of the day's tickets still go to reception, up to the cap.
        for _ in range(MAX_PER_DAY - 6):
            await issue(client, clinic["id"], service["id"], headers=reception.headers)
        full = await client.post(tickets, json={"service_id": service["id"]}, headers=reception.headers)
        assert_envelope(full, 409)


async def test_kiosks_are_managed_by_clinic_admins_only(settings: Settings) -> None:
    async with behind_a_proxy(settings) as client:
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        member = await add_staff(client, admin, clinic["id"])
        for headers in ({}, member.headers):
            response = await client.post(api(clinic["id"], "/kiosks"), json={"name": "x"}, headers=headers)
            assert response.status_code in (401, 403), response.text
            assert_envelope(await client.get(api(clinic["id"], "/kiosks"), headers=headers), response.status_code)
        other = await create_clinic(client, admin)
        registered = await client.post(api(other["id"], "/kiosks"), json={"name": "Totem"}, headers=admin.headers)
        kiosk_id = registered.json()["id"]
        assert_envelope(await client.delete(api(clinic["id"], f"/kiosks/{kiosk_id}"), headers=admin.headers), 404)


async def test_in_production_this_machine_is_no_kiosk(settings: Settings) -> None:
    """The development rule (a loopback client counts as a registered kiosk) is off in production."""
    production = with_settings(settings, env="production", secret_key="s" * 40)
    async with serve_app(production) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        service = await create_service(client, admin, clinic["id"], "EN", max_per_day=4)  # a web share of 0
        refused = await client.post(api(clinic["id"], "/tickets"), json={"service_id": service["id"]})
        assert "web" in assert_envelope(refused, 409)["detail"]
