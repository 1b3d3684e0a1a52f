"""Bounds on what one client holds open in a server process (issue 11, finding 15): a request head must arrive
within HEADER_TIMEOUT, and one client address gets at most MAX_CONNECTIONS_PER_CLIENT connections and
MAX_SOCKETS_PER_CLIENT WebSockets; a trusted proxy in front is not capped itself, its clients are."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from app.config import Settings
from tests.support import assert_envelope, serve_app, start_server_process, with_settings

DISPLAY = "/api/v1/clinics/{clinic_id}/ws/display"


def _read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the server sent before closing the connection, and after how many seconds it closed it."""
    start = time.monotonic()
    sock.settimeout(seconds)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - start


async def test_a_slowloris_client_is_disconnected_after_the_header_timeout(settings: Settings, tmp_path: Path) -> None:
    server = await start_server_process(settings, tmp_path, extra_env={"HEADER_TIMEOUT": "1"})
    try:
        port = int(server.url.rsplit(":", 1)[1])

        def slowloris() -> tuple[bytes, float]:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                for _ in range(3):  # trickles bytes, never finishing the head
                    time.sleep(0.3)
                    sock.sendall(b"a")
                return _read_until_closed(sock, seconds=10)

        def silent() -> tuple[bytes, float]:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                return _read_until_closed(sock, seconds=10)

        for client in (slowloris, silent):
            received, _ = await asyncio.to_thread(client)
            assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]
        # The timeout is per request head: a client that finishes its head in time is served.
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health")).status_code == 200
    finally:
        server.stop()


async def test_one_client_gets_at_most_the_connection_cap(settings: Settings, tmp_path: Path) -> None:
    server = await start_server_process(settings, tmp_path, extra_env={"MAX_CONNECTIONS_PER_CLIENT": "3"})
    port = int(server.url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    try:
        for _ in range(3):
            held.append(socket.create_connection(("127.0.0.1", port)))
        with socket.create_connection(("127.0.0.1", port)) as extra:
            received, _ = await asyncio.to_thread(_read_until_closed, extra, 10)
        assert received.startswith(b"HTTP/1.1 429"), received[:200]
        body = json.loads(received.split(b"\r\n\r\n", 1)[1])
        assert body["status_code"] == 429
        assert body["detail"]
        held.pop().close()

        async def served() -> bool:
            with contextlib.suppress(httpx.TransportError):
                async with httpx.AsyncClient(base_url=server.url) as client:
                    return (await client.get("/health")).status_code == 200
            return False

        for _ in range(50):  # the server notices the closed connection within moments
            if await served():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("a connection below the cap was not served")
    finally:
        for sock in held:
            sock.close()
        server.stop()


async def test_websockets_per_client_are_capped_behind_a_trusted_proxy(settings: Settings) -> None:
    capped = with_settings(settings, trusted_proxies=("127.0.0.1",), max_sockets_per_client=3)
    async with serve_app(capped) as server, httpx.AsyncClient(base_url=server.url) as client:
        from tests.clinic_support import create_clinic
        from tests.conftest import admin_login

        clinic = await create_clinic(client, await admin_login(client))
        url = server.ws_url + DISPLAY.format(clinic_id=clinic["id"])

        def client_at(address: str) -> dict[str, str]:
            return {"X-Forwarded-For": address}

        opened: list[ClientConnection] = []
        try:
            for _ in range(3):
                opened.append(await connect(url, additional_headers=client_at("203.0.113.5"), open_timeout=5))
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=client_at("203.0.113.5"), open_timeout=5)
            response = refused.value.response
            assert response.status_code == 429
            assert json.loads(response.body)["status_code"] == 429
            # Another client behind the same proxy still connects; so does the first one after closing a socket.
            opened.append(await connect(url, additional_headers=client_at("198.51.100.7"), open_timeout=5))
            await opened.pop(0).close()

            async def reconnects() -> bool:
                with contextlib.suppress(InvalidStatus):
                    opened.append(await connect(url, additional_headers=client_at("203.0.113.5"), open_timeout=5))
                    return True
                return False

            for _ in range(50):
                if await reconnects():
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the client could not reconnect below the cap")
        finally:
            for ws in opened:
                await ws.close()

        # An HTTP request never counts against the cap.
        assert_envelope(await client.get("/api/v1/clinics/999999"), 404)
