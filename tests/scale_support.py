"""Replicas behind real nginx and PgBouncer (Debian's packages), for the multi-replica tests and the benchmark (no
tests here): PgBouncer in transaction pooling in front of PostgreSQL, N `app serve` processes whose pools go
through it (their LISTEN connection goes direct), nginx in front of them. The configuration files are rendered
from the same templates compose's `scale` profile renders (deploy/*.template).

    async with scale_out(server_url, database_url, tmp_path, {"SMTP_URL": smtp.url}) as cluster:
        cluster.url  # nginx's origin; cluster.replicas, cluster.pgbouncer_url, cluster.direct_url
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from app.config import settings_from_env
from tests.support import ROOT, ServerProcess, free_port, start_server_process

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
# The address the replicas see nginx come from; test clients use other loopback addresses (127.0.0.2, ...).
NGINX_ADDRESS = "127.0.0.1"
SECRET = "scale-out test secret, long enough for production mode"


def require_scale_tools() -> tuple[str, str]:
    """nginx and pgbouncer; without them the test skips saying how to get them, and under CI=true it fails."""
    if NGINX and PGBOUNCER:
        return NGINX, PGBOUNCER
    message = "nginx and pgbouncer are not installed: `apt-get install nginx pgbouncer` to run the multi-replica tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def render(template: str, values: dict[str, str]) -> str:
    """envsubst restricted to `values`' names (as the images run it): ${NAME} is replaced, nginx's $vars stay."""
    text = (DEPLOY / template).read_text()
    left = sorted(set(re.findall(r"\$\{([A-Z_]+)\}", text)) - set(values))
    assert not left, f"{template} needs {left}"
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], text)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not listen on {port}:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class PgBouncer:
    port: int
    pool_size: int
    user: str
    password: str
    process: subprocess.Popen[bytes]

    def url(self, database: str) -> str:
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://{self.user}{secret}@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict[str, object]]:
        """The admin console's SHOW <what> (simple query protocol only, hence ClientCursor)."""
        with (
            psycopg.connect(self.url("pgbouncer"), autocommit=True) as conn,
            psycopg.ClientCursor(conn) as cursor,
        ):
            cursor.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@contextlib.contextmanager
def pgbouncer(server_url: str, *, pool_size: int = 10, max_client_conn: int = 1000) -> Iterator[PgBouncer]:
    """PgBouncer (transaction pooling) in front of the PostgreSQL of `server_url`: a TCP host, or the embedded
    server's socket folder (reached by running as the folder's owner: PgBouncer refuses to run as root)."""
    _, binary = require_scale_tools()
    parts = urlsplit(server_url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["/tmp"])[0]
    user, password = parts.username or "postgres", parts.password or ""
    run_as = None
    if os.geteuid() == 0:
        run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        if run_as == "root":
            run_as = "nobody"
    folder = Path(tempfile.mkdtemp(prefix="marketplace-pgbouncer-"))
    folder.chmod(0o755)  # readable by the unprivileged user (pytest's own temp folders are private to root)
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    port = free_port()
    config = folder / "pgbouncer.ini"
    config.write_text(
        render(
            "pgbouncer.ini.template",
            {
                "PGBOUNCER_SERVER_HOST": host,
                "PGBOUNCER_SERVER_PORT": str(parts.port or 5432),
                "PGBOUNCER_LISTEN_ADDR": "127.0.0.1",
                "PGBOUNCER_LISTEN_PORT": str(port),
                "PGBOUNCER_AUTH_TYPE": "scram-sha-256" if password else "trust",
                "PGBOUNCER_AUTH_FILE": str(folder / "userlist.txt"),
                "PGBOUNCER_ADMIN_USER": user,
                "PGBOUNCER_POOL_SIZE": str(pool_size),
                "PGBOUNCER_MAX_CLIENT_CONN": str(max_client_conn),
            },
        )
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    log = folder / "pgbouncer.log"
    command = [binary, *(["-u", run_as] if run_as else []), str(config)]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield PgBouncer(port=port, pool_size=pool_size, user=user, password=password, process=process)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Nginx:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{NGINX_ADDRESS}:{self.port}"


@contextlib.contextmanager
def nginx(upstreams: list[str], *, port: int | None = None, workers: int = 1) -> Iterator[Nginx]:
    """nginx on a free loopback port (or `port`) in front of `upstreams` ("127.0.0.1:8001", ...), with its own
    prefix, pid and temp folders, in the foreground."""
    binary, _ = require_scale_tools()
    port = port or free_port()
    folder = Path(tempfile.mkdtemp(prefix="marketplace-nginx-"))
    folder.chmod(0o755)  # nginx's workers run as nobody when the master is root: they use the temp folders
    config = folder / "nginx.conf"
    config.write_text(
        render(
            "nginx.conf.template",
            {
                "NGINX_WORKERS": str(workers),
                "NGINX_RUN_DIR": str(folder),
                "NGINX_UPSTREAM_SERVERS": "\n        ".join(f"server {u};" for u in upstreams),
                "NGINX_LISTEN": f"{NGINX_ADDRESS}:{port}",
            },
        )
    )
    log = folder / "nginx.log"
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(config), "-e", "stderr"], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        _wait_for_port(port, process, log)
        yield Nginx(port=port, process=process)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ScaleOut:
    """nginx's origin, the replicas behind it, PgBouncer in front of the database."""

    url: str
    replicas: list[ServerProcess]
    bouncer: PgBouncer
    database: str
    direct_url: str  # the database, bypassing PgBouncer

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    @property
    def pgbouncer_url(self) -> str:
        return self.bouncer.url(self.database)


