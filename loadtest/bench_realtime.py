"""Benchmark of the real-time auctions (docs/rules/realtime.md, "Measured, not assumed"). Run by hand, not by the tests:

    .venv/bin/python -m loadtest.bench_realtime [--seconds 3] [--subscribers 100,1000]

On a fresh database it creates, it starts two `app serve` processes (RATE_LIMITS=off, ACCESS_LOG=off) and
measures, all on loopback:

1. accepted bids/s on one product, and across 50 products (HTTP bidders spread over both processes);
2. the baseline: the bid's own statements (session check, lock, judge, record, publish; BareBids) run by a
   bare client through a pool like the app's, same concurrency, same products and bidders, in alternating
   slices with (1) across products (the machine is shared: a passing load hits both alike);
3. with N subscribers spread over both processes (100, then 1,000), at increasing bid rates, the delay from a
   bid's acknowledgement (the 201 reaching the bidder) to its receipt by the LAST subscriber: p50/p99/max;
   bids are sent at the asked rate without waiting for each other (the app's own step may be capped by what
   ONE product accepts per second: its row lock serializes its bids);
4. the same clients against a bare `websockets` broadcast server (two processes, loadtest/bare_broadcast.py),
   each rate step right after the app's step at the same rate.

Goals: deliveries/s at which p99 < 100 ms, app vs bare >= 0.6; accepted bids/s across products vs the bare
client's >= 0.6. The results (machine, command, date, raw figures, ratios) go into docs/performance.md.
Every phase is bounded in time; the whole run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect

from app.db.pool import autocommit_connection
from loadtest.harness import (
    PYTHON,
    ROOT,
    Server,
    free_port,
    fresh_database,
    machine_line,
    now_iso,
    start_app,
    write_section,
)
from loadtest.rawhttp import RawHTTP

P99_GOAL_MS = 100.0
CONCURRENCY = 32  # HTTP bidders in the throughput phases (and tasks in the baseline)
ROUNDS = 5  # the across-products phase alternates app and baseline slices this many times
PASSWORD = "bench password 1"


class _Seq(msgspec.Struct):
    seq: int = -1
    kind: int = -1


_decode_seq = msgspec.json.Decoder(_Seq).decode


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# Subscribers ------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """N WebSocket subscribers; for each seq, how many received it, when each did and when the last one did."""

    sockets: list[ClientConnection] = field(default_factory=list)
    last_receipt: dict[int, float] = field(default_factory=dict)
    receipts: dict[int, int] = field(default_factory=dict)
    times: dict[int, list[float]] = field(default_factory=dict)
    closed: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def add(self, url: str, count: int) -> None:
        async def one() -> None:
            ws = await connect(url, open_timeout=60, max_size=None, ping_interval=None)
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws)))

        for start in range(0, count, 50):
            await asyncio.gather(*(one() for _ in range(min(50, count - start))))

    async def _read(self, ws: ClientConnection) -> None:
        last, receipts, times = self.last_receipt, self.receipts, self.times
        try:
            async for raw in ws:
                now = time.perf_counter()
                message = _decode_seq(raw)
                if message.seq < 0 or message.kind == 6:
                    continue
                seq = message.seq
                receipts[seq] = receipts.get(seq, 0) + 1
                times.setdefault(seq, []).append(now)
                if now > last.get(seq, 0.0):
                    last[seq] = now
        except Exception:
            pass
        self.closed += 1

    def reset(self) -> None:
        self.last_receipt.clear()
        self.receipts.clear()
        self.times.clear()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Step:
    rate: float
    sent: int
    acked: int
    p50_ms: float  # over every delivery: its receipt minus the acknowledgement of its event
    p99_ms: float
    max_ms: float
    last_p99_ms: float  # over events: the LAST subscriber's receipt minus the acknowledgement
    complete: float  # share of (acked events x subscribers) that arrived
    deliveries_per_s: float

    @property
    def ok(self) -> bool:
        return self.p99_ms < P99_GOAL_MS and self.complete >= 0.999


async def run_rate(
    fleet: Fleet, subscribers: int, rate: float, seconds: float, publish: Callable[[int], Awaitable[int | None]]
) -> Step:
    """Publish at `rate`/s for `seconds`; each publish returns the seq it was acknowledged with (or None)."""
    fleet.reset()
    acks: dict[int, float] = {}
    sent = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        seq = await publish(i)
        if seq is not None:
            acks[seq] = time.perf_counter()

    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
        sent += 1
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - start
    # Let the stragglers arrive (bounded).
    deadline = time.perf_counter() + 5
    while time.perf_counter() < deadline and any(fleet.receipts.get(s, 0) < subscribers for s in acks):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    delays = [(r - t) * 1000 for s, t in acks.items() for r in fleet.times.get(s, ())]
    last_delays = [(fleet.last_receipt[s] - t) * 1000 for s, t in acks.items() if s in fleet.last_receipt]
    delivered = sum(fleet.receipts.get(s, 0) for s in acks)
    expected = len(acks) * subscribers
    return Step(
        rate=rate,
        sent=sent,
        acked=len(acks),
        p50_ms=percentile(delays, 50),
        p99_ms=percentile(delays, 99),
        max_ms=max(delays) if delays else float("nan"),
        last_p99_ms=percentile(last_delays, 99),
        complete=delivered / expected if expected else 0.0,
        deliveries_per_s=delivered / elapsed,
    )


async def sweep(
    sides: dict[str, tuple[Fleet, Callable[[int], Awaitable[int | None]]]],
    subscribers: int,
    rates: list[float],
    seconds: float,
) -> dict[str, list[Step]]:
    """Each rate step on every side in turn (app, then bare, at the same rate), until a side misses the goal:
    the machine is shared, and a load that comes and goes then weighs on both sides alike."""
    steps: dict[str, list[Step]] = {name: [] for name in sides}
    for rate in rates:
        for name, (fleet, publish) in sides.items():
            if len(steps[name]) >= 2 and not steps[name][-1].ok and not steps[name][-2].ok:
                continue  # two failed steps in a row: this side is past its limit
            step = await run_rate(fleet, subscribers, rate, seconds, publish)
            steps[name].append(step)
            print(
                f"    {name:>4} {rate:>6.0f}/s sent {step.sent} acked {step.acked}  p50 {step.p50_ms:.1f} "
                f"p99 {step.p99_ms:.1f} max {step.max_ms:.1f} last-p99 {step.last_p99_ms:.1f} ms  "
                f"complete {step.complete:.4f}  "
                f"{step.deliveries_per_s:,.0f} deliveries/s",
                flush=True,
            )
    return steps


def best(steps: list[Step]) -> float:
    return max((s.deliveries_per_s for s in steps if s.ok), default=0.0)


# The app ----------------------------------------------------------------------------------------------------


async def signup(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    await client.post("/api/v1/users/signupuser", json={"user_name": "Bench", "email": email, "password": PASSWORD})
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def new_product(client: httpx.AsyncClient, seller: dict[str, str], hours: float = 2) -> str:
    body = {
        "product_name": "Bench item",
        "description": "A product for the benchmark.",
        "baseprice": 1,
        "min_increment": 1,
        "auction_end": (datetime.now(UTC) + timedelta(hours=hours)).isoformat(),
    }
    response = await client.post("/api/v1/products/", json=body, headers=seller)
    response.raise_for_status()
    return response.json()["product_id"]


# Each product's next bid amount, kept across rounds (a later round must bid above the earlier ones).
_AMOUNTS: dict[str, itertools.count[int]] = {}


async def bid_throughput(
    urls: list[str], bidders: list[dict[str, str]], products: list[str], seconds: float
) -> tuple[float, float]:
    """Accepted and refused bids per second with CONCURRENCY bidders hammering `products` over both servers
    (each bidder its own keep-alive connection and account)."""
    counters = {p: _AMOUNTS.setdefault(p, itertools.count(10_000_000)) for p in products}  # above earlier ones
    accepted = refused = 0
    stop = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal accepted, refused
        http = RawHTTP.for_url(urls[n % len(urls)], bidders[n % len(bidders)])
        try:
            while time.perf_counter() < stop:
                product = random.choice(products)
                status, _ = await http.request(
                    "POST", f"/api/v1/products/{product}/bids", {"amount": next(counters[product])}
                )
                if status == 201:
                    accepted += 1
                else:
                    refused += 1
        finally:
            await http.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    return accepted / elapsed, refused / elapsed


class BareBids:
    """The baseline: the bid's own statements (AuctionsRepository.place_bid: lock_bidder_session, lock_product
    and place_bid in one pipeline ended by one Sync, with the same session check and event publishing) run by
    CONCURRENCY tasks in this process through a pool configured like the app's (app.db.pool.make_pool), on the
    same products, as the same bidders: what a bid costs without HTTP, the framework and the request's own
    authentication."""

    def __init__(self, database_url: str, bidders: list[dict[str, str]], *, with_request_session: bool = False) -> None:
        from app.config import settings_from_env
        from app.db.pool import make_pool

        self.settings = settings_from_env({"DATABASE_URL": database_url, "DB_POOL_MAX": str(CONCURRENCY)})
        self.pool = make_pool(self.settings, database_url)
        self.tokens = [headers["Authorization"].removeprefix("Bearer ") for headers in bidders]
        self.bidders: list[tuple[Any, bytes]] = []
        # Also the request's session look-up (the authentication middleware's statement) before each bid.
        self.with_request_session = with_request_session

    async def open(self) -> None:
        from app.security import token_hash

        await self.pool.open(wait=True)
        async with self.pool.connection() as conn:
            for token in self.tokens:
                hashed = token_hash(token)
                cursor = await conn.execute("SELECT user_id FROM sessions WHERE token_hash = %s", [hashed])
                row = await cursor.fetchone()
                assert row is not None
                self.bidders.append((row[0], hashed))

    async def close(self) -> None:
        await self.pool.close()

    async def rate(self, products: list[str], seconds: float) -> float:
        """Accepted bids per second."""
        from uuid import UUID

        from app.auctions.repository import AuctionsRepository
        from app.auth.repository import AuthRepository

        counters = {p: _AMOUNTS.setdefault(p, itertools.count(10_000_000)) for p in products}
        idle, accepted = self.settings.session_idle_ttl, 0
        stop = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal accepted
            bidder_id, hashed = self.bidders[n % len(self.bidders)]
            while time.perf_counter() < stop:
                product = random.choice(products)
                amount = next(counters[product])
                if self.with_request_session:
                    async with autocommit_connection(self.pool) as conn:
                        await AuthRepository(conn).session_principal(hashed, idle)
                async with self.pool.connection() as conn:
                    outcome = await AuctionsRepository(conn).place_bid(
                        UUID(product), bidder_id, amount, None, hashed, idle
                    )
                accepted += outcome is not None and outcome.outcome == "accepted"

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
        return accepted / (time.perf_counter() - start)


async def spread_vs_bare(
    servers: list[Server], bidders: list[dict[str, str]], products: list[str], database_url: str, seconds: float
) -> tuple[tuple[float, float], float]:
    """Bids across products and the bare transaction, in ROUNDS alternating slices of seconds / ROUNDS each:
    the machine is shared, and a load that comes and goes then weighs on both sides alike."""
    bare = BareBids(database_url, bidders)
    await bare.open()
    accepted = refused = bare_rate = 0.0
    try:
        for _ in range(ROUNDS):
            a, r = await bid_throughput([s.url for s in servers], bidders, products, seconds / ROUNDS)
            b = await bare.rate(products, seconds / ROUNDS)
            print(f"    round: app accepted {a:.0f}/s (refused {r:.0f}/s), bare {b:.0f}/s: {a / b:.2f}", flush=True)
            accepted, refused, bare_rate = accepted + a / ROUNDS, refused + r / ROUNDS, bare_rate + b / ROUNDS
    finally:
        await bare.close()
    return (accepted, refused), bare_rate


def bid_publisher(
    urls: list[str], bidder: dict[str, str], product: str, amounts: Iterator[int]
) -> tuple[Callable[[int], Awaitable[int | None]], Callable[[], Awaitable[None]]]:
    """(publish, close): publish(i) bids the next amount on `product` through urls[i % len(urls)] and returns the
    acknowledged seq (None when refused).

    Bids are sent at the asked rate without waiting for the previous one (a keep-alive connection per bid in
    flight). Concurrent bids on one product with rising amounts may commit out of order, and the later lower
    one is refused as too low (correct): only accepted bids make events, so above what one product accepts
    per second (its row lock serializes them) the step delivers less than asked. One bid in flight at a time
    (like the bare publisher) was tried: it then measures a bid's latency, about 20 ms on the loaded machine."""
    idle: list[list[RawHTTP]] = [[] for _ in urls]
    https: list[RawHTTP] = []

    async def publish(i: int) -> int | None:
        side = i % len(urls)
        if idle[side]:
            http = idle[side].pop()
        else:
            http = RawHTTP.for_url(urls[side], bidder)
            https.append(http)
        try:
            status, body = await http.request("POST", f"/api/v1/products/{product}/bids", {"amount": next(amounts)})
        finally:
            idle[side].append(http)
        return msgspec.json.decode(body)["seq"] if status == 201 else None

    async def close() -> None:
        for http in https:
            await http.close()

    return publish, close


