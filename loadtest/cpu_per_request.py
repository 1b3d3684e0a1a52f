"""Where a request's CPU goes: per request, the app workers' and PostgreSQL's user and system CPU time, and
(with --strace) the worker's system calls, for `GET /health` and the one-row read `GET /api/v1/products/{id}`.

    .venv/bin/python -m loadtest.cpu_per_request [--workers 2] [--seconds 5] [--strace]
    .venv/bin/python -m loadtest.cpu_per_request --compare auth [--rounds 5]
    .venv/bin/python -m loadtest.cpu_per_request --compare cashback [--rounds 5]

The evidence behind docs/performance.md's "one-row read" note. Needs `wrk`; `--strace` needs `strace`
(apt-get install strace) and then runs one worker, since strace slows what it traces.

`--compare` measures two routes in alternating rounds of one run and prints each round and the medians (the
machine is shared: only ratios measured side by side mean anything). `auth`: the product read without and with
a bearer token (issue 14, item 1). `cashback`: `GET /api/v1/cashback` with the cache off against a keep-alive
upstream on loopback, and `GET /api/v1/resellers/me`, both as the same reseller (item 2).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil

from loadtest.bench_platform import BENCH_PASSWORD, _post, _prepare
from loadtest.harness import Server, fresh_database, median, start_app, wrk

Times = dict[int, tuple[str, float, float]]


def cpu_times() -> Times:
    """pid -> (app | postgres | other, user seconds, system seconds) for every process we may read."""
    times: Times = {}
    processes = list(psutil.process_iter(["name", "cmdline", "cpu_times", "ppid"]))
    servers = {p.pid for p in processes if "app.cli" in " ".join(p.info["cmdline"] or [])}
    # Other checkouts' embedded servers may run on the same machine: only ours counts, when we know which it is.
    folder = parse_qs(urlsplit(os.environ.get("DATABASE_URL", "")).query).get("host", [""])[0]
    postmasters = {p.pid for p in processes if folder and f"-D {folder}" in " ".join(p.info["cmdline"] or [])}
    for process in processes:
        try:
            name, cpu = process.info["name"] or "", process.info["cpu_times"]
        except (psutil.Error, TypeError):
            continue
        family = {process.pid, process.info["ppid"]}
        ours = family & postmasters if postmasters else True
        # uvicorn's workers are spawned children whose command line names multiprocessing, not app.cli.
        kind = "postgres" if "postgres" in name and ours else "app" if family & servers else ""
        if kind and cpu is not None:
            times[process.pid] = (kind, cpu.user, cpu.system)
    return times


def measure(url: str, seconds: int, headers: dict[str, str] | None = None, connections: int = 64) -> dict[str, float]:
    """req/s and, per request, µs of CPU of the app processes and of PostgreSQL (user + system each)."""
    before, started = cpu_times(), time.monotonic()
    result = wrk(url, seconds=seconds, connections=connections, headers=headers)
    after, elapsed = cpu_times(), time.monotonic() - started
    if result.non_2xx:
        raise SystemExit(f"{url}: {result.non_2xx} non-2xx answers")
    requests = result.requests_per_second * elapsed
    spent: dict[str, list[float]] = {"app": [0.0, 0.0], "postgres": [0.0, 0.0]}
    for pid, (kind, user, system) in after.items():
        if pid in before:
            spent[kind][0] += user - before[pid][1]
            spent[kind][1] += system - before[pid][2]
    figures = {"rps": result.requests_per_second}
    for kind, (user, system) in spent.items():
        figures[f"{kind}_user"], figures[f"{kind}_system"] = 1e6 * user / requests, 1e6 * system / requests
        figures[kind] = figures[f"{kind}_user"] + figures[f"{kind}_system"]
    return figures


def cpu_per_request(url: str, seconds: int) -> str:
    wrk(url, seconds=2, connections=64)  # warm-up: prepared statements, pool connections
    figures = measure(url, seconds)
    parts = ", ".join(
        f"{kind} {figures[f'{kind}_user']:.0f} µs user + {figures[f'{kind}_system']:.0f} µs system"
        for kind in ("app", "postgres")
    )
    return f"{figures['rps']:,.0f} req/s; per request: {parts}"


Side = tuple[str, str, dict[str, str] | None]  # label, url, headers


def compare(first: Side, second: Side, seconds: int, rounds: int, connections: int) -> None:
    """Alternating rounds of the two sides; each round's figures, then the medians and the ratio second/first."""
    for _, url, headers in (first, second):
        wrk(url, seconds=2, connections=connections, headers=headers)  # warm-up: prepared statements, pools
    rows: dict[str, list[dict[str, float]]] = {first[0]: [], second[0]: []}
    for number in range(rounds):
        for label, url, headers in (first, second) if number % 2 == 0 else (second, first):
            figures = measure(url, seconds, headers, connections)
            rows[label].append(figures)
            print(
                f"round {number + 1} {label}: {figures['rps']:,.0f} req/s, app {figures['app']:.0f} µs, "
                f"postgres {figures['postgres']:.0f} µs per request",
                flush=True,
            )
    medians = {label: {key: median([r[key] for r in runs]) for key in runs[0]} for label, runs in rows.items()}
    for label, figures in medians.items():
        print(
            f"median {label}: {figures['rps']:,.0f} req/s, app {figures['app']:.0f} µs "
            f"({figures['app_user']:.0f} user + {figures['app_system']:.0f} system), "
            f"postgres {figures['postgres']:.0f} µs per request"
        )
    ratios = [b["app"] / a["app"] for a, b in zip(rows[first[0]], rows[second[0]], strict=True)]
    print(
        f"app CPU {second[0]} / {first[0]}: per round "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"; median {median(ratios):.2f}; ratio of medians {medians[second[0]]['app'] / medians[first[0]]['app']:.2f}"
    )


def _bearer(server: Server, login: str) -> dict[str, str]:
    token = _post(server.url + "/api/v1/auth/token", {"email": login, "password": BENCH_PASSWORD})["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _reseller(server: Server) -> dict[str, str]:
    from tests.cashback_upstream import random_cpf

    email = f"reseller-{time.time_ns()}@example.com"
    body = {"full_name": "Revendedora Bench", "cpf": random_cpf(), "email": email, "password": BENCH_PASSWORD}
    _post(server.url + "/api/v1/resellers", body)
    return _bearer(server, email)


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
    parser.add_argument("--compare", choices=("auth", "cashback"), help="two routes in alternating rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if args.compare:
        return _compare(args)
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


def _compare(args: argparse.Namespace) -> None:
    from loadtest.run_locust import FakeCashbackApi

    with fresh_database() as database_url, FakeCashbackApi() as upstream:
        extra = {"CASHBACK_API_URL": upstream.url, "CASHBACK_API_TOKEN": "bench", "CASHBACK_CACHE_TTL": "0"}
        server = start_app(database_url, workers=args.workers, extra_env=extra)
        try:
            if args.compare == "auth":
                email, product_id = _prepare(server)
                url = f"{server.url}/api/v1/products/{product_id}"
                first: Side = ("anonymous", url, None)
                second: Side = ("bearer", url, _bearer(server, email))
            else:
                headers = _reseller(server)
                first = ("resellers/me", server.url + "/api/v1/resellers/me", headers)
                second = ("cashback", server.url + "/api/v1/cashback", headers)
            compare(first, second, args.seconds, args.rounds, args.connections)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
