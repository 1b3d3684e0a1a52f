"""PostgreSQL's cost of an accepted bid, statement by statement (issue 14, item 5): the bid's own statements
(bench_realtime.BareBids: BEGIN, lock_bidder_session, lock_product, place_bid, COMMIT in one pipeline; the
request's own session look-up, session_principal, is added once per bid as HTTP does it) run by a bare client
on 50 products for a few seconds, then per accepted bid: PostgreSQL's CPU (its processes' counters), WAL bytes
(pg_current_wal_lsn before and after), and from pg_stat_statements (track = all, so the statements inside
publish_event() are listed too) each statement's calls, execution time, buffers and WAL.

    .venv/bin/python -m loadtest.bid_statements [--seconds 6]

Needs pg_stat_statements preloaded: on the embedded server the first run sets shared_preload_libraries with
ALTER SYSTEM and asks for a second run (the server restarts when no process uses it). Statements are prepared
(psycopg prepares after five executions, as in the app).
"""

from __future__ import annotations

import hashlib
import time

import httpx
import psycopg

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


REPORT = """
SELECT calls, total_exec_time, shared_blks_hit + shared_blks_read AS blocks, wal_bytes, wal_records,
       regexp_replace(query, '\\s+', ' ', 'g') AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT 14
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
                lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
                cpu, started = _postgres_cpu(), time.monotonic()
                rate = await bare.rate(products, seconds)
                cpu, elapsed = _postgres_cpu() - cpu, time.monotonic() - started
                wal = conn.execute("SELECT pg_current_wal_lsn() - %s::pg_lsn", [lsn]).fetchone()[0]  # type: ignore[index]
                rows = conn.execute(REPORT).fetchall()
        finally:
            await bare.close()
    bids = rate * elapsed
    print(
        f"{rate:,.0f} accepted bids/s; per accepted bid: PostgreSQL CPU {1e6 * cpu / bids:.0f} µs, "
        f"WAL {float(wal) / bids:,.0f} bytes"
    )
    print("per accepted bid: calls | exec µs | buffers | WAL bytes | WAL records | statement")
    for calls, total_ms, blocks, wal_bytes, records, query in rows:
        digest = hashlib.md5(query.encode()).hexdigest()[:6]
        figures = f"{calls / bids:5.2f} | {1e3 * total_ms / bids:6.1f} | {blocks / bids:5.1f}"
        print(f"{figures} | {float(wal_bytes) / bids:6.0f} | {records / bids:4.1f} | {digest} {query[:150]}")


def main() -> None:
    run_for_seconds(main_async, __doc__ or "", 6.0)


if __name__ == "__main__":
    main()
