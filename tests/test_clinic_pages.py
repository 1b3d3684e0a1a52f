"""The kiosk and the TV in a real headless browser (docs/rules/clinic.md, "Pages")."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.async_api import expect

from app.config import Settings
from tests.clinic_support import api, call_next, create_clinic, create_service, open_desk
from tests.conftest import admin_login
from tests.support import bearer_login, free_port, serve_app


async def test_ticket_from_the_totem_shows_up_on_the_tv_and_the_tv_resumes_after_a_restart(
    settings: Settings, browser: Any
) -> None:
    port = free_port()
    async with serve_app(settings, port=port) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin, name="Clínica Central")
        cid = clinic["id"]
        service = await create_service(client, admin, cid, "EN", name="Enfermagem", direction="right")
        desk = await open_desk(client, admin, cid, "Sala 3")

        totem = await browser.new_page()
        tv = await browser.new_page()
        errors: list[str] = []
        for page in (totem, tv):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await tv.goto(f"{srv.url}/clinics/{cid}/tv")
        await expect(tv.locator("body")).to_have_attribute("data-connection", "live", timeout=20_000)
        assert await tv.text_content("#clinic-name") == "Clínica Central"

        await totem.goto(f"{srv.url}/clinics/{cid}/totem")
        await totem.click(f"button[data-service-id='{service['id']}']")
        await totem.click("#choice-preferential")
        await totem.fill("#patient-name", "Maria")
        await totem.click("#issue")
        await expect(totem.locator("#step-ticket")).to_be_visible()
        code = await totem.text_content("#ticket-code")
        assert code == "EN-001"
        assert "preferencial" in (await totem.text_content("#ticket-priority") or "")
        await expect(tv.locator("#next-code")).to_have_text("EN-001", timeout=20_000)

        started = time.perf_counter()
        assert (await call_next(client, cid, desk)).status_code == 200
        await expect(tv.locator("#current-code")).to_have_text(code, timeout=20_000)
        delay = time.perf_counter() - started
        print(f"\ncall -> TV: {delay * 1000:.0f} ms (API response included)")
        assert await tv.text_content("#current-room") == "Sala 3"
        assert await tv.text_content("#current-arrow") == "→"

    # The server went away: the TV notices, and resumes when it is back on the same port.
    await expect(tv.locator("body")).to_have_attribute("data-connection", "reconnecting", timeout=20_000)
    async with serve_app(settings, port=port) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        admin = await bearer_login(client, admin)
        await client.post(api(cid, "/tickets"), json={"service_id": service["id"]})
        # The desk still holds EN-001: call next announces it again (seq 2), then EN-002 (seq 3).
        held = await call_next(client, cid, desk)
        assert held.headers["x-recall"] == "true"
        assert held.json()["code"] == "EN-001"
        path = f"/attendances/{held.json()['id']}"
        assert (await client.post(api(cid, f"{path}/start"), headers=desk.account.headers)).status_code == 200
        assert (await client.post(api(cid, f"{path}/finish"), headers=desk.account.headers)).status_code == 200
        assert (await call_next(client, cid, desk)).json()["code"] == "EN-002"
        await expect(tv.locator("#current-code")).to_have_text("EN-002", timeout=20_000)
        await expect(tv.locator("body")).to_have_attribute("data-connection", "live", timeout=20_000)
        history = await tv.locator("#history li .code").all_text_contents()
        assert history[:2] == ["EN-001", "EN-001"]  # the recall and the first call, none lost
        assert await tv.evaluate("window.clinicTv.lastSeq") == 3
    assert errors == [] or all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in errors), errors
