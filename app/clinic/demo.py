"""`app seed --demo`: a clinic with services, rooms and a staff admin (idempotent)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from app.clinic.repository import ClinicRepository
from app.security import Passwords
from app.users.repository import UsersRepository

DEMO_SLUG = "clinica-demo"
DEMO_ADMIN = "clinica-admin@example.com"
DEMO_PASSWORD = "demo clinic password"
SERVICES = [
    # name, prefix, accepts, route_text, direction
    ("Clínica geral", "CG", "all", "Consultórios 1 a 4 - corredor A", "left"),
    ("Enfermagem", "EN", "all", "Sala de enfermagem - corredor B", "right"),
    ("Laboratório", "LAB", "all", "Coleta - 1º andar", "up"),
    ("Emergência", "EM", "priority", "Pronto atendimento", "straight"),
]
ROOMS = ["Consultório 1", "Consultório 2", "Sala de enfermagem", "Coleta"]


async def seed_demo(conn: AsyncConnection[Any], passwords: Passwords) -> None:
    clinics = ClinicRepository(conn)
    clinic = await clinics.create_clinic("Clínica Demo", DEMO_SLUG, "America/Sao_Paulo")
    clinic = clinic or await clinics.clinic_by_slug(DEMO_SLUG)
    assert clinic is not None
    for name, prefix, accepts, route_text, direction in SERVICES:
        await clinics.create_service(
            clinic.id,
            name=name,
            prefix=prefix,
            active=True,
            accepts=accepts,
            max_per_day=None,
            route_text=route_text,
            direction=direction,
        )
    for room in ROOMS:
        await clinics.create_room(clinic.id, room)
    users = UsersRepository(conn)
    await users.create_user(
        email=DEMO_ADMIN, password_hash=await passwords.hash(DEMO_PASSWORD), name="Administração Demo"
    )
    account = await users.user_by_email(DEMO_ADMIN)
    assert account is not None
    await clinics.add_staff(clinic.id, account.id, is_admin=True, specialty="Recepção")
    print(
        f"clinic demo: /clinics/{clinic.id}/tv and /clinics/{clinic.id}/totem; staff admin {DEMO_ADMIN} / "
        f"{DEMO_PASSWORD}"
    )
