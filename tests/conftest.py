"""Fixtures: a real PostgreSQL (the embedded one, or DATABASE_URL), one migrated template database per test
session cloned per test (CREATE DATABASE ... TEMPLATE, ~50 ms), the app on a real TCP port, clients."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from app.config import Settings, settings_from_env
from app.db.embedded import start_embedded_postgres
from app.db.migrations import apply_migrations
from tests.statuses import OBSERVED, undocumented
from tests.support import ROOT, Account, RunningServer, SmtpServer, bearer_login, new_user, serve_app

TEST_DATA_FOLDER = ROOT / ".pgtest"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url() -> str:
    """The PostgreSQL server the tests use: DATABASE_URL when set, else an embedded one in .pgtest/."""
    return os.environ.get("DATABASE_URL") or start_embedded_postgres(TEST_DATA_FOLDER)


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    name = f"test_template_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    apply_migrations(_with_database(server_url, name))
    yield name
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def copy_of_template(server_url: str, template_database: str) -> Iterator[str]:
    """A fresh copy of the migrated schema, dropped afterwards."""
    name = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield _with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """A fresh copy of the migrated schema for this test alone."""
    with copy_of_template(server_url, template_database) as url:
        yield url


# Cheap argon2 parameters: hundreds of users are created per run (one test keeps the production cost).
TEST_ENVIRONMENT = {
    "APP_ENV": "development",
    "RATE_LIMITS": "off",
    "ARGON2_MEMORY_KIB": "1024",
    "ARGON2_TIME_COST": "1",
    "OUTBOX_POLL_INTERVAL": "0.2",
    "CLOSER_INTERVAL": "0.2",
    "AUCTION_MIN_DURATION": "1",
    "LOG_LEVEL": "WARNING",
    "ACCESS_LOG": "off",
    "DB_POOL_MIN": "1",
    "DB_POOL_MAX": "10",
    "ADMIN_EMAIL": "admin@example.com",
    "ADMIN_PASSWORD": "admin password 1",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings; a test changes one with msgspec.structs.replace(settings, ...)."""
    return settings_from_env(TEST_ENVIRONMENT | {"DATABASE_URL": database_url})


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve_app(settings) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def other_client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser/client with its own cookie jar."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> Account:
    return await admin_login(client)


async def admin_login(client: httpx.AsyncClient) -> Account:
    """The Administrador created at start-up from ADMIN_EMAIL/ADMIN_PASSWORD, with a bearer token."""
    return await bearer_login(
        client, Account(id="", email=TEST_ENVIRONMENT["ADMIN_EMAIL"], password=TEST_ENVIRONMENT["ADMIN_PASSWORD"])
    )


@pytest.fixture
async def user(client: httpx.AsyncClient) -> Account:
    return await new_user(client)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium for the page tests. Without it they skip with how to get it; under CI=true they fail."""
    if CHROMIUM:
        return CHROMIUM
    message = "Chromium is not installed: `apt-get install chromium` to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path,
            args=CHROMIUM_ARGS,
        )
        yield browser
        await browser.close()


@pytest.fixture
def tmp_logs(tmp_path: Path) -> Path:
    return tmp_path


# Every (operation, status) the session observed is in the OpenAPI document (tests/statuses.py) -----------------

_UNDOCUMENTED = pytest.StashKey[list[str]]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not OBSERVED:
        return
    from app.main import create_app

    # The document does not depend on the database: any address will do, none is connected to.
    app = create_app(settings_from_env(TEST_ENVIRONMENT | {"DATABASE_URL": "postgresql://127.0.0.1:9/unused"}))
    missing = undocumented(OBSERVED, app.openapi_schema.to_schema())
    session.config.stash[_UNDOCUMENTED] = missing
    if missing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    missing = config.stash.get(_UNDOCUMENTED, None)
    if missing is None:
        return
    if missing:
        terminalreporter.section("answers the OpenAPI document does not list", red=True)
        terminalreporter.write_line('declare them with @refuses (docs/rules/README.md, "Every answer documented"):')
        for line in missing:
            terminalreporter.write_line(f"  {line}")
    else:
        terminalreporter.write_line(f"every observed (operation, status) is documented: {len(OBSERVED)} pairs")
