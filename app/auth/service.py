"""Login: checking credentials in constant time and within the rate limits, opening sessions and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection

from app.auth.repository import AuthRepository
from app.config import Settings
from app.security import Passwords, new_token, token_hash
from app.web.errors import AppError
from app.web.ratelimit import RateLimiter

INVALID_CREDENTIALS = "Invalid e-mail or password"


async def authenticate(
    auth: AuthRepository,
    passwords: Passwords,
    rate_limiter: RateLimiter,
    connection: ASGIConnection[Any, Any, Any, Any],
    login: str,
    password: str,
) -> UUID:
    """The account's id, or a 401 that is the same, and takes as long, for an unknown login and a wrong password.

    The rate limits key on the resolved account (however the login was spelled), or on the normalised login when
    no account has it; both paths run the same statements and one argon2 verification. A hash made with older
    argon2 parameters is upgraded on a successful login.
    """
    candidate = await auth.login_candidate(login)
    user_id = candidate.id
    async with rate_limiter.password_check(connection, candidate.subject):
        matches, needs_rehash = await passwords.verify(candidate.password_hash, password)
        if user_id is None or not matches or not candidate.active:
            raise AppError(401, INVALID_CREDENTIALS)
    if needs_rehash:
        await auth.update_password_hash(user_id, await passwords.hash(password))
    return user_id


async def open_session(auth: AuthRepository, settings: Settings, user_id: UUID, kind: str) -> tuple[str, datetime]:
    """A new random token (returned once, stored hashed) and when it expires."""
    token = new_token()
    ttl = settings.session_ttl if kind == "cookie" else settings.token_ttl
    expires_at = await auth.create_session(token_hash(token), user_id, kind, ttl)
    return token, expires_at
