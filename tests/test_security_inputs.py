"""Hostile inputs that once reached a 500 or a 4500 close (issue 11, findings 13 and 14): deeply nested JSON
documents, on the auction socket and in HTTP bodies, and odd paths under /static/."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.auctions_support import create_auction, watching
from tests.support import Account, RunningServer, assert_envelope, new_user

# Fits in one socket frame (MAX_WS_FRAME_BYTES, 4096) and is nested far deeper than any of our documents.
DEEP = 2000


def nested(depth: int, opener: str = "[", closer: str = "]", inner: str = "") -> str:
    return opener * depth + inner + closer * depth


async def test_a_deeply_nested_frame_on_the_auction_socket_is_kind_3_and_the_socket_stays(
    server: RunningServer, client: httpx.AsyncClient, user: Account
) -> None:
    product_id = await create_auction(client, user)
    bidder = await new_user(client)
    async with watching(server.ws_url, product_id, account=bidder) as socket:
        await socket.wait_kind(6)
        for frame in (nested(DEEP), '{"kind": 0, "amount": ' + nested(DEEP) + "}", nested(600, '{"a":', "}", "1")):
            await socket.send(frame)
        await socket.wait_for(lambda _: socket.closed or len(socket.of_kind(3)) >= 3, timeout=5)
        assert socket.closed is None, socket.closed
        assert all("nested" in message["message"] for message in socket.of_kind(3)), socket.messages
        await socket.send({"kind": 0, "amount": 100})
        await socket.wait_kind(1, timeout=5)


@pytest.mark.parametrize(
    "body",
    [
        nested(20_000),
        '{"email": ' + nested(20_000) + "}",
        '{"email": "a@example.com", "password": "x", "user_name": ' + nested(500, '{"a":', "}", "1") + "}",
    ],
)
async def test_a_deeply_nested_http_body_is_400(client: httpx.AsyncClient, body: str) -> None:
    response = await client.post("/api/v1/users/signup", content=body, headers={"Content-Type": "application/json"})
    assert_envelope(response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/static/clinic/tv.js%00.html",
        "/static/clinic/tv.js%00",
        "/static/%00",
        "/static/clinic/%2e%2e/%2e%2e/config.py",
        "/static/..%2f..%2fapp%2fconfig.py",
        "/static/clinic%5c..%5c..%5cconfig.py",
        "/static/clinic\\tv.js",
        "/static/clinic/tv.js%ff",
        "/static/clinic/%c0%ae%c0%ae/x",
        "/static/" + "a" * 5000,
        "/static/clinic/" + "b/" * 1000 + "tv.js",
        "/static/swagger/swagger-ui.css%00.html",
        "/static/swagger/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/clinic/",
        "/static/clinic",
        "/static/",
    ],
)
async def test_odd_static_paths_are_a_404_with_the_envelope(client: httpx.AsyncClient, path: str) -> None:
    assert_envelope(await client.get(path), 404)


async def test_static_files_are_still_served(client: httpx.AsyncClient) -> None:
    for path, media_type in [
        ("/static/clinic/tv.js", "javascript"),
        ("/static/clinic/totem.css", "text/css"),
        ("/static/auctions/auction.js", "javascript"),
        ("/static/swagger/swagger-ui.css", "text/css"),
    ]:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert media_type in response.headers["content-type"], path
        assert response.content


async def test_a_deeply_nested_cursor_is_400(client: httpx.AsyncClient) -> None:
    """The same class: a cursor is base64 of a JSON document the client can forge."""
    cursor = base64.urlsafe_b64encode(nested(DEEP).encode()).decode().rstrip("=")
    response = await client.get("/api/v1/products", params={"cursor": cursor})
    assert_envelope(response, 400)
