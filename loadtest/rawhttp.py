"""A minimal keep-alive HTTP/1.1 client for the benchmarks: one connection, one request at a time, JSON bodies.
httpx costs about a millisecond of client CPU per request, which on a shared 2-core machine caps a benchmark
near 1,000 requests/s before the server is busy; this costs a few microseconds."""

from __future__ import annotations

import asyncio

import msgspec


class RawHTTP:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @classmethod
    def for_url(cls, url: str, headers: dict[str, str] | None = None) -> RawHTTP:
        host, port = url.removeprefix("http://").split(":")
        return cls(host, int(port), headers)

    async def request(self, method: str, path: str, json: object | None = None) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = b"" if json is None else msgspec.json.encode(json)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        content = await self.reader.readexactly(length) if length else b""
        if b"connection: close" in header.lower():
            self.writer.close()
            self.writer = None
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
