"""The quick start, end to end: the real server process started the way the README does (`app serve` with
DATABASE_URL unset, so it runs its own embedded PostgreSQL), used over TCP by a client, then stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from app.config import _ENV_NAMES
from tests.support import ROOT, free_port


@pytest.mark.slow
async def test_quick_start_serves_a_new_user_and_stops_cleanly() -> None:
    # A data folder the embedded server's user can reach (pytest's tmp_path lives under a mode-700 folder).
    data_root = Path(tempfile.mkdtemp(prefix="quickstart-"))
    data_root.chmod(0o755)
    port = free_port()
    # A newcomer's environment: none of our settings, only the port and where the embedded data goes.
    env = {k: v for k, v in os.environ.items() if k not in _ENV_NAMES} | {
        "PORT": str(port),
        "EMBEDDED_PG_DIR": str(data_root / "pgdata"),
    }
    log_path = data_root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)

            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text

            signup = await client.post(
                "/api/v1/users/signupuser",
                json={"user_name": "Newcomer", "email": "newcomer@example.com", "password": "quick start 123"},
            )
            assert signup.status_code == 201, signup.text
            token = await client.post(
                "/api/v1/auth/token", json={"email": "newcomer@example.com", "password": "quick start 123"}
            )
            assert token.status_code == 200, token.text
            me = await client.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
            )
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "newcomer@example.com"
            assert me.json()["id"] == signup.json()["user_id"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log_path.read_text()
        log = log_path.read_text()
        assert "Traceback" not in log
        assert "Development administrator created: admin@localhost" in log
        # The data lives where EMBEDDED_PG_DIR said, and the embedded server stopped with the app.
        assert (data_root / "pgdata" / "PG_VERSION").exists()
        assert not (data_root / "pgdata" / "postmaster.pid").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        shutil.rmtree(data_root, ignore_errors=True)
