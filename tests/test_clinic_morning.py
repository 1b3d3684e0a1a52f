"""The staff desk and the manager's dashboard in a real headless browser (docs/rules/clinic.md, "Pages"): a whole
morning from the kiosk to the dashboard's figures, two desks following each other live, a desk told that its
session ended, and a dashboard refused to a staff member who is not a clinic admin."""

from __future__ import annotations

import asyncio
import csv
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.clinic_support import add_staff, create_clinic, create_room, create_service
from tests.support import Account, RunningServer

LIVE = 20_000  # ms: generous, effects cross a socket and a database
TABLET = {"width": 800, "height": 1280}
DESK = {"width": 1366, "height": 768}


def console_errors(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)


async def open_page(browser: Any, url: str, account: Account, errors: list[str], viewport: dict[str, int]) -> Page:
    """A fresh browser (its own cookies) on a staff page, logged in through the page's form."""
    context = await browser.new_context(viewport=viewport, accept_downloads=True)
    page = await context.new_page()
    console_errors(page, errors)
    await page.goto(url)
    await expect(page.locator("#login-panel")).to_be_visible(timeout=LIVE)
    await page.fill("#login-email", account.email)
    await page.fill("#login-password", account.password)
    await page.click("#login-form button[type=submit]")
    return page


async def open_desk(browser: Any, srv: RunningServer, cid: int, who: Account, room: str, errors: list[str]) -> Page:
    desk = await open_page(browser, f"{srv.url}/clinics/{cid}/desk", who, errors, DESK)
    await expect(desk.locator("body")).to_have_attribute("data-connection", "live", timeout=LIVE)
    await desk.select_option("#room-select", label=room)
    await desk.click("#take-room")
    await expect(desk.locator("#my-room")).to_have_text(f"Você está na {room}.", timeout=LIVE)
    return desk


def seconds(start: str, end: str) -> int:
    """Whole seconds between two of the API's timestamps, rounded as the dashboard rounds (half up)."""
    elapsed = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return math.floor(elapsed + 0.5)


async def clinic_with_two_services(client: httpx.AsyncClient, admin: Account) -> tuple[int, dict, dict]:
    clinic = await create_clinic(client, admin, name="Clínica da Manhã")
    cid = clinic["id"]
    nursing = await create_service(client, admin, cid, "EN", name="Enfermagem", direction="left")
    lab = await create_service(client, admin, cid, "LAB", name="Coleta", direction="right")
    for room in ("Sala 1", "Sala 2"):
        await create_room(client, admin, cid, room)
    return cid, nursing, lab


