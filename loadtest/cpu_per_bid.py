"""Where a bid's CPU goes, against the bare `INSERT ...; NOTIFY` transaction of bench_realtime: per accepted bid
(HTTP, 32 bidders over two `app serve` processes, 50 products) and per bare transaction, the CPU time of the
app processes, PostgreSQL and this benchmark process (the load client).

    .venv/bin/python -m loadtest.cpu_per_bid [--seconds 6]

The evidence behind docs/performance.md's "bids across products" note.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Awaitable, Callable

import httpx

from loadtest.bench_realtime import CONCURRENCY, BareTransactions, bid_throughput, new_product, signup
from loadtest.cpu_per_request import Times, cpu_times
from loadtest.harness import fresh_database, start_app


def _with_client(times: Times) -> Times:
    """The CPU counters, plus this process's own (the load client's) under the kind "client"."""
    own = os.times()
    return times | {os.getpid(): ("client", own.user, own.system)}


async def per_operation(run: Callable[[], Awaitable[float]]) -> str:
    """Run once to warm up, then again between two readings of the CPU counters; CPU per operation by kind."""
    await run()
    before, started = _with_client(cpu_times()), time.monotonic()
    rate = await run()
    after, elapsed = _with_client(cpu_times()), time.monotonic() - started
    operations = rate * elapsed
    spent: dict[str, float] = {}
    for pid, (kind, user, system) in after.items():
        if pid in before:
            spent[kind] = spent.get(kind, 0.0) + (user - before[pid][1]) + (system - before[pid][2])
    return f"{rate:,.0f}/s; CPU per operation: " + ", ".join(
        f"{kind} {1e6 * seconds / operations:.0f} µs" for kind, seconds in sorted(spent.items())
    )


async def main_async(seconds: float) -> None:
    with fresh_database() as database_url:
        servers = [start_app(database_url, workers=1) for _ in range(2)]
        try:
            async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as client:
                seller = await signup(client, "seller@bench.example")
                bidders = [await signup(client, f"bidder{n}@bench.example") for n in range(CONCURRENCY)]
                products = [await new_product(client, seller) for _ in range(50)]

            async def bids() -> float:
                return (await bid_throughput([s.url for s in servers], bidders, products, seconds))[0]

            print(f"accepted bids: {await per_operation(bids)}", flush=True)
            bare = BareTransactions(database_url)
            await bare.open()
            try:
                print(f"bare transactions: {await per_operation(lambda: bare.rate(seconds))}")
            finally:
                await bare.close()
        finally:
            for server in servers:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args.seconds))


if __name__ == "__main__":
    main()
