"""Rights are per clinic (docs/rules/clinic.md, "Who may do what"): staff of one clinic see 404 for another's private
resources, over HTTP and WebSocket alike."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.clinic_support import add_staff, api, create_clinic, create_room, create_service, issue
from tests.support import Account, RunningServer, assert_envelope, new_user


async def _ws_status(server: RunningServer, path: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url + path, additional_headers=headers or {}):
            pass
    return refused.value.response.status_code


async def test_staff_of_one_clinic_get_404_in_another(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    mine = await create_clinic(client, admin)
    theirs = await create_clinic(client, admin)
    service = await create_service(client, admin, theirs["id"], "CG")
    room = await create_room(client, admin, theirs["id"], "Sala 1")
    ticket = await issue(client, theirs["id"], service["id"])
    step_id = (await client.get(api(theirs["id"], "/queue"), headers=admin.headers)).json()[0]["step_id"]
    me = await add_staff(client, admin, mine["id"], is_admin=True)
    h = me.headers
    tid = theirs["id"]
    for response in [
        await client.get(api(tid, "/queue"), headers=h),
        await client.post(api(tid, "/desk/call-next"), json={}, headers=h),
        await client.post(api(tid, f"/rooms/{room['id']}/take"), headers=h),
        await client.post(api(tid, f"/attendances/{step_id}/cancel"), headers=h),
        await client.get(api(tid, "/stats?from=2030-01-01&to=2030-01-31"), headers=h),
        await client.get(api(tid, "/staff"), headers=h),
        await client.get(api(tid, "/rooms"), headers=h),
        await client.post(api(tid, "/services"), json={"name": "X", "prefix": "X"}, headers=h),
        await client.post(api(tid, "/staff/invitations"), json={"email": "x@example.com"}, headers=h),
        await client.get(api(tid, "/services?include_inactive=true"), headers=h),
    ]:
        assert_envelope(response, 404)
    assert await _ws_status(server, api(tid, "/ws/queue"), {"Authorization": f"Bearer {me.token}"}) == 404
    assert await _ws_status(server, api(999999, "/ws/queue"), {"Authorization": f"Bearer {me.token}"}) == 404
    assert await _ws_status(server, api(tid, "/ws/queue")) == 401
    assert await _ws_status(server, api(999999, "/ws/display")) == 404
    assert await _ws_status(server, api(tid, "/ws/display"), {"Origin": "http://evil.example"}) == 403
    # The ticket stayed untouched, and in my own clinic everything works.
    assert (await client.get(api(tid, f"/tickets/{ticket['public_token']}"))).json()["status"] == "waiting"
    assert (await client.get(api(mine["id"], "/queue"), headers=h)).status_code == 200
    assert (await client.get(api(mine["id"], "/stats?from=2030-01-01&to=2030-01-31"), headers=h)).status_code == 200


async def test_anonymous_is_401_plain_staff_403_on_admin_routes(client: httpx.AsyncClient, admin: Account) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    assert_envelope(await client.get(api(cid, "/queue")), 401)
    assert_envelope(await client.post(api(cid, "/desk/call-next"), json={}), 401)
    staff = await add_staff(client, admin, cid)
    assert (await client.get(api(cid, "/queue"), headers=staff.headers)).status_code == 200
    assert_envelope(await client.get(api(cid, "/stats?from=2030-01-01&to=2030-01-02"), headers=staff.headers), 403)
    assert_envelope(await client.post(api(cid, "/rooms"), json={"name": "S"}, headers=staff.headers), 403)
    outsider = await new_user(client)
    assert_envelope(
        await client.post("/api/v1/clinics", json={"name": "X", "slug": "x-1"}, headers=outsider.headers), 403
    )
    assert_envelope(await client.get(api(cid, "/queue"), headers=outsider.headers), 404)
    # A deactivated staff member loses access.
    response = await client.patch(api(cid, f"/staff/{staff.id}"), json={"active": False}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert_envelope(await client.get(api(cid, "/queue"), headers=staff.headers), 404)
