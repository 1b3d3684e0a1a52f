"""Login: checking credentials in constant time and within the rate limits, opening and ending sessions and
tokens, closing accounts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from psycopg import AsyncConnection, OperationalError

from app.areas import AccountHooks
from app.auth.repository import AuthRepository
from app.config import Settings
from app.security import Passwords, new_token, token_hash
from app.web.errors import AppError, Refusal
from app.web.ratelimit import RateLimiter

log = logging.getLogger("app.auth")

INVALID_CREDENTIALS = "Invalid e-mail or password"
BAD_CREDENTIALS = Refusal(401, "the login and password do not match an active account")


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


async def end_sessions(
    conn: AsyncConnection[Any],
    hooks: AccountHooks,
    *,
    user_id: UUID | None = None,
    token_hash: bytes | None = None,
    only_if_last: bool = False,
) -> None:
    """The one way sessions end: one session (`token_hash`: logout, revocation, a login replacing the browser's
    session), all of a user's (`user_id`: password change or reset, activation, deactivation, deletion), or
    expired ones (end_expired_sessions, the maintenance loop). Every area's session-end hooks then run for the
    user in the same transaction (rooms freed, called tickets back in the line: "logging out frees the caller's
    room"), except where nobody chose to leave: an expired session, or one a login replaced (`only_if_last`),
    runs them only when it was the user's last live session (docs/security.md, "Account side effects")."""
    auth = AuthRepository(conn)
    if token_hash is not None:
        ended = await auth.end_session(token_hash, hooks.session_idle_ttl)
        users = [ended.user_id] if ended is not None and (ended.last or not only_if_last) else []
    else:
        assert user_id is not None, "end_sessions ends one session or one user's; expired ones: end_expired_sessions"
        await auth.delete_user_sessions(user_id)
        users = [user_id]
    for user in users:
        for hook in hooks.session_end:
            await hook(conn, user)


async def end_expired_sessions(conn: AsyncConnection[Any], hooks: AccountHooks, batch_size: int) -> int:
    """One batch of expired and idle sessions (end_sessions' rules: the hooks run for a user whose last live
    session this was); returns how many users it touched, 0 when none was due."""
    ended = await AuthRepository(conn).delete_expired_sessions(hooks.session_idle_ttl, batch_size)
    for user in (user for user, last in ended if last):
        # Nobody waits for the answer here: a user whose hooks fail (savepoint rolled back, logged) must not
        # keep the other expired sessions alive or their desks held.
        try:
            async with conn.transaction():
                for hook in hooks.session_end:
                    await hook(conn, user)
        except OperationalError:
            raise
        except Exception:
            log.exception("releasing what user %s held when their session expired failed", user)
    return len(ended)


async def close_account(conn: AsyncConnection[Any], hooks: AccountHooks, user_id: UUID, *, deleting: bool) -> None:
    """Deactivation by authority, or deletion (`deleting`): every session of the account ends, then every
    area's account-close hooks run (auctions: refuse a deletion while leading or selling with bids, withdraw
    the bids, cancel the auctions without bids), all in the caller's transaction, so a refusal undoes it all.
    Sessions end first: the session rows are deleted (locked) before the auctions are looked at."""
    await end_sessions(conn, hooks, user_id=user_id)
    for hook in hooks.account_close:
        await hook(conn, user_id, deleting)
