#!/usr/bin/env python3
"""The two quick-start commands, on a machine with only Python 3.11+ and git:

    python3 dev.py serve    installs what the server needs into .venv, then runs it on http://127.0.0.1:8000
    python3 dev.py test     installs the test tools into .venv, then runs ruff (lint and format check) and the
                            whole test suite with pytest; the exit status is pytest's (or ruff's when it fails)

Anything after the command is passed on to `app` or pytest (`python3 dev.py test -k auctions`,
`python3 dev.py serve --workers 2`). The virtual environment is updated only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LINTED = ["app", "tests", "loadtest", "dev.py"]


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed")
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # The test extra includes everything the server needs.
    for done in {stamp, VENV / ".installed-test"} if not extras else {stamp}:
        if done.exists() and done.read_text() == wanted:
            return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"installing dependencies{f' [{extras}]' if extras else ''} into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(wanted)


def main() -> None:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "serve":
        ensure_venv("")
        os.execv(BIN / "app", [str(BIN / "app"), "serve", *rest])
    elif command == "test":
        ensure_venv("test")
        # ruff first (a second or two): a lint or format problem stops here, before the slow part.
        checks = {
            "check": "ruff check found problems (`.venv/bin/ruff check --fix` fixes some); tests not run",
            "format": "ruff format --check: files need formatting (`.venv/bin/ruff format` does it); tests not run",
        }
        for check, failure in checks.items():
            extra = ["--check"] if check == "format" else []
            if subprocess.run([str(BIN / "ruff"), check, *extra, "--quiet", *LINTED], cwd=ROOT).returncode:
                sys.exit(failure)
        # Nothing is printed after pytest: its summary is the last line, and its exit status is ours.
        # (testpaths in pyproject.toml always holds tests, so pytest's 5, "no tests collected", only comes from
        # a filter given here that matches nothing.)
        tests = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
        sys.exit(tests.returncode)
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
