"""Routes of login: CSRF token, cookie login/logout (Gobid), bearer tokens, password reset."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.areas import AccountHooks
from app.audit import AuditLog
from app.auth.codes import CODE_REFUSALS, CODE_STATES, code_refused
from app.auth.cookies import session_cookie
from app.auth.csrf import csrf_cookie_name, csrf_token_valid, new_csrf_token
from app.auth.middleware import bearer_token, credentials
from app.auth.principal import login_required
from app.auth.repository import AuthRepository
from app.auth.schemas import (
    CsrfToken,
    Login,
    LoginResult,
    Message,
    PasswordResetConfirm,
    PasswordResetRequest,
    TokenForm,
    TokenRequest,
    TokenResponse,
)
from app.auth.service import BAD_CREDENTIALS, authenticate, end_sessions, open_session
from app.config import Settings
from app.mail.outbox import queue_mail
from app.security import Passwords, code_hash, new_numeric_code, token_hash
from app.web.device import device_cookie
from app.web.errors import AppError, Refusal, error_response, invalid_field, refuses
from app.web.openapi import BODY_INVALID, BODY_TOO_LARGE, request_body_of
from app.web.ratelimit import CODE_ATTEMPTS, PASSWORD_RESET, RateLimiter
from app.web.responses import AppResponse
from app.web.validation import decode_strict, validate_document

RESET_CODE_TTL = 3600
RESET_WORK_JITTER = 1.0  # seconds


def provide_auth(db: NamedDependency[AsyncConnection[Any]]) -> AuthRepository:
    return AuthRepository(db)


async def _token_request(request: Request[Any, Any, Any]) -> TokenRequest:
    """JSON {email, password}, or the OAuth2 password form (username may be an e-mail or a CPF)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == RequestEncodingType.URL_ENCODED:
        form = await request.form()
        fields = {name: form.get(name) for name in ("username", "password")}
        sent = validate_document({k: v for k, v in fields.items() if v is not None}, TokenForm)
        return TokenRequest(email=sent.username, password=sent.password)
    return decode_strict(await request.body(), TokenRequest)


async def _send_reset_code(pool: AsyncConnectionPool[AsyncConnection[Any]], settings: Settings, email: str) -> None:
    """Creates the reset code and queues its e-mail, in one transaction, when an account can use it.

    It starts after a random pause of up to a second: the extra load of a known account's work then does not
    land on the request a prober sends right after (measured in docs/security.md)."""
    await asyncio.sleep(secrets.SystemRandom().uniform(0, RESET_WORK_JITTER))
    async with pool.connection() as conn:  # committed when the block ends
        auth = AuthRepository(conn)
        candidate = await auth.login_candidate(email)
        # An invited account gets a code too: it proves the address and activates the account.
        if candidate.id is None or candidate.email is None or candidate.state not in CODE_STATES:
            return
        code = new_numeric_code(8)
        await auth.create_password_reset(candidate.id, code_hash(settings.secret_key, "reset", code), RESET_CODE_TTL)
        await queue_mail(
            conn,
            to=candidate.email,
            subject="Your password reset code",
            body=f"Your password reset code is {code}. It works once, for one hour.\n"
            "If you did not ask for it, ignore this message.",
        )


