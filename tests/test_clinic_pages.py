"""The kiosk and the TV in a real headless browser (docs/rules/clinic.md, "Pages")."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from app.config import Settings
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.conftest import admin_login
from tests.support import bearer_login, free_port, serve_app


async def test_ticket_from_the_totem_reaches_the_tv_and_the_phone_and_both_pages_say_when_the_server_is_gone(
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
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        for page in (totem, tv, phone):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await tv.goto(f"{srv.url}/clinics/{cid}/tv")
        await expect(tv.locator("body")).to_have_attribute("data-connection", "live", timeout=20_000)
        assert await tv.text_content("#clinic-name") == "Clínica Central"
        assert await tv.locator("#offline").is_hidden()

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

        # The QR's address: the ticket's public page, which follows the ticket.
        follow = await totem.get_attribute("#ticket-qr", "data-url")
        assert follow is not None
        assert follow.startswith(f"{srv.url}/clinics/{cid}/tickets/")
        await phone.goto(follow)
        await expect(phone.locator("#code")).to_have_text("EN-001", timeout=10_000)
        await expect(phone.locator("#ahead")).to_have_text("Você é o próximo")

        started = time.perf_counter()
        assert (await call_next(client, cid, desk)).status_code == 200
        await expect(tv.locator("#current-code")).to_have_text(code, timeout=20_000)
        delay = time.perf_counter() - started
        print(f"\ncall -> TV: {delay * 1000:.0f} ms (API response included)")
        assert await tv.text_content("#current-room") == "Sala 3"
        assert await tv.text_content("#current-arrow") == "→"
        await expect(phone.locator("#status")).to_have_text("Sua senha foi chamada: dirija-se a Sala 3", timeout=10_000)
        await shot(phone, "ticket-390x844-called")

        # Announced again: the ticket stays the current call and adds no row to the history.
        assert (await call_next(client, cid, desk)).headers["x-recall"] == "true"
        await tv.wait_for_function("window.clinicTv.lastSeq === 2", timeout=10_000)
        assert await tv.locator("#history li").count() == 0

    # The server went away: the TV says so plainly, the kiosk too; both come back by themselves.
    stopped = time.perf_counter()
    await expect(tv.locator("#offline")).to_be_visible(timeout=10_000)
    print(f"server stopped -> TV offline notice: {(time.perf_counter() - stopped) * 1000:.0f} ms")
    assert "Sem conexão" in (await tv.text_content("#offline") or "")
    await shot(tv, "tv-1280x720-offline")
    await totem.click("#done")
    await expect(totem.locator("#step-offline")).to_be_visible(timeout=10_000)
    assert "Sem conexão" in await totem.inner_text("#step-offline")
    assert "dirija-se à recepção" in await totem.inner_text("#step-offline")
    async with serve_app(settings, port=port) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        back = time.perf_counter()
        await expect(tv.locator("body")).to_have_attribute("data-connection", "live", timeout=20_000)
        print(f"server back -> TV live: {(time.perf_counter() - back) * 1000:.0f} ms")
        await expect(tv.locator("#offline")).to_be_hidden()
        await expect(totem.locator("#step-services")).to_be_visible(timeout=10_000)
        admin = await bearer_login(client, admin)
        await client.post(api(cid, "/tickets"), json={"service_id": service["id"]})
        # The desk still holds EN-001: call next announces it again (seq 3), then EN-002 (seq 4).
        held = await call_next(client, cid, desk)
        assert held.headers["x-recall"] == "true"
        assert held.json()["code"] == "EN-001"
        path = f"/attendances/{held.json()['id']}"
        assert (await client.post(api(cid, f"{path}/start"), headers=desk.account.headers)).status_code == 200
        assert (await client.post(api(cid, f"{path}/finish"), headers=desk.account.headers)).status_code == 200
        assert (await call_next(client, cid, desk)).json()["code"] == "EN-002"
        await expect(tv.locator("#current-code")).to_have_text("EN-002", timeout=20_000)
        assert await tv.locator("#history li .code").all_text_contents() == ["EN-001"]  # once, none lost
        assert await tv.evaluate("window.clinicTv.lastSeq") == 4
    assert errors == [] or all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in errors), errors


# Every element of the TV's cards inside its card, and no line clipped (the panel keeps each on one line).
SPILLS = """() => {
  const bad = [];
  for (const card of document.querySelectorAll('.card, .tv-header')) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      const name = `${el.id || el.className}: ${el.textContent.trim().slice(0, 40)}`;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        bad.push('outside its card: ' + name);
      const clipped = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline';
      if (clipped) bad.push('clipped: ' + name);
    }
  }
  if (document.documentElement.scrollWidth > innerWidth) bad.push('horizontal scroll');
  return bad;
}"""
TV_SIZES = [(1920, 1080), (1366, 768), (1280, 720)]
SHOTS = os.environ.get("PAGES_SCREENSHOTS")  # a folder: the tests save what they saw there (docs/operations.md)


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


async def test_tv_fits_every_size_shows_each_ticket_once_and_the_rooms_route_and_the_kiosk_speaks_portuguese(
    settings: Settings, browser: Any
) -> None:
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        admin = await admin_login(client)
        cid = (await create_clinic(client, admin, name="Clínica Municipal de Especialidades Dr. Álvaro Ribeiro"))["id"]
        service = await create_service(
            client, admin, cid, "CG", name="Coleta de exames laboratoriais", route_text="Laboratório - térreo"
        )
        nurse = await open_desk(client, admin, cid, "Sala de enfermagem pediátrica 2")
        route = {"route_text": "Consultórios 1 a 4 - corredor A, segundo andar", "direction": "left"}
        room_path = api(cid, f"/rooms/{nurse.room['id']}")
        alone = await client.patch(room_path, json={"direction": "left"}, headers=admin.headers)
        assert alone.status_code == 400  # a direction needs its route text
        room = await client.patch(room_path, json=route, headers=admin.headers)
        assert room.status_code == 200, room.text
        assert room.json()["route_text"] == route["route_text"]
        other = await open_desk(client, admin, cid, "Consultório 12")
        for _ in range(6):
            await issue(client, cid, service["id"])
        for turn in range(6):
            desk = nurse if turn % 2 else other
            called = await call_next(client, cid, desk)
            assert (await call_next(client, cid, desk)).headers["x-recall"] == "true"  # announced twice
            for action in ("start", "finish"):
                step = api(cid, f"/attendances/{called.json()['id']}/{action}")
                assert (await client.post(step, headers=desk.account.headers)).status_code == 200
        await issue(client, cid, service["id"], "preferential")
        assert (await call_next(client, cid, nurse)).status_code == 200

        display = (await client.get(api(cid, "/display"))).json()
        codes = [call["code"] for call in display["history"]]
        assert codes == ["CG-006", "CG-005", "CG-004", "CG-003", "CG-002"], codes  # each ticket once, latest first
        assert display["current"]["route_text"] == route["route_text"]  # the room's route, not the service's
        shown = {call["room"]: call["route_text"] for call in display["history"]}  # as each call stored it
        assert shown == {
            "Sala de enfermagem pediátrica 2": route["route_text"],
            "Consultório 12": "Laboratório - térreo",
        }

        tv = await browser.new_page()
        await tv.goto(f"{srv.url}/clinics/{cid}/tv")
        await expect(tv.locator("#current-code")).to_have_text("CG-007", timeout=10_000)
        assert await tv.locator("#history li .code").all_text_contents() == codes
        assert await tv.text_content("#current-route") == route["route_text"]
        assert await tv.text_content("#current-arrow") == "←"
        await expect(tv.locator("#current-priority")).to_have_text("Preferencial")
        assert await tv.locator("[aria-live]").count() >= 2
        for width, height in TV_SIZES:
            await tv.set_viewport_size({"width": width, "height": height})
            await tv.wait_for_timeout(300)  # the fitting runs on resize
            await shot(tv, f"tv-{width}x{height}")
            assert await tv.evaluate(SPILLS) == [], (width, height)

        # The kiosk: the ticket, its QR and its buttons fit a landscape tablet; a closed service is said plainly.
        kiosk = await browser.new_page(viewport={"width": 1280, "height": 800})
        await kiosk.goto(f"{srv.url}/clinics/{cid}/totem")
        await kiosk.click(f"button[data-service-id='{service['id']}']")
        await kiosk.click("#issue")
        await expect(kiosk.locator("#ticket-code")).to_have_text("CG-008")
        assert await kiosk.locator("#ticket-qr svg").count() == 1
        assert f"/clinics/{cid}/tickets/" in (await kiosk.get_attribute("#ticket-qr", "data-url") or "")
        await shot(kiosk, "totem-1280x800-ticket")
        for button in ("#print", "#done"):
            box = await kiosk.locator(button).bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= 800, button
        await kiosk.set_viewport_size({"width": 800, "height": 1280})
        await shot(kiosk, "totem-800x1280-ticket")
        await kiosk.click("#done")
        await shot(kiosk, "totem-800x1280-services")
        await kiosk.click(f"button[data-service-id='{service['id']}']")
        assert (
            await client.patch(api(cid, f"/services/{service['id']}"), json={"active": False}, headers=admin.headers)
        ).status_code == 200
        await kiosk.click("#issue")
        await expect(kiosk.locator("#error-text")).to_contain_text("não está disponível", timeout=10_000)
        await expect(kiosk.locator("#error-text")).to_contain_text("recepção")
        await shot(kiosk, "totem-800x1280-service-closed")
        assert "Validation" not in await kiosk.inner_text("body")

        cleared = await client.patch(room_path, json={"route_text": None}, headers=admin.headers)
        assert (cleared.json()["route_text"], cleared.json()["direction"]) == (None, None)  # the service's again

        blind = await browser.new_context(java_script_enabled=False)
        page = await blind.new_page()
        await page.goto(f"{srv.url}/clinics/{cid}/totem")
        assert "dirija-se à recepção" in await page.inner_text("body")
        await blind.close()
