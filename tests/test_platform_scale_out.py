"""Three replicas behind real nginx, their pools through real PgBouncer in transaction pooling (docs/deploy.md,
"Several replicas"): every client request goes through nginx; the replicas are only read directly for their
/metrics, to see which one served what. One cluster for the whole module (tests/scale_support.py); the SIGKILL
test runs last, since it leaves two replicas."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import psycopg
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.config import settings_from_env
from app.db.pool import make_pool
from tests.auctions_support import create_auction, watch
from tests.conftest import TEST_ENVIRONMENT, copy_of_template
from tests.scale_support import ScaleOut, replica_environment, require_scale_tools, scale_out
from tests.support import Account, SmtpServer, cookie_login, create_account, eventually, new_user

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

METRICS_TOKEN = "scale-out metrics token"
# The three replicas' pools hold 200 client connections to PgBouncer, which keeps POOL_SIZE to PostgreSQL.
POOL_MAX = (67, 67, 66)
POOL_SIZE = 10


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_database(server_url: str, template_database: str) -> Iterator[str]:
    with copy_of_template(server_url, template_database) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(
    server_url: str, module_database: str, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ScaleOut]:
    require_scale_tools()
    environment = TEST_ENVIRONMENT | {
        "SMTP_URL": smtp_server.url,
        "RATE_LIMITS": "on",
        "METRICS": "on",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    async with scale_out(
        server_url,
        module_database,
        tmp_path_factory.mktemp("scale"),
        environment,
        pool_size=POOL_SIZE,
        replica_env=lambda n: {"DB_POOL_MIN": str(POOL_MAX[n]), "DB_POOL_MAX": str(POOL_MAX[n])},
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def client_from(cluster: ScaleOut, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of nginx from its own loopback address (nginx itself reaches the replicas from 127.0.0.1)."""
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_connections=200))
    async with httpx.AsyncClient(base_url=cluster.url, transport=transport, timeout=30) as client:
        yield client


async def served(cluster: ScaleOut) -> list[dict[tuple[str, ...], float]]:
    """Each live replica's counters read from its own /metrics: {(metric, label values...): value}."""
    figures = []
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as http:
        for replica in cluster.replicas:
            if replica.process.poll() is not None:
                continue
            text = (await http.get(replica.url + "/metrics")).text
            samples = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    samples[(sample.name, *sample.labels.values())] = sample.value
            figures.append(samples)
    return figures


def _count(samples: dict[tuple[str, ...], float], method: str, route: str, status: str) -> float:
    """Requests answered, by route pattern (a regular expression over the route's template)."""
    return sum(
        value
        for (name, *labels), value in samples.items()
        if name == "http_request_duration_seconds_count"
        and labels[0] == method
        and re.fullmatch(route, labels[1])
        and labels[2] == status
    )


async def test_a_cookie_from_one_replica_works_on_the_others(cluster: ScaleOut) -> None:
    async with client_from(cluster, "127.0.0.2") as browser:
        account = await create_account(browser)
        csrf = await cookie_login(browser, account)
        for _ in range(6):  # round robin: two requests per replica
            session = await browser.get("/api/v1/auth/session")
            assert session.status_code == 200, session.text
            assert session.json()["user"]["id"] == account.id
        for n in range(3):  # a write with the cookie and its CSRF token, on each replica in turn
            created = await browser.post(
                "/api/v1/products/",
                json={
                    "product_name": f"Cadeira {n}",
                    "description": "Cadeira de escritório.",
                    "baseprice": 10,
                    "auction_end": "2099-01-01T00:00:00Z",
                },
                headers={"X-CSRF-Token": csrf},
            )
            assert created.status_code == 201, created.text
    per_replica = await served(cluster)
    assert all(_count(s, "GET", "/api/v1/auth/session", "200") >= 1 for s in per_replica), per_replica
    assert all(_count(s, "POST", "/api/v1/products", "201") >= 1 for s in per_replica)


def _product_sockets(samples: dict[tuple[str, ...], float]) -> float:
    return samples.get(("websocket_subscribers", "product"), 0.0)


