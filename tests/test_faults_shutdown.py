"""Graceful shutdown of a real `app serve` process (SIGTERM), as a rolling deploy does it: the request in flight
finishes and commits, open sockets are told 1001 (going away), the background loops stop without a traceback, the
exit status is 0, and nothing committed is lost: the e-mail it could not deliver goes out from the next process,
and every event it committed can be replayed with `since` from the next process."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.config import Settings
from tests.clinic_support import api, call_next, create_clinic, create_service, issue, open_desk
from tests.conftest import admin_login
from tests.support import SmtpServer, eventually, new_user, start_server_process, with_settings

pytestmark = pytest.mark.slow


async def _recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _read_until_closed(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
    try:
        while True:
            into.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return


def _blocked_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name = 'marketplace'"
        ).fetchone()
    return bool(row and row[0])


async def test_sigterm_finishes_requests_closes_sockets_1001_and_loses_nothing(
    settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    database_url = settings.database_url or ""
    smtp.stop()  # the first process cannot deliver mail: what it queued must go out from the next one
    changed = with_settings(settings, smtp_url=smtp.url)
    first = await start_server_process(changed, tmp_path, name="first")
    lock: psycopg.AsyncConnection[Any] | None = None
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            admin = await admin_login(client)
            member = await new_user(client)
            clinic = await create_clinic(client, admin)
            cid = clinic["id"]
            service = await create_service(client, admin, cid, "SD")
            desk = await open_desk(client, admin, cid, "Sala 1")
            for _ in range(3):
                await issue(client, cid, service["id"])
            step = (await call_next(client, cid, desk)).json()

            received: list[dict[str, Any]] = []
            ws = await connect(first.ws_url + api(cid, "/ws/display"))
            snapshot = await _recv(ws)
            assert snapshot["type"] == "display.snapshot"
            reader = asyncio.create_task(_read_until_closed(ws, received))

            # Events committed right up to the signal.
            for _ in range(5):
                response = await client.post(
                    api(cid, f"/attendances/{step['id']}/recall"), json={}, headers=desk.account.headers
                )
                assert response.status_code == 200, response.text
            last_committed = snapshot["seq"] + 5

            # An e-mail queued just before the shutdown; the first process tries and fails to deliver it.
            reset = await client.post("/api/v1/auth/password-reset", json={"email": member.email})
            assert reset.status_code == 202, reset.text

            async def delivery_failed() -> bool:
                return "deferred, no attempt used" in first.log()

            await eventually(delivery_failed, timeout=15)

            # A request in flight when the signal comes: its UPDATE waits on a row lock the test holds.
            lock = await psycopg.AsyncConnection.connect(database_url)
            await lock.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", [member.id])
            in_flight = asyncio.create_task(
                client.patch(f"/api/v1/users/{member.id}", json={"name": "Finished In Flight"}, headers=member.headers)
            )
            await eventually(lambda: asyncio.to_thread(_blocked_on_a_lock, database_url))

            first.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(reader, 15)
            assert ws.close_code == 1001, (ws.close_code, ws.close_reason)
            assert not in_flight.done()
            await lock.commit()  # let the request finish: the server must still be there to answer it
            response = await in_flight
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "Finished In Flight"

        exit_code = await asyncio.to_thread(first.process.wait, 20)
        log = first.log()
        assert exit_code == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert '"level": "error"' not in log, log[-3000:]
    finally:
        if lock is not None:
            await lock.close()
        first.stop()

    events = [m for m in received if m.get("type") == "ticket.called"]
    assert [m["seq"] for m in events] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(events)))
    last_seen = events[-1]["seq"] if events else snapshot["seq"]

    smtp.start()
    second = await start_server_process(changed, tmp_path, name="second")
    try:
        # The client reconnects to another instance and resumes: it gets exactly what it had not seen.
        async with connect(second.ws_url + api(cid, f"/ws/display?since={last_seen}")) as resumed:
            rest = [await _recv(resumed) for _ in range(last_committed - last_seen)]
        assert [m["seq"] for m in rest] == list(range(last_seen + 1, last_committed + 1))
        async with connect(second.ws_url + api(cid, f"/ws/display?since={snapshot['seq']}")) as replay:
            replayed = [await _recv(replay) for _ in range(5)]
        assert [m["seq"] for m in replayed] == list(range(snapshot["seq"] + 1, last_committed + 1))
        assert all(m["type"] == "ticket.called" and m["recall"] is True for m in replayed)

        # The mail the first process could not send is delivered once, by the second.
        messages = await smtp.wait_for(member.email, timeout=30)
        assert len(messages) == 1
        assert messages[0]["Subject"] == "Your password reset code"
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as client:
            me = await client.get("/api/v1/users/me", headers=member.headers)
            assert me.json()["name"] == "Finished In Flight"
    finally:
        assert second.stop() == 0
    assert "Traceback" not in second.log()
    assert len(smtp.messages_to(member.email)) == 1
