"""The hub's guarantees (docs/rules/realtime.md) under trouble: the LISTEN connection dies while bids flow; a subscriber
that never reads; in-process caches told about changes."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import psycopg
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from app.realtime.repository import publish
from tests.auctions_support import Watcher, create_auction, http_bid, socket_url, watch
from tests.support import eventually, new_user, serve_app, with_settings


def _in_order(watcher: Watcher, count: int) -> bool:
    return [m["seq"] for m in watcher.events()] == list(range(1, count + 1))


async def test_listen_connection_killed_while_bids_flow(settings, client: httpx.AsyncClient, server, user) -> None:
    hub = server.app.state.hub
    busy = await create_auction(client, user, baseprice=1)
    quiet = await create_auction(client, user, baseprice=1)  # no live event before the outage
    bidders = [await new_user(client) for _ in range(2)]
    watchers = [await watch(server.ws_url, busy) for _ in range(3)]
    quiet_watcher = await watch(server.ws_url, quiet)
    for w in [*watchers, quiet_watcher]:
        await w.wait_kind(6)
    total = 60
    placed: list[int] = []

    async def bid_stream() -> None:
        for i in range(total):
            response = await http_bid(client, bidders[i % 2], busy, 1 + i)
            assert response.status_code == 201, response.text
            placed.append(response.json()["seq"])

    async def kill_listener(quiet_amount: int) -> int:
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            old_pid = hub.listener_pid
            # Found by its application_name, as an operator would.
            cursor = await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'marketplace-listen' "
                "AND datname = current_database()"
            )
            pids = [row[0] for row in await cursor.fetchall()]
            assert old_pid in pids
            await conn.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
            # The quiet topic's event commits while the hub is not listening.
            assert (await http_bid(client, bidders[0], quiet, quiet_amount)).status_code == 201
            return old_pid

    stream = asyncio.create_task(bid_stream())
    try:
        await eventually(lambda: _async(len(placed) >= 10))
        first_pid = await kill_listener(5)
        await eventually(lambda: _async(hub.listener_pid not in (None, first_pid) and hub.connected.is_set()))
        await eventually(lambda: _async(len(placed) >= 35))
        await kill_listener(6)
        await stream
        for w in watchers:
            await w.wait_for(lambda _, w=w: len(w.events()) >= total)
            # Every event, in order, once.
            assert _in_order(w, total), [m["seq"] for m in w.events()]
        await quiet_watcher.wait_for(lambda _: len(quiet_watcher.events()) >= 2)
        assert [m["seq"] for m in quiet_watcher.events()] == [1, 2]
        assert hub.stats["reconnects"] >= 2
        # Nothing more arrives later (no duplicates delivered after the fact).
        await http_bid(client, bidders[0], busy, 1000)
        for w in watchers:
            await w.wait_for(lambda _, w=w: len(w.events()) >= total + 1)
            assert _in_order(w, total + 1)
    finally:
        stream.cancel()
        for w in [*watchers, quiet_watcher]:
            await w.close()


async def _async(value: object) -> object:
    return value


PADDING = "x" * 6500  # big events (still within one NOTIFY) fill the slow client's buffers sooner


class SilentClient:
    """A WebSocket client that completes the handshake and then reads nothing until told to: its small receive
    buffer fills, then the server's socket buffer, then the server's queue for it."""

    def __init__(self, url: str, port: int) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.port = port
        self.sock = socket.socket()
        self.messages: list[dict] = []
        self.close_code: int | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)
        await loop.sock_connect(self.sock, ("127.0.0.1", self.port))
        self.protocol.send_request(self.protocol.connect())
        await loop.sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))
        while self.protocol.state is State.CONNECTING:
            self._feed(await loop.sock_recv(self.sock, 1024))

    def _feed(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.messages.append(json.loads(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self.close_code = Close.parse(event.data).code

    async def read_all(self) -> None:
        """Now read everything the server sent, up to its close."""
        loop = asyncio.get_running_loop()
        while self.close_code is None:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout=15)
            self._feed(data)
            if not data:
                break

    def close(self) -> None:
        self.sock.close()


async def test_a_subscriber_that_never_reads_is_dropped_and_others_get_everything(settings) -> None:
    async with serve_app(with_settings(settings, ws_queue_size=16)) as server:
        hub = server.app.state.hub
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            seller = await new_user(client)
            product_id = await create_auction(client, seller)
        topic = f"product:{product_id}"
        healthy = [await watch(server.ws_url, product_id) for _ in range(2)]
        slow = SilentClient(socket_url(server.ws_url, product_id), int(server.url.rsplit(":", 1)[1]))
        await slow.open()
        for w in healthy:
            await w.wait_kind(6)
        published = 0
        try:
            async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
                while hub.stats["dropped_subscribers"] == 0:
                    assert published < 2000, "the slow subscriber was never dropped"
                    for _ in range(8):
                        async with conn.transaction():
                            published = await publish(conn, topic, {"kind": 7, "note": published, "padding": PADDING})
                    # Pace the stream so the healthy ones keep up (they must never be dropped); the server's
                    # WebSocket pings would otherwise drop the silent client first (it answers none).
                    for w in healthy:
                        await w.wait_for(lambda _, w=w, n=published: len(w.events()) >= n)
                # More after the drop still reach everybody else.
                for _ in range(5):
                    async with conn.transaction():
                        published = await publish(conn, topic, {"kind": 7, "note": published})
            for w in healthy:
                await w.wait_for(lambda _, w=w: len(w.events()) >= published)
                assert _in_order(w, published)
                assert w.closed is None
            assert hub.stats["dropped_subscribers"] == 1

            # The slow client now reads: a gap-free prefix, then close 1013; it resumes with since.
            await slow.read_all()
            seqs = [m["seq"] for m in slow.messages if m["kind"] != 6]
            assert seqs == list(range(1, len(seqs) + 1))
            assert len(seqs) < published
            assert slow.close_code == 1013
            resumed = await watch(server.ws_url, product_id, since=seqs[-1])
            await resumed.wait_for(lambda _: len(resumed.events()) >= published - len(seqs))
            assert [m["seq"] for m in resumed.events()] == list(range(len(seqs) + 1, published + 1))
            await resumed.close()
        finally:
            for w in healthy:
                await w.close()
            slow.close()


async def test_on_prefix_callbacks_hear_events_from_any_connection(server, settings) -> None:
    hub = server.app.state.hub
    heard: list[tuple[str | None, object]] = []
    hub.on_prefix("cache:", lambda topic, payload: heard.append((topic, payload)))
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await publish(conn, "cache:services", {"clinic": 1})
        await publish(conn, "other:topic", {"x": 1})
        await conn.commit()
    await eventually(lambda: _async(("cache:services", {"clinic": 1}) in heard))
    assert all(topic is None or topic.startswith("cache:") for topic, _ in heard)
    # After a reconnect the callbacks are told that anything may have changed.
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (hub.listener_pid,))
    await eventually(lambda: _async((None, None) in heard))
