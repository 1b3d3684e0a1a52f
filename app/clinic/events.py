"""What the clinic's live feeds carry (docs/rules/clinic.md, "Live feeds"): the topics, a call's display event
and the queue's changes, each published in the transaction of the change."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection

from app.clinic.repository import ClinicRepository
from app.realtime.repository import publish


def display_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:display"


def queue_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:queue"


async def announce_call(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int, *, recall: bool
) -> None:
    """A call or recall: the display event (its seq is what the TV resumes from) and the `calls` row."""
    announcement = await repo.call_announcement(step_id)
    payload = {"type": "ticket.called", **msgspec.to_builtins(announcement), "recall": recall}
    seq = await publish(conn, display_topic(clinic_id), payload)
    await repo.record_call(step_id, recall, seq)


async def queue_changed(conn: AsyncConnection[Any], clinic_id: int, reason: str, step_id: int, service_id: int) -> None:
    await publish(
        conn,
        queue_topic(clinic_id),
        {"type": "queue.changed", "reason": reason, "step_id": step_id, "service_id": service_id},
    )
