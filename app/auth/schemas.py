"""Request and response bodies of login, tokens and password reset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from app.web.types import Email, Password, Strict
from app.web.validation import KeepWhitespace

LoginName = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
# Not trimmed: spaces are part of a password (sign-up keeps them, so login must too).
AnyPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=128), KeepWhitespace]


class CsrfToken(msgspec.Struct):
    csrf_token: str


class Login(Strict):
    email: LoginName
    password: AnyPassword


class LoginResult(msgspec.Struct):
    message: str
    user_id: UUID


class Message(msgspec.Struct):
    message: str


class TokenRequest(Strict):
    """The token request as JSON; `TokenForm` is the same as the OAuth2 password form."""

    email: LoginName
    password: AnyPassword


class TokenForm(msgspec.Struct, kw_only=True):
    """The OAuth2 password form: username is an e-mail or a CPF; grant_type, scope and client_id are ignored."""

    username: LoginName
    password: AnyPassword


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime


class PasswordResetRequest(Strict):
    email: Email


class PasswordResetConfirm(Strict):
    email: Email
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    new_password: Password
