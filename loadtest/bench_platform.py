"""Platform benchmark (issue 6): ratios measured side by side in one run, written to docs/performance.md.

    .venv/bin/python -m loadtest.bench_platform [--seconds 10] [--rounds 3]

Needs `wrk` (apt-get install wrk). Starts its own servers on loopback on a fresh database (the embedded
PostgreSQL, or DATABASE_URL's server) and stops them; runs for a few minutes at most.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.config import settings_from_env
from loadtest.harness import (
    Server,
    WrkResult,
    fresh_database,
    machine_line,
    median,
    now_iso,
    start_app,
    start_bare_app,
    write_section,
    wrk,
)

BENCH_PASSWORD = "benchmark password"


def _post(url: str, body: dict, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"} | (headers or {}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _prepare(server: Server) -> tuple[str, str | None]:
    """A user to log in as, and (when the auctions area is there) a product id to read."""
    email = f"bench-{time.time_ns()}@example.com"
    _post(server.url + "/api/v1/users/signupuser", {"user_name": "Bench", "email": email, "password": BENCH_PASSWORD})
    token = _post(server.url + "/api/v1/auth/token", {"email": email, "password": BENCH_PASSWORD})["access_token"]
    try:
        product = _post(
            server.url + "/api/v1/products",
            {
                "product_name": "Benchmark lot",
                "description": "A product read by the benchmark",
                "baseprice": 10,
                "auction_end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)),
            },
            {"Authorization": f"Bearer {token}"},
        )
        return email, product["id"]
    except urllib.error.HTTPError:
        return email, None


def raw_argon2_rate(seconds: float, threads: int) -> float:
    """argon2id verifications per second with the app's default parameters, on `threads` threads."""
    from app.security import Passwords

    settings = settings_from_env({})
    passwords = Passwords(settings)
    stored = passwords.hasher.hash(BENCH_PASSWORD)
    deadline = time.monotonic() + seconds
    counts = [0] * threads

    def work(index: int) -> None:
        while time.monotonic() < deadline:
            passwords.hasher.verify(stored, BENCH_PASSWORD)
            counts[index] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    passwords.close()
    return sum(counts) / seconds


def read_latency_under_logins(read_url: str, login_url: str, seconds: int, email: str) -> tuple[WrkResult, WrkResult]:
    quiet = wrk(read_url, seconds=seconds, connections=8)
    loaded: dict[str, WrkResult] = {}
    logins = threading.Thread(
        target=lambda: loaded.setdefault(
            "login",
            wrk(
                login_url,
                seconds=seconds + 2,
                connections=16,
                script="login.lua",
                env={"BENCH_EMAIL": email, "BENCH_PASSWORD": BENCH_PASSWORD},
            ),
        )
    )
    logins.start()
    time.sleep(1)  # let the logins saturate the hashing threads first
    busy = wrk(read_url, seconds=seconds, connections=8)
    logins.join()
    return quiet, busy


async def idle_socket_memory(server: Server, product_id: str, sockets: int) -> float:
    """KiB of server memory per idle subscribed socket (RSS before and after opening them, one worker)."""
    import psutil
    from websockets.asyncio.client import connect

    worker = psutil.Process(server.pids()[-1])
    url = server.url.replace("http://", "ws://") + f"/api/v1/products/ws/subscribe/{product_id}"
    # Warm-up: one-time costs (code paths, pool connections, allocator arenas) are paid before measuring.
    warm = [await connect(url, max_size=2**20) for _ in range(min(200, sockets))]
    for ws in warm:
        await ws.recv()
        await ws.close()
    await asyncio.sleep(2)
    before = worker.memory_info().rss
    opened = [await connect(url, max_size=2**20) for _ in range(sockets)]
    for ws in opened:
        await ws.recv()  # the snapshot: the subscription is live
    await asyncio.sleep(2)
    after = worker.memory_info().rss
    for ws in opened:
        await ws.close()
    return (after - before) / sockets / 1024


def thread_nice_values(server: Server) -> dict[int, int]:
    """How many threads of the server's processes run at each nice value (the argon2 threads should be at 10;
    Python does not name OS threads, so they are told apart by their nice value)."""
    counts: dict[int, int] = {}
    for pid in server.pids():
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                nice = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
                counts[nice] = counts.get(nice, 0) + 1
    return dict(sorted(counts.items()))


