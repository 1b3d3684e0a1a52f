"""Live feeds of a clinic (docs/rules/clinic.md, "Live feeds"): the public display socket of the TV and the
staff's queue socket. Both are read-only. On connect: a snapshot stamped with the topic's last seq (or, with
`?since=N`, every event after N, or a snapshot marked reset when N can no longer be replayed), then the live
stream, every event with its seq."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.auth.csrf import origin_allowed
from app.auth.principal import Principal
from app.clinic.controller import parse_service_filter
from app.clinic.repository import ClinicRepository
from app.clinic.service import clinic_access, display_topic, queue_topic
from app.config import Settings
from app.realtime.hub import Hub, Subscription
from app.realtime.repository import Event
from app.realtime.sockets import deny, pump, send_json
from app.web.errors import AppError

Render = Callable[[Event], dict[str, Any] | None]


def _since(socket: WebSocket[Any, Any, Any]) -> int | None:
    raw = socket.query_params.get("since")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise AppError(400, "since must be a non-negative integer (the seq of the last event received)")
    return int(raw)


async def _until_closed(socket: WebSocket[Any, Any, Any], subscription: Subscription) -> None:
    """These feeds are read-only: a client's message gets a reply that says so; returns when the client goes."""
    async for _ in socket.iter_data("text"):
        subscription.reply({"type": "error", "detail": "This feed is read-only"})


async def _stream(
    socket: WebSocket[Any, Any, Any],
    hub: Hub,
    topic: str,
    since: int | None,
    snapshot: Callable[[], Any],
    render: Render,
) -> None:
    """Subscribe first (so nothing committed after the snapshot is missed), then snapshot or replay, then pump
    until the client leaves or is dropped for being too slow."""
    await socket.accept()
    subscription = hub.subscribe(topic)
    try:
        events = await hub.replay(topic, since) if since is not None else None
        if events is None:
            message, seq = await snapshot()
            if since is not None:
                message["reset"] = True
            await send_json(socket, message)
            subscription.last_seq = seq
        else:
            for event in events:
                rendered = render(event)
                if rendered is not None:
                    await send_json(socket, rendered)
            subscription.last_seq = events[-1].seq if events else since or 0
        tasks = [
            asyncio.create_task(pump(socket, subscription, render)),
            asyncio.create_task(_until_closed(socket, subscription)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    finally:
        hub.unsubscribe(subscription)


@websocket("/api/v1/clinics/{clinic_id:int}/ws/display", name="clinic_display_socket")
async def display_socket(
    socket: WebSocket[Any, Any, Any], clinic_id: FromPath[int], settings: NamedDependency[Settings]
) -> None:
    """Public, read-only. `?services=1,2` keeps only those services' calls; `?since=N` resumes."""
    if not origin_allowed(socket, settings):
        await deny(socket, 403, "Origin not allowed")
        return
    try:
        service_ids = parse_service_filter(socket.query_params.get("services"))
        since = _since(socket)
    except AppError as exc:
        await deny(socket, 400, exc.detail)
        return
    pool = socket.app.state.pool
    async with pool.connection() as conn:
        clinic = await ClinicRepository(conn).clinic_view(clinic_id)
    if clinic is None or not clinic.active:
        await deny(socket, 404, "Clinic not found")
        return
    topic = display_topic(clinic_id)
    wanted = set(service_ids) if service_ids else None

    async def snapshot() -> tuple[dict[str, Any], int]:
        async with pool.connection() as conn:
            snap = await ClinicRepository(conn).display_snapshot(clinic_id, topic, service_ids)
        message = {
            "type": "display.snapshot",
            "current": snap.current,
            "history": snap.history,
            "next": snap.next,
            "seq": snap.seq,
        }
        return message, snap.seq

    def render(event: Event) -> dict[str, Any] | None:
        if wanted is not None and event.payload.get("service_id") not in wanted:
            return None
        return {**event.payload, "seq": event.seq}

    await _stream(socket, socket.app.state.hub, topic, since, snapshot, render)


@websocket("/api/v1/clinics/{clinic_id:int}/ws/queue", name="clinic_queue_socket")
async def queue_socket(
    socket: WebSocket[Any, Any, Any], clinic_id: FromPath[int], settings: NamedDependency[Settings]
) -> None:
    """Staff of this clinic only: refused before accept (401 anonymous, 404 anyone else, 403 foreign Origin)."""
    if not origin_allowed(socket, settings):
        await deny(socket, 403, "Origin not allowed")
        return
    caller: Principal | None = socket.scope.get("user")
    if caller is None:
        await deny(socket, 401, "Authentication required")
        return
    try:
        since = _since(socket)
    except AppError as exc:
        await deny(socket, 400, exc.detail)
        return
    pool = socket.app.state.pool
    async with pool.connection() as conn:
        try:
            access = await clinic_access(ClinicRepository(conn), clinic_id, caller)
        except AppError:
            access = None
    if access is None or not access.is_staff:
        await deny(socket, 404, "Clinic not found")
        return
    topic = queue_topic(clinic_id)

    async def snapshot() -> tuple[dict[str, Any], int]:
        async with pool.connection() as conn:
            snap = await ClinicRepository(conn).queue_snapshot(clinic_id, topic)
        return {"type": "queue.snapshot", "waiting": snap.waiting, "seq": snap.seq}, snap.seq

    def render(event: Event) -> dict[str, Any]:
        return {**event.payload, "seq": event.seq}

    await _stream(socket, socket.app.state.hub, topic, since, snapshot, render)
