"""Settings, read once from the environment.

Every variable is documented in the README with its default. Durations are seconds.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.mail.address import mail_address

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_SECRET = "development-secret-do-not-use-in-production"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line meant for an operator."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: str = "development"
    secret_key: str = DEVELOPMENT_SECRET
    database_url: str | None = None
    # A connection that keeps session state (LISTEN, migrations): direct to PostgreSQL when DATABASE_URL goes
    # through a transaction-pooling PgBouncer. None: DATABASE_URL.
    database_listen_url: str | None = None
    # psycopg's server-side prepared statements (after 5 runs of a statement); off behind a pooler that cannot
    # keep them per client (PgBouncer in transaction mode before 1.21).
    db_prepare: bool = True
    timezone: str = "America/Sao_Paulo"
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    cookie_secure: bool = False
    rate_limits: bool = True
    # Client buckets of the rate limits: an IPv4 address (/32) or an IPv6 /64, which one client normally owns.
    ipv4_bucket_prefix: int = 32
    ipv6_bucket_prefix: int = 64
    smtp_url: str | None = None
    mail_from: str = "no-reply@localhost"
    mail_max_attempts: int = 3  # tries of a message the SMTP server refuses for itself (5xx) before it is failed
    admin_email: str | None = None
    admin_password: str | None = None
    auction_min_duration: int = 7200
    cashback_api_url: str = "http://127.0.0.1:9/"
    cashback_api_token: str = ""
    cashback_api_timeout: float = 2.0
    cashback_breaker_threshold: int = 5  # consecutive upstream failures that open the circuit
    cashback_breaker_cooldown: float = 30.0  # seconds the open circuit fails fast before one trial call
    cashback_cache_ttl: float = 30.0  # seconds a CPF's accumulated cashback is reused
    web_ticket_share: float = 0.2  # of a service's daily tickets, what anonymous web clients may take
    public_base_url: str | None = None  # how patients' phones reach us (the ticket QR); unset: the kiosk's own
    # Sessions and tokens.
    session_ttl: int = 24 * 3600
    session_idle_ttl: int = 2 * 3600
    token_ttl: int = 12 * 3600
    # argon2id cost: OWASP's minimum by default (19 MiB, 2 passes, 1 lane).
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    hash_threads: int = max(1, os.cpu_count() or 1)
    # Plumbing.
    db_pool_min: int = 2
    db_pool_max: int = 20
    db_pool_timeout: float = 5.0
    max_body_bytes: int = 64 * 1024
    max_ws_frame_bytes: int = 4096
    # Per client address and server process (app/web/connections.py); 0 switches one off.
    header_timeout: float = 10.0  # seconds to send a whole request head
    max_connections_per_client: int = 256
    max_sockets_per_client: int = 128
    ws_queue_size: int = 256
    event_retention: int = 7 * 24 * 3600
    outbox_poll_interval: float = 2.0
    closer_interval: float = 1.0
    rights_recheck_interval: float = 30.0  # seconds between re-checks of every open socket's rights (a backstop)
    log_level: str = "INFO"
    access_log: bool = True
    metrics: bool = False
    metrics_token: str | None = None
    tracing: bool = False  # OpenTelemetry spans over OTLP, configured by the standard OTEL_* variables
    migrate_on_start: bool = True
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def validate(self) -> Settings:
        if self.env not in ("development", "production"):
            raise ConfigError(f"APP_ENV must be 'development' or 'production', not {self.env!r}")
        if self.production and (self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32):
            raise ConfigError("APP_ENV=production needs SECRET_KEY set to a random value of at least 32 characters")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"APP_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        if not 1 <= self.ipv4_bucket_prefix <= 32 or not 1 <= self.ipv6_bucket_prefix <= 128:
            raise ConfigError("RATE_LIMIT_IPV4_PREFIX must be 1 to 32 and RATE_LIMIT_IPV6_PREFIX 1 to 128")
        if self.production and not self.smtp_url:
            raise ConfigError("APP_ENV=production needs SMTP_URL: one-time codes are never written to the log there")
        if self.production and not self.allowed_origins:
            raise ConfigError("APP_ENV=production needs ALLOWED_ORIGINS: the browser origins allowed to call the API")
        try:
            # MAIL_FROM's default is no-reply@localhost, so it may keep localhost.
            mail_address(self.mail_from, allow_localhost=True)
        except ValueError as exc:
            raise ConfigError(f"MAIL_FROM {self.mail_from!r}: {exc}") from None
        if self.mail_max_attempts < 1:
            raise ConfigError("MAIL_MAX_ATTEMPTS must be at least 1")
        if self.rights_recheck_interval <= 0:
            raise ConfigError("RIGHTS_RECHECK_INTERVAL must be a positive number of seconds")
        if not 0.0 <= self.web_ticket_share <= 1.0:
            raise ConfigError("WEB_TICKET_SHARE must be between 0 and 1 (a share of a service's daily tickets)")
        if self.public_base_url and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.public_base_url):
            raise ConfigError(
                f"PUBLIC_BASE_URL {self.public_base_url!r} must be an http(s) address such as https://x.org"
            )
        if self.ws_queue_size < 1:
            raise ConfigError("WS_QUEUE_SIZE must be at least 1 (events buffered per subscriber)")
        if self.admin_email:
            try:  # the rule of every other account, and stored in the same form
                admin_email = mail_address(self.admin_email.strip(), allow_localhost=not self.production)
            except ValueError as exc:
                raise ConfigError(f"ADMIN_EMAIL {self.admin_email!r}: {exc}") from None
            return msgspec.structs.replace(self, admin_email=admin_email)
        return self


# Environment variable -> Settings field. The names fixed in (docs/rules/README.md, "Settings") are kept as they are.
_ENV_NAMES = {
    "APP_ENV": "env",
    "SECRET_KEY": "secret_key",
    "DATABASE_URL": "database_url",
    "DATABASE_LISTEN_URL": "database_listen_url",
    "DB_PREPARE": "db_prepare",
    "APP_TIMEZONE": "timezone",
    "ALLOWED_ORIGINS": "allowed_origins",
    "TRUSTED_PROXIES": "trusted_proxies",
    "COOKIE_SECURE": "cookie_secure",
    "RATE_LIMITS": "rate_limits",
    "RATE_LIMIT_IPV4_PREFIX": "ipv4_bucket_prefix",
    "RATE_LIMIT_IPV6_PREFIX": "ipv6_bucket_prefix",
    "SMTP_URL": "smtp_url",
    "MAIL_FROM": "mail_from",
    "MAIL_MAX_ATTEMPTS": "mail_max_attempts",
    "ADMIN_EMAIL": "admin_email",
    "ADMIN_PASSWORD": "admin_password",
    "AUCTION_MIN_DURATION": "auction_min_duration",
    "CASHBACK_API_URL": "cashback_api_url",
    "CASHBACK_API_TOKEN": "cashback_api_token",
    "CASHBACK_API_TIMEOUT": "cashback_api_timeout",
    "CASHBACK_BREAKER_THRESHOLD": "cashback_breaker_threshold",
    "CASHBACK_BREAKER_COOLDOWN": "cashback_breaker_cooldown",
    "CASHBACK_CACHE_TTL": "cashback_cache_ttl",
    "WEB_TICKET_SHARE": "web_ticket_share",
    "PUBLIC_BASE_URL": "public_base_url",
    "SESSION_TTL": "session_ttl",
    "SESSION_IDLE_TTL": "session_idle_ttl",
    "TOKEN_TTL": "token_ttl",
    "ARGON2_MEMORY_KIB": "argon2_memory_kib",
    "ARGON2_TIME_COST": "argon2_time_cost",
    "ARGON2_PARALLELISM": "argon2_parallelism",
    "HASH_THREADS": "hash_threads",
    "DB_POOL_MIN": "db_pool_min",
    "DB_POOL_MAX": "db_pool_max",
    "DB_POOL_TIMEOUT": "db_pool_timeout",
    "MAX_BODY_BYTES": "max_body_bytes",
    "MAX_WS_FRAME_BYTES": "max_ws_frame_bytes",
    "HEADER_TIMEOUT": "header_timeout",
    "MAX_CONNECTIONS_PER_CLIENT": "max_connections_per_client",
    "MAX_SOCKETS_PER_CLIENT": "max_sockets_per_client",
    "WS_QUEUE_SIZE": "ws_queue_size",
    "EVENT_RETENTION": "event_retention",
    "OUTBOX_POLL_INTERVAL": "outbox_poll_interval",
    "CLOSER_INTERVAL": "closer_interval",
    "RIGHTS_RECHECK_INTERVAL": "rights_recheck_interval",
    "LOG_LEVEL": "log_level",
    "ACCESS_LOG": "access_log",
    "METRICS": "metrics",
    "METRICS_TOKEN": "metrics_token",
    "TRACING": "tracing",
    "MIGRATE_ON_START": "migrate_on_start",
    "HOST": "host",
    "PORT": "port",
}
_BOOLEAN_WORDS = {
    "1": True,
    "true": True,
    "on": True,
    "yes": True,
    "0": False,
    "false": False,
    "off": False,
    "no": False,
}


def _parse(field_type: object, raw: str, name: str) -> object:
    text = raw.strip()
    if field_type in (bool, "bool"):
        if text.lower() not in _BOOLEAN_WORDS:
            raise ConfigError(f"{name} must be on/off, not {raw!r}")
        return _BOOLEAN_WORDS[text.lower()]
    if field_type in (int, "int"):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if field_type in (float, "float"):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if str(field_type).startswith("tuple"):
        return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    return text or None


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    fields = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    values: dict[str, object] = {}
    for env_name, field in _ENV_NAMES.items():
        if env_name in environ:
            value = _parse(fields[field], environ[env_name], env_name)
            # Set but empty: unset for a text setting too (None there broke e.g. the cashback API's token header).
            if value is not None or fields[field] not in (str, "str"):
                values[field] = value
    if "cookie_secure" not in values:
        values["cookie_secure"] = values.get("env") == "production"
    try:
        settings = Settings(**values)  # type: ignore[arg-type]
    except (TypeError, msgspec.ValidationError) as exc:
        raise ConfigError(str(exc)) from exc
    return settings.validate()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
