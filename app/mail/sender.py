"""Delivers the outbox over SMTP (SMTP_URL), in every server process, never sending one message twice.

Rows are claimed with FOR UPDATE SKIP LOCKED and stay locked while they are sent, so two processes never take
the same row. A failure (SMTP down, refused recipient) leaves the row for a later try with back-off. Without
SMTP_URL (development) messages are written to the log instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.mail.outbox import DueMail, MailRepository

log = logging.getLogger("app.mail")
BATCH_SIZE = 20


class SmtpTarget:
    """smtp://user:password@host:port (plain, STARTTLS when offered) or smtps://... (TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.use_tls = parts.scheme == "smtps"
        self.hostname = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None


class MailSender:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.target = SmtpTarget(settings.smtp_url) if settings.smtp_url else None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _deliver(self, mail: DueMail) -> None:
        if self.target is None:
            log.info("e-mail (no SMTP_URL set) to=%s subject=%r\n%s", mail.to_address, mail.subject, mail.body)
            return
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        await aiosmtplib.send(
            message,
            hostname=self.target.hostname,
            port=self.target.port,
            username=self.target.username,
            password=self.target.password,
            use_tls=self.target.use_tls,
            start_tls=None if not self.target.use_tls else False,
            timeout=10,
        )

    async def send_one(self) -> bool | None:
        """Claims and sends one due message in its own transaction: True when sent, False when it failed (it
        waits for its back-off), None when nothing is due."""
        async with self.pool.connection() as conn:
            outbox = MailRepository(conn)
            due = await outbox.claim_due_mail(1)
            if not due:
                return None
            mail = due[0]
            try:
                await self._deliver(mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                log.warning(
                    "e-mail %s to %s not delivered (try %s): %s", mail.id, mail.to_address, mail.attempts + 1, exc
                )
                await outbox.mark_mail_failed(mail.id, str(exc))
                return False
            await outbox.mark_mail_sent(mail.id)
            return True

    async def send_due(self) -> int:
        """Sends what is due, a bounded number per pass; returns how many were delivered."""
        sent = 0
        for _ in range(BATCH_SIZE):
            outcome = await self.send_one()
            if outcome is None:
                break
            sent += outcome
        return sent

    async def run(self) -> None:
        while True:
            try:
                await self.send_due()
            except Exception:  # the database may be down: keep the loop alive and try again
                log.exception("e-mail sender pass failed")
            # asyncio.timeout, not wait_for: on Python 3.11 a cancellation that lands as wait_for times out comes
            # back as TimeoutError, and suppressing it would keep this loop alive through shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.outbox_poll_interval):
                    await self._wake.wait()
            self._wake.clear()
