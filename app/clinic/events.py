"""What the clinic's live feeds carry (docs/rules/clinic.md, "Live feeds"): the topics, a call's display event,
the queue's changes (every change of a step's status, each with the step as it now is) and the rooms' changes,
each published in the transaction of the change."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from app.clinic.repository import ClinicRepository
from app.clinic.schemas import QueueStep
from app.realtime.repository import publish


def display_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:display"


def queue_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:queue"


async def announce_call(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int, *, recall: bool, by: UUID
) -> None:
    """A call or recall by `by`: the display event (its seq is what the TV resumes from), the `calls` row, and
    the queue event that tells the other desks (a first call also takes the step out of the waiting line)."""
    announcement = await repo.call_announcement(step_id)
    payload = {"type": "ticket.called", **msgspec.to_builtins(announcement), "recall": recall}
    seq = await publish(conn, display_topic(clinic_id), payload)
    await repo.record_call(step_id, recall, seq, by)
    await queue_changed(conn, repo, clinic_id, "recalled" if recall else "called", step_id)


async def queue_changed(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, reason: str, step_id: int
) -> None:
    step = await repo.queue_step(clinic_id, step_id)
    assert step is not None
    await publish_step(conn, clinic_id, reason, step)


async def publish_step(conn: AsyncConnection[Any], clinic_id: int, reason: str, step: QueueStep) -> None:
    """The queue event of a step whose state the caller already knows (a ticket just issued)."""
    payload = {
        "type": "queue.changed",
        "reason": reason,
        "step_id": step.step_id,
        "service_id": step.service_id,
        "step": msgspec.to_builtins(step),
    }
    await publish(conn, queue_topic(clinic_id), payload)


async def rooms_changed(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, room_id: int) -> None:
    """A room was taken or freed: every room of the clinic with its occupant, as the queue snapshot has them."""
    rooms = await repo.room_list(clinic_id)
    payload = {"type": "rooms.changed", "room_id": room_id, "rooms": msgspec.to_builtins(rooms)}
    await publish(conn, queue_topic(clinic_id), payload)
