"""A keep-alive HTTP/1.1 GET client for one origin: what the accumulated-cashback call needs and nothing more.

Why not httpx (the client before): per call it cost ~4x the CPU of this one against a local upstream
(docs/performance.md, "The upstream call"): its pool checks each idle connection's socket, anyio wraps every
read and write, and a Request and a Response with header multidicts are built for a few dozen bytes.

- Responses are parsed by httptools (already the server's HTTP parser): Content-Length, chunked, or (neither)
  until the server closes; a body is refused as soon as it is known to exceed `max_body`.
- Idle connections are kept (at most `max_idle`) and reused; one the server closed while idle fails before any
  byte of an answer arrived, and the request is then sent once more on a new connection (a GET is safe to repeat).
- There is no timeout here: the caller's overall deadline (asyncio.timeout) cancels the call, and a cancelled or
  failed connection is closed, never reused.
- Errors: ConnectionError (refused, reset, closed mid-answer, unparsable), BodyTooLarge.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httptools


class BodyTooLarge(Exception):
    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared  # the Content-Length, when that is how it was known


class _Connection(asyncio.Protocol):
    """One socket; one request at a time."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body = bytearray()
        self.received = False
        self.headers_done = False
        self.length_known = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and not self.answer.done():
            if self.headers_done and not self.length_known and not self.parser.is_chunked_message():
                self.answer.set_result((self.parser.get_status_code(), bytes(self.body)))  # body ended by close
            else:
                self.answer.set_exception(ConnectionError("connection closed before the whole answer"))

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised (BodyTooLarge) and keeps it as the context.
            cause = exc.__context__
            self._fail(cause if isinstance(cause, BodyTooLarge) else ConnectionError(f"unparsable answer: {exc}"))

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-length":
            self.length_known = True
            if value.isdigit() and int(value) > self.max_body:
                raise BodyTooLarge(int(value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > self.max_body:
            raise BodyTooLarge(None)

    def on_message_complete(self) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((self.parser.get_status_code(), bytes(self.body)))
        if not self.parser.should_keep_alive():
            self.close()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.body = bytearray()
        self.received = self.headers_done = self.length_known = False
        self.transport.write(request)
        return self.answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Client:
    def __init__(self, base_url: str, *, max_idle: int = 10) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        default_port = self.port == (443 if self.ssl else 80)
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.max_idle = max_idle
        self._idle: list[_Connection] = []

    async def _connect(self, max_body: int) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: _Connection(max_body), self.host, self.port, ssl=self.ssl)
        return connection

    async def get(self, path: str, headers: dict[str, str], *, max_body: int) -> tuple[int, bytes]:
        """(status, body) of `GET {base path}{path}` (path with its query string, already encoded)."""
        head = f"GET {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
        request = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode("latin-1")
        while self._idle:
            connection = self._idle.pop()
            if connection.closed:
                continue
            connection.max_body = max_body
            try:
                return await self._exchange(connection, request)
            except ConnectionError:
                if connection.received:
                    raise
                # Closed by the server while idle: nothing of an answer came, so send it again elsewhere.
        return await self._exchange(await self._connect(max_body), request)

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bytes]:
        try:
            answer = await connection.send(request)
        except BaseException:  # cancelled by the deadline, refused, too large: never reused
            connection.close()
            raise
        if not connection.closed and len(self._idle) < self.max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
