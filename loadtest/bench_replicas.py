"""The real-time benchmark (loadtest/bench_realtime.py) against three replicas behind nginx and PgBouncer, next to
the same clients spread directly over three replicas on direct connections (docs/deploy.md, "Capacity"). Run by
hand, not by the tests:

    .venv/bin/python -m loadtest.bench_replicas [--rounds 5] [--seconds 2] [--subscribers 600]

Three sides, each its own fresh database (NOTIFY stays within a database) and three `app serve` processes:

- proxied: nginx (tests/scale_support.py, the tested template) in front, pools through PgBouncer in transaction
  pooling (DB_PREPARE=off), the hub's LISTEN connection direct (DATABASE_LISTEN_URL);
- direct: the clients spread over the replicas themselves, direct connections, statements prepared (the default);
- direct-unprepared: as direct with DB_PREPARE=off, for the cost of turning preparation off (bids only).

In each of `--rounds` rounds, the sides take turns (the order alternates): accepted bids/s across 50 products
(CONCURRENCY bidders; the connections PostgreSQL holds for the side's database are sampled meanwhile), then a
fan-out sweep to `--subscribers` sockets at rising bid rates (the sides alternate at each rate), where the CPU
time of nginx, PgBouncer, the replicas and the side's PostgreSQL backends is read before and after each step.
Figures are medians over the rounds; ratios are proxied / direct. The section goes into docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil
import psycopg

from loadtest.bench_realtime import (
    CONCURRENCY,
    P99_GOAL_MS,
    Fleet,
    Step,
    bid_publisher,
    bid_throughput,
    new_product,
    run_rate,
    signup,
)
from loadtest.harness import Server, fresh_database, machine_line, median, now_iso, start_app, write_section

RATES = [10, 20, 40, 60, 80, 110, 150]
COMPONENTS = ("nginx", "pgbouncer", "app", "postgres")
# Nine replicas and PgBouncer share one PostgreSQL with max_connections = 100: 8 per replica keeps the two direct
# sides (3 x (8 + 1 LISTEN) each) and the proxied one (PgBouncer's 20 + 3 LISTEN) below it, with the samplers.
POOL = {"DB_POOL_MAX": "8"}
BOUNCER_POOL = 20


@dataclass
class Side:
    name: str
    database_url: str
    replicas: list[Server]
    urls: list[str]  # where clients go: nginx, or each replica
    pids: dict[str, Callable[[], list[int]]]
    bidders: list[dict[str, str]] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    fleet: Fleet = field(default_factory=Fleet)
    publish: Callable[[int], Awaitable[int | None]] | None = None
    bids: list[float] = field(default_factory=list)  # accepted bids/s, per round
    held: list[int] = field(default_factory=list)  # most connections PostgreSQL held for its database, per round
    steps: dict[int, list[Step]] = field(default_factory=dict)  # bid rate -> its fan-out step in each round
    cpu_us: dict[str, list[float]] = field(default_factory=dict)  # component -> CPU µs per delivery, per round


def _tree(process: psutil.Process) -> list[int]:
    return [process.pid, *(child.pid for child in process.children(recursive=True))]


def _backends(database_url: str, database: str) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            ).fetchall()
        return [row[0] for row in rows]

    return pids


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            found[pid] = times.user + times.system
    return found


def snapshot(side: Side) -> dict[str, dict[int, float]]:
    return {component: cpu_seconds(pids()) for component, pids in side.pids.items()}


def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds per component between two snapshots (a process first seen in `after` counts from zero)."""
    return {
        component: sum(value - before[component].get(pid, 0.0) for pid, value in after[component].items())
        for component in after
    }


async def held_connections(side: Side, stop: asyncio.Event) -> int:
    most = 0
    async with await psycopg.AsyncConnection.connect(side.database_url, autocommit=True) as conn:
        while not stop.is_set():
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = await cursor.fetchone()
            most = max(most, row[0] if row else 0)
            await asyncio.sleep(0.05)
    return most


async def bid_round(side: Side, seconds: float) -> None:
    stop = asyncio.Event()
    sampler = asyncio.create_task(held_connections(side, stop))
    accepted, _ = await bid_throughput(side.urls, side.bidders, side.products, seconds)
    stop.set()
    side.bids.append(accepted)
    side.held.append(await sampler)
    print(f"    {side.name:>17}: {accepted:,.0f} accepted bids/s, PostgreSQL held {side.held[-1]}", flush=True)


