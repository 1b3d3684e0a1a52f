"""The database under fault: a restart of PostgreSQL while requests and sockets are live, and a pool with no free
connection. The service answers 503 with the envelope (never a hang, never a 500) while it cannot reach the
database, recovers by itself, and subscribers lose no event.

The restart test runs its OWN embedded PostgreSQL in a temporary folder (never the shared test server, which other
tests use at the same time), stopped and started with the package's `pg_ctl` as its system user."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings, settings_from_env
from app.db.embedded import start_embedded_postgres
from app.db.migrations import apply_migrations
from app.realtime.hub import LISTENER_APPLICATION_NAME
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.conftest import TEST_ENVIRONMENT, admin_login
from tests.support import (
    assert_envelope,
    eventually,
    new_user,
    serve_app,
    start_server_process,
    with_settings,
)

pytestmark = pytest.mark.slow


@dataclass
class OwnPostgres:
    """An embedded PostgreSQL of this test alone, which the test may stop and start."""

    pgdata: Path
    socket_dir: str
    database_url: str

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres._commands import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(args, pgdata=self.pgdata, user=user, timeout=60)

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"])  # like a restart or a fail-over: sessions are cut

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start"])

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    folder.chmod(0o755)  # the embedded server's system user must reach its data folder
    pgdata = folder / "data"
    server_url = start_embedded_postgres(pgdata)
    parts = urlsplit(server_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE faults")
    database_url = urlunsplit(parts._replace(path="/faults"))
    apply_migrations(database_url)
    own = OwnPostgres(pgdata=pgdata, socket_dir=socket_dir, database_url=database_url)
    try:
        yield own
    finally:
        if own.running():
            own.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _listener_connected(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [LISTENER_APPLICATION_NAME]
        ).fetchone()
    return bool(row and row[0])


async def _recv(ws: ClientConnection, timeout: float = 15) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_database_restart_503_then_recovery_and_no_event_lost(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    pool_timeout = 1.5
    settings = settings_from_env(
        TEST_ENVIRONMENT | {"DATABASE_URL": own_postgres.database_url, "DB_POOL_TIMEOUT": str(pool_timeout)}
    )
    server = await start_server_process(settings, tmp_path, name="restart")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=pool_timeout + 20) as client:
            admin = await admin_login(client)
            member = await new_user(client)
            clinic = await create_clinic(client, admin)
            cid = clinic["id"]
            service = await create_service(client, admin, cid, "RS")
            desk = await open_desk(client, admin, cid, "Sala 1")
            await issue(client, cid, service["id"])
            step = (await call_next(client, cid, desk)).json()
            recall = api(cid, f"/attendances/{step['id']}/recall")

            async with connect(server.ws_url + api(cid, "/ws/display")) as ws:
                snapshot = await _recv(ws)
                seq0 = snapshot["seq"]

                # PostgreSQL goes away (a restart, a fail-over).
                await asyncio.to_thread(own_postgres.stop)
                started = time.monotonic()
                down = await asyncio.gather(
                    client.get("/api/v1/users/me", headers=member.headers),  # the auth middleware needs the DB
                    client.post(recall, json={}, headers=desk.account.headers),
                    client.get(api(cid, "/display")),  # anonymous
                    client.post(
                        "/api/v1/users/signupuser",
                        json={"user_name": "X", "email": "x@example.com", "password": "long enough password"},
                    ),
                    client.get("/ready"),
                )
                for response in down:
                    assert_envelope(response, 503)
                    assert response.headers.get("retry-after"), response.headers
                # Each waited for a connection at most about DB_POOL_TIMEOUT (the client's timeout is far longer).
                assert time.monotonic() - started < pool_timeout + 10
                assert (await client.get("/health")).status_code == 200
                # A new live subscriber is refused cleanly too, with the status of an unavailable service.
                with pytest.raises(Exception) as refused:  # noqa: PT011 - the websockets client's handshake error
                    async with connect(server.ws_url + api(cid, "/ws/display")):
                        pass
                assert getattr(getattr(refused.value, "response", None), "status_code", None) == 503, refused.value

                # Restart the database just as the hub begins a long back-off (3.2 or 5 s): the requests below
                # then commit while its LISTEN connection is still away, and it must catch up from the table.
                seen = len(server.log())

                async def hub_backing_off() -> bool:
                    return bool(re.search(r"reconnecting in (3\.2|5\.0) s", server.log()[seen:]))

                await eventually(hub_backing_off, timeout=20)
                await asyncio.to_thread(own_postgres.start)

                async def ready() -> bool:
                    return (await client.get("/ready")).status_code == 200

                await eventually(ready, timeout=20)
                recovered = len(server.log())
                committed = []
                unheard = 0
                for _ in range(6):
                    unheard += not await asyncio.to_thread(_listener_connected, own_postgres.database_url)
                    response = await client.post(recall, json={}, headers=desk.account.headers)
                    assert response.status_code == 200, response.text
                    committed.append(response)
                assert unheard >= 1, "every event was committed after the hub was back: the fault was not injected"
                me = await client.get("/api/v1/users/me", headers=member.headers)
                assert me.status_code == 200  # sessions survive, no restart of the app

                # The same socket (never closed) receives every event committed since, in order, exactly once.
                got = [await _recv(ws) for _ in committed]
                assert [m["seq"] for m in got] == list(range(seq0 + 1, seq0 + 1 + len(committed)))
                assert all(m["type"] == "ticket.called" and m["recall"] for m in got)
                await eventually(lambda: asyncio.to_thread(_listener_connected, own_postgres.database_url))
                # ...and nothing more: one more event arrives with the very next seq.
                assert (await client.post(recall, json={}, headers=desk.account.headers)).status_code == 200
                assert (await _recv(ws))["seq"] == seq0 + len(committed) + 1

            # A new subscriber can replay the whole outage with since.
            async with connect(server.ws_url + api(cid, f"/ws/display?since={seq0}")) as again:
                replayed = [await _recv(again) for _ in range(len(committed) + 1)]
            assert [m["seq"] for m in replayed] == list(range(seq0 + 1, seq0 + len(committed) + 2))
    finally:
        code = server.stop()
    assert code == 0, server.log()[-3000:]
    assert "Traceback" not in server.log()[recovered:]  # nothing failing after the recovery


async def test_an_exhausted_pool_waits_then_answers_503_with_retry_after(settings: Settings) -> None:
    pool_timeout = 1.0
    changed = with_settings(settings, db_pool_min=1, db_pool_max=1, db_pool_timeout=pool_timeout)
    async with serve_app(changed) as running, httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        member = await new_user(client)
        # The only connection is held by a request whose UPDATE waits for a row the test has locked.
        async with await psycopg.AsyncConnection.connect(settings.database_url or "") as lock:
            await lock.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", [member.id])
            holder = asyncio.create_task(
                client.patch(f"/api/v1/users/{member.id}", json={"name": "Held"}, headers=member.headers)
            )

            async def holding() -> bool:
                row = await (
                    await lock.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                        "current_database() AND pid <> pg_backend_pid()"
                    )
                ).fetchone()
                return bool(row and row[0])

            await eventually(holding)
            started = time.monotonic()
            waiting = await asyncio.gather(
                client.get("/api/v1/users/me", headers=member.headers),
                client.get(f"/api/v1/users/{member.id}", headers=member.headers),
                client.post(
                    "/api/v1/users/signupuser",
                    json={"user_name": "Y", "email": "y@example.com", "password": "long enough password"},
                ),
            )
            waited = time.monotonic() - started
            for response in waiting:
                body = assert_envelope(response, 503)
                assert "database" in body["detail"].lower()
                assert int(response.headers["retry-after"]) >= 1
            assert waited >= pool_timeout * 0.9  # they did wait for a connection before giving up
            assert not holder.done()
            await lock.commit()
        held = await holder
        assert held.status_code == 200, held.text
        assert held.json()["name"] == "Held"
        # The pool is free again: everything answers.
        assert (await client.get("/api/v1/users/me", headers=member.headers)).status_code == 200
        assert (await client.get("/ready")).status_code == 200