async def test_a_whole_morning_from_the_kiosk_to_the_dashboard(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, browser: Any, tmp_path: Path
) -> None:
    cid, nursing, lab = await clinic_with_two_services(client, admin)
    nurse = await add_staff(client, admin, cid, service_ids=[nursing["id"]], name="Ana Enfermeira")
    collector = await add_staff(client, admin, cid, service_ids=[lab["id"]], name="Bruno Coleta")
    manager = await add_staff(client, admin, cid, is_admin=True, name="Carla Gestora")
    errors: list[str] = []

    tv = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
    console_errors(tv, errors)
    await tv.goto(f"{server.url}/clinics/{cid}/tv")
    desk_a = await open_desk(browser, server, cid, nurse, "Sala 1", errors)
    desk_b = await open_desk(browser, server, cid, collector, "Sala 2", errors)
    await expect(desk_b.locator("#rooms li[data-room-id]").first).to_contain_text("Ana Enfermeira", timeout=LIVE)

    # A patient takes a ticket at the kiosk; both desks see it in the line at once.
    totem = await (await browser.new_context()).new_page()
    console_errors(totem, errors)
    await totem.goto(f"{server.url}/clinics/{cid}/totem")
    await totem.click(f"button[data-service-id='{nursing['id']}']")
    await totem.fill("#patient-name", "Maria")
    await totem.click("#issue")
    await expect(totem.locator("#ticket-code")).to_have_text("EN-001", timeout=LIVE)
    for desk in (desk_a, desk_b):
        await expect(desk.locator("#waiting li .code")).to_have_text(["EN-001"], timeout=LIVE)

    # Desk A calls: the TV shows it, desk B sees the line empty and EN-001 at Sala 1.
    await asyncio.sleep(1.2)
    await desk_a.click("#call-next")
    await expect(desk_a.locator("#current-code")).to_have_text("EN-001", timeout=LIVE)
    await expect(desk_a.locator("#current-patient")).to_have_text("Maria")
    await expect(tv.locator("#current-code")).to_have_text("EN-001", timeout=LIVE)
    await expect(tv.locator("#current-room")).to_have_text("Sala 1")
    await expect(desk_b.locator("#waiting li")).to_have_count(0, timeout=LIVE)
    await expect(desk_b.locator("#in-progress li")).to_contain_text(["EN-001"], timeout=LIVE)
    await expect(desk_b.locator("#in-progress li .info")).to_have_text("Chamado na Sala 1")

    await asyncio.sleep(1.2)
    await desk_a.click("#start")
    await expect(desk_b.locator("#in-progress li .info")).to_have_text("Em atendimento na Sala 1", timeout=LIVE)
    await asyncio.sleep(1.2)
    await desk_a.select_option("#forward-to", label="Coleta")
    await expect(desk_a.locator("#finish")).to_have_text("Finalizar e encaminhar")
    await desk_a.click("#finish")
    await expect(desk_a.locator("#feedback")).to_have_text("EN-001 encaminhada para Coleta.", timeout=LIVE)
    first = await desk_a.evaluate("window.clinicDesk.current")
    assert first["status"] == "forwarded"

    # The forwarded step keeps its code and reaches desk B's line; desk B calls, starts and finishes it.
    await expect(desk_b.locator("#waiting li .service")).to_have_text(["Coleta"], timeout=LIVE)
    await asyncio.sleep(1.2)
    await desk_b.click("#call-next")
    await expect(desk_b.locator("#current-code")).to_have_text("EN-001", timeout=LIVE)
    await expect(tv.locator("#current-room")).to_have_text("Sala 2", timeout=LIVE)
    await expect(desk_a.locator("#in-progress li .info")).to_have_text("Chamado na Sala 2", timeout=LIVE)
    await asyncio.sleep(1.2)
    await desk_b.click("#start")
    await expect(desk_b.locator("#current-status")).to_have_text("Em atendimento", timeout=LIVE)
    await asyncio.sleep(1.2)
    await desk_b.click("#finish")
    await expect(desk_b.locator("#current-status")).to_have_text("Atendimento finalizado", timeout=LIVE)
    await expect(desk_a.locator("#in-progress li")).to_have_count(0, timeout=LIVE)
    second = await desk_b.evaluate("window.clinicDesk.current")

    # What the morning produced, in whole seconds, from the timestamps the API answered the desks.
    expected = {
        nursing["id"]: {
            "avg_wait_seconds": seconds(first["arrived_at"], first["called_at"]),
            "avg_walk_seconds": seconds(first["called_at"], first["started_at"]),
            "avg_service_seconds": seconds(first["started_at"], first["finished_at"]),
            "avg_total_seconds": seconds(first["arrived_at"], second["finished_at"]),
        },
        lab["id"]: {
            "avg_wait_seconds": seconds(second["arrived_at"], second["called_at"]),
            "avg_walk_seconds": seconds(second["called_at"], second["started_at"]),
            "avg_service_seconds": seconds(second["started_at"], second["finished_at"]),
        },
    }
    assert all(value >= 1 for row in expected.values() for value in row.values()), expected

    dashboard = await open_page(browser, f"{server.url}/clinics/{cid}/dashboard", manager, errors, DESK)
    await expect(dashboard.locator("#dashboard")).to_be_visible(timeout=LIVE)
    table = dashboard.locator("#table-service")
    for service_id, figures in expected.items():
        row = table.locator(f"tr[data-key='{service_id}']")
        for field, value in figures.items():
            await expect(row.locator(f"[data-field={field}]")).to_have_text(str(value))
            p90 = field.replace("avg_", "p90_")
            await expect(row.locator(f"[data-field={p90}]")).to_have_text(str(value))  # one ticket: p90 = average
    nursing_row = table.locator(f"tr[data-key='{nursing['id']}']")
    await expect(nursing_row.locator("[data-field=tickets]")).to_have_text("1")
    await expect(nursing_row.locator("[data-field=completed_tickets]")).to_have_text("1")
    calls = dashboard.locator("#table-attendant")
    for who in (nurse, collector):
        await expect(calls.locator(f"tr[data-key='{who.id}'] [data-field=calls]")).to_have_text("1")
    await expect(dashboard.locator("#live-waiting")).to_have_text("0")

    async with dashboard.expect_download() as download_info:
        await dashboard.click("#csv-service")
    path = tmp_path / "per-service.csv"
    await (await download_info.value).save_as(path)
    rows = {r["service"]: r for r in csv.DictReader(io.StringIO(path.read_text("utf-8-sig")), delimiter=";")}
    for service, service_id in (("Enfermagem", nursing["id"]), ("Coleta", lab["id"])):
        for field, value in expected[service_id].items():
            assert rows[service][field] == str(value), (service, field, rows[service])
    # The API answers the same figures the page shows.
    stats = (await client.get(f"/api/v1/clinics/{cid}/stats", headers=manager.headers)).json()
    by_id = {s["service_id"]: s for s in stats["per_service"]}
    for service_id, figures in expected.items():
        for field, value in figures.items():
            assert math.floor(by_id[service_id][field] + 0.5) == value

    assert errors == []


