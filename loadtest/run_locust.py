"""The one command for the Locust mixed-traffic run (issue 6), headless, for a fixed time:

    .venv/bin/python -m loadtest.run_locust [--users 60] [--spawn-rate 10] [--time 5m] [--tags browse bidders]
    .venv/bin/python -m loadtest.run_locust --host http://127.0.0.1:8000 --time 1m     # a server already running

Without --host it starts what production runs: `app serve --workers 2` (uvicorn, uvloop, httptools) with
RATE_LIMITS=off and ACCESS_LOG=off on a fresh database (embedded PostgreSQL, or DATABASE_URL's server), an
administrator for the set-up (ADMIN_EMAIL/ADMIN_PASSWORD), and a fake accumulated-cashback API on loopback
(CASHBACK_API_URL) so that GET /api/v1/cashback has something to call; it stops them all at the end.
With --host, the set-up logs in as LOCUST_ADMIN_EMAIL / LOCUST_ADMIN_PASSWORD (an account with clinics:manage).

Writes loadtest/reports/<stamp>_{stats,failures,exceptions,stats_history}.csv and <stamp>.html (git-ignored),
and (unless --no-report) the `locust` section of docs/performance.md: per-route p50/p95/p99, requests/s and
failures, plus the CPU seconds each side used. Exit status: Locust's (1 when any request failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from loadtest.harness import ROOT, fresh_database, machine_line, now_iso, start_app, write_section

REPORTS = ROOT / "loadtest" / "reports"
LOCUST = Path(sys.executable).with_name("locust")


# A fake accumulated-cashback API ---------------------------------------------------------------------------------


class FakeCashbackApi:
    """The external API's success answer for any CPF, on loopback, in a thread of this process."""

    def __init__(self) -> None:
        self.port = 0
        self.calls = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Keep-alive, like the real API: a client that reuses its connections pays no connect per call.
        with contextlib.suppress(Exception):
            while True:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                self.calls += 1
                body = json.dumps({"statusCode": 200, "body": {"credit": 1000 + self.calls % 997}}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        writer.close()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            async with server:
                await server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            self._loop.run_until_complete(serve())

    def __enter__(self) -> FakeCashbackApi:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake cashback API did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None:
            for task in asyncio.all_tasks(self._loop):
                self._loop.call_soon_threadsafe(task.cancel)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# CPU accounting: who used the cores during the run -----------------------------------------------------------


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def _postgres_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


# The run ----------------------------------------------------------------------------------------------------


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


@contextlib.contextmanager
def _own_server(workers: int, admin_email: str, admin_password: str) -> Iterator[tuple[str, list[int]]]:
    with fresh_database() as database_url, FakeCashbackApi() as upstream:
        server = start_app(
            database_url,
            workers=workers,
            extra_env={
                "ADMIN_EMAIL": admin_email,
                "ADMIN_PASSWORD": admin_password,
                "CASHBACK_API_URL": upstream.url,
                "CASHBACK_API_TOKEN": "load-test",
                "DB_POOL_MAX": "10",  # the machine's PostgreSQL is shared: 2 x 10 connections
            },
        )
        try:
            yield server.url, server.pids()
        finally:
            server.stop()


def _read_stats(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_stats.csv")
    with path.open() as f:
        return list(csv.DictReader(f))


def _exceptions(prefix: Path) -> int:
    """Errors raised inside Locust users (not requests): they count as failures too."""
    path = Path(f"{prefix}_exceptions.csv")
    if not path.exists():
        return 0
    with path.open() as f:
        return sum(int(row["Count"]) for row in csv.DictReader(f))


def _summary(
    rows: list[dict[str, str]], args: argparse.Namespace, seconds: int, cpu: dict[str, float], ws: dict, errors: int
) -> str:
    def num(row: dict[str, str], key: str) -> float:
        try:
            return float(row[key])
        except (KeyError, ValueError):
            return float("nan")

    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    routes = sorted((r for r in rows if r["Name"] != "Aggregated"), key=lambda r: -num(r, "Request Count"))
    tags = " ".join(args.tags) if args.tags else "all"
    where = args.host or f"`app serve --workers {args.workers}` started by the command"
    lines = [
        "## Locust mixed traffic",
        "",
        f"Run: {now_iso()} on {machine_line()}, {seconds} s.",
        f"Command: `.venv/bin/python -m loadtest.run_locust --users {args.users} --spawn-rate {args.spawn_rate} "
        f"--time {args.time}" + (f" --tags {tags}" if args.tags else "") + "` "
        f"(server: {where}, RATE_LIMITS=off, ACCESS_LOG=off, a fresh database, a fake cashback API on loopback; "
        "Locust, the servers and PostgreSQL share the same cores). Scenarios: " + tags + ".",
        "",
    ]
    if total:
        fails = int(num(total, "Failure Count"))
        lines += [
            f"**{num(total, 'Requests/s'):,.1f} requests/s** over {int(num(total, 'Request Count')):,} requests, "
            f"**{fails} failures** ({100 * fails / max(1, num(total, 'Request Count')):.2f} %); "
            f"aggregated p50 {num(total, '50%'):.0f} ms, p95 {num(total, '95%'):.0f} ms, "
            f"p99 {num(total, '99%'):.0f} ms; "
            f"**{errors} errors inside the simulated users** (Locust's exceptions report).",
            "",
        ]
    if cpu and seconds > 0:
        busy = ", ".join(
            f"{name} {value:,.0f} s ({100 * value / seconds:.0f} % of one core)" for name, value in cpu.items()
        )
        lines += [f"CPU used during the run: {busy}; the machine has {os.cpu_count()} cores.", ""]
    if ws:
        counted = ", ".join(f"{k}: {v:,}" for k, v in sorted(ws.items()))
        lines += [f"WebSocket messages received besides replies (fan-out): {counted}.", ""]
    lines += [
        "| type | name | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in routes:
        lines.append(
            f"| {r['Type']} | `{r['Name']}` | {int(num(r, 'Request Count')):,} | {int(num(r, 'Failure Count')):,} | "
            f"{num(r, 'Requests/s'):,.1f} | {num(r, '50%'):.0f} | {num(r, '95%'):.0f} | {num(r, '99%'):.0f} | "
            f"{num(r, 'Max Response Time'):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="a running server; default: start one (see above)")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--time", default="5m", help="run time: 30s, 5m, 1h")
    parser.add_argument("--tags", nargs="*", default=[], help="pilltrackr browse bidders clinic cashback")
    parser.add_argument("--workers", type=int, default=2, help="server processes when starting our own")
    parser.add_argument("--no-report", action="store_true", help="do not write docs/performance.md")
    args = parser.parse_args()
    if not LOCUST.exists():
        raise SystemExit("Locust is missing: .venv/bin/pip install -e '.[load]'")
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    prefix = REPORTS / stamp
    ws_counts = REPORTS / f"{stamp}_ws.json"
    admin_email = os.environ.get("LOCUST_ADMIN_EMAIL", "load-admin@example.com")
    admin_password = os.environ.get("LOCUST_ADMIN_PASSWORD") or secrets.token_urlsafe(16)

    with contextlib.ExitStack() as stack:
        if args.host:
            host, server_pids = args.host, []
        else:
            host, server_pids = stack.enter_context(_own_server(args.workers, admin_email, admin_password))
        command = [
            str(LOCUST),
            "-f",
            str(ROOT / "loadtest" / "locustfile.py"),
            "--headless",
            "--host",
            host,
            "--users",
            str(args.users),
            "--spawn-rate",
            str(args.spawn_rate),
            "--run-time",
            args.time,
            "--stop-timeout",
            "10",
            "--csv",
            str(prefix),
            "--csv-full-history",
            "--html",
            f"{prefix}.html",
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        if args.tags:
            command += ["--tags", *args.tags]
        env = os.environ | {
            "LOCUST_ADMIN_EMAIL": admin_email,
            "LOCUST_ADMIN_PASSWORD": admin_password,
            "LOCUST_WS_COUNTS": str(ws_counts),
        }
        pg = _postgres_pids() if not args.host else []
        before_server, before_pg = _cpu_seconds(server_pids), _cpu_seconds(pg)
        started = time.monotonic()
        locust = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            code = locust.wait(timeout=_seconds(args.time) + 180)
        except subprocess.TimeoutExpired:
            locust.kill()
            code = locust.wait()
        elapsed = int(time.monotonic() - started)
        cpu: dict[str, float] = {}
        if server_pids:
            cpu = {
                "app processes": _cpu_seconds(server_pids) - before_server,
                # backends that ended during the run take their CPU time with them: a lower bound
                "PostgreSQL (at least)": max(0.0, _cpu_seconds(pg) - before_pg),
            }
        cpu["Locust"] = resource_children_cpu()  # the only child process waited for so far

    rows = _read_stats(prefix)
    ws = json.loads(ws_counts.read_text()) if ws_counts.exists() else {}
    errors = _exceptions(prefix)
    summary = _summary(rows, args, min(elapsed, _seconds(args.time)), cpu, ws, errors)
    print(summary)
    print(f"\nreports: {prefix}.html, {prefix}_stats.csv")
    if not args.no_report:
        write_section("locust", summary)
    raise SystemExit(code or (1 if errors else 0))


def resource_children_cpu() -> float:
    """CPU seconds of the child processes that ended (Locust)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
