"""Live feeds of a clinic (docs/rules/clinic.md, "Live feeds"): the display socket and the queue socket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from tests.clinic_support import add_staff, api, call_next, create_clinic, create_service, issue, open_desk
from tests.support import Account, RunningServer, start_server_process


async def _next(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _act(client: httpx.AsyncClient, cid: int, step_id: int, action: str, who: Account) -> httpx.Response:
    return await client.post(api(cid, f"/attendances/{step_id}/{action}"), json={}, headers=who.headers)


async def test_display_socket_snapshot_calls_recalls_and_since_replay(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "EN", direction="left")
    desk = await open_desk(client, admin, cid, "Sala 3")
    await issue(client, cid, service["id"])
    await issue(client, cid, service["id"])
    first = (await call_next(client, cid, desk)).json()
    async with connect(server.ws_url + api(cid, "/ws/display")) as ws:
        snapshot = await _next(ws)
        assert snapshot["type"] == "display.snapshot"
        assert snapshot["current"]["code"] == "EN-001"
        assert snapshot["next"]["code"] == "EN-002"
        assert snapshot["seq"] == 1
        assert snapshot["history"] == []
        assert (await _act(client, cid, first["id"], "recall", desk.account)).status_code == 200
        recall = await _next(ws)
        assert recall == recall | {
            "type": "ticket.called",
            "code": "EN-001",
            "room": "Sala 3",
            "recall": True,
            "direction": "left",
            "route_text": "Sala EN - corredor B",
            "seq": 2,
        }
        assert (await _act(client, cid, first["id"], "cancel", desk.account)).status_code == 200
        second = await call_next(client, cid, desk)
        call = await _next(ws)
        assert call["code"] == second.json()["code"] == "EN-002"
        assert call["recall"] is False
        assert call["seq"] == 3
        assert set(call) >= {
            "code",
            "room",
            "service",
            "route_text",
            "direction",
            "priority",
            "recall",
            "called_at",
            "seq",
        }
    # Resume after seq 1: the two events after it, in order, and no snapshot.
    async with connect(server.ws_url + api(cid, "/ws/display?since=1")) as ws:
        assert [(m["seq"], m["code"]) for m in [await _next(ws), await _next(ws)]] == [(2, "EN-001"), (3, "EN-002")]
        await _act(client, cid, second.json()["id"], "recall", desk.account)
        assert (await _next(ws))["seq"] == 4
    # A seq this topic never had: a snapshot marked reset.
    async with connect(server.ws_url + api(cid, "/ws/display?since=99")) as ws:
        reset = await _next(ws)
        assert reset["type"] == "display.snapshot"
        assert reset["reset"] is True
        assert reset["seq"] == 4


async def test_display_socket_services_filter(server: RunningServer, client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    lab = await create_service(client, admin, cid, "LAB")
    nurse = await create_service(client, admin, cid, "EN")
    lab_desk = await open_desk(client, admin, cid, "Coleta", service_ids=[lab["id"]])
    nurse_desk = await open_desk(client, admin, cid, "Enfermagem", service_ids=[nurse["id"]])
    await issue(client, cid, lab["id"])
    await issue(client, cid, nurse["id"])
    async with connect(server.ws_url + api(cid, f"/ws/display?services={lab['id']}")) as ws:
        snapshot = await _next(ws)
        assert snapshot["current"] is None
        assert snapshot["next"]["code"] == "LAB-001"
        assert (await call_next(client, cid, nurse_desk)).json()["code"] == "EN-001"
        assert (await call_next(client, cid, lab_desk)).json()["code"] == "LAB-001"
        only = await _next(ws)
        assert only["code"] == "LAB-001"
        assert only["seq"] == 2
    display = (await client.get(api(cid, f"/display?services={nurse['id']}"))).json()
    assert display["current"]["code"] == "EN-001"
    assert (await client.get(api(cid, "/display?services=a,b"))).status_code == 400


async def test_queue_socket_snapshot_and_changes(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "CG")
    staff = await add_staff(client, admin, cid)
    desk = await open_desk(client, admin, cid, "Sala 1")  # taking the room is event 1
    await issue(client, cid, service["id"], patient_name="Maria")
    headers = {"Authorization": f"Bearer {staff.token}"}
    async with connect(server.ws_url + api(cid, "/ws/queue"), additional_headers=headers) as ws:
        snapshot = await _next(ws)
        assert snapshot["type"] == "queue.snapshot"
        assert [w["code"] for w in snapshot["waiting"]] == ["CG-001"]
        assert snapshot["waiting"][0]["status"] == "waiting"
        assert "patient_name" not in snapshot["waiting"][0]  # the feed never carries names
        assert snapshot["in_progress"] == []
        assert [(r["name"], r["occupied_by"]) for r in snapshot["rooms"]] == [("Sala 1", desk.account.id)]
        assert snapshot["seq"] == 2
        await issue(client, cid, service["id"], "preferential")
        issued = await _next(ws)
        assert issued["type"] == "queue.changed"
        assert issued["reason"] == "issued"
        assert issued["step"] | {"code": "CG-002", "status": "waiting", "priority": "preferential"} == issued["step"]
        assert issued["seq"] == 3
        called = (await call_next(client, cid, desk)).json()
        change = await _next(ws)
        assert change == change | {"reason": "called", "step_id": called["id"], "seq": 4}
        assert (
            change["step"] | {"status": "called", "room": "Sala 1", "attendant_id": desk.account.id} == change["step"]
        )
        assert called["code"] == "CG-002"  # preferential first
        await _act(client, cid, called["id"], "cancel", desk.account)
        await _act(client, cid, called["id"], "reactivate", desk.account)
        assert [(m["reason"], m["seq"]) for m in [await _next(ws), await _next(ws)]] == [
            ("cancelled", 5),
            ("reactivated", 6),
        ]
        # What another desk needs to follow this one: start, recall, finish, and rooms taken or left.
        again = (await call_next(client, cid, desk)).json()
        for action in ("start", "recall", "finish"):
            await _act(client, cid, again["id"], action, desk.account)
        reasons = [(await _next(ws)) for _ in range(4)]
        assert [(m["reason"], m["step"]["status"]) for m in reasons] == [
            ("called", "called"),
            ("started", "in_service"),
            ("recalled", "in_service"),
            ("finished", "done"),
        ]
        left = await client.post(api(cid, f"/rooms/{desk.room['id']}/leave"), headers=desk.account.headers)
        assert left.status_code == 200
        rooms = await _next(ws)
        assert rooms["type"] == "rooms.changed"
        assert rooms["room_id"] == desk.room["id"]
        assert [(r["name"], r["occupied_by"]) for r in rooms["rooms"]] == [("Sala 1", None)]
        await ws.send("hello")
        assert (await _next(ws))["type"] == "error"
    async with connect(server.ws_url + api(cid, "/ws/queue?since=4"), additional_headers=headers) as ws:
        assert [m["seq"] for m in [await _next(ws), await _next(ws)]] == [5, 6]


async def test_calls_made_through_another_process_reach_the_display(
    settings: Settings, server: RunningServer, client: httpx.AsyncClient, admin: Account, tmp_path: Path
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "EN")
    desk = await open_desk(client, admin, cid, "Sala 9")
    await issue(client, cid, service["id"])
    other = await start_server_process(settings, tmp_path)
    try:
        async with (
            connect(server.ws_url + api(cid, "/ws/display")) as ws,
            connect(other.ws_url + api(cid, "/ws/display")) as remote_ws,
        ):
            assert (await _next(ws))["type"] == (await _next(remote_ws))["type"] == "display.snapshot"
            async with httpx.AsyncClient(base_url=other.url, timeout=30) as remote:
                response = await remote.post(api(cid, "/desk/call-next"), json={}, headers=desk.account.headers)
                assert response.status_code == 200, response.text
            for socket in (ws, remote_ws):
                event = await _next(socket)
                assert event["code"] == "EN-001"
                assert event["room"] == "Sala 9"
                assert event["seq"] == 1
    finally:
        other.stop()
