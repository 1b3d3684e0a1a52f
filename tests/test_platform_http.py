"""What every HTTP response carries: the request id (also in the JSON log lines), security headers, and the
body-size limit with the error envelope."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.support import assert_envelope, serve_app, start_server_process, with_settings

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


# X-Request-ID ---------------------------------------------------------------------------------------------------


async def test_a_valid_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "lb-7f3a.42:retry_1"})
    assert response.headers["x-request-id"] == "lb-7f3a.42:retry_1"


@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 129, "quote\"'<script>", "ção"])
async def test_an_invalid_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers=[(b"X-Request-ID", incoming.encode())])
    assert GENERATED_ID.match(response.headers["x-request-id"])


async def test_each_request_without_an_id_gets_its_own(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/health"), await client.get("/health")
    assert GENERATED_ID.match(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_errors_carry_the_request_id_too(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/no/such/page", headers={"X-Request-ID": "err-404"}),
        await client.get("/api/v1/users/me", headers={"X-Request-ID": "err-401"}),
        await client.post("/api/v1/users/signupuser", content=b"{not json", headers={"X-Request-ID": "err-400"}),
        await client.delete("/health", headers={"X-Request-ID": "err-405"}),
    ]
    for response, status in zip(responses, (404, 401, 400, 405), strict=True):
        assert_envelope(response, status)
        assert response.headers["x-request-id"] == f"err-{status}"


# Security headers ------------------------------------------------------------------------------------------------


async def test_security_headers_on_json_errors_and_pages(client: httpx.AsyncClient) -> None:
    json_response = await client.get("/health")
    error = await client.get("/api/v1/users/me")
    page = await client.get("/schema/swagger")
    for response in (json_response, error, page):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # no HTTPS configured
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_hsts_only_when_cookies_are_secure(settings: Settings) -> None:
    async with serve_app(with_settings(settings, cookie_secure=True)) as secure, httpx.AsyncClient() as http:
        for response in (await http.get(secure.url + "/health"), await http.get(secure.url + "/nowhere")):
            assert response.headers["strict-transport-security"].startswith("max-age=")


# Body size -----------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_with_the_envelope(client: httpx.AsyncClient, settings: Settings) -> None:
    big = json.dumps({"user_name": "x" * settings.max_body_bytes, "email": "a@example.com", "password": "p" * 8})
    response = await client.post(
        "/api/v1/users/signupuser", content=big, headers={"Content-Type": "application/json", "X-Request-ID": "big"}
    )
    assert_envelope(response, 413)
    assert response.headers["x-request-id"] == "big"


async def test_a_chunked_body_over_the_limit_is_413_too(client: httpx.AsyncClient, settings: Settings) -> None:
    """Without a Content-Length the limit still holds (the body is counted as it arrives)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_name": "'
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024
        yield b'", "email": "a@example.com", "password": "pppppppp"}'

    response = await client.post(
        "/api/v1/users/signupuser", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 413)


async def test_a_body_under_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users/signupuser", json={"user_name": "Ana", "email": "ana-limit@example.com", "password": "p" * 12}
    )
    assert response.status_code == 201, response.text


# JSON logs ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_log_lines_are_json_and_carry_the_request_id(settings: Settings, tmp_path: Path) -> None:
    process = await start_server_process(
        with_settings(settings, access_log=True, log_level="INFO"), tmp_path, name="logged"
    )
    try:
        async with httpx.AsyncClient(base_url=process.url) as http:
            given = await http.get("/api/v1/users/me", headers={"X-Request-ID": "trace-me-123"})
            made = await http.get("/health")
    finally:
        assert process.stop() == 0
    lines = [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "app.access"]
    by_id = {line.get("request_id"): line for line in access}
    assert by_id["trace-me-123"]["path"] == "/api/v1/users/me"
    assert by_id["trace-me-123"]["status"] == 401
    assert given.headers["x-request-id"] == "trace-me-123"
    assert by_id[made.headers["x-request-id"]]["status"] == 200
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