async def fanout_round(sides: list[Side], subscribers: int, seconds: float, rates: list[int]) -> None:
    """Every rate on every side, the sides alternating at each rate; CPU time is read around each step."""
    cpu: dict[str, dict[str, float]] = {side.name: dict.fromkeys(side.pids, 0.0) for side in sides}
    delivered: dict[str, float] = {side.name: 0.0 for side in sides}
    for rate in rates:
        for side in sides:
            assert side.publish is not None
            before = snapshot(side)
            step = await run_rate(side.fleet, subscribers, rate, seconds, side.publish)
            used = spent(before, snapshot(side))
            side.steps.setdefault(rate, []).append(step)
            delivered[side.name] += step.acked * subscribers * step.complete
            for component, value in used.items():
                cpu[side.name][component] += value
            print(
                f"    {side.name:>17} {rate:>4}/s p99 {step.p99_ms:6.1f} ms complete {step.complete:.4f} "
                f"{step.deliveries_per_s:9,.0f} deliveries/s  cpu "
                + " ".join(f"{k} {v:.2f}s" for k, v in used.items()),
                flush=True,
            )
    for side in sides:
        for component, seconds_used in cpu[side.name].items():
            side.cpu_us.setdefault(component, []).append(seconds_used / delivered[side.name] * 1e6)


def capacity(side: Side) -> tuple[float, float]:
    """(deliveries/s, bids/s asked) at the highest rate whose MEDIAN p99 over the rounds met the goal, with every
    event delivered in every round: a passing load from other work on the machine moves one round, not the median."""
    best = (0.0, 0.0)
    for rate, steps in sorted(side.steps.items()):
        if median([s.p99_ms for s in steps]) < P99_GOAL_MS and min(s.complete for s in steps) >= 0.999:
            best = max(best, (median([s.deliveries_per_s for s in steps]), float(rate)))
    return best


async def prepare(side: Side, subscribers: int) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=side.replicas[0].url, timeout=30) as client:
        seller = await signup(client, f"seller-{side.name}@bench.example")
        side.bidders = [await signup(client, f"bidder{n}-{side.name}@bench.example") for n in range(CONCURRENCY)]
        side.products = [await new_product(client, seller) for _ in range(50)]
        product = await new_product(client, seller)
    for n, url in enumerate(side.urls):
        share = subscribers // len(side.urls) + (1 if n < subscribers % len(side.urls) else 0)
        await side.fleet.add(url.replace("http://", "ws://") + f"/api/v1/products/ws/subscribe/{product}", share)
    if subscribers:
        side.publish, _ = bid_publisher(side.urls, side.bidders[0], product, itertools.count(10))


