"""Every answer documented (docs/rules/README.md): each operation lists each status it can answer, the errors with
the one envelope schema and a line saying when, and nothing it cannot answer.

That every observed (operation, status) is listed is checked over the whole session (tests/statuses.py, run by
conftest.py at the end) and by the fuzzer's status-code conformance (tests/test_fuzz_api.py)."""

from __future__ import annotations

from typing import Any

import httpx

from app.web.errors import refusals_of
from app.web.openapi import dependencies_used
from tests.statuses import OBSERVED, undocumented
from tests.support import PASSWORD, RunningServer, unique_email
from tests.test_openapi import _handlers_by_operation, openapi

ENVELOPE = {"$ref": "#/components/schemas/ErrorBody"}
# Operations that take credentials in their body: a wrong password is their 401, though they need no login.
TAKES_CREDENTIALS = {"login", "token"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items() for method, operation in item.items()]


async def test_every_error_has_the_one_envelope_and_says_when(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    envelope = document["components"]["schemas"]["ErrorBody"]
    assert set(envelope["properties"]) == {"status_code", "detail", "extra"}
    assert document["components"]["schemas"]["FieldError"]["required"] == ["key", "message"]
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == ENVELOPE, (method, path, status)
                assert response["description"], (method, path, status)
                assert "\n" not in response["description"], (method, path, status)
    paths = document["paths"]
    signup = paths["/api/v1/users/signupuser"]["post"]["responses"]
    assert "an account with this e-mail already exists" in signup["409"]["description"]
    bid = paths["/api/v1/products/{product_id}/bids"]["post"]["responses"]
    assert "below the minimum" in bid["422"]["description"]
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    assert set(paths["/api/v1/clinics/{clinic_id}/desk/call-next"]["post"]["responses"]) >= {"200", "204", "409"}


async def test_nothing_is_documented_that_cannot_happen(client: httpx.AsyncClient, server: RunningServer) -> None:
    """No 401 where no credentials are needed, no 403 on a public read, no 413/415 without a body, no 404 without a
    path id (unless the handler declares what else is missing), no 429 without a rate limit, no 503 where the
    database is never asked."""
    document = await openapi(client)
    handlers = _handlers_by_operation(server)
    for method, path, operation in _operations(document):
        where = (method, path)
        statuses = {int(status) for status in operation["responses"]}
        handler = handlers[where]
        security = operation.get("security")
        declared = {refusal.status for refusal in refusals_of(handler.fn)}
        if (not security or {} in security) and operation["operationId"] not in TAKES_CREDENTIALS:
            assert 401 not in statuses or 401 in declared, where  # (a query parameter that asks for more rights)
        if method == "get" and not security:
            assert 403 not in statuses, where
        if "requestBody" not in operation and operation["operationId"] != "token":  # token: JSON or an OAuth2 form
            assert not statuses & {413, 415}, where
        if "{" not in path:
            assert 404 not in statuses or 404 in declared, where
        used = dependencies_used(handler)
        if 429 in statuses:
            assert "rate_limiter" in used, where
        if not (used & {"db", "rate_limiter"} or security or path == "/ready"):
            assert 503 not in statuses, where
    assert set(document["paths"]["/api/v1/csrftoken"]["get"]["responses"]) == {"200"}


async def test_the_recorder_sees_what_the_server_answers(client: httpx.AsyncClient) -> None:
    """The session-wide check observes real answers, and would name one the document does not list."""
    body = {"user_name": "Twice", "email": unique_email("twice"), "password": PASSWORD}
    assert (await client.post("/api/v1/users/signupuser", json=body)).status_code == 201
    assert (await client.post("/api/v1/users/signupuser", json=body)).status_code == 409
    assert ("post", "/api/v1/users/signupuser", 409) in OBSERVED
    document = await openapi(client)
    assert undocumented({("post", "/api/v1/users/signupuser", 409)}, document) == []
    assert undocumented({("post", "/api/v1/users/signupuser", 418)}, document) == ["POST /api/v1/users/signupuser: 418"]