async def test_two_desks_follow_each_other_and_a_refusal_reads_as_a_sentence(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, browser: Any
) -> None:
    cid, nursing, _ = await clinic_with_two_services(client, admin)
    ana = await add_staff(client, admin, cid, name="Ana Enfermeira")
    bruno = await add_staff(client, admin, cid, name="Bruno Enfermeiro")
    errors: list[str] = []
    desk_a = await open_desk(browser, server, cid, ana, "Sala 1", errors)
    await desk_a.set_viewport_size(TABLET)
    desk_b = await open_desk(browser, server, cid, bruno, "Sala 2", errors)
    # B took its room after A's page had loaded: A sees it live.
    await expect(desk_a.locator("#rooms li").nth(1)).to_have_text("Sala 2: Bruno Enfermeiro", timeout=LIVE)
    for name in ("Maria", "João"):
        response = await client.post(
            f"/api/v1/clinics/{cid}/tickets", json={"service_id": nursing["id"], "patient_name": name}
        )
        assert response.status_code == 201
    await expect(desk_a.locator("#waiting li .code")).to_have_text(["EN-001", "EN-002"], timeout=LIVE)

    await desk_b.click("#call-next")
    await expect(desk_a.locator("#waiting li .code")).to_have_text(["EN-002"], timeout=LIVE)
    await expect(desk_a.locator("#in-progress li .info")).to_have_text("Chamado na Sala 2", timeout=LIVE)
    await desk_b.click("#recall")
    await expect(desk_b.locator("#feedback")).to_have_text("Senha EN-001 chamada novamente.", timeout=LIVE)
    await desk_b.click("#no-show")
    await expect(desk_a.locator("#in-progress li")).to_have_count(0, timeout=LIVE)
    await desk_b.click("#reactivate")
    await expect(desk_a.locator("#waiting li .code")).to_have_text(["EN-002", "EN-001"], timeout=LIVE)
    await desk_a.click("#call-next")
    await expect(desk_a.locator("#current-code")).to_have_text("EN-002", timeout=LIVE)
    await expect(desk_b.locator("#in-progress li .info")).to_have_text("Chamado na Sala 1", timeout=LIVE)
    # Desk A's page stops hearing the feed (a lagging tablet); meanwhile its patient is started elsewhere.
    await desk_a.evaluate("() => { const s = window.clinicDesk.socket; window.clinicDesk.socket = null; s.close(); }")
    step = await desk_a.evaluate("window.clinicDesk.current.step_id")
    started = await client.post(f"/api/v1/clinics/{cid}/attendances/{step}/start", json={}, headers=ana.headers)
    assert started.status_code == 200
    await expect(desk_b.locator("#in-progress li .info")).to_have_text("Em atendimento na Sala 1", timeout=LIVE)
    await desk_a.click("#no-show")
    await expect(desk_a.locator("#feedback")).to_have_text(
        "Não foi possível: a senha EN-002 já está em atendimento.", timeout=LIVE
    )
    await expect(desk_a.locator("#current-status")).to_have_text("Em atendimento")  # caught up from the 409
    refused = [e for e in errors if "409 (Conflict)" in e]  # the browser logs the refused request itself
    assert len(refused) == 1, errors
    assert [e for e in errors if e not in refused] == [], errors


