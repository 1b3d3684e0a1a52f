"""Secrets never rest in idempotency_keys (issue 11, finding 12): a generated password is shown once; a replay
of the same request answers the same status and body without it, saying it was already shown."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from app.config import Settings
from tests.support import ROOT, unique_email


async def test_a_replay_never_shows_the_generated_password_again(settings: Settings, client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"email": unique_email()}
    first = await client.post("/api/v1/users/", json=body, headers=headers)
    assert first.status_code == 201, first.text
    password = first.json()["generated_password"]
    assert "generated_password_shown" not in first.json()

    replay = await client.post("/api/v1/users/", json=body, headers=headers)
    assert replay.status_code == 201, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert "generated_password" not in replay.json()
    assert replay.json()["generated_password_shown"] is True
    expected = {k: v for k, v in first.json().items() if k != "generated_password"}
    assert {k: v for k, v in replay.json().items() if k != "generated_password_shown"} == expected

    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM idempotency_keys WHERE position(%s IN response) > 0", [password.encode()]
        )
        assert (await cursor.fetchone()) == (0,)
    login = await client.post("/api/v1/auth/token", json={"email": body["email"], "password": password})
    assert login.status_code == 200, login.text


async def test_the_migration_scrubs_passwords_already_stored(settings: Settings) -> None:
    stored = b'{"id": "x", "email": "a@example.com", "generated_password": "hunter2-secret", "amount": 10.10}'
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (owner, key, request_hash, status_code, response) VALUES"
            " ('address:10.0.0.1', 'k1', '\\x00', 201, %s), ('address:10.0.0.1', 'k2', '\\x00', 201, %s)",
            [stored, b'{"id": "y"}'],
        )
        notices: list[str] = []
        conn.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
        await conn.execute((ROOT / "migrations" / "0014_idempotency_scrub.sql").read_text())
        cursor = await conn.execute(
            "SELECT key, convert_from(response, 'UTF8')::jsonb FROM idempotency_keys ORDER BY key"
        )
        rows = dict(await cursor.fetchall())
    assert rows["k1"] == {"id": "x", "email": "a@example.com", "amount": 10.10, "generated_password_shown": True}
    assert rows["k2"] == {"id": "y"}
    assert any("from 1 stored" in notice for notice in notices), notices
