"""No 500 for anything a client sends (docs/rules/README.md): hostile inputs to the user and auth endpoints all answer a
4xx with the error envelope. One table, checked in one go so a failure lists every offending row."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import PASSWORD, Account, assert_envelope, new_user, unique_email

NO_USER = "00000000-0000-0000-0000-000000000000"


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    json: Any = None
    content: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    data: dict[str, str] | None = None
    auth: str | None = "admin"  # whose bearer token: "admin", "user" or None (anonymous)


def cursor_of(value: Any) -> str:
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def cases(user_id: str) -> list[Case]:
    deep = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB body limit
    json_type = [(b"content-type", b"application/json")]
    return [
        # Huge and out-of-range numbers.
        Case("role_id beyond int64", "POST", "/api/v1/users", 400, json={"email": unique_email(), "role_id": 10**30}),
        Case("role_id beyond int32", "POST", "/api/v1/users", 400, json={"email": unique_email(), "role_id": 2**40}),
        Case(
            "role_id 1e400",
            "POST",
            "/api/v1/users",
            400,
            content=b'{"email": "a@example.com", "role_id": 1e400}',
            headers=json_type,
        ),
        Case(
            "anonymous role_id beyond int64",
            "POST",
            "/api/v1/users",
            403,
            json={"email": unique_email(), "role_id": 10**30},
            auth=None,
        ),
        Case(
            "plain user role_id beyond int32",
            "PATCH",
            f"/api/v1/users/{user_id}",
            403,
            json={"role_id": 2**40},
            auth="user",
        ),
        Case("role_id negative", "PATCH", f"/api/v1/users/{user_id}", 400, json={"role_id": -1}),
        Case("role_id query beyond int32", "GET", "/api/v1/users?role_id=99999999999", 400),
        Case("role_id query not a number", "GET", "/api/v1/users?role_id=abc", 400),
        Case("limit zero", "GET", "/api/v1/users?limit=0", 400),
        Case("limit huge", "GET", "/api/v1/users?limit=1000000000000000000000", 400),
        Case("claim_ids beyond int32", "POST", "/api/v1/roles", 400, json={"description": "Big", "claim_ids": [2**40]}),
        Case("claim id path beyond int64", "PUT", f"/api/v1/users/{user_id}/claims/99999999999999999999", 404),
        Case("claim id path beyond int32 on PATCH", "PATCH", "/api/v1/claims/99999999999", 404, json={"active": False}),
        # Nulls, wrong types, nested objects.
        Case("email null", "POST", "/api/v1/users", 400, json={"email": None}),
        Case("email object", "POST", "/api/v1/users", 400, json={"email": {"$ne": ""}}),
        Case("email list", "POST", "/api/v1/users", 400, json={"email": ["a@example.com"]}),
        Case(
            "password number",
            "POST",
            "/api/v1/users/signupuser",
            400,
            json={"user_name": "N", "email": unique_email(), "password": 12345678},
        ),
        Case(
            "login password null",
            "POST",
            "/api/v1/users/loginuser",
            400,
            json={"email": "a@example.com", "password": None},
            auth=None,
        ),
        Case("active as string", "PATCH", f"/api/v1/users/{user_id}", 400, json={"active": "false"}),
        Case("claim active null list", "POST", "/api/v1/claims", 400, json={"description": "a:b", "active": [None]}),
        Case("body is a list", "POST", "/api/v1/auth/token", 400, json=[{"email": "a@example.com"}], auth=None),
        Case("body is a string", "POST", "/api/v1/auth/password-reset", 400, json="a@example.com", auth=None),
        Case("deeply nested body", "POST", "/api/v1/users", 400, content=deep, headers=json_type),
        Case("deeply nested token body", "POST", "/api/v1/auth/token", 400, content=deep, auth=None),
        Case(
            "deeply nested field",
            "POST",
            "/api/v1/users/signupuser",
            400,
            content=b'{"user_name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
            headers=json_type,
            auth=None,
        ),
        Case(
            "nested just below the decoder's limit",
            "POST",
            "/api/v1/users/signupuser",
            400,
            content=b'{"user_name": ' + b"[" * 900 + b'"\\u0000"' + b"]" * 900 + b"}",
            headers=json_type,
            auth=None,
        ),
        # Unicode.
        Case(
            "NUL in e-mail", "POST", "/api/v1/users", 400, json={"email": "ana\u0000@example.com", "password": PASSWORD}
        ),
        Case(
            "NUL in name",
            "POST",
            "/api/v1/users/signupuser",
            400,
            json={"user_name": "a\u0000b", "email": unique_email(), "password": PASSWORD},
            auth=None,
        ),
        Case(
            "NUL in login", "POST", "/api/v1/users/loginuser", 400, json={"email": "\u0000", "password": "x"}, auth=None
        ),
        Case(
            "NUL in token form",
            "POST",
            "/api/v1/auth/token",
            400,
            data={"username": "a\u0000@example.com", "password": "x"},
            auth=None,
        ),
        Case("NUL in bio", "PATCH", f"/api/v1/users/{user_id}", 400, json={"bio": "\u0000"}),
        Case(
            "NUL in reset code",
            "POST",
            "/api/v1/auth/password-reset/confirm",
            400,
            json={"email": "a@example.com", "code": "12\u000034", "new_password": PASSWORD},
            auth=None,
        ),
        Case("NUL in claim name", "POST", "/api/v1/claims", 400, json={"description": "a\u0000"}),
        Case(
            "lone surrogate",
            "POST",
            "/api/v1/users",
            400,
            content=b'{"email": "\\ud800@example.com"}',
            headers=json_type,
        ),
        Case(
            "invalid UTF-8",
            "POST",
            "/api/v1/users",
            400,
            content=b'{"email": "\xff\xfe@example.com"}',
            headers=json_type,
        ),
        Case(
            "e-mail too long",
            "POST",
            "/api/v1/auth/password-reset",
            400,
            json={"email": "a" * 300 + "@example.com"},
            auth=None,
        ),
        Case(
            "password too long",
            "POST",
            "/api/v1/users/signupuser",
            400,
            json={"user_name": "L", "email": unique_email(), "password": "p" * 129},
            auth=None,
        ),
        Case(
            "name only spaces",
            "POST",
            "/api/v1/users/signupuser",
            400,
            json={"user_name": "   ", "email": unique_email(), "password": PASSWORD},
            auth=None,
        ),
        Case("unknown field", "PATCH", f"/api/v1/users/{user_id}", 400, json={"password_hash": "x"}),
        # Wrong content type, empty bodies.
        Case(
            "text/plain body",
            "POST",
            "/api/v1/users",
            415,
            content=b"email=a@example.com",
            headers=[(b"content-type", b"text/plain")],
        ),
        Case(
            "form to a JSON endpoint",
            "POST",
            "/api/v1/users/loginuser",
            415,
            data={"email": "a@example.com", "password": "x"},
            auth=None,
        ),
        Case("empty body", "POST", "/api/v1/users", 400, content=b"", headers=json_type),
        Case("empty token body", "POST", "/api/v1/auth/token", 400, content=b"", auth=None),
        Case("whitespace body", "POST", "/api/v1/users/signupuser", 400, content=b"   ", headers=json_type, auth=None),
        Case(
            "malformed JSON",
            "POST",
            "/api/v1/auth/password-reset",
            400,
            content=b'{"email": "a@',
            headers=json_type,
            auth=None,
        ),
        Case("empty DELETE me", "DELETE", "/api/v1/users/me", 400, auth="user"),
        Case("empty form token", "POST", "/api/v1/auth/token", 400, data={}, auth=None),
        # Invalid identifiers in paths.
        Case("not a UUID", "GET", "/api/v1/users/not-a-uuid", 404),
        Case("UUID-ish", "GET", "/api/v1/users/00000000-0000-0000-0000-00000000000g/role", 404),
        Case("not a UUID on PATCH", "PATCH", "/api/v1/users/1", 404, json={"bio": "x"}),
        Case("claim id not a number", "PUT", f"/api/v1/users/{user_id}/claims/abc", 404),
        Case("unknown user on claims", "DELETE", f"/api/v1/users/{NO_USER}/claims/1", 404),
        # Invalid cursors.
        Case("cursor garbage", "GET", "/api/v1/users?cursor=%%%garbage", 400),
        Case("cursor not base64 JSON", "GET", "/api/v1/users?cursor=bm90IGpzb24", 400),
        Case("cursor wrong shape", "GET", f"/api/v1/users?cursor={cursor_of({'a': 1})}", 400),
        Case("cursor wrong types", "GET", f"/api/v1/users?cursor={cursor_of(['yesterday', 'nobody'])}", 400),
        Case("cursor too long", "GET", "/api/v1/users?cursor=" + "A" * 500, 400),
        Case("roles cursor beyond int32", "GET", f"/api/v1/roles?cursor={cursor_of([2**40])}", 400),
        Case("claims cursor not an id", "GET", f"/api/v1/claims?cursor={cursor_of(['x'])}", 400),
        Case("claims limit too big", "GET", "/api/v1/claims?limit=101", 400),
        # Hostile headers.
        Case(
            "Idempotency-Key too long",
            "POST",
            "/api/v1/users",
            400,
            json={"email": unique_email()},
            headers=[(b"idempotency-key", b"k" * 300)],
        ),
        Case(
            "bearer token huge",
            "GET",
            "/api/v1/users/me",
            401,
            headers=[(b"authorization", b"Bearer " + b"x" * 5000)],
            auth=None,
        ),
        Case(
            "bearer non-ASCII",
            "GET",
            "/api/v1/users/me",
            401,
            headers=[(b"authorization", b"Bearer \xe9\xe9")],
            auth=None,
        ),
        Case(
            "session cookie garbage",
            "GET",
            "/api/v1/users/me",
            401,
            headers=[(b"cookie", b"session=\xe9; x")],
            auth=None,
        ),
        Case(
            "CSRF header non-ASCII",
            "POST",
            "/api/v1/users/logout",
            403,
            headers=[(b"cookie", b"session=abc; csrftoken=\xe9"), (b"x-csrf-token", b"\xe9")],
            auth=None,
        ),
        Case(
            "csrf cookie non-ASCII",
            "GET",
            "/api/v1/csrftoken",
            200,
            headers=[(b"cookie", b"csrftoken=\xe9.\xe9")],
            auth=None,
        ),
        Case(
            "body too large",
            "POST",
            "/api/v1/auth/token",
            413,
            json={"email": "a@example.com", "password": "p" * 100_000},
            auth=None,
        ),
    ]


async def test_hostile_inputs_answer_4xx_with_the_envelope(client: httpx.AsyncClient, admin: Account) -> None:
    user = await new_user(client)
    tokens = {"admin": admin.headers["Authorization"], "user": user.headers["Authorization"]}
    failures = []
    for case in cases(user.id):
        headers = list(case.headers)
        if case.auth:
            headers.append((b"authorization", tokens[case.auth].encode()))
        kwargs: dict[str, Any] = {"headers": headers}
        if case.content is not None:
            kwargs["content"] = case.content
        elif case.data is not None:
            kwargs["data"] = case.data
        elif case.json is not None:
            kwargs["json"] = case.json
        response = await client.request(case.method, case.path, **kwargs)
        try:
            if case.status == 200:
                assert response.status_code == 200, response.text
            else:
                assert_envelope(response, case.status)
        except AssertionError:
            failures.append(f"{case.name}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    # The account the table patched is untouched.
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    assert me["bio"] is None
    assert me["active"] is True
