"""Statistics (docs/rules/clinic.md): tickets per day, service and attendant; average and p90 of wait, walk, service and
total time, with dates in the clinic's time zone. The scenario runs through the API, then its timestamps are
set to known values so that the expected figures are exact."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.support import Account, assert_envelope

ZONE = ZoneInfo("America/Sao_Paulo")


def at(hour: int, minute: int, day: int = 10) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


async def test_stats_on_a_known_scenario(settings: Settings, client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin, timezone="America/Sao_Paulo")
    cid = clinic["id"]
    nursing = await create_service(client, admin, cid, "EN")
    lab = await create_service(client, admin, cid, "LAB")
    nurse = await open_desk(client, admin, cid, "Enfermagem", service_ids=[nursing["id"]])
    lab_desk = await open_desk(client, admin, cid, "Coleta", service_ids=[lab["id"]])
    tickets = {code: await issue(client, cid, nursing["id"]) for code in ("A", "B", "C", "D")}

    async def serve(desk, forward_to: int | None = None) -> int:
        step = (await call_next(client, cid, desk)).json()["id"]
        path = f"/attendances/{step}"
        assert (await client.post(api(cid, f"{path}/start"), headers=desk.account.headers)).status_code == 200
        body = {"service_id": forward_to} if forward_to else {}
        finished = await client.post(api(cid, f"{path}/finish"), json=body, headers=desk.account.headers)
        assert finished.status_code == 200, finished.text
        return step

    a1 = await serve(nurse, forward_to=lab["id"])
    a2 = await serve(lab_desk)
    b = await serve(nurse)

    # Known timestamps: (arrived, called, started, finished) per step; issue times per ticket.
    steps = {
        a1: (at(8, 0), at(8, 10), at(8, 12), at(8, 22)),  # wait 600, walk 120, service 600
        a2: (at(8, 22), at(8, 32), at(8, 33), at(8, 43)),  # wait 600, walk 60, service 600
        b: (at(8, 5), at(8, 35), at(8, 36), at(8, 56)),  # wait 1800, walk 60, service 1200
    }
    issued = {"A": at(8, 0), "B": at(8, 5), "C": at(8, 6), "D": at(23, 30)}  # D: the 11th in UTC
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        for name, ticket in tickets.items():
            await conn.execute(
                "UPDATE tickets SET issued_at = %(t)s, day = (%(t)s AT TIME ZONE 'America/Sao_Paulo')::date "
                "WHERE public_token = %(token)s",
                {"t": issued[name], "token": ticket["public_token"]},
            )
            await conn.execute(
                "UPDATE attendances a SET arrived_at = %(t)s, queued_at = %(t)s FROM tickets t "
                "WHERE t.id = a.ticket_id AND t.public_token = %(token)s AND a.status = 'waiting'",
                {"t": issued[name], "token": ticket["public_token"]},
            )
        for step_id, (arrived, called, started, finished) in steps.items():
            await conn.execute(
                "UPDATE attendances SET arrived_at = %s, queued_at = %s, called_at = %s, started_at = %s, "
                "finished_at = %s WHERE id = %s",
                (arrived, arrived, called, started, finished, step_id),
            )
    assert issued["D"].astimezone(ZoneInfo("UTC")).date() == (at(0, 0) + timedelta(days=1)).date()

    response = await client.get(api(cid, "/stats?from=2030-03-10&to=2030-03-10"), headers=admin.headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["per_day"] == [{"day": "2030-03-10", "tickets": 4}]
    per_service = {s["service"]: s for s in stats["per_service"]}
    assert per_service[nursing["name"]]["steps"] == 4
    assert per_service[lab["name"]]["steps"] == 1
    assert per_service[nursing["name"]]["avg_wait_seconds"] == pytest.approx(1200)
    assert per_service[lab["name"]]["avg_service_seconds"] == pytest.approx(600)
    # Per service: step times where each step happened; tickets and total times in the ticket's first service.
    assert (
        per_service[nursing["name"]]
        | {
            "tickets": 4,
            "p90_wait_seconds": pytest.approx(1680),
            "avg_walk_seconds": pytest.approx(90),
            "p90_walk_seconds": pytest.approx(114),
            "avg_service_seconds": pytest.approx(900),
            "p90_service_seconds": pytest.approx(1140),
            "completed_tickets": 2,
            "avg_total_seconds": pytest.approx(2820),
            "p90_total_seconds": pytest.approx(3012),
        }
        == per_service[nursing["name"]]
    )
    assert (
        per_service[lab["name"]]
        | {
            "tickets": 0,
            "avg_wait_seconds": pytest.approx(600),
            "p90_walk_seconds": pytest.approx(60),
            "completed_tickets": 0,
            "avg_total_seconds": None,
        }
        == per_service[lab["name"]]
    )
    per_attendant = {s["attendant_id"]: s for s in stats["per_attendant"]}
    assert (per_attendant[nurse.account.id]["calls"], per_attendant[nurse.account.id]["recalls"]) == (2, 0)
    assert per_attendant[lab_desk.account.id]["calls"] == 1
    assert stats["live"]["waiting"] == 2  # C and D, whatever the range
    assert per_attendant[nurse.account.id]["served"] == 2
    assert per_attendant[nurse.account.id]["avg_service_seconds"] == pytest.approx(900)
    assert per_attendant[lab_desk.account.id]["served"] == 1
    times = stats["times"]
    assert times["avg_wait_seconds"] == pytest.approx(1000)
    assert times["p90_wait_seconds"] == pytest.approx(1560)
    assert times["avg_walk_seconds"] == pytest.approx(80)
    assert times["p90_walk_seconds"] == pytest.approx(108)
    assert times["avg_service_seconds"] == pytest.approx(800)
    assert times["p90_service_seconds"] == pytest.approx(1080)
    assert times["completed_tickets"] == 2
    assert times["avg_total_seconds"] == pytest.approx(2820)  # A: 43 min, B: 51 min
    assert times["p90_total_seconds"] == pytest.approx(3012)
    # The next day (in the clinic's zone) is empty, although D was issued on the 11th in UTC.
    next_day = (await client.get(api(cid, "/stats?from=2030-03-11&to=2030-03-11"), headers=admin.headers)).json()
    assert next_day["per_day"] == []
    assert next_day["times"]["avg_wait_seconds"] is None
    assert_envelope(await client.get(api(cid, "/stats?from=2030-03-11&to=2030-03-10"), headers=admin.headers), 400)
    assert_envelope(await client.get(api(cid, "/stats?from=2030-13-01&to=2030-03-10"), headers=admin.headers), 400)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14 and UTC-11: never one day
async def test_a_missing_date_is_today_in_the_clinics_zone(
    client: httpx.AsyncClient, admin: Account, zone: str
) -> None:
    cid = (await create_clinic(client, admin, timezone=zone))["id"]
    today = datetime.now(ZoneInfo(zone)).date()

    both = (await client.get(api(cid, "/stats"), headers=admin.headers)).json()
    assert (both["from"], both["to"]) == (today.isoformat(), today.isoformat())
    week_ago = (today - timedelta(days=7)).isoformat()
    since = (await client.get(api(cid, f"/stats?from={week_ago}"), headers=admin.headers)).json()
    assert (since["from"], since["to"]) == (week_ago, today.isoformat())
    # "to" alone, before today: "from" is today, after it.
    assert_envelope(await client.get(api(cid, f"/stats?to={week_ago}"), headers=admin.headers), 400)
