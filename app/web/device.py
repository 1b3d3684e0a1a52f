"""Device cookies (OWASP's pattern against lock-outs): a browser that logged in to an account carries a cookie,
signed with SECRET_KEY, naming that account and a random device id. Presented at a later password check for
the same account, it makes the browser a client of its own, with its own failure budget, so strangers failing
from the owner's address (a shared NAT, a spoofed network) cannot get the owner refused."""

from __future__ import annotations

import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from app.config import Settings
from app.security import cookie_name, sign, unsign

DEVICE_COOKIE = "device"
DEVICE_COOKIE_TTL = 365 * 24 * 3600
_PURPOSE = "device"


def device_cookie(settings: Settings, account: str) -> Cookie:
    """A new device cookie for `account` (the rate limiter's account subject), set at a successful login."""
    value = sign(settings.secret_key, f"{_PURPOSE}:{account}:{secrets.token_urlsafe(16)}")
    return Cookie(
        key=cookie_name(settings, DEVICE_COOKIE),
        value=value,
        max_age=DEVICE_COOKIE_TTL,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


def device_id(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings, account: str) -> str | None:
    """The id of the device cookie this request carries, if it is ours and names `account`."""
    raw = connection.cookies.get(cookie_name(settings, DEVICE_COOKIE))
    payload = unsign(settings.secret_key, raw) if raw else None
    if payload is None:
        return None
    purpose, _, rest = payload.partition(":")
    named, _, device = rest.rpartition(":")
    return device if purpose == _PURPOSE and named == account and device else None
