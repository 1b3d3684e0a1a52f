"""One row that a background loop cannot handle never stops the loop for the others (docs/security.md,
"One poisoned row"). The poison is real: a trigger in the test's own database refuses to touch that one row,
as a constraint added later, a bad manual edit or a bug in a trigger would."""

from __future__ import annotations

import httpx
import psycopg
from psycopg import sql

from app.config import Settings
from app.maintenance import BATCH_SIZE, prune_once
from tests.auctions_support import create_auction, http_bid, watching
from tests.clinic_support import api, create_clinic, open_desk
from tests.support import Account, RunningServer, eventually, new_user

POISON = """
CREATE FUNCTION refuse_poisoned_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id::text = TG_ARGV[0] THEN
        RAISE EXCEPTION 'poisoned row %', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poisoned_row BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_poisoned_row({id});
"""


async def poison(settings: Settings, table: str, row_id: str) -> None:
    statement = sql.SQL(POISON).format(table=sql.Identifier(table), id=sql.Literal(row_id))
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute(statement)


async def cure(settings: Settings, table: str) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP TRIGGER refuse_poisoned_row ON {}").format(sql.Identifier(table)))


async def _status(client: httpx.AsyncClient, product_id: str) -> str:
    return (await client.get(f"/api/v1/products/{product_id}")).json()["status"]


async def test_an_auction_that_cannot_be_closed_does_not_hold_back_the_others(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    stuck = await create_auction(client, admin, seconds=1.5)  # ends first: first in the closer's batch
    other = await create_auction(client, admin, seconds=2.5)
    await poison(settings, "products", stuck)

    async def other_closed() -> bool:
        return await _status(client, other) == "closed"

    await eventually(other_closed, timeout=10)
    assert await _status(client, stuck) == "open"

    await cure(settings, "products")

    async def stuck_closed() -> bool:
        return await _status(client, stuck) == "closed"

    await eventually(stuck_closed, timeout=10)


async def test_a_desk_that_cannot_be_freed_does_not_keep_other_expired_sessions_alive(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    stuck = await open_desk(client, admin, cid, "Sala 1")
    other = await open_desk(client, admin, cid, "Sala 2")
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE sessions SET expires_at = now() WHERE user_id = ANY(%s)", [[stuck.account.id, other.account.id]]
        )
    await poison(settings, "rooms", str(stuck.room["id"]))

    await prune_once(server.app)

    rooms = (await client.get(api(cid, "/rooms"), headers=admin.headers)).json()["items"]
    assert {room["name"]: room["occupied_by"] for room in rooms} == {"Sala 1": stuck.account.id, "Sala 2": None}
    for account in (stuck, other):  # both sessions ended all the same
        response = await client.get("/api/v1/users/me", headers=account.account.headers)
        assert response.status_code == 401, response.text


async def test_a_malformed_notification_does_not_stop_the_live_feeds(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    product = await create_auction(client, admin)
    bidder = await new_user(client)
    async with watching(server.ws_url, product) as watcher:
        await watcher.wait_kind(6)
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            for junk in ("not json", '{"topic": 5}', "[]", '{"topic": "product:x", "seq": "one"}'):
                await conn.execute("SELECT pg_notify('events', %s)", [junk])
        assert (await http_bid(client, bidder, product, 150)).status_code == 201
        await watcher.wait_kind(4)


async def test_pruning_goes_on_past_one_batch_and_keeps_each_topics_newest_event(
    server: RunningServer, client: httpx.AsyncClient, settings: Settings
) -> None:
    """The maintenance loop deletes in batches (app/maintenance.py): everything past its retention goes all the
    same, however many rows, in one pass."""
    account = await new_user(client)
    many = 2 * BATCH_SIZE + 1
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute(
            """INSERT INTO sessions (token_hash, user_id, kind, expires_at)
               SELECT sha256(('expired' || g)::bytea), %s, 'bearer', now() - interval '1 minute'
               FROM generate_series(1, %s) g""",
            [account.id, many],
        )
        await conn.execute(
            """INSERT INTO rate_limits (bucket, window_start, hits)
               SELECT 'old:' || g, now() - interval '2 days', 1 FROM generate_series(1, %s) g""",
            [many],
        )
        await conn.execute(
            """INSERT INTO idempotency_keys (owner, key, request_hash, created_at)
               SELECT 'old', 'key' || g, '\\x00', now() - interval '2 days' FROM generate_series(1, %s) g""",
            [many],
        )
        await conn.execute(
            """INSERT INTO outbox (to_address, subject, body, sent_at)
               SELECT 'old@example.com', 'Old', '', now() - interval '31 days' FROM generate_series(1, %s) g""",
            [many],
        )
        await conn.execute("INSERT INTO topic_seq (topic, last_seq) VALUES ('product:old', %s)", [many])
        await conn.execute(
            """INSERT INTO events (topic, seq, payload, created_at)
               SELECT 'product:old', g, '{}', now() - interval '8 days' + make_interval(secs => g)
               FROM generate_series(1, %s) g""",
            [many],
        )

    await prune_once(server.app)

    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        left = await (
            await conn.execute(
                """SELECT (SELECT count(*) FROM sessions WHERE user_id = %s AND expires_at <= now()),
                          (SELECT count(*) FROM rate_limits WHERE bucket LIKE 'old:%%'),
                          (SELECT count(*) FROM idempotency_keys WHERE owner = 'old'),
                          (SELECT count(*) FROM outbox WHERE to_address = 'old@example.com'),
                          (SELECT array_agg(seq) FROM events WHERE topic = 'product:old')""",
                [account.id],
            )
        ).fetchone()
    assert left == (0, 0, 0, 0, [many])
