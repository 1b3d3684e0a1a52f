"""Helpers of the cashback tests: a real HTTP server on loopback that plays the external accumulated-cashback
API, and reseller accounts (valid CPFs, sign-up and login).

Plain asyncio (no framework): it reads one HTTP/1.1 request per connection, records it, and answers according to
`behaviour` (or the next entry of `script`, when one is queued):

- "success":        200 {"statusCode": 200, "body": {"credit": <credit>}}
- "embedded_error": 200 {"statusCode": 400, "body": {"message": <message>}}
- "server_error":   500 with a small HTML page
- "slow":           waits `delay` seconds, then answers as "success"
- "garbage":        200 with a body that is not JSON
- "oversized":      200 declaring (and sending) a 16 MiB body
- "endless":        200 without a length, sending until the client hangs up (`sent_bytes` counts the body)
- "chunked":        as "success", the body in chunked transfer encoding

`keep_alive` answers several requests per connection (without it every answer says `Connection: close`);
`drop_idle` then answers one request per connection without saying so, and closes the connection unanswered
when the next request arrives on it, as a server whose idle timeout expired while the request was on its way.
`connections` counts the connections accepted.

Connection refused is played by a port nothing listens on (`refused_url()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support import PASSWORD, Account, free_port, unique_email

AUTO_APPROVED_CPF = "15350946056"  # seeded in auto_approved_cpfs by the migration


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names


@dataclass
class FakeCashbackApi:
    behaviour: str = "success"
    credit: int = 2009
    message: str = "CPF inválido"
    delay: float = 5.0
    script: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    sent_bytes: int = 0
    keep_alive: bool = False
    drop_idle: bool = False
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeCashbackApi:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeCashbackApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            await self._serve_one(reader, writer)
            while self.keep_alive and not self.drop_idle:
                await self._serve_one(reader, writer)
            if self.drop_idle:
                await reader.readuntil(b"\r\n\r\n")  # the next request on this connection: closed unanswered
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        parts = urlsplit(target)
        self.requests.append(RecordedRequest(method, parts.path, parse_qs(parts.query), headers))
        behaviour = self.script.pop(0) if self.script else self.behaviour
        if behaviour == "slow":
            await asyncio.sleep(self.delay)
            behaviour = "success"
        if behaviour == "success":
            status, body = 200, json.dumps({"statusCode": 200, "body": {"credit": self.credit}})
        elif behaviour == "embedded_error":
            status, body = 200, json.dumps({"statusCode": 400, "body": {"message": self.message}})
        elif behaviour == "server_error":
            status, body = 500, "<html><body>Internal Server Error</body></html>"
        elif behaviour == "garbage":
            status, body = 200, "<html>definitely not json"
        elif behaviour == "chunked":
            payload = json.dumps({"statusCode": 200, "body": {"credit": self.credit}}).encode()
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:]))
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            await writer.drain()
            return
        elif behaviour in ("oversized", "endless"):
            await self._send_huge(writer, endless=behaviour == "endless")
            return
        else:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        payload = body.encode()
        reason = {200: "OK", 500: "Internal Server Error"}[status]
        connection = "" if self.keep_alive else "Connection: close\r\n"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"{connection}\r\n".encode()
            + payload
        )
        await writer.drain()

    async def _send_huge(self, writer: asyncio.StreamWriter, *, endless: bool) -> None:
        """A JSON-looking body far larger than any answer: 16 MiB, or until the client closes the connection."""
        chunk = b"x" * 65536
        length = "" if endless else f"Content-Length: {256 * len(chunk)}\r\n"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
        writer.write(head.encode())
        writer.write(b'{"statusCode": 200, "body": {"credit": 1, "padding": "')
        for _ in range(10**9 if endless else 256):
            writer.write(chunk)
            await writer.drain()
            self.sent_bytes += len(chunk)


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    return f"http://127.0.0.1:{free_port()}"


# Resellers ----------------------------------------------------------------------------------------------------


def _cpf_digit(digits: list[int]) -> int:
    # Independent of app.cashback.cpf on purpose: weights n+1..2, remainder < 2 -> 0, else 11 - remainder.
    total = sum(d * w for d, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))
    return 0 if total % 11 < 2 else 11 - total % 11


def random_cpf(masked: bool = False) -> str:
    """A random CPF with valid check digits (never the auto-approved one, never all digits equal)."""
    while True:
        digits = [random.randrange(10) for _ in range(9)]
        digits.append(_cpf_digit(digits))
        digits.append(_cpf_digit(digits))
        text = "".join(map(str, digits))
        if text != AUTO_APPROVED_CPF and len(set(text)) > 1:
            return mask(text) if masked else text


def mask(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


@dataclass
class Reseller(Account):
    cpf: str = ""


async def new_reseller(
    client: httpx.AsyncClient, *, cpf: str | None = None, email: str | None = None, name: str = "Revendedora Teste"
) -> Reseller:
    """A registered reseller (POST /api/v1/resellers) logged in with a bearer token."""
    cpf = cpf or random_cpf()
    email = email or unique_email("reseller")
    response = await client.post(
        "/api/v1/resellers", json={"full_name": name, "cpf": cpf, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    login = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return Reseller(
        id=body["id"],
        email=email,
        password=PASSWORD,
        token=token,
        headers={"Authorization": f"Bearer {token}"},
        cpf=body["cpf"],
    )


def decoded(response: httpx.Response) -> Any:
    """The JSON body with numbers that have a fraction as Decimal (money is exact on the wire)."""
    return json.loads(response.text, parse_float=Decimal)
