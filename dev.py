#!/usr/bin/env python3
"""The two quick-start commands, on a machine with only Python 3.11+ and git:

    python3 dev.py serve    installs what the server needs into .venv, then runs it on http://127.0.0.1:8000
    python3 dev.py test     installs the test tools into .venv, then runs ruff and the whole test suite

Anything after the command is passed on (`python3 dev.py test -k auctions`, `python3 dev.py serve --workers 2`).
The virtual environment is rebuilt only when pyproject.toml changes.
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


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed")
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
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
        lint = subprocess.run([str(BIN / "ruff"), "check", "app", "tests", "loadtest", "dev.py"], cwd=ROOT)
        tests = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
        sys.exit(lint.returncode or tests.returncode)
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
