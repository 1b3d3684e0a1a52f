"""Queueing e-mail from any area, inside the transaction of the change that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from app.db.sql import Repository

ERROR_LENGTH = 500  # last_error keeps the start of the reason: enough for an operator, never a whole message


class DueMail(msgspec.Struct):
    id: int
    to_address: str
    subject: str
    body: str
    attempts: int
    deferrals: int


class FailedMail(msgspec.Struct):
    id: int
    to_address: str
    subject: str
    attempts: int
    last_error: str | None
    failed_at: datetime


class MailRepository(Repository):
    area = "mail"

    async def queue_mail(self, to_address: str, subject: str, body: str) -> int:
        return await self.fetch_value("queue_mail", to_address=to_address, subject=subject, body=body)

    async def lease_due_mail(self, batch_size: int, lease_seconds: float) -> list[DueMail]:
        return await self.fetch_all("lease_due_mail", DueMail, batch_size=batch_size, lease_seconds=lease_seconds)

    async def mark_mail_sent(self, mail_id: int) -> None:
        await self.execute("mark_mail_sent", id=mail_id)

    async def defer_mail(self, mail_id: int, error: str) -> None:
        await self.execute("defer_mail", id=mail_id, error=error[:ERROR_LENGTH])

    async def fail_mail_attempt(self, mail_id: int, error: str, max_attempts: int) -> bool:
        """Uses one attempt; True when that was the last one and the message is now kept as failed."""
        failed = await self.fetch_value(
            "fail_mail_attempt", id=mail_id, error=error[:ERROR_LENGTH], max_attempts=max_attempts
        )
        return bool(failed)

    async def failed_mail(self) -> list[FailedMail]:
        return await self.fetch_all("failed_mail", FailedMail)

    async def retry_mail(self, mail_id: int) -> bool:
        return await self.fetch_value("retry_mail", id=mail_id) is not None

    async def delete_old_sent_mail(self, batch_size: int) -> int:
        return await self.execute("delete_old_sent_mail", batch_size=batch_size)


async def queue_mail(conn: AsyncConnection[Any], *, to: str, subject: str, body: str) -> int:
    return await MailRepository(conn).queue_mail(to, subject, body)
