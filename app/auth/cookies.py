"""The session cookie: set at login and at an invitation's activation, cleared at logout."""

from __future__ import annotations

from litestar.datastructures import Cookie

from app.auth.principal import SESSION_COOKIE
from app.config import Settings


def session_cookie(settings: Settings, token: str, max_age: int) -> Cookie:
    """The cookie that carries a session token to the browser (`token` "" and `max_age` 0: the browser drops it).
    Page scripts cannot read it (HttpOnly); other sites' requests do not carry it, except a top-level link (Lax)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
