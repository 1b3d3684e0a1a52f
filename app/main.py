"""The app factory: settings, pool, hub, middleware, areas, OpenAPI; `uvicorn --factory app.main:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from swagger_ui_bundle import swagger_ui_path

from app.areas import AccountHooks, Area
from app.auth.area import area as auth_area
from app.auth.csrf import CROSS_SITE_OR_NO_CSRF_TOKEN, CSRFMiddleware
from app.auth.middleware import AuthenticationMiddleware
from app.auth.openapi import components, declare_security
from app.auth.principal import provide_optional_user, provide_user
from app.config import PROJECT_ROOT, Settings, get_settings
from app.db.embedded import ensure_database_url
from app.db.pool import make_pool, provide_db
from app.mail.sender import MailSender
from app.maintenance import maintenance_loop
from app.realtime.hub import Hub
from app.realtime.rights import RIGHTS_TOPIC, RightsWatch
from app.security import Passwords
from app.tracing import configure_tracing, shutdown_tracing
from app.users.area import area as users_area
from app.web.connections import SocketsPerClient
from app.web.detached import DetachedTasks
from app.web.errors import exception_handlers
from app.web.headers import SecurityHeadersMiddleware
from app.web.health import docs, health, ready
from app.web.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from app.web.observability import RequestContextMiddleware, configure_logging
from app.web.openapi import DecimalSchemaPlugin, OptionalLiteralSchemaPlugin, declare_responses, operation_id
from app.web.ratelimit import RateLimiter, provide_rate_limiter
from app.web.responses import AppResponse
from app.web.sockets import SocketLifecycle, remember_socket_error
from app.web.static import static_files_router
from app.web.validation import validate_body

log = logging.getLogger("app")

STATIC_FOLDER = PROJECT_ROOT / "app" / "static"


def all_areas() -> list[Area]:
    from app.auctions.area import area as auctions_area
    from app.cashback.area import area as cashback_area
    from app.clinic.area import area as clinic_area

    return [users_area, auth_area, auctions_area, clinic_area, cashback_area]


def _provide_settings(state: State) -> Settings:
    return state.settings


def _provide_passwords(state: State) -> Passwords:
    return state.passwords


def _provide_account_hooks(state: State) -> AccountHooks:
    return state.account_hooks


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    database_url = settings.database_url or ensure_database_url()
    configure_logging(settings.log_level)
    configure_tracing(settings.tracing)
    areas = all_areas()
    pool = make_pool(settings, database_url)
    # LISTEN is session state: a transaction-pooling PgBouncer would drop it, so the hub may bypass it.
    hub = Hub(pool, settings.database_listen_url or database_url, settings.ws_queue_size)
    # Rights are live on open sockets: told by the hub, re-checked after a reconnect and periodically.
    rights = RightsWatch(pool, settings.session_idle_ttl, settings.rights_recheck_interval)
    hub.on_prefix(RIGHTS_TOPIC, rights.changed)
    mail_sender = MailSender(pool, settings)
    sockets = SocketLifecycle()  # WebSockets: 503 while the database is down; 1001 on SIGTERM

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=max(10.0, settings.db_pool_timeout))
        restore_signals = sockets.install_signal_handlers()
        await hub.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            for area in areas:
                for startup in area.on_startup:
                    await startup(app)
            loops = [mail_sender.run(), maintenance_loop(app), rights.run()]
            loops += [task(app) for area in areas for task in area.background]
            tasks = [asyncio.create_task(coro) for coro in loops]
            yield
        finally:
            restore_signals()
            await app.state.detached.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await hub.stop()
            await pool.close()
            app.state.passwords.close()
            shutdown_tracing()

    openapi = OpenAPIConfig(
        title="Marketplace backend",
        version="1.0.0",
        description="Users and login, live auctions, a clinic patient queue and reseller cashback.",
        path="/schema",
        operation_id_creator=operation_id,
        components=components(),
        render_plugins=[
            SwaggerRenderPlugin(
                path="/swagger",
                js_url="/static/swagger/swagger-ui-bundle.js",
                css_url="/static/swagger/swagger-ui.css",
                standalone_preset_js_url="/static/swagger/swagger-ui-standalone-preset.js",
                # Litestar's default favicon comes from a CDN; the page must work offline.
                favicon="<link rel='icon' type='image/png' href='/static/swagger/favicon-32x32.png'>",
            )
        ],
    )
    state = State(
        {
            "settings": settings,
            "pool": pool,
            "hub": hub,
            "rights": rights,
            "mail_sender": mail_sender,
            "passwords": Passwords(settings),
            "rate_limiter": RateLimiter(pool, settings),
            "account_hooks": AccountHooks.of(areas, settings.session_idle_ttl),
            "detached": DetachedTasks(),
            "areas": areas,
        }
    )
    middleware = [AuthenticationMiddleware(), CSRFMiddleware()]
    operations = [health, ready, docs]
    if settings.metrics:
        state.metrics = Metrics(state)
        middleware.insert(0, MetricsMiddleware(state.metrics))
        operations.append(metrics_endpoint)
    # CORS is closed unless ALLOWED_ORIGINS names the browser origins (credentials included) that may call the API.
    cors = (
        CORSConfig(
            allow_origins=list(settings.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "X-Recall"],
        )
        if settings.allowed_origins
        else None
    )
    app = Litestar(
        route_handlers=[
            *operations,
            static_files_router(
                "/static/swagger", Path(swagger_ui_path), "Swagger UI's JavaScript and CSS, served locally (no CDN)"
            ),
            static_files_router("/static", STATIC_FOLDER, "The pages' JavaScript and CSS"),
            *[handler for area in areas for handler in area.route_handlers],
        ],
        dependencies={
            "db": Provide(provide_db),
            "settings": Provide(_provide_settings, sync_to_thread=False),
            "passwords": Provide(_provide_passwords, sync_to_thread=False),
            "account_hooks": Provide(_provide_account_hooks, sync_to_thread=False),
            "rate_limiter": Provide(provide_rate_limiter, sync_to_thread=False),
            # The principal the authentication middleware resolved: `caller` answers 401 without one.
            "caller": Provide(provide_user, sync_to_thread=False),
            "maybe_caller": Provide(provide_optional_user, sync_to_thread=False),
        },
        middleware=middleware,
        cors_config=cors,
        before_request=validate_body,
        exception_handlers=exception_handlers,
        after_exception=[remember_socket_error],
        response_class=AppResponse,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi,
        plugins=[DecimalSchemaPlugin(), OptionalLiteralSchemaPlugin()],  # app/web/openapi.py
        lifespan=[lifespan],
        state=state,
        debug=False,
        pdb_on_exception=False,  # never LITESTAR_PDB: a post-mortem prompt would freeze the server
        logging_config=None,
    )
    declare_security(app)  # each operation's security requirements, from its guards and dependencies
    declare_responses(app, unsafe=(CROSS_SITE_OR_NO_CSRF_TOKEN,))  # every status each operation can answer
    # The request id, the access log line and the security headers wrap the whole app, not only the routes:
    # Litestar runs `middleware=` for matched routes, so a 404 or 405 would otherwise go out without them.
    app.asgi_handler = SocketsPerClient(settings)(app.asgi_handler)
    app.asgi_handler = SecurityHeadersMiddleware(https=settings.cookie_secure)(app.asgi_handler)
    app.asgi_handler = RequestContextMiddleware(access_log_enabled=settings.access_log)(app.asgi_handler)
    if settings.tracing:  # outside the request id's middleware: its access line is written inside the span
        from app.web.tracing import TracingMiddleware  # OpenTelemetry is imported only when tracing is on

        app.asgi_handler = TracingMiddleware(settings)(app.asgi_handler)
    app.asgi_handler = sockets(app.asgi_handler)
    return app
