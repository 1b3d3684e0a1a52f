"""A bid's PostgreSQL CPU with this code against another checkout's, in one run (issue 14 item 5).

    git archive <commit before> | tar -x -C /tmp/before
    .venv/bin/python -m loadtest.bid_ab --before /tmp/before [--rounds 5] [--seconds 5]

One database (migrated by this code; the other checkout must run on it), two `app serve` processes of each
checkout and bench_realtime's bare client (AuctionsRepository.place_bid through a pool like the app's, with the
other checkout's bid statements, then with this code's); each round runs the before servers' HTTP bids, this
code's and the bare client's two in turn, 32 bidders on 50
products. Per accepted bid: the CPU of the PostgreSQL backends connected to the benchmark's database (the
embedded server is shared with other checkouts' tests, so the server's other processes are not counted: the WAL
writer's share of a bid is left out) and of the app processes. Prints the medians and each round's ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import msgspec
import psutil
import psycopg
from psycopg.rows import dict_row

from app.auctions.repository import AuctionsRepository, BidOutcome
from app.db.sql import parse_sql
from loadtest.bench_realtime import CONCURRENCY, BareBids, bid_throughput, new_product, signup
from loadtest.cpu_per_request import cpu_times
from loadtest.harness import fresh_database, start_app

# Four servers and the bare client's 32 connections on one database: each server's pool is capped (below the 16
# bidders it serves) so that all of them fit under the embedded server's max_connections.
POOL = {"DB_POOL_MAX": "12"}


def _backends(monitor: psycopg.Connection[tuple[int]]) -> list[int]:
    rows = monitor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
    return [row[0] for row in rows]


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _app_cpu() -> float:
    return sum(user + system for kind, user, system in cpu_times().values() if kind == "app")


async def _measure(
    monitor: psycopg.Connection[tuple[int]], run: Callable[[], Awaitable[float]]
) -> tuple[float, float, float]:
    """(accepted bids/s, PostgreSQL µs per bid, app µs per bid) of one run."""
    pids = _backends(monitor)
    pg_before, app_before, started = _cpu(pids), _app_cpu(), time.monotonic()
    rate = await run()
    elapsed = time.monotonic() - started
    bids = rate * elapsed
    return rate, 1e6 * (_cpu(pids) - pg_before) / bids, 1e6 * (_app_cpu() - app_before) / bids


async def main_async(before: Path, rounds: int, seconds: float) -> None:
    # Opened first: the servers' and the bare client's pools may take every connection the server allows.
    with fresh_database() as database_url, psycopg.connect(database_url, autocommit=True) as monitor:
        servers = {
            "before": [start_app(database_url, workers=1, extra_env=POOL, checkout=before) for _ in range(2)],
            "after": [start_app(database_url, workers=1, extra_env=POOL) for _ in range(2)],
        }
        try:
            async with httpx.AsyncClient(base_url=servers["after"][0].url, timeout=30) as client:
                seller = await signup(client, "seller@bench.example")
                bidders = [await signup(client, f"bidder{n}@bench.example") for n in range(CONCURRENCY)]
                products = [await new_product(client, seller) for _ in range(50)]
            bare = BareBids(database_url, bidders)
            await bare.open()
            runs: dict[str, Callable[[], Awaitable[float]]] = {
                kind: (lambda urls=[s.url for s in group]: _http(urls, bidders, products, seconds))
                for kind, group in servers.items()
            } | {
                "bare before": lambda: _bare_before(bare, before, products, seconds),
                "bare": lambda: bare.rate(products, seconds),
            }
            try:
                for run in runs.values():  # warm-up: pools filled, statements prepared
                    await run()
                figures: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in runs}
                for n in range(rounds):
                    for kind, run in runs.items():
                        figures[kind].append(await _measure(monitor, run))
                    print(f"round {n + 1}: " + "; ".join(_line(k, f[-1]) for k, f in figures.items()), flush=True)
            finally:
                await bare.close()
        finally:
            for group in servers.values():
                for server in group:
                    server.stop()
    for kind, values in figures.items():
        print(f"median {kind}: " + _line(kind, tuple(median(v[i] for v in values) for i in range(3))))  # type: ignore[arg-type]
    ratios = [a[1] / b[1] for a, b in zip(figures["after"], figures["before"], strict=True)]
    print(f"PostgreSQL µs per HTTP bid, after / before: median {median(ratios):.3f} (rounds {_list(ratios)})")
    ratios = [a[1] / b[1] for a, b in zip(figures["bare"], figures["bare before"], strict=True)]
    print(f"PostgreSQL µs per bare bid, after / before: median {median(ratios):.3f} (rounds {_list(ratios)})")
    ratios = [a[0] / b[0] for a, b in zip(figures["after"], figures["bare"], strict=True)]
    print(f"accepted bids/s, HTTP after / bare: median {median(ratios):.3f} (rounds {_list(ratios)})")
    ratios = [a[0] / b[0] for a, b in zip(figures["before"], figures["bare"], strict=True)]
    print(f"accepted bids/s, HTTP before / bare: median {median(ratios):.3f} (rounds {_list(ratios)})")


PARAMETERS = ("product_id", "bidder_id", "amount", "origin", "session_hash", "idle_seconds")


async def _bare_before(bare: BareBids, before: Path, products: list[str], seconds: float) -> float:
    """The bare client running the other checkout's bid statements (sql/auctions.sql's lock_bidder_session,
    lock_product and place_bid when they exist, else its place_bid alone) the way the repository sent them before
    the bid's one Sync: one pipeline with BEGIN and COMMIT (psycopg's transaction() in a pipeline: four Syncs, four
    round trips)."""
    statements = parse_sql((before / "sql" / "auctions.sql").read_text(encoding="utf-8"))
    names = [n for n in ("lock_bidder_session", "lock_product", "place_bid") if n in statements]

    async def place_bid(self: AuctionsRepository, *args: Any) -> BidOutcome | None:
        params = dict(zip(PARAMETERS, args, strict=True))
        async with self.conn.pipeline(), self.conn.transaction():
            for name in names:
                cursor = self.conn.cursor(row_factory=dict_row)
                await cursor.execute(statements[name].query, params)
        row = await cursor.fetchone()
        return None if row is None else msgspec.convert(row, BidOutcome)

    own = AuctionsRepository.place_bid
    AuctionsRepository.place_bid = place_bid  # type: ignore[method-assign]
    try:
        return await bare.rate(products, seconds)
    finally:
        AuctionsRepository.place_bid = own  # type: ignore[method-assign]


async def _http(urls: list[str], bidders: list[dict[str, str]], products: list[str], seconds: float) -> float:
    return (await bid_throughput(urls, bidders, products, seconds))[0]


def _line(kind: str, figure: tuple[float, float, float]) -> str:
    return f"{kind} {figure[0]:,.0f}/s, PostgreSQL {figure[1]:,.0f} µs, app {figure[2]:,.0f} µs"


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main_async(args.before.resolve(), args.rounds, args.seconds))


if __name__ == "__main__":
    main()
