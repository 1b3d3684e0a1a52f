"""The e-mail outbox (docs/rules/README.md, "E-mail"): nothing is lost while the SMTP server is down, and two server
processes sharing the outbox deliver each message exactly once."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.support import (
    SmtpServer,
    code_in,
    create_account,
    eventually,
    serve_app,
    start_server_process,
    with_settings,
)


async def outbox_rows(settings: Settings) -> list[tuple[str, int, bool, str | None]]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT to_address, attempts, sent_at IS NOT NULL, last_error FROM outbox ORDER BY id"
        )
        return await cursor.fetchall()  # type: ignore[return-value]


async def test_mail_waits_while_smtp_is_down_and_is_delivered_when_it_returns(
    settings: Settings, smtp: SmtpServer
) -> None:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        account = await create_account(http)
        smtp.stop()
        response = await http.post("/api/v1/auth/password-reset", json={"email": account.email})
        assert response.status_code == 202

        async def failed_once() -> bool:
            rows = await outbox_rows(settings)
            return bool(rows) and rows[0][3] is not None and not rows[0][2]

        await eventually(failed_once, timeout=15)
        (address, attempts, sent, last_error) = (await outbox_rows(settings))[0]
        assert address == account.email
        assert attempts == 0  # an outage is the server's state: the message's attempts are kept for its own faults
        assert not sent
        assert last_error
        assert smtp.messages_to(account.email) == []

        smtp.start()  # the same port again
        messages = await smtp.wait_for(account.email, timeout=30)
        assert len(messages) == 1
        assert code_in(messages[0])

        async def marked_sent() -> bool:
            return all(row[2] for row in await outbox_rows(settings))

        await eventually(marked_sent)
        assert len(smtp.messages_to(account.email)) == 1
        # Delivered, the reset code is no longer kept in clear in the outbox (docs/security.md, "Secrets at rest").
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            bodies = await (await conn.execute("SELECT body FROM outbox")).fetchall()
        assert bodies == [("",)]


@pytest.mark.slow
async def test_two_processes_deliver_each_message_once(settings: Settings, smtp: SmtpServer, tmp_path: Path) -> None:
    shared = with_settings(settings, smtp_url=smtp.url)
    first = await start_server_process(shared, tmp_path, name="first")
    second = await start_server_process(shared, tmp_path, name="second")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            accounts = []
            for i in range(12):
                target = (first, second)[i % 2]
                http.base_url = httpx.URL(target.url)
                accounts.append(await create_account(http))
            for i, account in enumerate(accounts):
                target = (first, second)[i % 2]
                response = await http.post(target.url + "/api/v1/auth/password-reset", json={"email": account.email})
                assert response.status_code == 202

            async def all_sent() -> bool:
                rows = await outbox_rows(shared)
                return len(rows) == len(accounts) and all(row[2] for row in rows)

            await eventually(all_sent, timeout=30)
        # A message is handed to SMTP before its row is marked sent, so every delivery has happened by now.
        for account in accounts:
            assert len(smtp.messages_to(account.email)) == 1, account.email
        assert len(smtp.inbox.messages) == len(accounts)
        assert all(row[1] == 1 for row in await outbox_rows(shared))
    finally:
        first.stop()
        second.stop()
