"""Statements of sql/audit.sql: the one way an area writes the audit log.

Its own module, not the users area's repository, because login (app/auth) writes it too and app/users already
depends on app/auth: an audit row must not make the two areas import each other."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.sql import Repository


class AuditLog(Repository):
    area = "audit"

    async def record(self, actor_id: UUID | None, action: str, subject: str, **detail: Any) -> None:
        """`actor_id` did `action` (e.g. "role.grant") to `subject` (e.g. "user:<id>"); None: the system did."""
        await self.execute("insert_audit", actor_id=actor_id, action=action, subject=subject, detail=Jsonb(detail))
