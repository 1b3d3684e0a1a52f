"""Events are published one way (docs/rules/realtime.md, guarantees 1 and 2): the function publish_event() of
migrations/0017_publish_event.sql, which sql/realtime.sql's publish_event and the bid in sql/auctions.sql both
call; and the bid, events included, is one transaction that reaches PostgreSQL in one round trip
(docs/performance.md, "The bid's round trips")."""

from __future__ import annotations

import json
import re
import tempfile
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.pq import PipelineStatus, Trace

from app.auctions.repository import AuctionsRepository
from app.config import PROJECT_ROOT, Settings
from app.db.sql import load_sql
from app.security import token_hash
from tests.auctions_support import create_auction
from tests.support import new_user

# What publishing an event takes: the topic's seq, the event row. Only the function may write them.
_WRITES_AN_EVENT = re.compile(r"\b(INSERT\s+INTO|UPDATE)\s+(events|topic_seq)\b", re.IGNORECASE)


def test_only_the_publish_event_function_writes_events() -> None:
    sources = [
        *PROJECT_ROOT.glob("sql/**/*.sql"),
        *PROJECT_ROOT.glob("migrations/*.sql"),
        *PROJECT_ROOT.glob("app/**/*.py"),
    ]
    writers = {
        path.relative_to(PROJECT_ROOT).as_posix() for path in sources if _WRITES_AN_EVENT.search(path.read_text())
    }
    assert writers == {"migrations/0017_publish_event.sql"}


def _syncs(trace: str) -> int:
    """How many Sync messages the client sent, in a libpq trace: each ends a batch PostgreSQL answers, a round trip."""
    return sum(1 for line in trace.splitlines() if line.split("\t")[:1] == ["F"] and line.endswith("\tSync"))


