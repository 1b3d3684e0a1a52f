"""The hub: one LISTEN connection per process fans events out to the local subscribers of each topic.

Guarantees (docs/rules/realtime.md): every event a subscriber receives carries its topic's `seq`; a subscriber receives
each event once, in seq order, with no gap: the hub fills gaps (a missed notification, a LISTEN connection that
died and came back) from the `events` table. A subscriber whose bounded queue overflows is dropped (its socket
closed with 1013) and may resume with `?since=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app import tracing
from app.db.sql import load_sql
from app.realtime.repository import Event, RealtimeRepository

log = logging.getLogger("app.realtime")

MAX_REPLAY = 10_000
IDLE_CHECK_SECONDS = 15.0
# The LISTEN connection's name in pg_stat_activity (operators and tests find it by this name).
LISTENER_APPLICATION_NAME = "marketplace-listen"


class Dropped(Exception):
    """The subscriber fell too far behind and was disconnected."""


class _Notification(msgspec.Struct):
    topic: str
    seq: int
    payload: dict[str, Any] | None = None


_decode_notification = msgspec.json.Decoder(_Notification).decode
_DROP = object()


class Subscription:
    """One subscriber of one topic (a socket). Iterate it to receive, in order, events with seq > last_seq and
    the replies put on it with `reply`."""

    def __init__(self, hub: Hub, topic: str, maxsize: int) -> None:
        self.hub = hub
        self.topic = topic
        self.id = secrets.token_hex(8)
        self.last_seq = 0
        self.dropped = False
        self.on_drop: Callable[[], None] | None = None
        # A deque and one waiter rather than an asyncio.Queue (four deques and an Event): this object lives as
        # long as its socket, and idle sockets' memory is a benchmark target (docs/performance.md).
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, item: Any) -> None:
        if self.dropped:
            return
        if len(self._items) >= self._maxsize:
            self.drop()
            return
        self._put(item)

    def _put(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def reply(self, message: dict[str, Any]) -> None:
        """A message that is not an event (a refusal, an error), sent in order with the events."""
        self.offer(message)

    def drop(self) -> None:
        self.dropped = True
        self.hub.stats["dropped_subscribers"] += 1
        self._items.clear()
        self._put(_DROP)
        if self.on_drop is not None:
            self.on_drop()

    async def __aiter__(self) -> AsyncIterator[Event | dict[str, Any]]:
        while True:
            item = await self._get()
            if item is _DROP:
                raise Dropped
            if not isinstance(item, Event):
                yield item
                continue
            if item.seq <= self.last_seq:
                continue  # already sent (replay and live stream overlap)
            if item.seq > self.last_seq + 1:
                # Events this subscriber has not seen yet but the hub delivered before it joined.
                for missed in await self.hub.fetch_events(self.topic, self.last_seq, item.seq - 1):
                    self.last_seq = missed.seq
                    yield missed
            self.last_seq = item.seq
            yield item


class Hub:
    CHANNEL_STATEMENT = "listen"

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], database_url: str, queue_size: int) -> None:
        self.pool = pool
        self.database_url = database_url
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        self._last_seq: dict[str, int] = {}
        self._callbacks: list[tuple[str, Callable[[str | None, dict[str, Any] | None], None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.listener_pid: int | None = None
        self.stats = {"events_delivered": 0, "dropped_subscribers": 0, "reconnects": 0, "gaps_filled": 0}

    # Subscribers ---------------------------------------------------------------------------------------------

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(self, topic, self.queue_size)
        self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.topic)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.topic]
            self._last_seq.pop(subscription.topic, None)

    def subscriber_counts(self) -> dict[str, int]:
        return {topic: len(subs) for topic, subs in self._subscribers.items()}

    def on_prefix(self, prefix: str, callback: Callable[[str | None, dict[str, Any] | None], None]) -> None:
        """Call `callback(topic, payload)` for every event of topics starting with `prefix` (in-process caches),
        and `callback(None, None)` after a reconnect, when events may have been missed."""
        self._callbacks.append((prefix, callback))

    # Reading the table ---------------------------------------------------------------------------------------

    async def fetch_events(self, topic: str, after_seq: int, up_to_seq: int | None = None) -> list[Event]:
        async with self.pool.connection() as conn:
            events = await RealtimeRepository(conn).events_after(topic, after_seq, MAX_REPLAY)
        self.stats["gaps_filled"] += 1
        return [e for e in events if up_to_seq is None or e.seq <= up_to_seq]

    async def replay(self, topic: str, since: int) -> list[Event] | None:
        """Events after `since`, or None when they can no longer be replayed exactly (pruned, too many, or a
        seq this topic never had): the subscriber then needs a snapshot marked reset."""
        async with self.pool.connection() as conn:
            repository = RealtimeRepository(conn)
            window = await repository.replay_window(topic)
            if since > window.last_seq or (since < window.last_seq and since + 1 < window.oldest_seq):
                return None
            if window.last_seq - since > MAX_REPLAY:
                return None
            return await repository.events_after(topic, since, MAX_REPLAY)

    # The LISTEN loop -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="realtime-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        backoff = 0.1
        listen = load_sql("realtime")[self.CHANNEL_STATEMENT].query
        ping = load_sql("realtime")["ping"].query
        while True:
            try:
                async with await AsyncConnection.connect(
                    self.database_url, autocommit=True, application_name=LISTENER_APPLICATION_NAME
                ) as conn:
                    await conn.execute(listen)
                    self.listener_pid = conn.info.backend_pid
                    self.connected.set()
                    backoff = 0.1
                    await self._catch_up()
                    while True:
                        async for notification in conn.notifies(timeout=IDLE_CHECK_SECONDS):
                            await self._handle(notification.payload)
                        await conn.execute(ping)  # quiet for a while: make sure the connection still lives
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc, backoff)
            self.connected.clear()
            self.stats["reconnects"] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _catch_up(self) -> None:
        """After (re)connecting: deliver what was committed while we were not listening."""
        for _, callback in self._callbacks:
            callback(None, None)
        # Every topic with local subscribers, including those that have not received a live event yet (their
        # subscribers' own position is then the starting point).
        for topic in list(self._subscribers):
            last = self._last_seq.get(topic)
            if last is not None:
                for event in await self.fetch_events(topic, last):
                    self._deliver(event)
                continue
            # No live event delivered on this topic yet: its subscribers' positions differ (some may still be
            # taking their snapshot), so hand them the newest event only; each one that is behind fills the gap
            # from the table itself (Subscription.__aiter__), one that is current skips it.
            async with self.pool.connection() as conn:
                newest = await RealtimeRepository(conn).last_event(topic)
            if newest is not None:
                self._deliver(newest)

    async def _handle(self, raw: str) -> None:
        try:
            note = _decode_notification(raw)
        except msgspec.DecodeError:
            log.warning("ignoring a malformed notification: %.200s", raw)
            return
        for prefix, callback in self._callbacks:
            if note.topic.startswith(prefix):
                callback(note.topic, note.payload)
        subscribers = self._subscribers.get(note.topic)
        if not subscribers:
            return
        if tracing.tracer is None:
            await self._dispatch(note)
            return
        attributes = {"messaging.system": "postgresql", "messaging.destination.name": note.topic}
        attributes |= {"app.seq": note.seq, "app.subscribers": len(subscribers)}
        with tracing.span("hub.deliver", "consumer", attributes):
            await self._dispatch(note)

    async def _dispatch(self, note: _Notification) -> None:
        last = self._last_seq.get(note.topic)
        if last is not None and note.seq <= last:
            return
        if (last is not None and note.seq > last + 1) or note.payload is None:
            for event in await self.fetch_events(note.topic, last if last is not None else note.seq - 1, note.seq):
                self._deliver(event)
            return
        self._deliver(Event(topic=note.topic, seq=note.seq, payload=note.payload))

    def _deliver(self, event: Event) -> None:
        if event.seq <= self._last_seq.get(event.topic, 0):
            return
        self._last_seq[event.topic] = event.seq
        for subscription in list(self._subscribers.get(event.topic, ())):
            subscription.offer(event)
            self.stats["events_delivered"] += 1
