"""Containerfile and compose.yaml, checked without a container engine (none runs here): hadolint lints the
Containerfile, and compose.yaml is validated against the Compose specification's JSON schema (vendored by
check-jsonschema, so this works offline), plus the properties the deployment relies on."""

from __future__ import annotations

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


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", "Containerfile"],
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
