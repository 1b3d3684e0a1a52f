"""Platform benchmark (issue 6): ratios measured side by side in one run, written to docs/performance.md.

    .venv/bin/python -m loadtest.bench_platform [--seconds 10] [--rounds 3]

Needs `wrk` (apt-get install wrk). Starts its own servers on loopback on a fresh database (the embedded
PostgreSQL, or DATABASE_URL's server) and stops them; runs for a few minutes at most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

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
    await asyncio.sleep(1)
    before = worker.memory_info().rss
    url = server.url.replace("http://", "ws://") + f"/api/v1/products/ws/subscribe/{product_id}"
    opened = [await connect(url, max_size=2**20) for _ in range(sockets)]
    for ws in opened:
        await ws.recv()  # the snapshot: the subscription is live
    await asyncio.sleep(2)
    after = worker.memory_info().rss
    for ws in opened:
        await ws.close()
    return (after - before) / sockets / 1024


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
            login = wrk(
                app.url + "/api/v1/auth/token",
                seconds=args.seconds,
                connections=16,
                script="login.lua",
                env={"BENCH_EMAIL": email, "BENCH_PASSWORD": BENCH_PASSWORD},
            )
            raw = raw_argon2_rate(args.seconds, workers)
            read_url = f"{app.url}/api/v1/products/{product_id}" if product_id else app.url + "/health"
            quiet, busy = read_latency_under_logins(read_url, app.url + "/api/v1/auth/token", args.seconds, email)
        finally:
            app.stop()
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
            f"{login.requests_per_second:,.1f} vs {raw:,.1f} /s",
            login.requests_per_second / raw,
            ">=",
            0.90,
        )
    )
    lines.append(
        _row(
            "p99 of a cheap read while logins saturate hashing vs without",
            f"{busy.p99_ms:.1f} vs {quiet.p99_ms:.1f} ms",
            busy.p99_ms / quiet.p99_ms,
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
    lines += ["", f"Non-2xx during the login run: {login.non_2xx}; socket errors: {login.socket_errors}."]
    write_section("platform", "## Platform\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