async def test_a_bid_and_its_two_events_are_one_pipeline(
    client: httpx.AsyncClient, user: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    product_id = UUID(await create_auction(client, user, seconds=5, baseprice=10, extend_seconds=60))
    bidder = await new_user(client)
    assert bidder.token is not None
    sent: list[tuple[str, PipelineStatus]] = []
    execute = psycopg.AsyncCursor.execute

    async def spy(cursor: psycopg.AsyncCursor[Any], query: Any, params: Any = None, **kwargs: Any) -> Any:
        # Only the bid's connection: the server in this process runs its own loops (closer, mail) meanwhile.
        if cursor.connection is conn:
            sent.append((query, cursor.connection.pgconn.pipeline_status))
        return await execute(cursor, query, params, **kwargs)

    async with (
        await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as listener,
        # Not autocommit: the pool hands connections out in transaction mode.
        await psycopg.AsyncConnection.connect(settings.database_url) as conn,
    ):
        await listener.execute("LISTEN events")
        monkeypatch.setattr(psycopg.AsyncCursor, "execute", spy)
        with tempfile.TemporaryFile("w+") as trace:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            outcome = await AuctionsRepository(conn).place_bid(
                product_id,
                UUID(bidder.id),
                Decimal(10),
                "socket-1",
                token_hash(bidder.token),
                settings.session_idle_ttl,
            )
            conn.pgconn.untrace()
            trace.seek(0)
            syncs = _syncs(trace.read())
        monkeypatch.undo()
        notifies = listener.notifies(timeout=5, stop_after=2)
        notified = [json.loads(n.payload) async for n in notifies]
        assert not conn.autocommit  # handed back as it came

    statements = load_sql("auctions")
    expected = [statements[name].query for name in ("lock_bidder_session", "lock_product", "place_bid")]
    # Three statements, all queued in the pipeline and ended by one Sync: one round trip, no BEGIN or COMMIT (the
    # implicit transaction); publishing the events adds none, it happens inside place_bid.
    assert sent == [(query, PipelineStatus.ON) for query in expected]
    assert syncs == 1
    assert outcome is not None
    assert (outcome.outcome, outcome.extended, outcome.seq, outcome.published) == ("accepted", True, 1, 2)
    # Announced on commit, in seq order: the bid (kind 4, with its origin), then the extension (kind 7).
    topic = f"product:{product_id}"
    assert [(n["topic"], n["seq"], n["payload"]["kind"]) for n in notified] == [(topic, 1, 4), (topic, 2, 7)]
    assert notified[0]["payload"]["origin"] == "socket-1"


async def test_a_bid_that_fails_midway_leaves_nothing(client: httpx.AsyncClient, user: Any, settings: Settings) -> None:
    """The bid's statements are one transaction although no BEGIN is sent: when place_bid fails (here a trigger
    refuses the bid row), the session's refreshed idle timer from lock_bidder_session is rolled back with it and
    no event is published; the next bid on the same connection goes through."""
    product_id = UUID(await create_auction(client, user, seconds=60, baseprice=10))
    bidder = await new_user(client)
    assert bidder.token is not None
    hashed = token_hash(bidder.token)
    topic = f"product:{product_id}"
    refused_amount = Decimal("4242.42")
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as admin:
        # An idle timer ten minutes old: lock_bidder_session refreshes it when it runs.
        await admin.execute(
            "UPDATE sessions SET last_seen_at = now() - interval '10 minutes' WHERE token_hash = %s", [hashed]
        )
        await admin.execute(
            """CREATE FUNCTION test_refuse_bid() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
               CREATE TRIGGER test_refuse_bid BEFORE INSERT ON bids FOR EACH ROW
               WHEN (NEW.bid_amount = 4242.42) EXECUTE FUNCTION test_refuse_bid()"""
        )
        try:
            async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
                bids = AuctionsRepository(conn)
                args = (UUID(bidder.id), hashed, settings.session_idle_ttl)
                with pytest.raises(psycopg.errors.RaiseException):
                    await bids.place_bid(product_id, args[0], refused_amount, None, args[1], args[2])
                state = await (
                    await admin.execute(
                        """SELECT s.last_seen_at < now() - interval '9 minutes',
                                  (SELECT count(*) FROM events WHERE topic = %s),
                                  (SELECT bid_count FROM products WHERE id = %s)
                           FROM sessions s WHERE s.token_hash = %s""",
                        [topic, product_id, hashed],
                    )
                ).fetchone()
                assert state == (True, 0, 0)  # the timer is still old: the whole bid was rolled back
                outcome = await bids.place_bid(product_id, args[0], Decimal(20), None, args[1], args[2])
        finally:
            await admin.execute("DROP TRIGGER test_refuse_bid ON bids; DROP FUNCTION test_refuse_bid()")
        state = await (
            await admin.execute(
                "SELECT last_seen_at > now() - interval '1 minute' FROM sessions WHERE token_hash = %s", [hashed]
            )
        ).fetchone()
    assert outcome is not None
    assert outcome.outcome == "accepted"
    assert state == (True,)


async def test_a_large_payload_is_notified_without_it_and_read_from_the_table(settings: Settings) -> None:
    big = {"kind": 7, "padding": "x" * 7000}
    async with (
        await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(settings.database_url) as conn,
    ):
        await listener.execute("LISTEN events")
        async with conn.transaction():
            small = await (await conn.execute("SELECT publish_event('test:size', '{\"kind\": 7}')")).fetchone()
            large = await (
                await conn.execute("SELECT publish_event('test:size', %s::jsonb)", [json.dumps(big)])
            ).fetchone()
            assert [n async for n in listener.notifies(timeout=0.2)] == []  # nothing before commit
        notified = [json.loads(n.payload) async for n in listener.notifies(timeout=5, stop_after=2)]
        stored = await (
            await conn.execute("SELECT seq, payload FROM events WHERE topic = 'test:size' ORDER BY seq")
        ).fetchall()
    assert (small, large) == ((1,), (2,))
    assert notified == [
        {"topic": "test:size", "seq": 1, "payload": {"kind": 7}},
        {"topic": "test:size", "seq": 2},
    ]
    assert stored == [(1, {"kind": 7}), (2, big)]
