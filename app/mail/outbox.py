"""Queueing e-mail from any area, inside the transaction of the change that causes it."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection

from app.db.sql import Repository


class DueMail(msgspec.Struct):
    id: int
    to_address: str
    subject: str
    body: str
    attempts: int


class MailRepository(Repository):
    area = "mail"

    async def queue_mail(self, to_address: str, subject: str, body: str) -> int:
        return await self.fetch_value("queue_mail", to_address=to_address, subject=subject, body=body)

    async def claim_due_mail(self, batch_size: int) -> list[DueMail]:
        return await self.fetch_all("claim_due_mail", DueMail, batch_size=batch_size)

    async def mark_mail_sent(self, mail_id: int) -> None:
        await self.execute("mark_mail_sent", id=mail_id)

    async def mark_mail_failed(self, mail_id: int, error: str) -> None:
        await self.execute("mark_mail_failed", id=mail_id, error=error[:500])

    async def delete_old_sent_mail(self) -> None:
        await self.execute("delete_old_sent_mail")


async def queue_mail(conn: AsyncConnection[Any], *, to: str, subject: str, body: str) -> int:
    return await MailRepository(conn).queue_mail(to, subject, body)
