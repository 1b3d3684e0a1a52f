"""Helpers of the clinic tests: a clinic with services and rooms, staff members at their desks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import Account, new_user


def api(clinic_id: int, path: str = "") -> str:
    return f"/api/v1/clinics/{clinic_id}{path}"


async def create_clinic(client: httpx.AsyncClient, admin: Account, **fields: Any) -> dict[str, Any]:
    body = {"name": "Clínica Teste", "slug": f"clinica-{uuid.uuid4().hex[:10]}", "timezone": "America/Sao_Paulo"}
    response = await client.post("/api/v1/clinics", json=body | fields, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_service(
    client: httpx.AsyncClient, admin: Account, clinic_id: int, prefix: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": f"Serviço {prefix}", "prefix": prefix, "route_text": f"Sala {prefix} - corredor B"}
    response = await client.post(api(clinic_id, "/services"), json=body | fields, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_room(client: httpx.AsyncClient, admin: Account, clinic_id: int, name: str) -> dict[str, Any]:
    response = await client.post(api(clinic_id, "/rooms"), json={"name": name}, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_staff(
    client: httpx.AsyncClient,
    admin: Account,
    clinic_id: int,
    *,
    is_admin: bool = False,
    service_ids: list[int] | None = None,
    name: str = "Test User",
) -> Account:
    """A new user (with a password) invited to the clinic: an existing account is added at once."""
    member = await new_user(client, name=name)
    response = await client.post(
        api(clinic_id, "/staff/invitations"),
        json={"email": member.email, "is_admin": is_admin, "service_ids": service_ids or []},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "added"
    return member


@dataclass
class Desk:
    account: Account
    room: dict[str, Any]


async def open_desk(client: httpx.AsyncClient, admin: Account, clinic_id: int, room_name: str, **kw: Any) -> Desk:
    member = await add_staff(client, admin, clinic_id, **kw)
    room = await create_room(client, admin, clinic_id, room_name)
    response = await client.post(api(clinic_id, f"/rooms/{room['id']}/take"), headers=member.headers)
    assert response.status_code == 200, response.text
    return Desk(account=member, room=room)


async def issue(
    client: httpx.AsyncClient,
    clinic_id: int,
    service_id: int,
    priority: str = "normal",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        api(clinic_id, "/tickets"),
        json={"service_id": service_id, "priority": priority} | fields,
        headers=headers or {},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def call_next(client: httpx.AsyncClient, clinic_id: int, desk: Desk, **body: Any) -> httpx.Response:
    return await client.post(api(clinic_id, "/desk/call-next"), json=body, headers=desk.account.headers)