def replica_environment(base: dict[str, str], nginx_url: str, pooled_url: str, direct_url: str) -> dict[str, str]:
    """A replica as production runs it behind nginx and PgBouncer (plain HTTP on loopback: COOKIE_SECURE=off)."""
    return base | {
        "APP_ENV": "production",
        "SECRET_KEY": base.get("SECRET_KEY", SECRET),
        "COOKIE_SECURE": "off",
        "ALLOWED_ORIGINS": nginx_url,
        "TRUSTED_PROXIES": NGINX_ADDRESS,
        "DATABASE_URL": pooled_url,
        "DATABASE_LISTEN_URL": direct_url,
        "DB_PREPARE": "off",
    }


@contextlib.asynccontextmanager
async def scale_out(
    server_url: str,
    database_url: str,
    logs: Path,
    environment: dict[str, str],
    *,
    replicas: int = 3,
    pool_size: int = 10,
    replica_env: Callable[[int], dict[str, str]] | None = None,
) -> AsyncIterator[ScaleOut]:
    """PgBouncer, `replicas` app processes (`environment` plus replica_env(n), which wins) and nginx in front.
    `environment` needs SMTP_URL (production mode); `database_url` is a migrated database on `server_url`."""
    require_scale_tools()
    database = urlsplit(database_url).path.lstrip("/")
    nginx_port = free_port()
    nginx_url = f"http://{NGINX_ADDRESS}:{nginx_port}"
    with pgbouncer(server_url, pool_size=pool_size) as bouncer:
        base = replica_environment(environment, nginx_url, bouncer.url(database), database_url)
        settings = settings_from_env(base)
        processes = await asyncio.gather(
            *(
                start_server_process(
                    settings, logs, extra_env=base | (replica_env(n) if replica_env else {}), name=f"replica{n}"
                )
                for n in range(replicas)
            )
        )
        try:
            with nginx([urlsplit(p.url).netloc for p in processes], port=nginx_port):
                yield ScaleOut(
                    url=nginx_url, replicas=list(processes), bouncer=bouncer, database=database, direct_url=database_url
                )
        finally:
            for process in processes:  # all at once: each takes its graceful shutdown
                if process.process.poll() is None:
                    process.process.terminate()
            for process in processes:
                process.stop()
