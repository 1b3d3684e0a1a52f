"""Statements of sql/clinic.sql: one typed method per statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.clinic.rows import (
    AccessRow,
    ActivationAttempt,
    Announcement,
    ForwardedRow,
    FreedRoom,
    IssuedRow,
    QueueSnapshot,
    RequeuedStep,
    RoomRef,
    TicketService,
)
from app.clinic.schemas import (
    ClinicOut,
    DisplayOut,
    InvitationOut,
    KioskOut,
    QueueStep,
    RoomOut,
    ServiceOut,
    StaffOut,
    StepOut,
    TicketStatus,
    WaitingStep,
)
from app.db.sql import Repository


class ClinicRepository(Repository):
    area = "clinic"

    # Clinics and access -------------------------------------------------------------------------------------

    async def create_clinic(self, name: str, slug: str, timezone: str) -> ClinicOut | None:
        return await self.fetch_one("create_clinic", ClinicOut, name=name, slug=slug, timezone=timezone)

    async def clinic_by_slug(self, slug: str) -> ClinicOut | None:
        return await self.fetch_one("clinic_by_slug", ClinicOut, slug=slug)

    async def clinic_view(self, clinic_id: int) -> ClinicOut | None:
        return await self.fetch_one("clinic_view", ClinicOut, clinic_id=clinic_id)

    async def active_staff_pairs(self, user_ids: list[UUID], clinic_ids: list[int]) -> set[tuple[UUID, int]]:
        rows = await self.fetch_rows("active_staff_pairs", user_ids=user_ids, clinic_ids=clinic_ids)
        return {(row["user_id"], row["clinic_id"]) for row in rows}

    async def caller_access(self, clinic_id: int, user_id: UUID | None) -> AccessRow | None:
        return await self.fetch_one("caller_access", AccessRow, clinic_id=clinic_id, user_id=user_id)

    # Services -----------------------------------------------------------------------------------------------

    async def active_services(self, clinic_id: int) -> list[ServiceOut]:
        return await self.fetch_all("active_services", ServiceOut, clinic_id=clinic_id)

    async def list_services(self, clinic_id: int, after_id: int, limit: int) -> list[ServiceOut]:
        return await self.fetch_all("list_services", ServiceOut, clinic_id=clinic_id, after_id=after_id, limit=limit)

    async def service_view(self, clinic_id: int, service_id: int) -> ServiceOut | None:
        return await self.fetch_one("service_view", ServiceOut, clinic_id=clinic_id, service_id=service_id)

    async def create_service(self, clinic_id: int, **fields: Any) -> ServiceOut | None:
        return await self.fetch_one("create_service", ServiceOut, clinic_id=clinic_id, **fields)

    async def update_service(self, clinic_id: int, service_id: int, **fields: Any) -> ServiceOut | None:
        return await self.fetch_one("update_service", ServiceOut, clinic_id=clinic_id, service_id=service_id, **fields)

    async def unknown_service_ids(self, clinic_id: int, service_ids: list[int]) -> list[int]:
        return list(await self.fetch_value("unknown_service_ids", clinic_id=clinic_id, service_ids=service_ids))

    async def active_service_ids(self, clinic_id: int) -> list[int]:
        return list(await self.fetch_value("active_service_ids", clinic_id=clinic_id))

    async def service_for_ticket(self, clinic_id: int, service_id: int) -> TicketService | None:
        return await self.fetch_one("service_for_ticket", TicketService, clinic_id=clinic_id, service_id=service_id)

    # Rooms --------------------------------------------------------------------------------------------------

    async def list_rooms(self, clinic_id: int, after_id: int, limit: int) -> list[RoomOut]:
        return await self.fetch_all("list_rooms", RoomOut, clinic_id=clinic_id, after_id=after_id, limit=limit)

    async def room_view(self, clinic_id: int, room_id: int) -> RoomOut | None:
        return await self.fetch_one("room_view", RoomOut, clinic_id=clinic_id, room_id=room_id)

    async def create_room(
        self, clinic_id: int, name: str, route_text: str | None = None, direction: str | None = None
    ) -> int | None:
        """A room without route_text and direction shows its services' routes on the TV."""
        return await self.fetch_value(
            "create_room", clinic_id=clinic_id, name=name, route_text=route_text, direction=direction
        )

    async def update_room(self, clinic_id: int, room_id: int, name: str | None, **route: object) -> int | None:
        """`route`: set_route (False keeps the room's), route_text and direction."""
        return await self.fetch_value("update_room", clinic_id=clinic_id, room_id=room_id, name=name, **route)

    async def release_other_rooms(self, clinic_id: int, user_id: UUID, room_id: int) -> None:
        await self.execute("release_other_rooms", clinic_id=clinic_id, user_id=user_id, room_id=room_id)

    async def take_room(self, clinic_id: int, room_id: int, user_id: UUID) -> bool:
        return await self.fetch_value("take_room", clinic_id=clinic_id, room_id=room_id, user_id=user_id) is not None

    async def leave_room(self, clinic_id: int, room_id: int, user_id: UUID, is_admin: bool) -> bool:
        found = await self.fetch_value(
            "leave_room", clinic_id=clinic_id, room_id=room_id, user_id=user_id, is_admin=is_admin
        )
        return found is not None

    async def free_rooms_of_user(self, user_id: UUID, clinic_id: int | None) -> list[FreedRoom]:
        return await self.fetch_all("free_rooms_of_user", FreedRoom, user_id=user_id, clinic_id=clinic_id)

    async def room_list(self, clinic_id: int) -> list[RoomOut]:
        return await self.fetch_all("room_list", RoomOut, clinic_id=clinic_id)

    async def requeue_called_steps_of_user(self, user_id: UUID, clinic_id: int | None) -> list[RequeuedStep]:
        return await self.fetch_all("requeue_called_steps_of_user", RequeuedStep, user_id=user_id, clinic_id=clinic_id)

    async def untarget_steps_of_user(self, user_id: UUID, clinic_id: int | None) -> list[RequeuedStep]:
        return await self.fetch_all("untarget_steps_of_user", RequeuedStep, user_id=user_id, clinic_id=clinic_id)

    async def room_of_user(self, clinic_id: int, user_id: UUID) -> RoomRef | None:
        return await self.fetch_one("room_of_user", RoomRef, clinic_id=clinic_id, user_id=user_id)

    # Staff --------------------------------------------------------------------------------------------------

    async def list_staff(self, clinic_id: int, after_user_id: UUID | None, limit: int) -> list[StaffOut]:
        return await self.fetch_all(
            "list_staff", StaffOut, clinic_id=clinic_id, after_user_id=after_user_id, limit=limit
        )

    async def staff_view(self, clinic_id: int, user_id: UUID) -> StaffOut | None:
        return await self.fetch_one("staff_view", StaffOut, clinic_id=clinic_id, user_id=user_id)

    async def add_staff(self, clinic_id: int, user_id: UUID, *, is_admin: bool, specialty: str | None) -> None:
        await self.execute("add_staff", clinic_id=clinic_id, user_id=user_id, is_admin=is_admin, specialty=specialty)

    async def update_staff(
        self, clinic_id: int, user_id: UUID, *, is_admin: bool | None, specialty: str | None, active: bool | None
    ) -> bool:
        found = await self.fetch_value(
            "update_staff", clinic_id=clinic_id, user_id=user_id, is_admin=is_admin, specialty=specialty, active=active
        )
        return found is not None

    async def set_staff_services(self, clinic_id: int, user_id: UUID, service_ids: list[int]) -> None:
        await self.execute("clear_staff_services", clinic_id=clinic_id, user_id=user_id)
        if service_ids:
            await self.execute("add_staff_services", clinic_id=clinic_id, user_id=user_id, service_ids=service_ids)

    async def staff_service_ids(self, clinic_id: int, user_id: UUID) -> list[int]:
        return list(await self.fetch_value("staff_service_ids", clinic_id=clinic_id, user_id=user_id))

    async def is_active_staff(self, clinic_id: int, user_id: UUID) -> bool:
        return bool(await self.fetch_value("is_active_staff", clinic_id=clinic_id, user_id=user_id))

    # Invitations --------------------------------------------------------------------------------------------

    async def upsert_invitation(self, clinic_id: int, user_id: UUID, **fields: Any) -> InvitationOut:
        row = await self.fetch_one("upsert_invitation", InvitationOut, clinic_id=clinic_id, user_id=user_id, **fields)
        assert row is not None
        return row

    async def list_invitations(self, clinic_id: int, after_id: int, limit: int) -> list[InvitationOut]:
        return await self.fetch_all(
            "list_invitations", InvitationOut, clinic_id=clinic_id, after_id=after_id, limit=limit
        )

    async def renew_invitation_code(
        self, clinic_id: int, invitation_id: int, code_hash: bytes, ttl_seconds: int
    ) -> InvitationOut | None:
        return await self.fetch_one(
            "renew_invitation_code",
            InvitationOut,
            clinic_id=clinic_id,
            invitation_id=invitation_id,
            code_hash=code_hash,
            ttl_seconds=ttl_seconds,
        )

    async def revoke_invitation(self, clinic_id: int, invitation_id: int) -> bool:
        found = await self.fetch_value("revoke_invitation", clinic_id=clinic_id, invitation_id=invitation_id)
        return found is not None

    async def count_activation_attempt(
        self, email: str, code_hash: bytes, max_attempts: int
    ) -> list[ActivationAttempt]:
        return await self.fetch_all(
            "count_activation_attempt", ActivationAttempt, email=email, code_hash=code_hash, max_attempts=max_attempts
        )

    # Tickets ------------------------------------------------------------------------------------------------

    async def issue_ticket(
        self,
        *,
        clinic_id: int,
        service_id: int,
        priority: str,
        patient_name: str | None,
        origin: str,
        issued_by: UUID | None,
        public_token: str,
        web_share: float = 0.0,
        now: datetime | None = None,
    ) -> IssuedRow | None:
        return await self.fetch_one(
            "issue_ticket",
            IssuedRow,
            web_share=web_share,
            clinic_id=clinic_id,
            service_id=service_id,
            priority=priority,
            patient_name=patient_name,
            origin=origin,
            issued_by=issued_by,
            public_token=public_token,
            now=now,
        )

    # Kiosks -------------------------------------------------------------------------------------------------

    async def create_kiosk(self, clinic_id: int, name: str, token_hash: bytes, created_by: UUID | None) -> KioskOut:
        row = await self.fetch_one(
            "create_kiosk", KioskOut, clinic_id=clinic_id, name=name, token_hash=token_hash, created_by=created_by
        )
        assert row is not None
        return row

    async def list_kiosks(self, clinic_id: int) -> list[KioskOut]:
        return await self.fetch_all("list_kiosks", KioskOut, clinic_id=clinic_id)

    async def delete_kiosk(self, clinic_id: int, kiosk_id: int) -> bool:
        return await self.fetch_value("delete_kiosk", clinic_id=clinic_id, kiosk_id=kiosk_id) is not None

    async def use_kiosk(self, clinic_id: int, token_hash: bytes) -> bool:
        return await self.fetch_value("use_kiosk", clinic_id=clinic_id, token_hash=token_hash) is not None

    async def waiting_ahead(self, step_id: int) -> int:
        return int(await self.fetch_value("waiting_ahead", step_id=step_id))

    async def ticket_by_token(self, public_token: str) -> TicketStatus | None:
        return await self.fetch_one("ticket_by_token", TicketStatus, public_token=public_token)

    # Queue and desk -----------------------------------------------------------------------------------------

    async def waiting_steps(self, clinic_id: int, service_id: int | None) -> list[WaitingStep]:
        return await self.fetch_all("waiting_steps", WaitingStep, clinic_id=clinic_id, service_id=service_id)

    async def queue_snapshot(self, clinic_id: int, topic: str) -> QueueSnapshot:
        row = await self.fetch_one("queue_snapshot", QueueSnapshot, clinic_id=clinic_id, topic=topic)
        assert row is not None
        return row

    async def queue_step(self, clinic_id: int, step_id: int) -> QueueStep | None:
        return await self.fetch_one("queue_step", QueueStep, clinic_id=clinic_id, step_id=step_id)

    async def held_step(self, clinic_id: int, attendant_id: UUID) -> int | None:
        return await self.fetch_value("held_step", clinic_id=clinic_id, attendant_id=attendant_id)

    async def call_next(self, clinic_id: int, attendant_id: UUID, room_id: int, service_ids: list[int]) -> int | None:
        return await self.fetch_value(
            "call_next", clinic_id=clinic_id, attendant_id=attendant_id, room_id=room_id, service_ids=service_ids
        )

    async def call_step(self, clinic_id: int, step_id: int, attendant_id: UUID, room_id: int) -> int | None:
        return await self.fetch_value(
            "call_step", clinic_id=clinic_id, step_id=step_id, attendant_id=attendant_id, room_id=room_id
        )

    # Transitions: each returns the step id, or None when the step was not in a status the action starts from.

    async def start_step(self, clinic_id: int, step_id: int) -> int | None:
        return await self.fetch_value("start_step", clinic_id=clinic_id, step_id=step_id)

    async def no_show_step(self, clinic_id: int, step_id: int) -> int | None:
        return await self.fetch_value("no_show_step", clinic_id=clinic_id, step_id=step_id)

    async def finish_step(self, clinic_id: int, step_id: int, notes: str | None) -> int | None:
        return await self.fetch_value("finish_step", clinic_id=clinic_id, step_id=step_id, notes=notes)

    async def cancel_step(self, clinic_id: int, step_id: int) -> int | None:
        return await self.fetch_value("cancel_step", clinic_id=clinic_id, step_id=step_id)

    async def reactivate_step(self, clinic_id: int, step_id: int) -> int | None:
        return await self.fetch_value("reactivate_step", clinic_id=clinic_id, step_id=step_id)

    async def forward_step(self, clinic_id: int, step_id: int, notes: str | None) -> ForwardedRow | None:
        return await self.fetch_one("forward_step", ForwardedRow, clinic_id=clinic_id, step_id=step_id, notes=notes)

    async def open_next_step(self, clinic_id: int, **fields: Any) -> int:
        """The next step of a forwarded route: ticket_id, service_id, parent_id, priority_rank,
        target_attendant_id."""
        return await self.fetch_value("open_next_step", clinic_id=clinic_id, **fields)

    async def lock_held_step(self, clinic_id: int, step_id: int) -> bool:
        return await self.fetch_value("lock_held_step", clinic_id=clinic_id, step_id=step_id) is not None

    async def step_status(self, clinic_id: int, step_id: int) -> str | None:
        return await self.fetch_value("step_status", clinic_id=clinic_id, step_id=step_id)

    async def step_view(self, clinic_id: int, step_id: int) -> StepOut | None:
        return await self.fetch_one("step_view", StepOut, clinic_id=clinic_id, step_id=step_id)

    async def call_announcement(self, step_id: int) -> Announcement:
        row = await self.fetch_one("call_announcement", Announcement, step_id=step_id)
        assert row is not None
        return row

    async def record_call(self, step_id: int, recall: bool, seq: int, called_by: UUID) -> None:
        await self.execute("record_call", step_id=step_id, recall=recall, seq=seq, called_by=called_by)

    # Display ---------------------------------------------------------------------------------

    async def display_snapshot(self, clinic_id: int, topic: str, service_ids: list[int] | None) -> DisplayOut:
        row = await self.fetch_one(
            "display_snapshot", DisplayOut, clinic_id=clinic_id, topic=topic, service_ids=service_ids
        )
        assert row is not None
        return row