async def test_a_bid_through_one_replica_reaches_sockets_on_the_other_two(cluster: ScaleOut) -> None:
    async with client_from(cluster, "127.0.0.2") as client:
        seller, bidder = await new_user(client), await new_user(client)
        product_id = await create_auction(client, seller, baseprice=10)
        watchers = []
        try:
            # Sockets through nginx until every replica holds one (round robin: three, as a rule).
            while not all(_product_sockets(s) >= 1 for s in await served(cluster)):
                assert len(watchers) < 9, "nginx did not spread the sockets over the replicas"
                watchers.append(await watch(cluster.ws_url, product_id))
                await watchers[-1].wait_kind(6)
            before = await served(cluster)
            placed = await client.post(
                f"/api/v1/products/{product_id}/bids", json={"amount": 10}, headers=bidder.headers
            )
            assert placed.status_code == 201, placed.text
            seq = placed.json()["seq"]
            for watcher in watchers:
                seen = (await watcher.wait_kind(4))[0]
                # Anonymous watchers on every replica: the bidder by their number, never their id.
                assert (seen["seq"], seen["bidder"], seen["user_id"]) == (seq, 1, None)
            after = await served(cluster)
            bid_route = r"/api/v1/products/\{.*\}/bids"
            took = [
                _count(a, "POST", bid_route, "201") - _count(b, "POST", bid_route, "201")
                for a, b in zip(after, before, strict=True)
            ]
            assert sorted(took) == [0, 0, 1]  # one replica took the bid; sockets on the two others saw it
        finally:
            for watcher in watchers:
                await watcher.close()


async def test_the_rate_limit_counts_the_address_nginx_forwarded(cluster: ScaleOut) -> None:
    """Ten password resets an hour per client address (app/web/ratelimit.py), counted across the replicas."""
    async with client_from(cluster, "127.0.0.3") as first, client_from(cluster, "127.0.0.4") as second:
        ask = {"email": "nobody-here@example.com"}
        statuses = [(await first.post("/api/v1/auth/password-reset", json=ask)).status_code for _ in range(11)]
        assert statuses == [202] * 10 + [429]
        # Another client behind the same nginx still has its own budget.
        assert (await second.post("/api/v1/auth/password-reset", json=ask)).status_code == 202


async def test_postgresql_sees_no_more_than_pgbouncers_pool(cluster: ScaleOut) -> None:
    pools = [p for p in cluster.bouncer.show("POOLS") if p["database"] == cluster.database]
    clients = sum(int(p[k]) for p in pools for k in ("cl_active", "cl_waiting"))  # type: ignore[call-overload]
    assert clients >= sum(POOL_MAX)
    seen: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        async with await psycopg.AsyncConnection.connect(cluster.direct_url, autocommit=True) as conn:
            while not stop.is_set():
                row = await (
                    await conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'marketplace'"
                    )
                ).fetchone()
                seen.append(row[0] if row else 0)
                await asyncio.sleep(0.01)

    async with client_from(cluster, "127.0.0.2") as client:
        sampler = asyncio.create_task(sample())
        # 200 requests at once, each holding a pooled connection while it reads the database.
        answers = await asyncio.gather(*(client.get("/ready") for _ in range(200)))
        stop.set()
        await sampler
    assert {a.status_code for a in answers} == {200}
    assert max(seen) >= 1  # the sampler saw the pool at work...
    assert max(seen) <= POOL_SIZE  # ...and never more server connections than PgBouncer's pool


async def test_the_pool_through_pgbouncer_runs_statements_without_preparing_them(cluster: ScaleOut) -> None:
    """DB_PREPARE=off, as the replicas run: psycopg would prepare a statement on its 5th run on one connection,
    and PgBouncer 1.18 then sends the next run to a server connection that never saw it."""
    settings = settings_from_env(
        replica_environment(
            TEST_ENVIRONMENT | {"SMTP_URL": "smtp://127.0.0.1:9"}, cluster.url, cluster.pgbouncer_url, ""
        )
        | {"DB_POOL_MIN": "4", "DB_POOL_MAX": "4"}
    )
    pool = make_pool(settings, cluster.pgbouncer_url)
    await pool.open(wait=True)

    async def worker(n: int) -> list[int]:
        found = []
        for _ in range(10):
            async with pool.connection() as conn:
                row = await (await conn.execute("SELECT %s::int + pg_backend_pid() * 0", (n,))).fetchone()
                found.append(row[0] if row else -1)
        return found

    try:
        results = await asyncio.gather(*(worker(n) for n in range(40)))
    finally:
        await pool.close()
    assert results == [[n] * 10 for n in range(40)]


