"""The session cookie: set at login and at an invitation's activation, cleared at logout."""

from __future__ import annotations

from litestar.datastructures import Cookie

from app.auth.principal import SESSION_COOKIE
from app.config import Settings


def session_cookie(settings: Settings, token: str, max_age: int) -> Cookie:
    """`token` with `max_age` seconds to live; an empty token with 0 clears it."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
