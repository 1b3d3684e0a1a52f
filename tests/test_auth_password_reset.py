"""Password reset (docs/rules/users.md): 202 whatever the address, a single-use code e-mailed through the outbox to a
real SMTP server on loopback, five wrong tries burn it, confirming revokes every session of the account."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.support import (
    PASSWORD,
    Account,
    SmtpServer,
    assert_envelope,
    code_in,
    cookie_login,
    error_keys,
    new_user,
    serve_app,
    unique_email,
    with_settings,
)

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "reset to this one"


@pytest.fixture
async def mail_client(settings: Settings, smtp: SmtpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as http,
    ):
        yield http


async def reset_code(http: httpx.AsyncClient, smtp: SmtpServer, account: Account, count: int = 1) -> str:
    response = await http.post(RESET, json={"email": account.email})
    assert response.status_code == 202, response.text
    messages = await smtp.wait_for(account.email, count=count)
    return code_in(messages[-1])


async def outbox_addresses(settings: Settings) -> list[str]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        rows = await (await conn.execute("SELECT to_address FROM outbox ORDER BY id")).fetchall()
    return [row[0] for row in rows]


async def test_reset_answers_202_the_same_for_unknown_addresses(
    mail_client: httpx.AsyncClient, smtp: SmtpServer, settings: Settings
) -> None:
    account = await new_user(mail_client)
    known = await mail_client.post(RESET, json={"email": account.email})
    stranger = unique_email("stranger")
    unknown = await mail_client.post(RESET, json={"email": stranger})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    message = (await smtp.wait_for(account.email))[0]
    assert "reset" in message["Subject"].lower()
    assert len(code_in(message)) >= 6
    assert await outbox_addresses(settings) == [account.email]
    assert smtp.messages_to(stranger) == []


# Headers that differ between any two responses, whatever they answer.
PER_RESPONSE_HEADERS = {"date", "x-request-id"}


async def test_reset_answers_before_the_work_alike_for_known_and_unknown_accounts(
    mail_client: httpx.AsyncClient, smtp: SmtpServer, settings: Settings
) -> None:
    """The answer cannot reveal by its timing whether the account exists: it does not wait for the work. Holding
    password_resets locked stalls that work for a known account; the answer comes all the same."""
    account = await new_user(mail_client)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as blocker:
        await blocker.execute("LOCK TABLE password_resets IN ACCESS EXCLUSIVE MODE")
        known = await mail_client.post(RESET, json={"email": account.email}, timeout=5)
        unknown = await mail_client.post(RESET, json={"email": unique_email("stranger")}, timeout=5)
        await blocker.rollback()
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert {k: v for k, v in known.headers.items() if k not in PER_RESPONSE_HEADERS} == {
        k: v for k, v in unknown.headers.items() if k not in PER_RESPONSE_HEADERS
    }
    # The work happens after the answer: the code arrives once the lock is gone.
    assert len(code_in((await smtp.wait_for(account.email))[0])) >= 6


async def test_mail_goes_to_the_stored_address(mail_client: httpx.AsyncClient, smtp: SmtpServer) -> None:
    account = await new_user(mail_client, email=f"Mixed.Case-{unique_email()}")
    response = await mail_client.post(RESET, json={"email": account.email.lower()})
    assert response.status_code == 202
    assert len(await smtp.wait_for(account.email)) == 1


async def test_confirm_works_once_and_revokes_every_session(
    mail_client: httpx.AsyncClient, smtp: SmtpServer, settings: Settings
) -> None:
    account = await new_user(mail_client)
    async with httpx.AsyncClient(base_url=str(mail_client.base_url)) as browser:
        await cookie_login(browser, account)
        assert (await browser.get("/api/v1/users/me")).status_code == 200
        code = await reset_code(mail_client, smtp, account)

        confirm = await mail_client.post(
            CONFIRM, json={"email": account.email, "code": code, "new_password": NEW_PASSWORD}
        )
        assert confirm.status_code == 200, confirm.text

        assert_envelope(await browser.get("/api/v1/users/me"), 401)
    assert_envelope(await mail_client.get("/api/v1/users/me", headers=account.headers), 401)
    old = await mail_client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    assert_envelope(old, 401)
    new = await mail_client.post("/api/v1/auth/token", json={"email": account.email, "password": NEW_PASSWORD})
    assert new.status_code == 200

    reused = await mail_client.post(
        CONFIRM, json={"email": account.email, "code": code, "new_password": "yet another pw"}
    )
    assert_envelope(reused, 400)
    assert error_keys(reused) == {"code"}
    assert (
        await mail_client.post("/api/v1/auth/token", json={"email": account.email, "password": NEW_PASSWORD})
    ).status_code == 200

    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        actions = await (
            await conn.execute("SELECT action FROM audit_log WHERE subject = %s", [f"user:{account.id}"])
        ).fetchall()
    assert ("password.reset",) in actions


async def test_five_wrong_codes_burn_the_code(mail_client: httpx.AsyncClient, smtp: SmtpServer) -> None:
    account = await new_user(mail_client)
    code = await reset_code(mail_client, smtp, account)
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(5):
        response = await mail_client.post(
            CONFIRM, json={"email": account.email, "code": wrong, "new_password": NEW_PASSWORD}
        )
        assert_envelope(response, 400)
    burnt = await mail_client.post(CONFIRM, json={"email": account.email, "code": code, "new_password": NEW_PASSWORD})
    assert_envelope(burnt, 400)
    # The password did not change; a new code works again.
    assert (
        await mail_client.post("/api/v1/auth/token", json={"email": account.email, "password": PASSWORD})
    ).status_code == 200
    fresh = await reset_code(mail_client, smtp, account, count=2)
    ok = await mail_client.post(CONFIRM, json={"email": account.email, "code": fresh, "new_password": NEW_PASSWORD})
    assert ok.status_code == 200, ok.text


async def test_a_new_code_retires_the_previous_one(mail_client: httpx.AsyncClient, smtp: SmtpServer) -> None:
    account = await new_user(mail_client)
    first = await reset_code(mail_client, smtp, account)
    second = await reset_code(mail_client, smtp, account, count=2)
    if first != second:
        stale = await mail_client.post(
            CONFIRM, json={"email": account.email, "code": first, "new_password": NEW_PASSWORD}
        )
        assert_envelope(stale, 400)
    ok = await mail_client.post(CONFIRM, json={"email": account.email, "code": second, "new_password": NEW_PASSWORD})
    assert ok.status_code == 200


async def test_wrong_account_or_unknown_address_cannot_use_a_code(
    mail_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    account = await new_user(mail_client)
    other = await new_user(mail_client)
    code = await reset_code(mail_client, smtp, account)
    for email in (other.email, unique_email("nobody")):
        response = await mail_client.post(CONFIRM, json={"email": email, "code": code, "new_password": NEW_PASSWORD})
        assert_envelope(response, 400)
        assert error_keys(response) == {"code"}
    short = await mail_client.post(CONFIRM, json={"email": account.email, "code": code, "new_password": "short"})
    assert_envelope(short, 400)
    assert error_keys(short) == {"new_password"}
    ok = await mail_client.post(CONFIRM, json={"email": account.email, "code": code, "new_password": NEW_PASSWORD})
    assert ok.status_code == 200
