"""The comparison server of bench_realtime.py: a bare `websockets` broadcast server (no database, no framework).

Subscribers connect to `/`; a publisher connects to `/publish` and sends messages, each broadcast to every
subscriber of this process and acknowledged to the publisher with "ack".
Run: python -m loadtest.bare_broadcast PORT
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

SUBSCRIBERS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/publish":
        async for message in ws:
            broadcast(SUBSCRIBERS, message)
            await ws.send("ack")
        return
    SUBSCRIBERS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        SUBSCRIBERS.discard(ws)


async def main(port: int) -> None:
    # No compression, like `app serve`: both sides of the comparison do the same work per message.
    async with serve(handler, "127.0.0.1", port, ping_interval=20, max_size=4096, compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
