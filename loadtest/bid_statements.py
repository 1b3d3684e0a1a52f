"""PostgreSQL's cost of an accepted bid, statement by statement (issue 14, item 5): the bid's own statements
(bench_realtime.BareBids: lock_bidder_session, lock_product and place_bid in one pipeline, one Sync; the
request's own session look-up, session_principal, is added once per bid as HTTP does it) run by a bare client
on 50 products for a few seconds, then per accepted bid: PostgreSQL's CPU (its processes' counters), WAL bytes
(pg_current_wal_lsn before and after), and from pg_stat_statements (track = all, so the statements inside
publish_event() are listed too) each statement's calls, execution time, buffers and WAL.

    .venv/bin/python -m loadtest.bid_statements [--seconds 6]

Then the floor a bid cannot go under on this machine: the smallest transactions that do a part of its work, run
the same way (CONCURRENCY tasks, the same pool, prepared, autocommit: one round trip each) on the same products,
with PostgreSQL's CPU and voluntary context switches (its backends going to sleep) per transaction.

Needs pg_stat_statements preloaded: on the embedded server the first run sets shared_preload_libraries with
ALTER SYSTEM and asks for a second run (the server restarts when no process uses it). Statements are prepared
(psycopg prepares after five executions, as in the app).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from app.db.pool import autocommit_connection
from loadtest.bench_realtime import CONCURRENCY, BareBids, new_product, signup
from loadtest.cpu_per_request import cpu_times
from loadtest.harness import fresh_database, run_for_seconds, start_app


def _preloaded(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        libraries = conn.execute("SHOW shared_preload_libraries").fetchone()[0]  # type: ignore[index]
        if "pg_stat_statements" in libraries:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
            conn.execute("SELECT pg_reload_conf()")
            return True
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    return False


def _postgres_cpu() -> float:
    return sum(user + system for kind, user, system in cpu_times().values() if kind == "postgres")


def _postgres_sleeps(monitor: psycopg.Connection[Any]) -> int:
    """Voluntary context switches of the backends connected to this database, so far."""
    total = 0
    for (pid,) in monitor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))
        except OSError:
            continue
    return total


# (what it is, statement, its parameters from a random product): each one transaction in autocommit.
FLOOR = [
    ("SELECT 1 (a round trip, no transaction work)", "SELECT 1", lambda product: []),
    ("the product row updated (a row lock, a HOT update, a commit)",
     "UPDATE products SET updated_at = now() WHERE id = %s", lambda product: [product]),
    ("one event published (topic_seq, the event row, NOTIFY, a commit)",
     "SELECT publish_event(%s, '{\"kind\": 4}'::jsonb)", lambda product: [f"product:{product}"]),
]  # fmt: skip


async def _transactions(
    bare: BareBids, statement: str, params: Callable[[str], list[Any]], products: list[str], seconds: float
) -> int:
    """Run `statement` in CONCURRENCY tasks for `seconds`; how many transactions ran."""
    done, stop = 0, time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            async with autocommit_connection(bare.pool) as conn:
                await conn.execute(statement, params(random.choice(products)), prepare=True)
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done


async def floor(bare: BareBids, products: list[str], seconds: float, monitor: psycopg.Connection[Any]) -> list[str]:
    lines = []
    for label, statement, params in FLOOR:
        await _transactions(bare, statement, params, products, 1.0)  # warm-up: prepared on every connection
        cpu, sleeps = _postgres_cpu(), _postgres_sleeps(monitor)
        done = await _transactions(bare, statement, params, products, seconds)
        cpu, sleeps = _postgres_cpu() - cpu, _postgres_sleeps(monitor) - sleeps
        lines.append(
            f"floor: {label}: PostgreSQL CPU {1e6 * cpu / done:.0f} µs, {sleeps / done:.1f} sleeps per transaction"
        )
    return lines


REPORT = """
SELECT calls, total_exec_time, shared_blks_hit + shared_blks_read AS blocks, wal_bytes, wal_records,
       regexp_replace(query, '\\s+', ' ', 'g') AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT 14
"""
# The tables a bid writes: updates that were HOT (no new index entries) and the autovacuum runs they caused.
TABLES = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, autovacuum_count, autoanalyze_count
FROM pg_stat_user_tables
WHERE relname IN ('products', 'bids', 'events', 'topic_seq', 'sessions')
ORDER BY relname
"""


async def main_async(seconds: float) -> None:
    with fresh_database() as database_url:
        if not _preloaded(database_url):
            raise SystemExit("pg_stat_statements is now in shared_preload_libraries: run again (server restarts)")
        server = start_app(database_url, workers=1)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                seller = await signup(client, "seller@bench.example")
                bidders = [await signup(client, f"bidder{n}@bench.example") for n in range(CONCURRENCY)]
                products = [await new_product(client, seller) for _ in range(50)]
        finally:
            server.stop()
        bare = BareBids(database_url, bidders, with_request_session=True)
        await bare.open()
        try:
            await bare.rate(products, 1.0)  # warm-up: prepared statements, pool
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")
                tables_before = {row[0]: row[1:] for row in conn.execute(TABLES)}
                lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
                cpu, sleeps, started = _postgres_cpu(), _postgres_sleeps(conn), time.monotonic()
                rate = await bare.rate(products, seconds)
                cpu, elapsed = _postgres_cpu() - cpu, time.monotonic() - started
                sleeps = _postgres_sleeps(conn) - sleeps
                wal = conn.execute("SELECT pg_current_wal_lsn() - %s::pg_lsn", [lsn]).fetchone()[0]  # type: ignore[index]
                rows = conn.execute(REPORT).fetchall()
                await asyncio.sleep(1.5)  # backends flush their table counters at most once a second
                conn.execute("SELECT pg_stat_clear_snapshot()")
                tables = [
                    (row[0], *(a - b for a, b in zip(row[1:], tables_before[row[0]], strict=True)))
                    for row in conn.execute(TABLES)
                ]
                floors = await floor(bare, products, seconds, conn)
        finally:
            await bare.close()
    bids = rate * elapsed
    print(
        f"{rate:,.0f} accepted bids/s; per accepted bid: PostgreSQL CPU {1e6 * cpu / bids:.0f} µs, "
        f"WAL {float(wal) / bids:,.0f} bytes, {sleeps / bids:.1f} sleeps of its backends"
    )
    print("per accepted bid: calls | exec µs | buffers | WAL bytes | WAL records | statement")
    for calls, total_ms, blocks, wal_bytes, records, query in rows:
        digest = hashlib.md5(query.encode()).hexdigest()[:6]
        figures = f"{calls / bids:5.2f} | {1e3 * total_ms / bids:6.1f} | {blocks / bids:5.1f}"
        print(f"{figures} | {float(wal_bytes) / bids:6.0f} | {records / bids:4.1f} | {digest} {query[:150]}")
    print("per accepted bid: table | inserts | updates | of which HOT | autovacuums, autoanalyzes in the window")
    for name, inserts, updates, hot, vacuums, analyzes in tables:
        print(f"{name:9} | {inserts / bids:4.2f} | {updates / bids:4.2f} | {hot / bids:4.2f} | {vacuums}, {analyzes}")
    print("\n".join(floors))


def main() -> None:
    run_for_seconds(main_async, __doc__ or "", 6.0)


if __name__ == "__main__":
    main()