def _row(what: str, measured: str, value: float, comparison: str, goal: float) -> str:
    met = value >= goal if comparison == ">=" else value <= goal
    return (
        f"| {what} | {measured} | **{value:.2f}** | {comparison.replace('>=', '≥').replace('<=', '≤')} {goal:g} | "
        + ("met |" if met else "NOT met |")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/performance.md alone")
    args = parser.parse_args()
    workers = os.cpu_count() or 2
    lines: list[str] = []
    with fresh_database() as database_url:
        app = start_app(database_url, workers=workers)
        bare = start_bare_app(workers)
        try:
            email, product_id = _prepare(app)
            health_app, health_bare, product_read = [], [], []
            for _ in range(args.rounds):
                health_app.append(wrk(app.url + "/health", seconds=args.seconds, connections=64).requests_per_second)
                health_bare.append(wrk(bare.url + "/health", seconds=args.seconds, connections=64).requests_per_second)
                if product_id:
                    product_read.append(
                        wrk(
                            f"{app.url}/api/v1/products/{product_id}", seconds=args.seconds, connections=64
                        ).requests_per_second
                    )
        finally:
            bare.stop()
        try:
            logins, raws, quiets, busies = [], [], [], []
            nices: dict[int, int] = {}
            read_url = f"{app.url}/api/v1/products/{product_id}" if product_id else app.url + "/health"
            for _ in range(args.rounds):
                logins.append(
                    wrk(
                        app.url + "/api/v1/auth/token",
                        seconds=args.seconds,
                        connections=16,
                        script="login.lua",
                        env={"BENCH_EMAIL": email, "BENCH_PASSWORD": BENCH_PASSWORD},
                    )
                )
                nices = thread_nice_values(app)  # the threads exist once logins ran
                raws.append(raw_argon2_rate(args.seconds, workers))
                quiet, busy = read_latency_under_logins(read_url, app.url + "/api/v1/auth/token", args.seconds, email)
                quiets.append(quiet)
                busies.append(busy)
        finally:
            app.stop()
        login_rate = median([r.requests_per_second for r in logins])
        raw = median(raws)
        quiet_p99 = median([r.p99_ms for r in quiets])
        busy_p99 = median([r.p99_ms for r in busies])
        memory = None
        if product_id:
            single = start_app(database_url, workers=1)
            try:
                _, single_product = _prepare(single)
                memory = asyncio.run(idle_socket_memory(single, single_product or product_id, args.sockets))
            finally:
                single.stop()

    overhead = median(health_app) / median(health_bare)
    lines += [
        f"Run: {now_iso()} on {machine_line()}.",
        f"Command: `.venv/bin/python -m loadtest.bench_platform --seconds {args.seconds} --rounds {args.rounds}` "
        f"(wrk on loopback; servers: `app serve --workers {workers}`, uvloop + httptools, access log off, "
        f"RATE_LIMITS=off). Medians of {args.rounds} alternating rounds.",
        "",
        "| what | measured | ratio | goal | |",
        "|---|---|---|---|---|",
        _row(
            "app overhead: `GET /health` full stack vs bare Litestar",
            f"{median(health_app):,.0f} vs {median(health_bare):,.0f} req/s",
            overhead,
            ">=",
            0.80,
        ),
    ]
    if product_read:
        lines.append(
            _row(
                "one-row read `GET /api/v1/products/{id}` vs `GET /health`",
                f"{median(product_read):,.0f} vs {median(health_app):,.0f} req/s",
                median(product_read) / median(health_app),
                ">=",
                0.40,
            )
        )
    lines.append(
        _row(
            f"login throughput vs raw argon2id verifications ({workers} threads, same parameters)",
            f"{login_rate:,.1f} vs {raw:,.1f} /s",
            login_rate / raw,
            ">=",
            0.90,
        )
    )
    lines.append(
        _row(
            "p99 of a cheap read (`GET /api/v1/products/{id}`, 8 connections) while logins saturate hashing vs without",
            f"{busy_p99:.1f} vs {quiet_p99:.1f} ms",
            busy_p99 / quiet_p99,
            "<=",
            2.0,
        )
    )
    if memory is not None:
        lines.append(
            _row(
                f"memory per idle subscribed socket ({args.sockets} sockets, one worker)",
                f"{memory:.1f} KiB",
                memory,
                "<=",
                20.0,
            )
        )
    lines += [
        "",
        "Raw figures per round (app then baseline): "
        f"health {', '.join(f'{a:,.0f}/{b:,.0f}' for a, b in zip(health_app, health_bare, strict=True))} req/s; "
        f"product read {', '.join(f'{r:,.0f}' for r in product_read)} req/s; "
        f"logins {', '.join(f'{r.requests_per_second:,.1f}' for r in logins)} /s vs raw argon2 "
        f"{', '.join(f'{r:,.1f}' for r in raws)} /s; "
        f"read p99 {', '.join(f'{b.p99_ms:.1f}/{q.p99_ms:.1f}' for b, q in zip(busies, quiets, strict=True))} ms "
        "(busy/quiet), p50 "
        f"{', '.join(f'{b.p50_ms:.1f}/{q.p50_ms:.1f}' for b, q in zip(busies, quiets, strict=True))} ms.",
        f"Non-2xx during the login runs: {sum(r.non_2xx for r in logins)}; socket errors: "
        f"{sum(r.socket_errors for r in logins)}. Server threads per nice value after the logins: "
        f"{', '.join(f'nice {n}: {c}' for n, c in nices.items())} (the argon2 threads are the ones at 10).",
    ]
    if not args.no_write:
        write_section("platform", "## Platform\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
