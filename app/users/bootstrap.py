"""The administrator account at start-up and in `app seed` (docs/rules/users.md, "Seeding")."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar
from psycopg import AsyncConnection

from app.audit import AuditLog
from app.config import Settings
from app.security import Passwords, generate_password
from app.users.repository import UsersRepository
from app.users.service import ADMINISTRADOR

log = logging.getLogger("app.users")
DEVELOPMENT_ADMIN = "admin@localhost"


async def ensure_admin(conn: AsyncConnection[Any], settings: Settings, passwords: Passwords) -> str | None:
    """With ADMIN_EMAIL and ADMIN_PASSWORD set: create that Administrador unless the account exists (an existing
    password is never overwritten); when no active Administrador exists at all, make that account an active
    Administrador again (the documented way back), never otherwise. In development with no Administrador at all:
    create admin@localhost with a generated password. Returns the generated password, which the caller prints
    once."""
    users = UsersRepository(conn)
    if settings.admin_email and settings.admin_password:
        password_hash = await passwords.hash(settings.admin_password)
        created = await users.create_user(
            email=settings.admin_email, password_hash=password_hash, name="Administrator", role_id=ADMINISTRADOR
        )
        if created is None:
            restored = await users.restore_administrator(settings.admin_email, password_hash)
            if restored is not None:
                await AuditLog(conn).record(None, "admin.restore", f"user:{restored}", email=settings.admin_email)
                log.warning("no active Administrador: ADMIN_EMAIL's account is an active Administrador again")
        return None
    if settings.production or await users.has_administrator():
        return None
    password = generate_password()
    created = await users.create_user(
        email=DEVELOPMENT_ADMIN,
        password_hash=await passwords.hash(password),
        name="Administrator",
        role_id=ADMINISTRADOR,
    )
    return password if created else None


async def ensure_admin_at_startup(app: Litestar) -> None:
    async with app.state.pool.connection() as conn:
        password = await ensure_admin(conn, app.state.settings, app.state.passwords)
    if password:
        # Printed, not logged: it appears once, on the console of the person who started the server.
        print(f"\n  Development administrator created: {DEVELOPMENT_ADMIN} / {password}\n", flush=True)
