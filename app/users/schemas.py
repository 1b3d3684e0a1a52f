"""Request and response bodies of the users area."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from app.web.types import Bio, Email, Name, Password, Strict
from app.web.validation import KeepWhitespace

# An id of roles/claims (PostgreSQL integer): anything outside is refused as a 400 before reaching SQL.
DbId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
# A password as typed, spaces included (checked against the stored hash, never trimmed).
TypedPassword = Annotated[str, msgspec.Meta(max_length=128), KeepWhitespace]


class SignupUser(Strict):
    """Gobid's sign-up."""

    user_name: Name
    email: Email
    password: Password
    bio: Bio | None = None


class SignupResult(msgspec.Struct):
    user_id: UUID


class CreateUser(Strict):
    """PillTrackr's {email, password} alone is valid; without a password one is generated and returned once."""

    email: Email
    password: TypedPassword | None = None
    name: Name | None = None
    role_id: int | None = None


class UpdateUser(Strict):
    name: Name | None = None
    bio: Bio | None = None
    password: Password | None = None
    current_password: TypedPassword | None = None
    role_id: int | None = None
    active: bool | None = None


class DeleteAccount(Strict):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128), KeepWhitespace]


class UserOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str | None
    email: str
    bio: str | None
    active: bool  # state == "active"
    state: str  # invited | active | deactivated | deleted ("Account states")
    role_id: int
    role_description: str
    claims: list[str]
    effective_claims: list[str]
    created_at: datetime
    updated_at: datetime


class SessionOut(msgspec.Struct):
    """GET /auth/session: the caller, or null for nobody."""

    user: UserOut | None


class CreatedUser(UserOut, omit_defaults=True, kw_only=True):
    generated_password: str | None = None
    generated_password_shown: bool | None = None  # only on an Idempotency-Key replay: the password is not repeated


class UserRole(msgspec.Struct):
    role_id: int
    role_description: str


class RoleOut(msgspec.Struct):
    id: int
    description: str
    claims: list[str]


class CreateRole(Strict):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    claim_ids: list[DbId] = []


class ClaimOut(msgspec.Struct):
    id: int
    description: str
    active: bool


class CreateClaim(Strict):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.:-]*$")]
    active: bool = True


class UpdateClaim(Strict):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.:-]*$")] | None = (
        None
    )
    active: bool | None = None
