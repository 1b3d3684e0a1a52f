"""Login: checking credentials in constant time, opening sessions and tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.auth.repository import AuthRepository
from app.config import Settings
from app.security import Passwords, new_token, token_hash
from app.web.errors import AppError

INVALID_CREDENTIALS = "Invalid e-mail or password"


async def authenticate(auth: AuthRepository, passwords: Passwords, login: str, password: str) -> UUID:
    """The account's id, or a 401 that is the same, and takes as long, for an unknown login and a wrong password.

    A hash made with older argon2 parameters is upgraded on a successful login.
    """
    candidate = await auth.login_candidate(login)
    matches, needs_rehash = await passwords.verify(candidate.password_hash if candidate else None, password)
    if candidate is None or not matches or not candidate.active:
        raise AppError(401, INVALID_CREDENTIALS)
    if needs_rehash:
        await auth.update_password_hash(candidate.id, await passwords.hash(password))
    return candidate.id


async def open_session(auth: AuthRepository, settings: Settings, user_id: UUID, kind: str) -> tuple[str, datetime]:
    """A new random token (returned once, stored hashed) and when it expires."""
    token = new_token()
    ttl = settings.session_ttl if kind == "cookie" else settings.token_ttl
    expires_at = await auth.create_session(token_hash(token), user_id, kind, ttl)
    return token, expires_at
