"""Live feeds of a clinic (docs/rules/clinic.md, "Live feeds"), served by the live-feed protocol
(app/realtime/feed.py): the public display socket of the TV and the staff's queue socket. Both are read-only.
On connect: a snapshot stamped with the topic's last seq (or, with `?since=N`, every event after N, or a
snapshot marked reset when N can no longer be replayed), then the live stream, every event with its seq. The
queue socket is closed (4401/4403) as soon as its session ends or its holder is no longer staff of the clinic."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import WebSocket, websocket
from psycopg import AsyncConnection

from app.auth.claims import MANAGE_CLINICS
from app.auth.principal import Principal
from app.clinic.access import CLINIC_NOT_FOUND, resolve_access
from app.clinic.events import display_topic, queue_topic
from app.clinic.repository import ClinicRepository
from app.clinic.service_ids import parse_service_filter
from app.realtime.feed import Feed, LiveSocket, Refused, Rights, Start, serve_feed
from app.realtime.repository import Event
from app.realtime.rights import Holder
from app.web.errors import AppError


class DisplayFeed(Feed):
    """Public: the calls of a clinic's TV, `?services=1,2` keeping only those services' calls."""

    def __init__(self, clinic_id: int, service_ids: list[int] | None) -> None:
        super().__init__(display_topic(clinic_id))
        self.clinic_id = clinic_id
        self.service_ids = service_ids
        self.wanted = set(service_ids) if service_ids else None

    async def start(self, conn: AsyncConnection[Any], principal: Principal | None, *, snapshot: bool) -> Start:
        repository = ClinicRepository(conn)
        clinic = await repository.clinic_view(self.clinic_id)
        if clinic is None or not clinic.active:
            raise Refused(404, CLINIC_NOT_FOUND)
        if not snapshot:
            return Start(seq=0)
        snap = await repository.display_snapshot(self.clinic_id, self.topic, self.service_ids)
        return Start(seq=snap.seq, snapshot={"type": "display.snapshot", **msgspec.structs.asdict(snap)})

    def render(self, event: Event, live: LiveSocket) -> dict[str, Any] | None:
        if self.wanted is not None and event.payload.get("service_id") not in self.wanted:
            return None
        return {**event.payload, "seq": event.seq}


async def still_staff(conn: AsyncConnection[Any], holders: list[Holder]) -> set[Holder]:
    """The live re-check of the queue sockets' right, for all of them at once: staff of the clinic (an active
    staff row), or clinic admin everywhere (`clinics:manage`), as `resolve_access` decides for a request."""
    admins = {h for h in holders if h.principal is not None and h.principal.has(MANAGE_CLINICS)}
    others = [h for h in holders if h not in admins]
    staff = await ClinicRepository(conn).active_staff_pairs([h.user_id for h in others], [h.subject for h in others])
    return admins | {h for h in others if (h.user_id, h.subject) in staff}


class QueueFeed(Feed):
    """Staff of this clinic only: refused before accept (401 anonymous, 404 anyone else)."""

    rights = Rights.REQUIRED
    right = staticmethod(still_staff)

    def __init__(self, clinic_id: int) -> None:
        super().__init__(queue_topic(clinic_id))
        self.clinic_id = clinic_id
        self.subject = clinic_id

    async def start(self, conn: AsyncConnection[Any], principal: Principal | None, *, snapshot: bool) -> Start:
        repository = ClinicRepository(conn)
        try:
            access = await resolve_access(repository, self.clinic_id, principal)
        except AppError:
            access = None
        if access is None or not access.is_staff:
            raise Refused(404, CLINIC_NOT_FOUND)
        if not snapshot:
            return Start(seq=0)
        snap = await repository.queue_snapshot(self.clinic_id, self.topic)
        return Start(seq=snap.seq, snapshot={"type": "queue.snapshot", **msgspec.structs.asdict(snap)})


def _display_feed(socket: WebSocket[Any, Any, Any]) -> DisplayFeed:
    try:
        service_ids = parse_service_filter(socket.query_params.get("services"))
    except AppError as exc:
        raise Refused(400, exc.detail) from None
    return DisplayFeed(socket.path_params["clinic_id"], service_ids)


def _queue_feed(socket: WebSocket[Any, Any, Any]) -> QueueFeed:
    return QueueFeed(socket.path_params["clinic_id"])


@websocket("/api/v1/clinics/{clinic_id:int}/ws/display", name="clinic_display_socket")
async def display_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Public, read-only. `?services=1,2` keeps only those services' calls; `?since=N` resumes."""
    await serve_feed(socket, _display_feed)


@websocket("/api/v1/clinics/{clinic_id:int}/ws/queue", name="clinic_queue_socket")
async def queue_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Staff of this clinic only: refused before accept (401 anonymous, 404 anyone else, 403 foreign Origin)."""
    await serve_feed(socket, _queue_feed)
