"""Statements of sql/auth.sql."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from app.auth.principal import Principal
from app.db.sql import Repository


class LoginCandidate(msgspec.Struct):
    subject: str  # rate limits: the account's id, or the normalised login when no account has it
    id: UUID | None  # None (and email too) when no account has the login
    email: str | None
    password_hash: str | None
    active: bool
    state: str | None  # None when no account has the login


class ResetAttempt(msgspec.Struct):
    user_id: UUID
    matched: bool
    state: str | None  # None when no account has the login


class EndedSession(msgspec.Struct):
    user_id: UUID
    last: bool  # the user has no other live session


class AuthRepository(Repository):
    area = "auth"

    async def create_session(self, token_hash: bytes, user_id: UUID, kind: str, ttl_seconds: int) -> datetime:
        return await self.fetch_value(
            "create_session", token_hash=token_hash, user_id=user_id, kind=kind, ttl_seconds=ttl_seconds
        )

    async def session_principal(self, token_hash: bytes, idle_seconds: int) -> Principal | None:
        """The caller of a request (its use refreshes the session's idle timer)."""
        return await self.fetch_one("session_principal", Principal, token_hash=token_hash, idle_seconds=idle_seconds)

    async def live_principals(
        self, token_hashes: list[bytes], touch_hashes: list[bytes], idle_seconds: int
    ) -> list[Principal]:
        """Of these sessions, the live ones with their principal now; those in `touch_hashes` are in use."""
        return await self.fetch_all(
            "live_principals",
            Principal,
            token_hashes=token_hashes,
            touch_hashes=touch_hashes,
            idle_seconds=idle_seconds,
        )

    async def end_session(self, token_hash: bytes, idle_seconds: int) -> EndedSession | None:
        return await self.fetch_one("end_session", EndedSession, token_hash=token_hash, idle_seconds=idle_seconds)

    async def delete_user_sessions(self, user_id: UUID) -> None:
        await self.execute("delete_user_sessions", user_id=user_id)

    async def delete_expired_sessions(self, idle_seconds: int, batch_size: int) -> list[tuple[UUID, bool]]:
        """The users of the deleted sessions, each with whether it was left without a live session."""
        rows = await self.fetch_rows("delete_expired_sessions", idle_seconds=idle_seconds, batch_size=batch_size)
        return [(row["user_id"], row["last"]) for row in rows]

    async def login_candidate(self, login: str) -> LoginCandidate:
        candidate = await self.fetch_one("login_candidate", LoginCandidate, login=login)
        assert candidate is not None  # one row, whether or not an account has the login
        return candidate

    async def update_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self.execute("update_password_hash", user_id=user_id, password_hash=password_hash)

    async def create_password_reset(self, user_id: UUID, code_hash: bytes, ttl_seconds: int) -> None:
        await self.execute("create_password_reset", user_id=user_id, code_hash=code_hash, ttl_seconds=ttl_seconds)

    async def reset_password(self, user_id: UUID, password_hash: str) -> str | None:
        """The state the account was in ('invited' or 'active'); None when a code may not change it."""
        return await self.fetch_value("reset_password", user_id=user_id, password_hash=password_hash)

    async def count_password_reset_attempt(self, email: str, code_hash: bytes) -> ResetAttempt | None:
        return await self.fetch_one("count_password_reset_attempt", ResetAttempt, email=email, code_hash=code_hash)