# The bare broadcast server ----------------------------------------------------------------------------------


def start_bare_broadcast() -> Server:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "loadtest.bare_broadcast", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(url=f"http://127.0.0.1:{port}", process=process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), __import__("socket").create_connection(("127.0.0.1", port), timeout=1):
            return server
        time.sleep(0.1)
    raise RuntimeError("the bare broadcast server did not start")


# The run ----------------------------------------------------------------------------------------------------


async def fanout_phase(
    servers: list[Server],
    bares: list[Server],
    client_by_server: list[httpx.AsyncClient],
    seller: dict[str, str],
    bidder: dict[str, str],
    subscribers: int,
    rates: list[float],
    seconds: float,
) -> dict[str, Any]:
    product = await new_product(client_by_server[0], seller)
    fleet = Fleet()
    for n, server in enumerate(servers):
        url = server.url.replace("http://", "ws://") + f"/api/v1/products/ws/subscribe/{product}"
        await fleet.add(url, subscribers // 2 + (subscribers % 2 if n == 0 else 0))
    await asyncio.sleep(1)
    amounts = itertools.count(10)

    app_publish, close_publisher = bid_publisher([s.url for s in servers], bidder, product, amounts)

    bare_fleet = Fleet()
    for n, server in enumerate(bares):
        await bare_fleet.add(
            server.url.replace("http://", "ws://") + "/", subscribers // 2 + (subscribers % 2 if n == 0 else 0)
        )
    publishers = [
        await connect(server.url.replace("http://", "ws://") + "/publish", ping_interval=None) for server in bares
    ]
    locks = [asyncio.Lock() for _ in publishers]
    padding = "x" * 120  # about the size of a kind 4 message

    async def bare_publish(i: int) -> int | None:
        message = msgspec.json.encode({"kind": 4, "seq": i, "amount": 10 + i, "pad": padding}).decode()

        async def one(k: int) -> None:
            async with locks[k]:  # one message in flight per publisher: the ack is for this one
                await publishers[k].send(message)
                await publishers[k].recv()

        await asyncio.gather(*(one(k) for k in range(len(publishers))))
        return i

    print(f"  {subscribers} subscribers: app and bare websockets, alternating at each rate", flush=True)
    try:
        steps = await sweep(
            {"app": (fleet, app_publish), "bare": (bare_fleet, bare_publish)}, subscribers, rates, seconds
        )
    finally:
        await close_publisher()
        for publisher in publishers:
            await publisher.close()
        await fleet.close()
        await bare_fleet.close()
    return {"subscribers": subscribers, "app": steps["app"], "bare": steps["bare"]}


async def main_async(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.perf_counter()
    with fresh_database() as database_url:
        servers = [start_app(database_url, workers=1) for _ in range(2)]
        bares = [start_bare_broadcast() for _ in range(2)]
        clients = [
            httpx.AsyncClient(base_url=s.url, timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY))
            for s in servers
        ]
        try:
            seller = await signup(clients[0], "seller@bench.example")
            bidders = [await signup(clients[0], f"bidder{n}@bench.example") for n in range(CONCURRENCY)]
            one = [await new_product(clients[0], seller)]
            many = [await new_product(clients[0], seller) for _ in range(50)]

            print("bids/s, one product", flush=True)
            single = await bid_throughput([s.url for s in servers], bidders, one, args.seconds * 2)
            print(f"  accepted {single[0]:.0f}/s, refused {single[1]:.0f}/s", flush=True)
            print("bids/s across 50 products vs the same bids by a bare client (alternating rounds)", flush=True)
            spread, bare_tx = await spread_vs_bare(servers, bidders, many, database_url, args.seconds * 2)
            print(f"  accepted {spread[0]:.0f}/s, refused {spread[1]:.0f}/s; bare {bare_tx:.0f}/s", flush=True)

            phases = []
            for subscribers in args.subscribers:
                rates = (
                    [10, 25, 50, 100, 200, 300, 400, 500, 600, 800, 1200, 1600]
                    if subscribers <= 100
                    else [2, 5, 10, 20, 40, 60, 80, 120, 160, 240]
                )
                print(f"fan-out to {subscribers} subscribers", flush=True)
                phases.append(
                    await fanout_phase(servers, bares, clients, seller, bidders[0], subscribers, rates, args.seconds)
                )
        finally:
            for client in clients:
                await client.aclose()
            for server in [*servers, *bares]:
                server.stop()
    report(args, single, spread, bare_tx, phases, time.perf_counter() - started)


def _steps_table(steps: list[Step]) -> str:
    rows = [
        "| bids/s asked | acked | p50 ms | p99 ms | max ms | last-subscriber p99 ms | delivered | deliveries/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        rows.append(
            f"| {s.rate:.0f} | {s.acked} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.max_ms:.1f} | {s.last_p99_ms:.1f} "
            f"| {s.complete:.2%} "
            f"| {s.deliveries_per_s:,.0f} |"
        )
    return "\n".join(rows)


def report(
    args: argparse.Namespace,
    single: tuple[float, float],
    spread: tuple[float, float],
    bare_tx: float,
    phases: list[dict[str, Any]],
    elapsed: float,
) -> None:
    verdict = "met" if spread[0] / bare_tx >= 0.6 else "NOT met"
    lines = [
        "## Real-time auctions",
        "",
        f"Run: {now_iso()} on {machine_line()}, {elapsed:.0f} s in all.",
        f"Command: `.venv/bin/python -m loadtest.bench_realtime {' '.join(sys.argv[1:])}`".rstrip() + " "
        "(two `app serve` processes, RATE_LIMITS=off, ACCESS_LOG=off, a fresh database; clients, servers and "
        "PostgreSQL share the same cores, all on loopback).",
        "",
        "| what | measured | ratio | goal | |",
        "|---|---|---|---|---|",
        f"| accepted bids/s on one product ({CONCURRENCY} HTTP bidders) | {single[0]:,.0f} "
        f"(refused {single[1]:,.0f}/s) | | | |",
        f"| accepted bids/s across 50 products vs the bid's statements by a bare client | {spread[0]:,.0f} vs "
        f"{bare_tx:,.0f} | **{spread[0] / bare_tx:.2f}** | ≥ 0.6 | {verdict} |",
    ]
    for phase in phases:
        app_best, bare_best = best(phase["app"]), best(phase["bare"])
        ratio = app_best / bare_best if bare_best else float("nan")
        lines.append(
            f"| {phase['subscribers']} subscribers: deliveries/s with p99 < {P99_GOAL_MS:.0f} ms, app vs bare "
            f"websockets | {app_best:,.0f} vs {bare_best:,.0f} | **{ratio:.2f}** | ≥ 0.6 | "
            f"{'met' if ratio >= 0.6 else 'NOT met'} |"
        )
    lines.append("")
    lines.append(
        "Delay of a delivery = time from the bidder receiving its 201 (with the seq) to one subscriber receiving "
        "that seq; p50/p99/max are over every delivery of the step (the last-subscriber p99 is over events, of the "
        "delay to the LAST subscriber). A rate step counts only if the delivery p99 < 100 ms and every subscriber "
        "got every event; app and bare steps alternate at each rate; a side stops after two failed steps. "
        "Raw figures:"
    )
    for phase in phases:
        lines += [
            "",
            f"**{phase['subscribers']} subscribers, app** (half on each process)",
            "",
            _steps_table(phase["app"]),
        ]
        lines += [
            "",
            f"**{phase['subscribers']} subscribers, bare websockets broadcast** (two processes)",
            "",
            _steps_table(phase["bare"]),
        ]
    if not args.no_write:
        write_section("realtime", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each rate step (throughput: twice)")
    parser.add_argument(
        "--subscribers",
        type=lambda s: [int(x) for x in s.split(",") if int(x) > 0],
        default=[100, 1000],
        help="e.g. 100,1000 (0: no fan-out phase)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/performance.md alone")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
