"""Where a bid's CPU goes, against bench_realtime's baseline (the bid's own statements run by a bare client through a
pool like the app's, BareBids): per accepted bid (HTTP, 32 bidders over two `app serve` processes, 50 products)
and per accepted bare bid, the CPU time of the app processes, PostgreSQL and this benchmark process (the load
client, which runs the bare bids itself).

    .venv/bin/python -m loadtest.cpu_per_bid [--seconds 6]

The evidence behind docs/performance.md's "bids across products" note.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

import httpx

from loadtest.bench_realtime import CONCURRENCY, BareBids, bid_throughput, new_product, signup
from loadtest.cpu_per_request import Times, cpu_times
from loadtest.harness import fresh_database, run_for_seconds, start_app


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
            bare = BareBids(database_url, bidders)
            await bare.open()
            try:
                print(f"the same bids by a bare client: {await per_operation(lambda: bare.rate(products, seconds))}")
            finally:
                await bare.close()
        finally:
            for server in servers:
                server.stop()


def main() -> None:
    run_for_seconds(main_async, __doc__ or "", 6.0)


if __name__ == "__main__":
    main()
