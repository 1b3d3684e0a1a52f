"""Passwords (argon2id, hashed off the event loop), random tokens and their hashes, signed values."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import string
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.config import Settings

GENERATED_PASSWORD_LENGTH = 20
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.!@#%"


def _lower_priority() -> None:
    """Hashing threads run at a lower CPU priority (nice 10, Linux applies it per thread): while logins saturate
    the cores, the event loops still get the CPU first, so other requests' latency stays flat and the hashing
    uses whatever is left (measured in docs/performance.md)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class Passwords:
    """argon2id with the configured cost. Hashing runs in a small thread pool (argon2 releases the GIL), sized to
    the cores, so logins queue there instead of stalling the event loop or piling up threads."""

    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.hash_threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        # Verified against when the account does not exist, so that answer takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hasher.hash, password)

    def _verify(self, password_hash: str | None, password: str) -> tuple[bool, bool]:
        try:
            self.hasher.verify(password_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if password_hash is None:
            return False, False
        return True, self.hasher.check_needs_rehash(password_hash)

    async def verify(self, password_hash: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash). A missing hash still costs one verification."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, password_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def generate_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_LENGTH))


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Tokens are high-entropy, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).digest()


def new_numeric_code(digits: int = 6) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(digits))


def code_hash(secret_key: str, purpose: str, code: str) -> bytes:
    """Short codes (6 digits) are keyed with the server secret: a leaked table cannot be brute-forced offline."""
    return hmac.new(secret_key.encode(), f"{purpose}:{code}".encode(), hashlib.sha256).digest()


def sign(secret_key: str, value: str) -> str:
    mac = hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(secret_key: str, signed: str) -> str | None:
    value, _, mac = signed.rpartition(".")
    expected = hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()
    # Compared as bytes: compare_digest refuses str with non-ASCII characters, which a client can send.
    return value if value and hmac.compare_digest(mac.encode(), expected.encode()) else None


def cookie_name(settings: Settings, name: str) -> str:
    """`__Host-name` when cookies are Secure: a browser then takes the cookie only from this very host, over
    https, with Path=/ and no Domain, so a sibling subdomain or a plain-http page cannot plant or shadow it."""
    return f"__Host-{name}" if settings.cookie_secure else name
