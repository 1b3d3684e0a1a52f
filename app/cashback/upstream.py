"""The external accumulated-cashback API: `GET {CASHBACK_API_URL}/v1/cashback?cpf=<11 digits>` with the header
`token: {CASHBACK_API_TOKEN}`.

One keep-alive client (app/cashback/http1.py) per app (created at start-up, closed at shutdown: see area.py).
Each call has one overall deadline (CASHBACK_API_TIMEOUT, default 2 s) that covers every attempt. Failures are
mapped to these codes:

| upstream                                                           | answer                               |
|--------------------------------------------------------------------|--------------------------------------|
| HTTP 200 `{"statusCode": 200, "body": {"credit": <int>}}`          | 200 `{"credit", "cpf"}`              |
| HTTP 200 `{"statusCode": 4xx, "body": {"message": "..."}}`          | 502 with the upstream's message      |
| another HTTP 4xx, a garbage body, an unexpected shape              | 502                                  |
| a body over MAX_BODY_BYTES (declared, or endless): read stops there | 502                                  |
| no answer before the deadline                                      | 504 (never retried)                  |
| connection refused / failed, HTTP 5xx                              | 503 with Retry-After                 |
| circuit open                                                       | 503 with Retry-After, upstream not called |

Retry: at most one, after a refused/failed connection or a 5xx only, after a short random pause (jitter), and
only when the deadline leaves time for it. Circuit breaker (per process): CASHBACK_BREAKER_THRESHOLD consecutive
failures (refused, 5xx, timeout, garbage; not the upstream's own 4xx answers) open it; while open every call
fails fast; after CASHBACK_BREAKER_COOLDOWN seconds one trial call goes through (half-open): success closes it,
failure opens it again for another cool-down. Successes are cached per CPF for CASHBACK_CACHE_TTL seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec

from app import tracing
from app.cashback.http1 import BodyTooLarge, Http1Client
from app.config import Settings
from app.web.errors import AppError, FieldError, Refusal

log = logging.getLogger("app.cashback.upstream")

CACHE_MAX_ENTRIES = 10_000
RETRY_JITTER = (0.05, 0.25)  # seconds of random pause before the one retry
MIN_TIME_FOR_RETRY = 0.1  # seconds the deadline must still leave after the pause
# The documented answer is a few dozen bytes; anything past this is not it, and is not read (issue 11, 16).
MAX_BODY_BYTES = 64 * 1024


class _Envelope(msgspec.Struct):
    statusCode: int  # the upstream spells it so
    body: dict[str, Any]


class _Credit(msgspec.Struct):
    credit: int


class _Message(msgspec.Struct):
    message: str


class _Retryable(Exception):
    """A refused/failed connection or a 5xx: worth one retry, counts against the circuit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CircuitBreaker:
    """closed -> (threshold consecutive failures) -> open -> (cool-down) -> half-open (one trial) -> closed/open."""

    threshold: int
    cooldown: float
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False

    def retry_after(self) -> int:
        if self.opened_at is None:
            return 1
        return max(1, math.ceil(self.opened_at + self.cooldown - time.monotonic()))

    def allow(self) -> bool:
        """May a call go to the upstream now? In half-open state only one trial call at a time."""
        if self.opened_at is None:
            return True
        if time.monotonic() < self.opened_at + self.cooldown or self.trial_running:
            return False
        self.trial_running = True
        return True

    def succeeded(self) -> None:
        if self.opened_at is not None:
            log.info("cashback API circuit closed")
        self.failures = 0
        self.opened_at = None
        self.trial_running = False

    def failed(self) -> None:
        self.failures += 1
        if self.trial_running or (self.opened_at is None and self.failures >= self.threshold):
            log.warning("cashback API circuit open for %.1f s after %d failures", self.cooldown, self.failures)
            self.opened_at = time.monotonic()
        self.trial_running = False