class Resuming:
    """A subscriber that, whenever its socket drops, reconnects through nginx with ?since=<last seq>."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seqs: list[int] = []
        self.last = -1
        self.reconnects = 0
        self.connected = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            url = self.url if self.last < 0 else f"{self.url}?since={self.last}"
            with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                async with connect(url, open_timeout=5) as ws:
                    self.connected.set()
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("kind") == 6:  # the snapshot: where this subscriber starts
                            self.last = message["seq"]
                        elif "seq" in message:
                            self.seqs.append(message["seq"])
                            self.last = message["seq"]
            self.reconnects += 1
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_sigkill_of_a_replica_under_live_sockets_and_bids(cluster: ScaleOut, smtp_server: SmtpServer) -> None:
    async with client_from(cluster, "127.0.0.5") as client:
        seller = await new_user(client)
        bidders = [await new_user(client) for _ in range(3)]
        product_id = await create_auction(client, seller, baseprice=1)
        mailbox = await create_account(client)
        subscribers = [Resuming(f"{cluster.ws_url}/api/v1/products/ws/subscribe/{product_id}") for _ in range(6)]
        for subscriber in subscribers:
            await asyncio.wait_for(subscriber.connected.wait(), 10)
        amounts = itertools.count(1)
        accepted: list[int] = []
        killed = asyncio.Event()

        async def bid_once(bidder: Account, body: dict[str, int]) -> httpx.Response:
            """A bid that met the dying replica (502, a dropped connection) is retried with its Idempotency-Key:
            it is placed at most once whatever happened to the first attempt."""
            key = uuid.uuid4().hex
            for _ in range(20):
                with contextlib.suppress(httpx.TransportError):
                    answer = await client.post(
                        f"/api/v1/products/{product_id}/bids",
                        json=body,
                        headers=bidder.headers | {"Idempotency-Key": key},
                    )
                    if answer.status_code < 500:
                        return answer
                await asyncio.sleep(0.05)
            raise AssertionError(f"a bid got no answer but 5xx or errors: {body}")

        async def bidding(bidder: Account) -> None:
            deadline = time.monotonic() + 60
            while not killed.is_set() or len(accepted) < 40:
                assert time.monotonic() < deadline
                answer = await bid_once(bidder, {"amount": next(amounts)})
                if answer.status_code == 201:
                    accepted.append(answer.json()["seq"])
                else:
                    assert answer.status_code == 422, answer.text  # outbid by a concurrent bid: too low

        bids = [asyncio.create_task(bidding(b)) for b in bidders]
        try:
            await until(lambda: len(accepted) >= 15)  # live bids on every replica, then the kill
            cluster.replicas[0].process.send_signal(signal.SIGKILL)
            cluster.replicas[0].process.wait(10)
            killed.set()
            closing = await create_auction(client, seller, seconds=2)  # for the survivors' auction closer
            await asyncio.gather(*bids)
            last = max(accepted)
            for subscriber in subscribers:
                await until(lambda s=subscriber: s.last >= last)
        finally:
            for task in bids:
                task.cancel()
            for subscriber in subscribers:
                await subscriber.close()
        assert sum(s.reconnects for s in subscribers) >= 1  # some sockets were on the killed replica
        for subscriber in subscribers:
            assert len(subscriber.seqs) == len(set(subscriber.seqs)), "an event was delivered twice"
            assert subscriber.seqs == list(range(subscriber.seqs[0], subscriber.seqs[-1] + 1)), "out of order or a gap"
            assert set(accepted) <= set(subscriber.seqs), "an accepted bid never reached a subscriber"
        # The survivors' background loops carry on: the auction closer and the mail sender.
        await eventually(lambda: _closed(client, closing), timeout=20)
        asked = await client.post("/api/v1/auth/password-reset", json={"email": mailbox.email})
        assert asked.status_code == 202
        await smtp_server.wait_for(mailbox.email)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check, timeout=timeout)


async def _closed(client: httpx.AsyncClient, product_id: str) -> bool:
    return (await client.get(f"/api/v1/products/{product_id}")).json()["status"] == "closed"
