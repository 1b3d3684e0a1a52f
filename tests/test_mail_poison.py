"""E-mail addresses and the sender (docs/rules/users.md, "E-mail addresses"): the address rule everywhere an address
is accepted, no line break in any stored text that reaches a header, and a sender in which no message can block
another: poison rows end `failed` for an operator (`app mail --failed`, `--retry`), mail queued behind them is
delivered, an SMTP outage uses no attempts, and no transaction stays open during the SMTP exchange."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest

from app.config import Settings
from tests.clinic_support import api, create_clinic
from tests.conftest import admin_login
from tests.support import (
    ROOT,
    SmtpServer,
    assert_envelope,
    code_in,
    create_account,
    error_keys,
    eventually,
    new_user,
    serve_app,
    settings_env,
    unique_email,
    with_settings,
)

BAD_ADDRESSES = [
    "x:;@example.org",  # RFC 5322 group syntax: the To header parses to no recipient
    "a:b@x.com",  # was delivered to b@x.com
    "a,b@x.com",  # was delivered to two recipients
    '"quoted"@example.com',
    "ana(comment)@example.com",
    "Ana <ana@example.com>",
    "ana maria@example.com",
    "ana\u0001@example.com",
    "ana\r\nbcc@example.com",
    ".ana@example.com",
    "ana.@example.com",
    "an..a@example.com",
    "jos\u00e9@example.com",  # non-ASCII local part (would need SMTPUTF8)
    "ana@example",  # no dot in the domain
    "ana@-example.com",
    "ana@exa_mple.com",
    "ana@example..com",
    "ana@[127.0.0.1]",
    "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 10 + ".com",  # 259 characters
]

LINE_BREAKS = ["Ana\r\nBcc: evil@example.com", "Ana\nSouza", "Ana\rSouza"]


async def outbox(settings: Settings, where: str = "TRUE") -> list[dict[str, object]]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id")
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in await cursor.fetchall()]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
async def test_sign_up_refuses_an_address_outside_the_rule(client: httpx.AsyncClient, address: str) -> None:
    response = await client.post(
        "/api/v1/users/signupuser", json={"user_name": "Ana", "email": address, "password": "a good password"}
    )
    assert_envelope(response, 400)
    assert error_keys(response) == {"email"}


async def test_every_route_that_takes_an_address_applies_the_rule(client: httpx.AsyncClient) -> None:
    admin = await admin_login(client)
    clinic = await create_clinic(client, admin)
    bad = "x:;@example.org"
    attempts = [
        ("/api/v1/users", {"email": bad}, "email"),
        ("/api/v1/clinics", {"name": "C", "slug": "c-bad-address", "admin_email": bad}, "admin_email"),
        (api(clinic["id"], "/staff/invitations"), {"email": bad}, "email"),
        (
            "/api/v1/resellers",
            {"full_name": "Ana", "cpf": "52998224725", "email": bad, "password": "a password"},
            "email",
        ),
        ("/api/v1/auth/password-reset", {"email": bad}, "email"),
    ]
    for path, body, key in attempts:
        response = await client.post(path, json=body, headers=admin.headers)
        assert_envelope(response, 400)
        assert error_keys(response) == {key}, (path, response.text)


async def test_an_internationalised_domain_is_stored_in_ascii(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await create_account(client, email="ana@b\u00fccher.example")
    assert account.id
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        row = await (await conn.execute("SELECT email FROM users WHERE id = %s", (account.id,))).fetchone()
    assert row == ("ana@xn--bcher-kva.example",)


@pytest.mark.parametrize("name", LINE_BREAKS)
async def test_names_that_reach_a_header_refuse_line_breaks(client: httpx.AsyncClient, name: str) -> None:
    admin = await admin_login(client)
    clinic = await create_clinic(client, admin)
    user = await new_user(client)
    attempts = [
        (
            "POST",
            "/api/v1/users/signupuser",
            {"user_name": name, "email": unique_email(), "password": "a password"},
            "user_name",
        ),
        ("POST", "/api/v1/users", {"email": unique_email(), "name": name}, "name"),
        ("PATCH", f"/api/v1/users/{user.id}", {"name": name}, "name"),
        ("POST", "/api/v1/clinics", {"name": name, "slug": "line-break"}, "name"),
        ("POST", api(clinic["id"], "/staff/invitations"), {"email": unique_email(), "name": name}, "name"),
        (
            "POST",
            "/api/v1/resellers",
            {"full_name": name, "cpf": "52998224725", "email": unique_email(), "password": "a password"},
            "full_name",
        ),
    ]
    for method, path, body, key in attempts:
        response = await client.request(method, path, json=body, headers=admin.headers)
        assert_envelope(response, 400)
        assert error_keys(response) == {key}, (path, response.text)


MIGRATION = "0011_mail_rules"
MAX_ATTEMPTS = 2
# Rows a database from before the address rule may hold, straight in the outbox: (recipient, subject).
POISON_ROWS = [
    ("x:;@example.org", "Group syntax"),  # used to stop every message behind it
    ("a:b@x.com", "Colon"),
    ("a,b@x.com", "Comma"),
    ("", "Empty recipient"),
    ("jos\u00e9@example.com", "Non-ASCII local part"),
    ('"quoted"@example.com', "Quoted local part"),
    ("crlf@example.com", "Hello\r\nBcc: evil@example.com"),  # header injection through the subject
    ("ctrl@example.com", "Bell\x07"),
]
# Breaks the stored form (its domain is not in ASCII) but is a valid address: the sender delivers it to the ASCII
# form, which is the same address.
UNICODE_DOMAIN = ("ana@b\u00fccher.example", "Domain not in ASCII form")


async def store_legacy_rows(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """A database from before migration 0011 that holds rows breaking its rules: 0011 is rolled back (its own
    rollback file), the rows stored, and 0011 applied again. Returns the ids stored and the migration's
    warnings."""
    migrations = ROOT / "migrations"
    warnings: list[str] = []
    ids: dict[str, str] = {}
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        conn.add_notice_handler(lambda diagnostic: warnings.append(diagnostic.message_primary or ""))
        await conn.execute((migrations / f"{MIGRATION}.rollback.sql").read_text())  # type: ignore[arg-type]
        for to_address, subject in [*POISON_ROWS, UNICODE_DOMAIN]:
            cursor = await conn.execute(
                "INSERT INTO outbox (to_address, subject, body) VALUES (%s, %s, 'Poison') RETURNING id",
                (to_address, subject),
            )
            ids[subject] = str((await cursor.fetchone())[0])  # type: ignore[index]
        cursor = await conn.execute(
            "INSERT INTO users (email, name, role_id)"
            " SELECT 'injected@example.com', %s, min(id) FROM roles RETURNING id",
            ("Ana\r\nBcc: evil@example.com",),
        )
        ids["user"] = str((await cursor.fetchone())[0])  # type: ignore[index]
        await conn.execute((migrations / f"{MIGRATION}.sql").read_text())  # type: ignore[arg-type]
    return ids, warnings


async def constraint_validated(settings: Settings) -> dict[str, bool]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE ANY "
            "(ARRAY['%%_email_rule', '%%_header_safe'])"
        )
        return dict(await cursor.fetchall())  # type: ignore[arg-type]


def listed_ids(listing: str) -> set[str]:
    """The ids in the first column of `app mail --failed` (a bare substring check would find "11" in a date)."""
    return {line.split("\t", 1)[0] for line in listing.splitlines()[1:]}


def app_mail(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "mail", *args],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_migration_reports_stored_rows_that_break_the_rules(settings: Settings) -> None:
    ids, warnings = await store_legacy_rows(settings)

    def reported(constraint: str) -> set[str]:
        line = next(w for w in warnings if f" break {constraint}," in w)
        return set(line.split("ids: ")[1].split(", "))

    assert reported("outbox_to_address_rule") == {
        ids[subject]
        for subject in (
            "Group syntax",
            "Colon",
            "Comma",
            "Empty recipient",
            "Non-ASCII local part",
            "Domain not in ASCII form",
            "Quoted local part",
        )
    }
    assert reported("outbox_subject_header_safe") == {ids["Hello\r\nBcc: evil@example.com"]}
    assert reported("users_name_header_safe") == {ids["user"]}
    validated = await constraint_validated(settings)
    # Left NOT VALID where rows break them (new rows are checked all the same), validated elsewhere.
    assert validated == {
        "users_email_rule": True,
        "users_name_header_safe": False,
        "clinics_name_header_safe": True,
        "staff_invitations_email_rule": True,
        "staff_invitations_name_header_safe": True,
    }
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        # New rows are checked all the same (the outbox by a trigger: see the migration).
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute("INSERT INTO outbox (to_address, subject, body) VALUES ('x:;@example.org', 's', 'b')")
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute("INSERT INTO outbox (to_address, subject, body) VALUES ('a@example.com', 'a\nb', 'b')")
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(
                "INSERT INTO clinics (name, slug, timezone) VALUES ('A' || chr(10) || 'B', 'line-break', 'UTC')"
            )
        # Never rewritten: the rows are as they were stored.
        cursor = await conn.execute("SELECT count(*) FROM outbox WHERE to_address = 'x:;@example.org'")
        assert await cursor.fetchone() == (1,)


async def test_poison_rows_never_block_the_mail_behind_them(settings: Settings, smtp: SmtpServer) -> None:
    ids, _ = await store_legacy_rows(settings)
    mailing = with_settings(settings, smtp_url=smtp.url, mail_max_attempts=MAX_ATTEMPTS)
    refused = "refused@example.com"
    smtp.inbox.refused[refused] = "550 5.1.1 No such user here"
    huge = "y" * 50_000
    async with (
        serve_app(mailing) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as http,
        await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn,
    ):
        # Through the API, what it still accepts: an address the SMTP server refuses for good.
        victim = await create_account(http, email=refused)
        assert (await http.post("/api/v1/auth/password-reset", json={"email": victim.email})).status_code == 202
        await conn.execute(
            "INSERT INTO outbox (to_address, subject, body) VALUES ('huge@example.com', %s, 'Long')", (huge,)
        )
        # Queued last, behind all of them.
        good = await create_account(http)
        assert (await http.post("/api/v1/auth/password-reset", json={"email": good.email})).status_code == 202
        assert code_in((await smtp.wait_for(good.email, timeout=5))[0])
        assert len((await smtp.wait_for("huge@example.com", timeout=5))[0]["Subject"]) > 1000

        poison_ids = ", ".join(row_id for key, row_id in ids.items() if key not in ("user", UNICODE_DOMAIN[1]))
        where = f"id IN ({poison_ids}) OR to_address = '{refused}'"

        async def all_failed() -> list[dict[str, object]] | None:
            rows = await outbox(settings, where)
            return rows if all(row["failed_at"] is not None for row in rows) else None

        failed = await eventually(all_failed, timeout=20)
        assert len(failed) == len(POISON_ROWS) + 1
        assert all(row["attempts"] == MAX_ATTEMPTS and row["sent_at"] is None for row in failed)
        assert all(row["last_error"] for row in failed)
        # Nothing went to the addresses hidden in the poison rows.
        delivered = {rcpt for _, rcpts in smtp.inbox.envelopes for rcpt in rcpts}
        assert delivered == {good.email, "huge@example.com", "ana@xn--bcher-kva.example"}

        # The operator's view lists each failed message, with its reason.
        listed = app_mail(settings, "--failed")
        assert listed.returncode == 0, listed.stderr
        assert {str(row["id"]) for row in failed} <= listed_ids(listed.stdout)
        assert refused in listed.stdout
        assert "550" in listed.stdout

        # Re-queued once the recipient exists: delivered, with its attempts back to zero.
        del smtp.inbox.refused[refused]
        victim_row = next(row for row in failed if row["to_address"] == refused)
        retried = app_mail(settings, "--retry", str(victim_row["id"]))
        assert retried.returncode == 0, retried.stderr
        assert code_in((await smtp.wait_for(refused, timeout=5))[0])
        again = app_mail(settings, "--retry", str(victim_row["id"]))  # it is no longer failed
        assert again.returncode == 1
        assert "not a failed message" in again.stderr
        assert str(victim_row["id"]) not in listed_ids(app_mail(settings, "--failed").stdout)


async def test_an_smtp_outage_or_a_4xx_uses_no_attempt_and_loses_nothing(settings: Settings, smtp: SmtpServer) -> None:
    later = "later@example.com"
    smtp.inbox.refused[later] = "451 4.3.0 Try again later"
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url, mail_max_attempts=1)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as http,
    ):
        greylisted = await create_account(http, email=later)
        assert (await http.post("/api/v1/auth/password-reset", json={"email": later})).status_code == 202
        account = await create_account(http)
        smtp.stop()
        assert (await http.post("/api/v1/auth/password-reset", json={"email": account.email})).status_code == 202

        async def deferred_twice() -> bool:
            rows = await outbox(settings)
            return len(rows) == 2 and all(row["deferrals"] >= 2 for row in rows)

        await eventually(deferred_twice, timeout=15)
        for row in await outbox(settings):
            assert row["attempts"] == 0, row
            assert row["failed_at"] is None
            assert row["sent_at"] is None
            assert row["last_error"]
        del smtp.inbox.refused[later]
        smtp.start()  # the same port again
        assert code_in((await smtp.wait_for(account.email, timeout=30))[0])
        assert code_in((await smtp.wait_for(greylisted.email, timeout=30))[0])

        async def all_sent() -> bool:
            return all(row["sent_at"] is not None and row["attempts"] == 1 for row in await outbox(settings))

        await eventually(all_sent)


async def test_no_transaction_is_open_while_a_message_is_sent(settings: Settings, smtp: SmtpServer) -> None:
    smtp.inbox.stall = 3
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        account = await create_account(http)
        assert (await http.post("/api/v1/auth/password-reset", json={"email": account.email})).status_code == 202

        async def stalling() -> bool:
            return smtp.inbox.stalling

        await eventually(stalling, timeout=5)
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            )
            assert await cursor.fetchone() == (0,)
        assert code_in((await smtp.wait_for(account.email, timeout=10))[0])
