"""`GET /api/v1/auth/session`: who is calling, for a page that asks without wanting an error in the browser's
console (`/users/me` answers 401 to nobody; this answers `{"user": null}`). docs/rules/users.md, "Login and
sessions"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from psycopg import AsyncConnection

from app.auth.principal import Principal
from app.users.repository import UsersRepository
from app.users.schemas import SessionOut


class SessionController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @get("/session", summary="The caller as /users/me shows it, or null when nobody is logged in")
    async def session(
        self, db: NamedDependency[AsyncConnection[Any]], maybe_caller: NamedDependency[Principal | None]
    ) -> SessionOut:
        if maybe_caller is None:
            return SessionOut(user=None)
        return SessionOut(user=await UsersRepository(db).user_view(maybe_caller.id))
