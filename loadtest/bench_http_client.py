"""CPU of one upstream call per HTTP client: the accumulated-cashback GET against a keep-alive upstream on loopback
(run_locust's fake, in a child process so that its CPU is not counted), --in-flight calls at once (16), this
process's CPU time per call. Alternating rounds, medians.

    .venv/bin/python -m loadtest.bench_http_client [--calls 3000] [--rounds 5] [--in-flight 16]

Clients: httpx as app/cashback/upstream.py used it (streamed, one AsyncClient), httpx tuned (trust_env=False,
a plain get), aiohttp (if installed: the `load` extra), and app/cashback/http1.py. The evidence behind
docs/performance.md's "The upstream call".
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable

import httpx

from app.cashback.http1 import Http1Client
from loadtest.harness import median

CPF = "15350946056"
HEADERS = {"token": "bench", "Accept-Encoding": "identity"}

Call = Callable[[], Awaitable[bytes]]


def _serve(port: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from loadtest.run_locust import FakeCashbackApi

    with FakeCashbackApi() as upstream:
        port.put(upstream.port)
        time.sleep(3600)


async def _clients(url: str) -> dict[str, tuple[Call, Callable[[], Awaitable[None]]]]:
    clients: dict[str, tuple[Call, Callable[[], Awaitable[None]]]] = {}
    old = httpx.AsyncClient(
        timeout=httpx.Timeout(2.0), limits=httpx.Limits(max_connections=50, max_keepalive_connections=10)
    )

    async def httpx_streamed() -> bytes:
        async with old.stream("GET", f"{url}/v1/cashback", params={"cpf": CPF}, headers=HEADERS) as response:
            return b"".join([chunk async for chunk in response.aiter_raw()])

    clients["httpx (as before)"] = (httpx_streamed, old.aclose)
    tuned = httpx.AsyncClient(
        timeout=httpx.Timeout(2.0), trust_env=False, limits=httpx.Limits(max_keepalive_connections=20)
    )

    async def httpx_tuned() -> bytes:
        return (await tuned.get(f"{url}/v1/cashback?cpf={CPF}", headers=HEADERS)).content

    clients["httpx tuned"] = (httpx_tuned, tuned.aclose)
    try:
        import aiohttp
    except ImportError:
        pass
    else:
        session = aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(limit=50))

        async def aiohttp_get() -> bytes:
            async with session.get(f"{url}/v1/cashback?cpf={CPF}", headers=HEADERS) as response:
                return await response.read()

        clients["aiohttp"] = (aiohttp_get, session.close)
    minimal = Http1Client(url, max_idle=20)

    async def http1_get() -> bytes:
        return (await minimal.get(f"/v1/cashback?cpf={CPF}", HEADERS, max_body=65536))[1]

    clients["app/cashback/http1.py"] = (http1_get, minimal.aclose)
    return clients


async def _cpu_per_call(call: Call, calls: int, in_flight: int) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            body = await call()
            assert b"credit" in body

    started = time.process_time()
    await asyncio.gather(*(worker(calls // in_flight) for _ in range(in_flight)))
    return 1e6 * (time.process_time() - started) / (calls // in_flight * in_flight)


async def main_async(url: str, calls: int, rounds: int, in_flight: int) -> None:
    clients = await _clients(url)
    figures: dict[str, list[float]] = {name: [] for name in clients}
    for call, _ in clients.values():
        await _cpu_per_call(call, 320, in_flight)  # warm-up: connections
    for number in range(rounds):
        order = list(clients.items()) if number % 2 == 0 else list(reversed(clients.items()))
        for name, (call, _) in order:
            figures[name].append(await _cpu_per_call(call, calls, in_flight))
        print(f"round {number + 1}: " + ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in figures.items()), flush=True)
    base = median(figures["app/cashback/http1.py"])
    for name, values in figures.items():
        print(f"median {name}: {median(values):.0f} µs of CPU per call ({median(values) / base:.2f}x http1.py)")
    for _, close in clients.values():
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        import uvloop

        uvloop.run(main_async(f"http://127.0.0.1:{ports.get(timeout=10)}", args.calls, args.rounds, args.in_flight))
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