class CashbackApi:
    # What `credit` answers instead of a balance, declared by the route that asks for one.
    REFUSALS = (
        Refusal(502, "the cashback service answered badly"),
        Refusal(503, "the cashback service is unavailable (or its circuit is open); Retry-After says when to retry"),
        Refusal(504, "the cashback service did not answer in time"),
    )

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.cashback_api_url.rstrip("/")
        self.token = settings.cashback_api_token
        self.timeout = settings.cashback_api_timeout
        self.cache_ttl = settings.cashback_cache_ttl
        self.breaker = CircuitBreaker(settings.cashback_breaker_threshold, settings.cashback_breaker_cooldown)
        self._cache: OrderedDict[str, tuple[float, int]] = OrderedDict()
        # The deadline below is the only timeout; the client has none of its own (app/cashback/http1.py).
        self.http = Http1Client(self.base_url, max_idle=10)
        self._headers = {"token": self.token, "Accept-Encoding": "identity"}

    async def aclose(self) -> None:
        await self.http.aclose()

    def _cached(self, cpf: str) -> int | None:
        entry = self._cache.get(cpf)
        if entry is None:
            return None
        expires, credit = entry
        if expires <= time.monotonic():
            del self._cache[cpf]
            return None
        return credit

    def _remember(self, cpf: str, credit: int) -> None:
        if self.cache_ttl <= 0:
            return
        self._cache[cpf] = (time.monotonic() + self.cache_ttl, credit)
        self._cache.move_to_end(cpf)
        while len(self._cache) > CACHE_MAX_ENTRIES:
            self._cache.popitem(last=False)

    def _unavailable(self, detail: str) -> AppError:
        return AppError(503, detail, headers={"Retry-After": str(self.breaker.retry_after())})

    async def credit(self, cpf: str) -> int:
        """The accumulated cashback of a CPF (11 digits), or an AppError 502/503/504 (module docstring)."""
        cached = self._cached(cpf)
        if cached is not None:
            return cached
        if not self.breaker.allow():
            raise self._unavailable("The cashback service is unavailable, try again later")
        try:
            credit = await self._call(cpf)
        except _Retryable as exc:
            self.breaker.failed()
            raise self._unavailable(f"The cashback service is unavailable ({exc.reason})") from None
        except TimeoutError:
            self.breaker.failed()
            raise AppError(504, "The cashback service did not answer in time") from None
        except _Garbage as exc:
            self.breaker.failed()
            raise AppError(502, f"The cashback service sent an unexpected answer ({exc})") from None
        except AppError:
            self.breaker.succeeded()  # it answered, coherently: an error of its own, not an outage
            raise
        except BaseException:
            self.breaker.trial_running = False
            raise
        self.breaker.succeeded()
        self._remember(cpf, credit)
        return credit

    async def _call(self, cpf: str) -> int:
        if tracing.tracer is None:
            return await self._call_with_retry(cpf)
        # The CPF is personal data: the span names the endpoint, never the query.
        attributes = {"http.request.method": "GET", "server.address": self.http.host, "url.template": "/v1/cashback"}
        with tracing.span("cashback.upstream", "client", attributes):
            return await self._call_with_retry(cpf)

    async def _call_with_retry(self, cpf: str) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        async with asyncio.timeout_at(deadline):
            try:
                return await self._attempt(cpf)
            except _Retryable as first:
                pause = random.uniform(*RETRY_JITTER)  # jitter, not a secret
                if deadline - loop.time() < pause + MIN_TIME_FOR_RETRY:
                    raise
                log.info("cashback API: %s; retrying once in %.2f s", first.reason, pause)
                await asyncio.sleep(pause)
                return await self._attempt(cpf)

    async def _attempt(self, cpf: str) -> int:
        # identity: a compressed body could expand past the bound inside one chunk.
        headers = self._headers
        if tracing.tracer is not None:  # the upstream may continue our trace (W3C traceparent)
            headers = dict(headers)
            tracing.inject(headers)
        try:
            status, content = await self.http.get(
                f"/v1/cashback?{urlencode({'cpf': cpf})}", headers, max_body=MAX_BODY_BYTES
            )
        except BodyTooLarge as exc:
            size = f"an oversized body of {exc.declared} bytes" if exc.declared else "an oversized body"
            raise _Garbage(f"{size} (over {MAX_BODY_BYTES} bytes)") from None
        except OSError as exc:  # refused, reset, closed mid-answer, unparsable, DNS...
            raise _Retryable(type(exc).__name__) from None
        tracing.set_attribute("http.response.status_code", status)
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status != 200:
            raise AppError(502, f"The cashback service answered HTTP {status}")
        return _parse(content)


class _Garbage(Exception):
    """The upstream's body is not the JSON shape it documents."""


def _parse(content: bytes) -> int:
    try:
        envelope = msgspec.json.decode(content, type=_Envelope)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _Garbage(f"not the documented JSON: {exc}") from None
    except RecursionError:  # `body` is any object, and may nest deeper than the decoder recurses
        raise _Garbage("not the documented JSON: nested too deeply") from None
    try:
        if envelope.statusCode == 200:
            return msgspec.convert(envelope.body, _Credit, strict=True).credit
        message = msgspec.convert(envelope.body, _Message, strict=True).message
    except msgspec.ValidationError as exc:
        raise _Garbage(f"unexpected body: {exc}") from None
    raise AppError(
        502,
        f"The cashback service refused the request: {message}",
        extra=[FieldError(key="upstream", message=message)],
    )