async def test_the_desk_says_when_its_session_ended_or_its_right_was_lost(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, browser: Any
) -> None:
    cid, _, _ = await clinic_with_two_services(client, admin)
    ana = await add_staff(client, admin, cid, name="Ana Enfermeira")
    bruno = await add_staff(client, admin, cid, name="Bruno Enfermeiro")
    errors: list[str] = []
    desk = await open_desk(browser, server, cid, ana, "Sala 1", errors)
    other_desk = await open_desk(browser, server, cid, bruno, "Sala 2", errors)
    # Another tab of the same browser logs out: the staff feed closes with 4401 and the desk asks for a login.
    other_tab = await desk.context.new_page()
    await other_tab.goto(f"{server.url}/clinics/{cid}/desk")
    await expect(other_tab.locator("#logout")).to_be_visible(timeout=LIVE)
    await other_tab.click("#logout")
    await expect(desk.locator("#banner")).to_have_text(
        "Sua sessão terminou (saída em outra janela ou tempo esgotado). Entre novamente.", timeout=LIVE
    )
    await expect(desk.locator("#login-panel")).to_be_visible()
    await expect(desk.locator("#desk")).to_be_hidden()
    # Ana's logout freed her room: the other desk saw it. Then the admin removes Bruno from the staff: 4403.
    await expect(other_desk.locator("#rooms li").first).to_have_text("Sala 1: livre", timeout=LIVE)
    removed = await client.patch(
        f"/api/v1/clinics/{cid}/staff/{bruno.id}", json={"active": False}, headers=admin.headers
    )
    assert removed.status_code == 200, removed.text
    await expect(other_desk.locator("#banner")).to_have_text(
        "Você não faz mais parte da equipe desta clínica. Entre novamente com outra conta.", timeout=LIVE
    )
    await expect(other_desk.locator("#desk")).to_be_hidden()
    assert errors == []


async def test_the_dashboard_is_refused_to_staff_who_are_not_clinic_admins(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, browser: Any
) -> None:
    cid, nursing, _ = await clinic_with_two_services(client, admin)
    ana = await add_staff(client, admin, cid, name="Ana Enfermeira")
    await client.post(f"/api/v1/clinics/{cid}/tickets", json={"service_id": nursing["id"]})
    errors: list[str] = []
    page = await open_page(browser, f"{server.url}/clinics/{cid}/dashboard", ana, errors, TABLET)
    await expect(page.locator("#banner")).to_have_text(
        "Este painel é só para administradores da clínica. Entre com outra conta.", timeout=LIVE
    )
    await expect(page.locator("#dashboard")).to_be_hidden()
    assert await page.locator("#table-service tr").count() == 0  # never the data
    assert all("403 (Forbidden)" in e for e in errors), errors  # the refused /stats, as the browser logs it