class AuthController(Controller):
    path = "/api/v1"
    tags = ["auth"]
    dependencies = {
        "auth": Provide(provide_auth, sync_to_thread=False),
    }

    @get("/csrftoken", summary="A CSRF token for cookie sessions (also set as the csrftoken cookie)")
    async def csrf_token(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Response[CsrfToken]:
        name = csrf_cookie_name(settings)
        token = request.cookies.get(name)
        if not csrf_token_valid(settings, token):
            token = new_csrf_token(settings)
        assert token is not None
        cookie = Cookie(
            key=name,
            value=token,
            path="/",
            httponly=False,
            samesite="lax",
            secure=settings.cookie_secure,
            max_age=settings.session_ttl,
        )
        return AppResponse(CsrfToken(csrf_token=token), cookies=[cookie])

    @post("/users/loginuser", status_code=HTTP_200_OK, summary="Log in with a session cookie (Gobid)")
    @refuses(BAD_CREDENTIALS)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[Login],
        auth: NamedDependency[AuthRepository],
        passwords: NamedDependency[Passwords],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        account_hooks: NamedDependency[AccountHooks],
    ) -> Response[LoginResult]:
        user_id = await authenticate(auth, passwords, rate_limiter, request, data.email, data.password)
        # A new session id at every login; the one the browser had (if any) ends once the new one is open, so the
        # same user logging in again keeps their clinic room (only_if_last: they are not leaving).
        token, _ = await open_session(auth, settings, user_id, "cookie")
        old_token, from_cookie = credentials(request.scope)
        if old_token and from_cookie:
            await end_sessions(auth.conn, account_hooks, token_hash=token_hash(old_token), only_if_last=True)
        return AppResponse(
            LoginResult(message="logged in successfully", user_id=user_id),
            cookies=[
                session_cookie(settings, token, settings.session_ttl),
                # This browser's own failure budget for the account at its next logins (app/web/device.py).
                device_cookie(settings, str(user_id)),
            ],
        )

    @post("/users/logout", guards=[login_required], status_code=HTTP_200_OK, summary="Log out (Gobid)")
    async def logout(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[AuthRepository],
        settings: NamedDependency[Settings],
        account_hooks: NamedDependency[AccountHooks],
    ) -> Response[Message]:
        token, _ = credentials(request.scope)
        assert token is not None
        await end_sessions(auth.conn, account_hooks, token_hash=token_hash(token))
        return AppResponse(Message(message="logged out successfully"), cookies=[session_cookie(settings, "", 0)])

    @post(
        "/auth/token",
        status_code=HTTP_200_OK,
        summary="A bearer token (JSON or OAuth2 password form)",
        # The handler reads the body itself (two media types), so the document is told what it accepts. Only the
        # JSON one: openapi-python-client 0.29 writes a client that cannot be imported for an operation whose
        # required body has two media types (its issue 1451); the form is named in the summary.
        operation_class=request_body_of({RequestEncodingType.JSON: TokenRequest}),
    )
    @refuses(BAD_CREDENTIALS, BODY_INVALID, BODY_TOO_LARGE)
    async def token(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[AuthRepository],
        passwords: NamedDependency[Passwords],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
    ) -> Response[TokenResponse]:
        body = await _token_request(request)
        user_id = await authenticate(auth, passwords, rate_limiter, request, body.email, body.password)
        token, expires_at = await open_session(auth, settings, user_id, "bearer")
        # RFC 6749 section 5.1: a response carrying a token must not be cached.
        return AppResponse(
            TokenResponse(access_token=token, token_type="bearer", expires_at=expires_at),
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @delete(
        "/auth/token",
        guards=[login_required],
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke the bearer token of this request",
    )
    @refuses(Refusal(400, "the request authenticated with the session cookie, not a bearer token"))
    async def revoke_token(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[AuthRepository],
        account_hooks: NamedDependency[AccountHooks],
    ) -> None:
        token = bearer_token(dict(request.headers))
        if token is None:
            raise AppError(400, "Send the token to revoke in the Authorization header")
        await end_sessions(auth.conn, account_hooks, token_hash=token_hash(token))

    @post("/auth/password-reset", status_code=HTTP_202_ACCEPTED, summary="E-mail a password-reset code")
    async def password_reset(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordResetRequest],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
    ) -> Message:
        await rate_limiter.hit_address(PASSWORD_RESET, request)
        # Answered before the work, and the same way whether or not the account exists: neither the answer nor
        # its timing can tell (docs/security.md, "Password-reset answer time").
        request.app.state.detached.spawn(_send_reset_code(request.app.state.pool, settings, data.email))
        return Message(message="If the account exists, a reset code is on its way")

    @post("/auth/password-reset/confirm", status_code=HTTP_200_OK, summary="Set a new password with a reset code")
    @refuses(Refusal(400, "the code is wrong, expired or already used"), *CODE_REFUSALS)
    async def password_reset_confirm(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordResetConfirm],
        auth: NamedDependency[AuthRepository],
        passwords: NamedDependency[Passwords],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        account_hooks: NamedDependency[AccountHooks],
    ) -> Response[Any]:
        await rate_limiter.hit_address(CODE_ATTEMPTS, request)
        attempt = await auth.count_password_reset_attempt(
            data.email, code_hash(settings.secret_key, "reset", data.code)
        )
        if attempt is None or not attempt.matched:
            # Returned, not raised: the attempt counted above must be committed.
            return error_response(invalid_field("code", "The code is wrong, expired or already used"))
        previous = await auth.reset_password(attempt.user_id, await passwords.hash(data.new_password))
        if previous is None:  # deactivated or deleted since the code was sent: a code never brings it back
            raise code_refused(attempt.state)
        await end_sessions(auth.conn, account_hooks, user_id=attempt.user_id)
        subject = f"user:{attempt.user_id}"
        if previous == "invited":
            await AuditLog(auth.conn).record(attempt.user_id, "user.activate", subject, by="password reset")
        else:
            await AuditLog(auth.conn).record(attempt.user_id, "password.reset", subject)
        return AppResponse(Message(message="Password changed; log in again"))