@contextlib.contextmanager
def sides() -> Iterator[list[Side]]:
    from tests.scale_support import NGINX_ADDRESS, nginx, pgbouncer

    with (
        fresh_database() as proxied_url,
        fresh_database() as direct_url,
        fresh_database() as unprepared_url,
        pgbouncer(proxied_url, pool_size=BOUNCER_POOL) as bouncer,
    ):
        database = _database(proxied_url)
        proxied_env = POOL | {"DATABASE_LISTEN_URL": proxied_url, "DB_PREPARE": "off", "TRUSTED_PROXIES": NGINX_ADDRESS}
        started: list[Server] = []
        try:
            proxied = [start_app(bouncer.url(database), workers=1, extra_env=proxied_env) for _ in range(3)]
            direct = [start_app(direct_url, workers=1, extra_env=POOL) for _ in range(3)]
            unprepared = [
                start_app(unprepared_url, workers=1, extra_env=POOL | {"DB_PREPARE": "off"}) for _ in range(3)
            ]
            started = [*proxied, *direct, *unprepared]
            with nginx([s.url.removeprefix("http://") for s in proxied], workers=2) as front:
                front_process = psutil.Process(front.process.pid)
                bouncer_process = psutil.Process(bouncer.process.pid)

                def apps(servers: list[Server]) -> Callable[[], list[int]]:
                    return lambda: [pid for s in servers for pid in s.pids()]

                yield [
                    Side(
                        "proxied",
                        proxied_url,
                        proxied,
                        [front.url],
                        {
                            "nginx": lambda: _tree(front_process),
                            "pgbouncer": lambda: [bouncer_process.pid],
                            "app": apps(proxied),
                            "postgres": _backends(proxied_url, database),
                        },
                    ),
                    Side(
                        "direct",
                        direct_url,
                        direct,
                        [s.url for s in direct],
                        {"app": apps(direct), "postgres": _backends(direct_url, _database(direct_url))},
                    ),
                    Side("direct-unprepared", unprepared_url, unprepared, [s.url for s in unprepared], {}),
                ]
        finally:
            for server in started:
                server.stop()


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def main_async(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.perf_counter()
    with sides() as (proxied, direct, unprepared):
        for side in (proxied, direct, unprepared):
            await prepare(side, args.subscribers if side is not unprepared else 0)
        try:
            for n in range(args.rounds):
                order = [proxied, direct, unprepared] if n % 2 == 0 else [unprepared, direct, proxied]
                print(f"round {n + 1}: bids/s across 50 products", flush=True)
                for side in order:
                    await bid_round(side, args.seconds)
                print(f"round {n + 1}: fan-out to {args.subscribers} subscribers", flush=True)
                await fanout_round(
                    [s for s in order if s is not unprepared], args.subscribers, args.seconds, args.rates
                )
        finally:
            for side in (proxied, direct):
                await side.fleet.close()
    report(args, proxied, direct, unprepared, time.perf_counter() - started)


def report(args: argparse.Namespace, proxied: Side, direct: Side, unprepared: Side, elapsed: float) -> None:
    def ratio(a: list[float], b: list[float]) -> float:
        return median([x / y for x, y in zip(a, b, strict=True) if y])

    (mine, mine_rate), (theirs, theirs_rate) = capacity(proxied), capacity(direct)
    delivery_ratio = mine / theirs if theirs else float("nan")
    lines = [
        "## Scale-out: three replicas behind nginx and PgBouncer vs direct",
        "",
        f"Run: {now_iso()} on {machine_line()}, {elapsed:.0f} s in all.",
        f"Command: `.venv/bin/python -m loadtest.bench_replicas {' '.join(sys.argv[1:])}`".rstrip() + " "
        f"({args.rounds} rounds; in each the sides take turns, order alternating; medians over the rounds; "
        "clients, nginx, PgBouncer, 9 `app serve` processes and PostgreSQL share the same cores, on loopback; "
        "other helpers' work ran on the machine at the same time).",
        "",
        "| | proxied (nginx + PgBouncer) | direct | proxied / direct |",
        "|---|---|---|---|",
        f"| deliveries/s with p99 < {P99_GOAL_MS:.0f} ms ({args.subscribers} subscribers) | "
        f"{mine:,.0f} (at {mine_rate:.0f} bids/s) | {theirs:,.0f} (at {theirs_rate:.0f} bids/s) | "
        f"**{delivery_ratio:.2f}** (goal ≥ 0.8) |",
        f"| accepted bids/s across 50 products ({CONCURRENCY} bidders) | {median(proxied.bids):,.0f} | "
        f"{median(direct.bids):,.0f} | {ratio(proxied.bids, direct.bids):.2f} |",
        f"| connections PostgreSQL held for the database (most, while bidding) | {max(proxied.held)} | "
        f"{max(direct.held)} | |",
    ]
    totals = [0.0, 0.0]
    for component in COMPONENTS:
        cells = []
        for n, side in enumerate((proxied, direct)):
            if component in side.cpu_us:
                value = median(side.cpu_us[component])
                totals[n] += value
                cells.append(f"{value:.1f}")
            else:
                cells.append("—")
        lines.append(f"| CPU µs per delivery: {component} | {cells[0]} | {cells[1]} | |")
    lines.append(f"| CPU µs per delivery: all four | {totals[0]:.1f} | {totals[1]:.1f} | {totals[0] / totals[1]:.2f} |")
    rows = ["| bids/s asked | proxied p99 ms | direct p99 ms | proxied deliveries/s | direct deliveries/s |"]
    rows.append("|---|---|---|---|---|")
    for rate in sorted(proxied.steps):
        mine_steps, their_steps = proxied.steps[rate], direct.steps[rate]
        rows.append(
            f"| {rate} | {median([s.p99_ms for s in mine_steps]):.1f} | {median([s.p99_ms for s in their_steps]):.1f} "
            f"| {median([s.deliveries_per_s for s in mine_steps]):,.0f} "
            f"| {median([s.deliveries_per_s for s in their_steps]):,.0f} |"
        )
    lines += [
        "",
        f"Statement preparation (DB_PREPARE), direct connections: accepted bids/s across 50 products with it off "
        f"{median(unprepared.bids):,.0f} vs on {median(direct.bids):,.0f}, ratio "
        f"**{ratio(unprepared.bids, direct.bids):.2f}** (median of the per-round ratios).",
        "",
        "Per round (proxied / direct / direct-unprepared), accepted bids/s: "
        + "; ".join(
            f"{a:,.0f} / {b:,.0f} / {c:,.0f}"
            for a, b, c in zip(proxied.bids, direct.bids, unprepared.bids, strict=True)
        )
        + ".",
        "",
        "Fan-out steps, medians over the rounds (a step meets the goal when its median p99 is below "
        f"{P99_GOAL_MS:.0f} ms and every round delivered every event):",
        "",
        *rows,
        "",
        "CPU per delivery = CPU time of the component during all fan-out steps of a round over the deliveries of "
        "those steps (median over the rounds); a bid's own cost is included, since each step is bids at a rate plus "
        "their fan-out. PostgreSQL: the backends of the side's database.",
    ]
    if not args.no_write:
        write_section("replicas", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each bid phase and rate step")
    parser.add_argument("--subscribers", type=int, default=600)
    parser.add_argument(
        "--rates", type=lambda text: [int(x) for x in text.split(",")], default=RATES, help="bids/s steps, e.g. 5,10,20"
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/performance.md alone")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
