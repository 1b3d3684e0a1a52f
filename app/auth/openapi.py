"""The credentials in the OpenAPI document: the security schemes, declared once, and each operation's list.

Each operation's requirements are read from its guards and the dependencies it uses (`security_of`), set on the
route handlers by `declare_security` before the document is first built (Litestar builds it lazily).
docs/rules/README.md, "Authentication in the OpenAPI document", gives the rules.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.routes import HTTPRoute

from app.auth import principal
from app.auth.csrf import SAFE_METHODS
from app.auth.principal import SESSION_COOKIE
from app.web.openapi import dependencies_used

BEARER = "bearerAuth"
COOKIE = "cookieSession"
CSRF = "csrfToken"

SECURITY_SCHEMES: dict[str, SecurityScheme | Any] = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        description="A token from `POST /api/v1/auth/token`, sent as `Authorization: Bearer <token>`.",
    ),
    COOKIE: SecurityScheme(
        type="apiKey",
        name=SESSION_COOKIE,
        security_scheme_in="cookie",
        description="The session cookie that `POST /api/v1/users/loginuser` sets (HttpOnly: a browser sends it).",
    ),
    CSRF: SecurityScheme(
        type="apiKey",
        name="X-CSRF-Token",  # app.auth.csrf.CSRF_HEADER; header names are case-insensitive
        security_scheme_in="header",
        description="With the session cookie, every unsafe request sends the token of `GET /api/v1/csrftoken`.",
    ),
}

# Dependencies that refuse an anonymous caller (401), and those that take one but answer a caller differently.
_REQUIRE_LOGIN = frozenset({"caller", "staff_access", "admin_access"})
_OPTIONAL_LOGIN = frozenset({"maybe_caller", "clinic_access"})


def _requires_login(guard: Any) -> bool:
    """The guards of app.auth.principal (`login_required`, `claim_required(...)`) refuse anonymous callers."""
    return getattr(guard, "__module__", None) == principal.__name__


def security_of(handler: HTTPRouteHandler) -> list[SecurityRequirement]:
    """The security requirements of the handler's operation: bearer, or the session cookie (with the CSRF header
    for an unsafe method). A route open to anonymous callers that answers a logged-in one differently also lists
    `{}` (no credentials); a public route lists nothing."""
    used = dependencies_used(handler)
    required = any(_requires_login(guard) for guard in handler.resolve_guards()) or bool(used & _REQUIRE_LOGIN)
    optional = bool(used & _OPTIONAL_LOGIN)
    if not (required or optional):
        return []
    safe = handler.http_methods <= SAFE_METHODS
    requirements: list[SecurityRequirement] = [{BEARER: []}, {COOKIE: []} if safe else {COOKIE: [], CSRF: []}]
    return requirements if required else [{}, *requirements]


def declare_security(app: Litestar) -> None:
    """Sets each HTTP route handler's `security` (before the document is first built, which is lazy)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                handler.security = security_of(handler) or None


def components() -> Components:
    return Components(security_schemes=SECURITY_SCHEMES)
