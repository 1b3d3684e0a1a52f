"""Where a request's CPU goes: per request, the app workers' and PostgreSQL's user and system CPU time, and
(with --strace) the worker's system calls, for `GET /health` and the one-row read `GET /api/v1/products/{id}`.

    .venv/bin/python -m loadtest.cpu_per_request [--workers 2] [--seconds 5] [--strace]

The evidence behind docs/performance.md's "one-row read" note. Needs `wrk`; `--strace` needs `strace`
(apt-get install strace) and then runs one worker, since strace slows what it traces.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from loadtest.bench_platform import _prepare
from loadtest.harness import Server, fresh_database, start_app, wrk

Times = dict[int, tuple[str, float, float]]


def cpu_times() -> Times:
    """pid -> (app | postgres | other, user seconds, system seconds) for every process we may read."""
    times: Times = {}
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        try:
            name, command = process.info["name"] or "", " ".join(process.info["cmdline"] or [])
            cpu = process.info["cpu_times"]
        except (psutil.Error, TypeError):
            continue
        kind = "postgres" if "postgres" in name else "app" if "app.cli" in command else ""
        if kind and cpu is not None:
            times[process.pid] = (kind, cpu.user, cpu.system)
    return times


def cpu_per_request(url: str, seconds: int) -> str:
    wrk(url, seconds=2, connections=64)  # warm-up: prepared statements, pool connections
    before, started = cpu_times(), time.monotonic()
    result = wrk(url, seconds=seconds, connections=64)
    after, elapsed = cpu_times(), time.monotonic() - started
    requests = result.requests_per_second * elapsed
    spent: dict[str, list[float]] = {"app": [0.0, 0.0], "postgres": [0.0, 0.0]}
    for pid, (kind, user, system) in after.items():
        if pid in before:
            spent[kind][0] += user - before[pid][1]
            spent[kind][1] += system - before[pid][2]
    parts = ", ".join(
        f"{kind} {1e6 * user / requests:.0f} µs user + {1e6 * system / requests:.0f} µs system"
        for kind, (user, system) in spent.items()
    )
    return f"{result.requests_per_second:,.0f} req/s; per request: {parts}"


def syscalls_per_request(server: Server, url: str, seconds: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "strace.txt"
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.pids()[-1]), "-o", str(output)])
        time.sleep(0.5)
        result = wrk(url, seconds=seconds, connections=64)
        tracer.terminate()
        tracer.wait()
        requests = result.requests_per_second * seconds
        counts = []
        for line in output.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
                counts.append((int(fields[3]) / requests, fields[-1]))
    return ", ".join(f"{name} {count:.1f}" for count, name in sorted(counts, reverse=True) if count >= 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--strace", action="store_true", help="count the worker's system calls per request")
    args = parser.parse_args()
    with fresh_database() as database_url:
        server = start_app(database_url, workers=1 if args.strace else args.workers)
        try:
            _, product_id = _prepare(server)
            for path in ("/health", f"/api/v1/products/{product_id}"):
                url = server.url + path
                if args.strace:
                    print(f"{path}: system calls per request: {syscalls_per_request(server, url, args.seconds)}")
                else:
                    print(f"{path}: {cpu_per_request(url, args.seconds)}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
