"""The desk (docs/rules/clinic.md, "Desk"): call next with concurrent desks, the status machine, forwarding, rooms."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.clinic_support import (
    Desk,
    add_staff,
    api,
    call_next,
    create_clinic,
    create_room,
    create_service,
    issue,
    open_desk,
)
from tests.support import Account, assert_envelope, cookie_login, error_keys


async def _act(
    client: httpx.AsyncClient,
    clinic_id: int,
    step_id: int,
    action: str,
    who: Account,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    return await client.post(api(clinic_id, f"/attendances/{step_id}/{action}"), json=body or {}, headers=who.headers)


async def test_five_desks_call_twenty_tickets_once_each_in_priority_then_arrival_order(
    client: httpx.AsyncClient, admin: Account
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "CG")
    reception = await add_staff(client, admin, cid)
    pattern = ["normal", "preferential", "normal", "emergency", "normal"]
    issued = []
    for n in range(20):
        priority = pattern[n % len(pattern)]
        issued.append(await issue(client, cid, service["id"], priority, headers=reception.headers))
    rank = {"emergency": 0, "preferential": 1, "normal": 2}
    expected = [t["code"] for t in sorted(issued, key=lambda t: (rank[t["priority"]], issued.index(t)))]
    desks = [await open_desk(client, admin, cid, f"Consultório {n}") for n in range(5)]

    called: list[str] = []
    for round_number in range(4):
        responses = await asyncio.gather(*[call_next(client, cid, desk) for desk in desks])
        assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
        assert all(r.headers["x-recall"] == "false" for r in responses)
        round_codes = [r.json()["code"] for r in responses]
        # Every round takes exactly the next five of the line, whichever desk got which.
        assert sorted(round_codes) == sorted(expected[round_number * 5 : round_number * 5 + 5])
        called += round_codes
        for desk, response in zip(desks, responses, strict=True):
            step = response.json()
            assert step["status"] == "called"
            assert step["room"] == desk.room["name"]
            assert (await _act(client, cid, step["id"], "start", desk.account)).status_code == 200
            assert (await _act(client, cid, step["id"], "finish", desk.account)).status_code == 200
    assert sorted(called) == sorted(expected)
    assert len(set(called)) == 20
    empty = await call_next(client, cid, desks[0])
    assert empty.status_code == 204


async def test_call_next_while_holding_a_ticket_announces_it_again(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "EN")
    first = await issue(client, cid, service["id"])
    await issue(client, cid, service["id"])
    desk = await open_desk(client, admin, cid, "Sala 1")
    called = await call_next(client, cid, desk)
    assert called.json()["code"] == first["code"]
    again = await call_next(client, cid, desk)
    assert again.status_code == 200
    assert again.headers["x-recall"] == "true"
    assert again.json()["id"] == called.json()["id"]
    display = (await client.get(api(cid, "/display"))).json()
    assert display["current"]["code"] == first["code"]
    assert display["current"]["recall"] is True
    assert display["history"] == []  # a recall moves its ticket up; it adds no row (docs/rules/clinic.md, "TV")
    assert display["next"]["code"] == "EN-002"
    # Started, it is still held: call next re-announces it.
    assert (await _act(client, cid, called.json()["id"], "start", desk.account)).status_code == 200
    assert (await call_next(client, cid, desk)).json()["id"] == called.json()["id"]


async def test_every_transition_outside_the_table_is_409_with_the_current_status(
    client: httpx.AsyncClient, admin: Account
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "CG")
    other_service = await create_service(client, admin, cid, "LAB")
    desk = await open_desk(client, admin, cid, "Sala 1")
    who = desk.account
    forward_body = {"service_id": other_service["id"]}
    allowed = {
        "waiting": {"call", "cancel"},
        "called": {"recall", "start", "no-show", "cancel"},
        "in_service": {"recall", "finish", "forward"},
        "done": {"forward"},
        "forwarded": set(),
        "cancelled": {"reactivate"},
        "no_show": {"reactivate"},
    }
    actions = ["call", "recall", "start", "no-show", "finish", "forward", "cancel", "reactivate"]

    async def step_in(status: str) -> int:
        """A fresh step brought to `status` through allowed transitions."""
        await issue(client, cid, service["id"])
        step = (await call_next(client, cid, desk, service_ids=[service["id"]])).json()["id"]
        path = {
            "waiting": ["cancel", "reactivate"],
            "called": [],
            "in_service": ["start"],
            "done": ["start", "finish"],
            "forwarded": ["start", "forward"],
            "cancelled": ["cancel"],
            "no_show": ["no-show"],
        }[status]
        for action in path:
            body = forward_body if action == "forward" else None
            assert (await _act(client, cid, step, action, who, body)).status_code == 200, (status, action)
        return step

    for status, permitted in allowed.items():
        for action in actions:
            if action in permitted:
                continue
            step = await step_in(status)
            body = forward_body if action == "forward" else None
            response = await _act(client, cid, step, action, who, body)
            assert_envelope(response, 409)
            assert response.json()["extra"] == [{"key": "status", "message": status}], (status, action)
            # Nothing changed: the step can leave its status the way the table allows.
            if status in ("called", "in_service"):
                cleanup = "cancel" if status == "called" else "finish"
                assert (await _act(client, cid, step, cleanup, who)).status_code == 200
            if status == "waiting":
                assert (await _act(client, cid, step, "cancel", who)).status_code == 200
    assert_envelope(await _act(client, cid, 987654, "start", who), 404)


async def test_forwarding_keeps_the_code_and_queues_the_next_step(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    triage = await create_service(client, admin, cid, "TR")
    doctors = await create_service(client, admin, cid, "CG")
    nurse = await open_desk(client, admin, cid, "Triagem", service_ids=[triage["id"]])
    doctor_a = await open_desk(client, admin, cid, "Consultório A", service_ids=[doctors["id"]])
    doctor_b = await open_desk(client, admin, cid, "Consultório B", service_ids=[doctors["id"]])
    ticket = await issue(client, cid, triage["id"])
    step = (await call_next(client, cid, nurse)).json()
    assert (await _act(client, cid, step["id"], "start", nurse.account)).status_code == 200
    response = await _act(
        client,
        cid,
        step["id"],
        "finish",
        nurse.account,
        {"service_id": doctors["id"], "attendant_id": doctor_b.account.id, "notes": "pressão alta"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step"]["status"] == "forwarded"
    nxt = body["next_step"]
    assert nxt["code"] == ticket["code"]
    assert nxt["status"] == "waiting"
    assert nxt["service_id"] == doctors["id"]
    assert nxt["parent_id"] == step["id"]
    assert nxt["target_attendant_id"] == doctor_b.account.id
    queue = (await client.get(api(cid, f"/queue?service_id={doctors['id']}"), headers=doctor_a.account.headers)).json()
    assert [w["code"] for w in queue] == [ticket["code"]]
    # Offered only to the named attendant.
    assert (await call_next(client, cid, doctor_a)).status_code == 204
    assert_envelope(await _act(client, cid, nxt["id"], "call", doctor_a.account), 409)
    called = await call_next(client, cid, doctor_b)
    assert called.status_code == 200
    assert called.json()["id"] == nxt["id"]
    assert called.json()["code"] == ticket["code"]
    # Forward without a target attendant: anyone of the service may take it.
    assert (await _act(client, cid, nxt["id"], "start", doctor_b.account)).status_code == 200
    forwarded = await _act(client, cid, nxt["id"], "forward", doctor_b.account, {"service_id": doctors["id"]})
    assert forwarded.status_code == 200, forwarded.text
    again = await call_next(client, cid, doctor_a)
    assert again.json()["code"] == ticket["code"]
    route = (await client.get(api(cid, f"/tickets/{ticket['public_token']}"))).json()["route"]
    assert [r["status"] for r in route] == ["forwarded", "forwarded", "called"]
    # Forward needs a known service and an attendant of this clinic.
    bad = await _act(client, cid, again.json()["id"], "forward", doctor_a.account, {"service_id": 999999})
    assert error_keys(bad) == {"service_id"}


async def test_rooms_occupied_is_409_call_needs_a_room_and_logout_frees_it(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, admin: Account
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    await create_service(client, admin, cid, "CG")
    room = await create_room(client, admin, cid, "Sala 1")
    first = await add_staff(client, admin, cid)
    second = await add_staff(client, admin, cid)
    assert_envelope(await client.post(api(cid, "/desk/call-next"), json={}, headers=first.headers), 409)
    csrf = await cookie_login(other_client, first)
    taken = await other_client.post(api(cid, f"/rooms/{room['id']}/take"), headers={"X-CSRF-Token": csrf})
    assert taken.status_code == 200
    assert taken.json()["occupied_by"] == first.id
    assert_envelope(await client.post(api(cid, f"/rooms/{room['id']}/take"), headers=second.headers), 409)
    assert_envelope(await client.post(api(cid, f"/rooms/{room['id']}/leave"), headers=second.headers), 403)
    logout = await other_client.post("/api/v1/users/logout", headers={"X-CSRF-Token": csrf})
    assert logout.status_code == 200, logout.text
    retaken = await client.post(api(cid, f"/rooms/{room['id']}/take"), headers=second.headers)
    assert retaken.status_code == 200
    assert retaken.json()["occupied_by"] == second.id
    # A clinic admin may free anyone's room.
    freed = await client.post(api(cid, f"/rooms/{room['id']}/leave"), headers=admin.headers)
    assert freed.status_code == 200
    assert freed.json()["occupied_by"] is None


async def test_empty_queue_is_204(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    await create_service(client, admin, clinic["id"], "CG")
    desk: Desk = await open_desk(client, admin, clinic["id"], "Sala 1")
    response = await call_next(client, clinic["id"], desk)
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("leave", ["staff_removal", "deactivation"])
async def test_a_ticket_forwarded_to_an_attendant_who_leaves_goes_back_to_the_common_line(
    client: httpx.AsyncClient, admin: Account, leave: str
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    triage = await create_service(client, admin, cid, "TR")
    doctors = await create_service(client, admin, cid, "CG")
    nurse = await open_desk(client, admin, cid, "Triagem", service_ids=[triage["id"]])
    named = await open_desk(client, admin, cid, "Consultório A", service_ids=[doctors["id"]])
    other = await open_desk(client, admin, cid, "Consultório B", service_ids=[doctors["id"]])
    ticket = await issue(client, cid, triage["id"])
    step = (await call_next(client, cid, nurse)).json()
    assert (await _act(client, cid, step["id"], "start", nurse.account)).status_code == 200
    body = {"service_id": doctors["id"], "attendant_id": named.account.id}
    assert (await _act(client, cid, step["id"], "finish", nurse.account, body)).status_code == 200
    assert (await call_next(client, cid, other)).status_code == 204  # offered to the named attendant only

    paths = {
        "staff_removal": api(cid, f"/staff/{named.account.id}"),
        "deactivation": f"/api/v1/users/{named.account.id}",
    }
    path = paths[leave]
    response = await client.patch(path, json={"active": False}, headers=admin.headers)
    assert response.status_code == 200, response.text

    # Nobody would ever call it otherwise: the other attendant of the service now can.
    called = await call_next(client, cid, other)
    assert called.status_code == 200, called.text
    assert called.json()["code"] == ticket["code"]
