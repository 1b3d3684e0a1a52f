"""Containerfile and compose.yaml, checked without a container engine (none runs here): hadolint lints the
Containerfile, and compose.yaml is validated against the Compose specification's JSON schema (vendored by
check-jsonschema, so this works offline), plus the properties the deployment relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.support import ROOT

BIN = Path(sys.executable).parent
CONTAINERFILE = (ROOT / "Containerfile").read_text(encoding="utf-8")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: it comes with the test extra (pip install -e '.[test]')"
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


@pytest.mark.parametrize(
    "containerfile", ["Containerfile", "deploy/nginx.Containerfile", "deploy/pgbouncer.Containerfile"]
)
def test_hadolint_finds_nothing(containerfile: str) -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", containerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_problem(tmp_path: Path) -> None:
    """The lint is real: a root image with an unpinned base and `apt-get` without cleanup fails."""
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n")
    result = subprocess.run(
        [_tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # an untagged base image


def test_the_image_is_multi_stage_slim_non_root_and_healthchecked() -> None:
    steps = _instructions()
    stages = [args for keyword, args in steps if keyword == "FROM"]
    assert len(stages) == 2
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.1[1-9]-slim", CONTAINERFILE)
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    final_keywords = [keyword for keyword, _ in final]
    user = next(args for keyword, args in final if keyword == "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert final_keywords.index("USER") < final_keywords.index("CMD")
    assert "HEALTHCHECK" in final_keywords
    assert "/health" in next(args for keyword, args in final if keyword == "HEALTHCHECK")
    # Nothing is compiled or installed with apt in the final stage: only the built venv is copied in.
    assert not any(keyword == "RUN" and re.search(r"apt-get|gcc|build-essential", args) for keyword, args in final)
    assert any(keyword == "COPY" and "--from=build" in args for keyword, args in final)
    command = next(args for keyword, args in final if keyword == "CMD")
    assert command.index("app.cli migrate") < command.index("app.cli serve --workers")
    # Time zones come with the tzdata wheel, a pinned dependency the image installs.
    assert any(dependency.startswith("tzdata==") for dependency in _project_dependencies())


def _project_dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_the_build_context_leaves_local_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".pgdata", ".pgtest", "tests"):
        assert entry in ignored
    for needed in ("app", "sql", "migrations", "pyproject.toml"):
        assert needed not in ignored


# compose.yaml ----------------------------------------------------------------------------------------------------


def _check_compose(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_matches_the_compose_specification() -> None:
    result = _check_compose(ROOT / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_would_catch_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  app:\n    image: x\n    depends_on:\n      db:\n        condition: when_it_feels_like_it\n"
    )
    assert _check_compose(broken).returncode != 0


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load((ROOT / "compose.yaml").read_text())


def test_postgres_18_with_a_healthcheck_and_a_named_volume(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["image"] == "postgres:18"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_migrations_run_before_the_app_serves(compose: dict[str, Any]) -> None:
    migrate, app = compose["services"]["migrate"], compose["services"]["app"]
    assert migrate["command"][-1] == "migrate"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["MIGRATE_ON_START"] == "off"


def test_production_settings_come_from_the_environment(compose: dict[str, Any]) -> None:
    for name in ("migrate", "app"):
        environment = compose["services"][name]["environment"]
        assert environment["APP_ENV"] == "production"
        # No default secret: compose refuses to start without SECRET_KEY in the environment.
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", environment["SECRET_KEY"])
        # Nor without SMTP_URL and ALLOWED_ORIGINS, which production requires (issue 11, finding 8).
        assert re.fullmatch(r"\$\{SMTP_URL:\?[^}]+\}", environment["SMTP_URL"])
        assert re.fullmatch(r"\$\{ALLOWED_ORIGINS:\?[^}]+\}", environment["ALLOWED_ORIGINS"])
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert "@db:5432/" in environment["DATABASE_URL"]


# The `scale` profile: nginx and PgBouncer images, their templates, the replicas ----------------------------------

SCALE_IMAGES = {  # Containerfile -> (its template, the Debian package, the version ARG)
    "deploy/nginx.Containerfile": ("nginx.conf.template", "nginx", "NGINX_VERSION"),
    "deploy/pgbouncer.Containerfile": ("pgbouncer.ini.template", "pgbouncer", "PGBOUNCER_VERSION"),
}


def _installed_version(package: str) -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", package], capture_output=True, text=True, timeout=30
    )
    words = result.stdout.split()
    return words[-1] if result.returncode == 0 and "installed" in words else None


@pytest.mark.parametrize("containerfile", sorted(SCALE_IMAGES))
def test_the_scale_images_pin_the_debian_12_package_the_tests_run(containerfile: str) -> None:
    text = (ROOT / containerfile).read_text()
    _, package, argument = SCALE_IMAGES[containerfile]
    assert re.search(r"^FROM debian:12-slim$", text, re.MULTILINE)
    pinned = re.search(rf"^ARG {argument}=(\S+)$", text, re.MULTILINE)
    assert pinned, f"{containerfile} pins no {package} version"
    assert f'"{package}=${{{argument}}}"' in text
    installed = _installed_version(package)  # what tests/test_platform_scale_out.py ran, when the package is here
    if installed is not None:
        assert pinned.group(1) == installed, f"the tests ran {package} {installed}, the image pins {pinned.group(1)}"


@pytest.mark.parametrize("containerfile", sorted(SCALE_IMAGES))
def test_the_image_renders_the_template_the_tests_render(containerfile: str) -> None:
    """One template per file: the image's envsubst replaces exactly the template's variables, as the tests'
    renderer does, and gives the same text."""
    from tests.scale_support import DEPLOY, render

    template_name = SCALE_IMAGES[containerfile][0]
    text = (ROOT / containerfile).read_text()
    assert f"COPY deploy/{template_name} " in text
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))[-1]  # type: ignore[union-attr]
    listed = set(re.findall(r"\$\{([A-Z_]+)\}", re.search(r"envsubst '([^']*)'", command).group(1)))  # type: ignore[union-attr]
    template = (DEPLOY / template_name).read_text()
    assert listed == set(re.findall(r"\$\{([A-Z_]+)\}", template))
    defaults = dict(re.findall(r"^\s*(?:ENV )?([A-Z_]+)=(\S+?|\"[^\"]*\")\s*\\?$", text, re.MULTILINE))
    assert listed <= set(defaults), f"variables without a default in {containerfile}: {listed - set(defaults)}"
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        return
    values = {name: defaults[name].strip('"') for name in listed}
    result = subprocess.run(
        [envsubst, " ".join(f"${{{name}}}" for name in sorted(listed))],
        input=template,
        env=values,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout == render(template_name, values)


def test_the_scale_profile_mirrors_the_tested_setup(compose: dict[str, Any]) -> None:
    from tests.scale_support import replica_environment

    services = compose["services"]
    for name, containerfile in (
        ("nginx", "deploy/nginx.Containerfile"),
        ("pgbouncer", "deploy/pgbouncer.Containerfile"),
    ):
        assert services[name]["profiles"] == ["scale"]
        assert services[name]["build"]["dockerfile"] == containerfile
    replica = services["replica"]
    assert replica["profiles"] == ["scale"]
    environment = replica["environment"]
    tested = replica_environment({}, "http://nginx", "postgresql://pgbouncer", "postgresql://db")
    assert set(tested) - {"SECRET_KEY", "COOKIE_SECURE"} <= set(environment)
    assert environment["DB_PREPARE"] == tested["DB_PREPARE"] == "off"
    assert "@pgbouncer:6432/" in environment["DATABASE_URL"]
    assert "@db:5432/" in environment["DATABASE_LISTEN_URL"]
    assert environment["MIGRATE_ON_START"] == "off"
    # The replicas believe X-Forwarded-For from nginx alone, which has a fixed address.
    assert environment["TRUSTED_PROXIES"] == services["nginx"]["networks"]["default"]["ipv4_address"]
    assert "server replica:8000;" in services["nginx"]["environment"]["NGINX_UPSTREAM_SERVERS"]
    assert services["nginx"]["depends_on"]["replica"]["condition"] == "service_healthy"
    assert replica["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
    assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
