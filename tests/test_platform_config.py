"""Configuration from the environment: production refuses the development secret, and the README documents
every variable and every route (so it cannot drift from the code)."""

from __future__ import annotations

import re

import pytest

from app.cli import ROUTES_END, ROUTES_START, route_table
from app.config import _ENV_NAMES, DEVELOPMENT_SECRET, ConfigError, Settings, settings_from_env
from tests.support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "environ",
    [
        {"APP_ENV": "production"},
        {"APP_ENV": "production", "SECRET_KEY": DEVELOPMENT_SECRET},
        {"APP_ENV": "production", "SECRET_KEY": "x" * 31},
    ],
    ids=["unset", "development-secret", "31-characters"],
)
def test_production_refuses_the_development_secret(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings_from_env(environ)


PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "SMTP_URL": "smtp://mail.example.com:587",
    "ALLOWED_ORIGINS": "https://shop.example.com",
}


def test_production_with_a_real_secret_has_secure_cookies() -> None:
    settings = settings_from_env(PRODUCTION)
    assert settings.production
    assert settings.cookie_secure
    assert not settings_from_env(PRODUCTION | {"COOKIE_SECURE": "off"}).cookie_secure


def test_development_defaults_work_on_a_laptop() -> None:
    settings = settings_from_env({})
    assert settings.env == "development"
    assert settings.database_url is None  # the embedded PostgreSQL
    assert not settings.cookie_secure
    assert settings.timezone == "America/Sao_Paulo"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"RATE_LIMITS": "maybe"}, "RATE_LIMITS"),
        ({"PORT": "eighty"}, "PORT"),
        ({"APP_TIMEZONE": "Mars/Olympus"}, "APP_TIMEZONE"),
        ({"WS_QUEUE_SIZE": "0"}, "WS_QUEUE_SIZE"),
    ],
)
def test_a_bad_value_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_env(environ)


def test_an_empty_variable_leaves_a_text_setting_at_its_default() -> None:
    """`CASHBACK_API_TOKEN=` (set, empty: as compose and settings_env write it) once became None, and every
    cashback request then answered 500 (a None header value)."""
    settings = settings_from_env({"CASHBACK_API_TOKEN": "", "LOG_LEVEL": "", "SMTP_URL": ""})
    assert settings.cashback_api_token == ""
    assert settings.log_level == "INFO"
    assert settings.smtp_url is None  # optional settings: empty is unset


def _readme_variables() -> dict[str, str]:
    """The README's configuration table: `NAME` -> its default column."""
    rows = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*([^|]*)\|", README, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_the_readme_documents_every_setting() -> None:
    documented = _readme_variables()
    missing = [name for name in _ENV_NAMES if name not in documented]
    assert not missing, f"README.md's configuration table lacks {missing}"
    assert "EMBEDDED_PG_DIR" in documented


def test_the_readme_defaults_match_the_code() -> None:
    """Where the default is a plain value, it is the one Settings has."""
    documented = _readme_variables()
    defaults = Settings()
    for name, field in _ENV_NAMES.items():
        shown = documented[name].strip("`")
        value = getattr(defaults, field)
        if isinstance(value, bool):
            expected = "on" if value else "off"
        elif isinstance(value, int | float | str) and not isinstance(value, bool):
            expected = str(value)
        else:
            continue
        if shown.startswith(expected) or name in ("COOKIE_SECURE", "HASH_THREADS", "SECRET_KEY"):
            continue
        raise AssertionError(f"README says {name} defaults to {documented[name]!r}; the code says {expected!r}")


def test_the_readme_route_table_matches_the_app() -> None:
    start, end = README.index(ROUTES_START) + len(ROUTES_START), README.index(ROUTES_END)
    assert README[start:end].strip() == route_table(settings_from_env({})).strip(), (
        "README.md's route table is out of date: run `.venv/bin/app routes --write-readme`"
    )
