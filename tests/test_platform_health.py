"""GET /health (the process is alive, without asking the database) and GET /ready (the database answers and
every migration is applied), as a load balancer or an orchestrator sees them."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import psycopg

from app.config import Settings
from app.db.migrations import apply_migrations, known_migration_ids, rollback_migrations
from tests.support import assert_envelope, eventually


def _cut_off(server_url: str, database_url: str, allowed: bool) -> None:
    """Refuse (or allow again) new connections to the test's database and drop the open ones: an outage."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )


async def test_ready_when_the_database_answers_and_migrations_are_current(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "current"}


async def test_health_answers_while_the_database_is_down_and_ready_does_not(
    client: httpx.AsyncClient, settings: Settings, server_url: str
) -> None:
    assert (await client.get("/ready")).status_code == 200
    await asyncio.to_thread(_cut_off, server_url, settings.database_url or "", False)
    try:
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        async def not_ready() -> httpx.Response | None:
            response = await client.get("/ready")
            return response if response.status_code == 503 else None

        body = assert_envelope(await eventually(not_ready), 503)
        assert "database" in body["detail"].lower()
    finally:
        await asyncio.to_thread(_cut_off, server_url, settings.database_url or "", True)

    async def ready_again() -> bool:
        return (await client.get("/ready")).status_code == 200

    assert await eventually(ready_again, timeout=15)


async def test_not_ready_while_a_migration_is_missing(client: httpx.AsyncClient, settings: Settings) -> None:
    url = settings.database_url or ""
    last = known_migration_ids()[-1]
    assert await asyncio.to_thread(rollback_migrations, url, 1) == [last]
    try:
        response = await client.get("/ready")
        body = assert_envelope(response, 503)
        assert last in body["detail"]
        assert response.headers.get("retry-after")
        assert (await client.get("/health")).status_code == 200
    finally:
        await asyncio.to_thread(apply_migrations, url)
    assert (await client.get("/ready")).status_code == 200
