"""Pieces the benchmarks share: a fresh database, server processes started the production way, wrk runs,
and the report file. Everything stays on loopback and every run is bounded in time."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "performance.md"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, migrated database on DATABASE_URL's server (or the embedded one), dropped afterwards."""
    from app.db.embedded import ensure_database_url
    from app.db.migrations import apply_migrations

    server_url = ensure_database_url()
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    apply_migrations(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        """The uvicorn process and its workers."""
        import psutil

        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


BENCH_ENV = {
    "RATE_LIMITS": "off",
    "ACCESS_LOG": "off",
    "LOG_LEVEL": "WARNING",
    "MIGRATE_ON_START": "off",
    "AUCTION_MIN_DURATION": "1",
    # Thousands of sockets and connections come from the one load-generating address.
    "MAX_CONNECTIONS_PER_CLIENT": "0",
    "MAX_SOCKETS_PER_CLIENT": "0",
}


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + "/health", timeout=1).status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _start(arguments: list[str], port: int, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Server:
    """Run `python -m <arguments>` from the project's root (or another checkout of it, to compare code versions),
    quietly, and wait until it answers /health."""
    process = subprocess.Popen(
        [PYTHON, "-m", *arguments], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(url=f"http://127.0.0.1:{port}", process=process)
    _wait_for(server.url, process)
    return server


def start_app(
    database_url: str, *, workers: int, extra_env: dict[str, str] | None = None, checkout: Path = ROOT
) -> Server:
    """`app serve` the way production runs it: uvicorn, uvloop, httptools, N workers, access log off."""
    port = free_port()
    env = os.environ | BENCH_ENV | {"DATABASE_URL": database_url, "PORT": str(port)} | (extra_env or {})
    return _start(["app.cli", "serve", "--workers", str(workers)], port, env, cwd=checkout)


def start_bare_app(workers: int) -> Server:
    port = free_port()
    options = ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    return _start(["uvicorn", "loadtest.bare_app:app", "--port", str(port), *options, "--log-level", "warning"], port)


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    script: str | None = None,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(ROOT / "loadtest" / script)]
    for name, value in (headers or {}).items():
        command[1:1] = ["-H", f"{name}: {value}"]
    output = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | (env or {}), check=True, timeout=seconds + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        requests_per_second=rps,
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}, {platform.system()}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section between `<!-- name:start -->` and `<!-- name:end -->` of the report."""
    REPORT.parent.mkdir(exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n\nFigures measured on this project's machines.\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run_for_seconds(main_async: Callable[[float], Awaitable[None]], description: str, default: float) -> None:
    """The command line of a benchmark whose one option is --seconds: parse it, run `main_async` under uvloop."""
    import argparse

    import uvloop

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=default)
    uvloop.run(main_async(parser.parse_args().seconds))
