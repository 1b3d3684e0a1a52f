"""Delivers the outbox over SMTP (SMTP_URL), in every server process; no message can block another.

A row is *leased* (a short statement, committed at once) and sent outside any database transaction; the outcome
is written afterwards in its own short transaction. Two processes never lease the same row, and a process that
dies mid-send leaves a lease that expires, so the message is tried again.

Outcomes (docs/rules/users.md, "E-mail addresses"):
- delivered: marked sent;
- transient (the server unreachable, a timeout, a 4xx reply, a refusal that is not about this message): retried
  with capped back-off for as long as it takes, without using the message's attempts (an outage loses nothing);
- permanent (the message cannot be built, whatever the exception, or a 5xx reply for its recipient or its
  content): one attempt used; after MAIL_MAX_ATTEMPTS the row is kept as failed for `app mail --failed/--retry`.

Without SMTP_URL (development only: production refuses to start without it) messages are written to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.mail.address import header_safe, mail_address
from app.mail.outbox import DueMail, MailRepository

log = logging.getLogger("app.mail")
BATCH_SIZE = 20
SMTP_TIMEOUT = 10.0  # seconds for each step of the SMTP exchange
SEND_TIMEOUT = 60.0  # seconds for the whole exchange of one message
LEASE_SECONDS = 2 * SEND_TIMEOUT  # longer than any send, so a lease never runs out under a live sender


class SmtpTarget:
    """smtp://user:password@host:port (plain, STARTTLS when offered) or smtps://... (TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.use_tls = parts.scheme == "smtps"
        self.hostname = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None


class Outcome(enum.Enum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def build_message(mail: DueMail, recipient: str, settings: Settings) -> EmailMessage:
    """The message as it goes out; raises (anything) when this row cannot become one."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = recipient
    message["Subject"] = header_safe(mail.subject)
    message.set_content(mail.body)
    message.as_bytes()  # serialised now, so a header that cannot be written fails here, as this message's fault
    return message


def is_permanent(exc: Exception) -> bool:
    """Whether an SMTP failure is about this message alone (5xx for its recipient or its content). Anything
    else (connection, timeout, 4xx, a refused sender or login) is the server's state and passes."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(refusal.code >= 500 for refusal in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return exc.code >= 500
    return False


class MailSender:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.target = SmtpTarget(settings.smtp_url) if settings.smtp_url else None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _attempt(self, mail: DueMail) -> tuple[Outcome, str]:
        """Builds and sends one leased message, holding no database connection."""
        try:
            # The rule again: a row stored before it may break it. Its normal form (ASCII domain) is what is sent.
            recipient = mail_address(mail.to_address, allow_localhost=not self.settings.production)
            message = build_message(mail, recipient, self.settings)
        except Exception as exc:  # whatever it is, it is this message's problem and no other's
            return Outcome.PERMANENT, f"cannot be built: {type(exc).__name__}: {exc}"
        if self.target is None:
            if self.settings.production:  # validated settings never get here; never log a code in production
                return Outcome.TRANSIENT, "SMTP_URL is not set"
            log.info("e-mail (no SMTP_URL set) to=%s subject=%r\n%s", mail.to_address, mail.subject, mail.body)
            return Outcome.SENT, ""
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await aiosmtplib.send(
                    message,
                    # The envelope is the validated address, never what a header parser makes of the To line.
                    sender=self.settings.mail_from,
                    recipients=[recipient],
                    hostname=self.target.hostname,
                    port=self.target.port,
                    username=self.target.username,
                    password=self.target.password,
                    use_tls=self.target.use_tls,
                    start_tls=None if not self.target.use_tls else False,
                    timeout=SMTP_TIMEOUT,
                )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return (Outcome.PERMANENT if is_permanent(exc) else Outcome.TRANSIENT), reason
        except Exception as exc:  # an unexpected failure while writing this message out: its own problem
            return Outcome.PERMANENT, f"{type(exc).__name__}: {exc}"
        return Outcome.SENT, ""

    async def send_one(self) -> bool | None:
        """Leases and sends one due message: True when sent, False when it failed (it waits for its back-off or
        is kept as failed), None when nothing is due."""
        async with self.pool.connection() as conn:  # committed on leaving: the lease is visible at once
            due = await MailRepository(conn).lease_due_mail(1, LEASE_SECONDS)
        if not due:
            return None
        mail = due[0]
        outcome, reason = await self._attempt(mail)
        async with self.pool.connection() as conn:
            outbox = MailRepository(conn)
            if outcome is Outcome.SENT:
                await outbox.mark_mail_sent(mail.id)
                return True
            if outcome is Outcome.TRANSIENT:
                log.warning("e-mail %s to %s deferred, no attempt used: %s", mail.id, mail.to_address, reason)
                await outbox.defer_mail(mail.id, reason)
                return False
            failed = await outbox.fail_mail_attempt(mail.id, reason, self.settings.mail_max_attempts)
        log.warning(
            "e-mail %s to %s not deliverable (attempt %d of %d)%s: %s",
            mail.id,
            mail.to_address,
            mail.attempts + 1,
            self.settings.mail_max_attempts,
            "; kept as failed (`app mail --failed`, `app mail --retry ID`)" if failed else "",
            reason,
        )
        return False

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
        if self.target is None and not self.settings.production:
            log.warning("SMTP_URL is not set: e-mail is written to this log instead of being sent (development only)")
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
