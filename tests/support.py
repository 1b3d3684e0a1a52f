"""Helpers the tests share: servers on real sockets, clients, users, e-mail, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import uvicorn
from aiosmtpd.controller import Controller

from app.config import Settings
from app.db.sql import Statement, all_sql_files, parse_sql
from app.main import create_app
from tests.statuses import observe

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def with_settings(settings: Settings, **changes: object) -> Settings:
    """The test's settings with some changed (a second server with rate limits on, say)."""
    return msgspec.structs.replace(settings, **changes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietServer(uvicorn.Server):
    """uvicorn inside the test's event loop, without taking over the process's signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def, override]
        yield


@dataclass
class RunningServer:
    url: str
    app: Any
    server: uvicorn.Server

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def serve_app(settings: Settings, port: int | None = None) -> AsyncIterator[RunningServer]:
    """The real app on a real TCP port (a given one to play a restart), served by uvicorn in this event loop."""
    app = create_app(settings)
    app.asgi_handler = observe(app.asgi_handler)  # which statuses each operation answers (tests/statuses.py)
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        lifespan="on",
        log_config=None,
        access_log=False,
        ws_max_size=settings.max_ws_frame_bytes,
        ws_per_message_deflate=False,  # as app serve runs it
        ws_ping_interval=5.0,
        ws_ping_timeout=5.0,
        timeout_graceful_shutdown=3,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped while starting")
        await asyncio.sleep(0.01)
    try:
        yield RunningServer(url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


@dataclass
class ServerProcess:
    """A real `app serve` process (uvicorn, its own event loop and LISTEN connection)."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int | None = None) -> int:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read the same settings."""
    from app.config import _ENV_NAMES

    env = {k: v for k, v in os.environ.items() if k not in _ENV_NAMES}
    for env_name, field_name in _ENV_NAMES.items():
        value = getattr(settings, field_name)
        if value is None:
            continue
        if isinstance(value, bool):
            value = "on" if value else "off"
        elif isinstance(value, tuple):
            value = ",".join(value)
        env[env_name] = str(value)
    return env


async def start_server_process(
    settings: Settings, tmp_path: Path, *, extra_env: dict[str, str] | None = None, name: str = "server"
) -> ServerProcess:
    port = free_port()
    env = settings_env(settings) | {"PORT": str(port), "MIGRATE_ON_START": "off"} | (extra_env or {})
    log_path = tmp_path / f"{name}-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server process exited with {process.returncode}:\n{server.log()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(server.url + "/health", timeout=1)).status_code == 200:
                    return server
            await asyncio.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server process did not answer /health:\n{server.log()[-3000:]}")


# Users and clients ------------------------------------------------------------------------------------------


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def create_account(
    client: httpx.AsyncClient, *, email: str | None = None, password: str = PASSWORD, name: str = "Test User"
) -> Account:
    email = email or unique_email()
    response = await client.post(
        "/api/v1/users/signupuser", json={"user_name": name, "email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return Account(id=response.json()["user_id"], email=email, password=password)


async def bearer_login(client: httpx.AsyncClient, account: Account) -> Account:
    response = await client.post("/api/v1/auth/token", json={"email": account.email, "password": account.password})
    assert response.status_code == 200, response.text
    account.token = response.json()["access_token"]
    account.headers = {"Authorization": f"Bearer {account.token}"}
    return account


async def new_user(client: httpx.AsyncClient, **kwargs: Any) -> Account:
    """A signed-up user with a bearer token."""
    return await bearer_login(client, await create_account(client, **kwargs))


async def cookie_login(client: httpx.AsyncClient, account: Account) -> str:
    """Logs `client` in with a session cookie (Gobid's sequence); returns the CSRF token to send on writes."""
    csrf = (await client.get("/api/v1/csrftoken")).json()["csrf_token"]
    response = await client.post(
        "/api/v1/users/loginuser",
        json={"email": account.email, "password": account.password},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200, response.text
    return csrf


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error has the status and envelope of docs/rules/README.md: {"status_code", "detail", "extra": [...]}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["extra"], list)
    return body


def error_keys(response: httpx.Response) -> set[str]:
    return {item["key"] for item in response.json()["extra"]}


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Polls `check` until it returns something truthy (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last result: {result!r})")
        await asyncio.sleep(interval)


# E-mail ----------------------------------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO) of every delivery
        self.refused: dict[str, str] = {}  # recipient -> the reply RCPT TO gets, e.g. "550 no such user"
        self.stall = 0.0  # seconds DATA waits before answering (a slow server)
        self.stalling = False  # True while a DATA reply is being held back

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            self.stalling = True
            await asyncio.sleep(self.stall)
            self.stalling = False
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpServer:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives; it can be stopped and restarted
    on the same port to play an outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages_to(self, address: str) -> list[Message]:
        return [m for m in self.inbox.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[Message]:
        async def arrived() -> list[Message] | None:
            found = self.messages_to(address)
            return found if len(found) >= count else None

        return await eventually(arrived, timeout=timeout)


def code_in(message: Message) -> str:
    body = message.get_payload(decode=True)
    text = body.decode() if isinstance(body, bytes) else str(message.get_payload())
    match = re.search(r"\b(\d{6,8})\b", text)
    assert match, text
    return match.group(1)


def sql_statements() -> list[tuple[str, Statement]]:
    """Every named statement of sql/, with its file's name (what the SQL tests check one by one)."""
    return [
        (path.name, statement)
        for path in all_sql_files()
        for statement in parse_sql(path.read_text(encoding="utf-8")).values()
    ]
