"""No one sees or changes what belongs to someone else: every route that takes an id, enumerated from the app
itself (so a new route is probed the day it is added), is called by another logged-in user with the victim's ids.

The rule checked for each call: the intruder gets a refusal (401/403/404, or a 400/409/422 that reveals nothing),
or exactly what an anonymous client gets for the same call (a public thing: a clinic's card, the TV feed, an
auction), and never anything that names the victim. Afterwards the victim's data is checked unchanged."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.auctions_support import create_auction
from tests.cashback_upstream import new_reseller
from tests.clinic_support import Desk, api, call_next, create_clinic, create_room, create_service, issue
from tests.support import Account, RunningServer, new_user, unique_email

# Things any logged-in user may do to someone else's resource, by design (the rest must be refused). A name here
# that is no longer a route fails the test, so this list cannot go stale.
ALLOWED_ON_OTHERS = {
    ("POST", "/api/v1/products/{product_id:uuid}/bids"): "bidding on another's auction is the point of an auction",
}
# A purchase date safely in the past: the server judges "not in the future" in APP_TIMEZONE (São Paulo), which
# is behind UTC for three hours after midnight UTC.
PAST_DAY = "2024-05-01"
SKIPPED_PARAMS = {"file_path", "path"}  # static files and the OpenAPI UI's pages: no owner
REFUSED = {400, 401, 403, 404, 405, 409, 422}
_PARAM = re.compile(r"{(\w+):\w+}")


def schema_example(schema: dict[str, Any], doc: dict[str, Any]) -> Any:
    """A small value that fits `schema` (required fields only), for bodies that get past type checks."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return schema_example(options[0], doc) if options else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        names = schema.get("required") or list(props)  # nothing required: send every field ("at least one")
        return {name: _named(name, schema_example(props[name], doc)) for name in names if name in props}
    if kind == "array":
        return [schema_example(schema.get("items", {}), doc) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return max(float(schema.get("minimum", 1)), 1.0)
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "email":
            return unique_email("probe")
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date-time":
            return (datetime.now(UTC) + timedelta(hours=3)).isoformat()
        if fmt == "date":
            return PAST_DAY
        return "p" * min(max(int(schema.get("minLength", 1)), 8), int(schema.get("maxLength", 8)))
    return None


def _named(name: str, value: Any) -> Any:
    """Field names whose format the schema does not spell out."""
    if name == "email" and isinstance(value, str):
        return unique_email("probe")
    return value


async def _victim_world(client: httpx.AsyncClient, admin: Account) -> tuple[Account, dict[str, str], list[str]]:
    """The victim: a reseller with a purchase, an auction, staff of a clinic with a room, a called ticket and a
    pending invitation. Returns the victim, a value for every path parameter, and strings only the victim owns."""
    victim = await new_reseller(client, name="Vitima Secreta")
    purchase = await client.post(
        "/api/v1/purchases",
        json={"code": "SECRET-1", "value": 123.45, "date": PAST_DAY, "cpf": victim.cpf},
        headers=victim.headers,
    )
    assert purchase.status_code == 201, purchase.text
    product_id = await create_auction(client, victim, name="Produto Secreto")
    clinic = await create_clinic(client, admin)
    cid = clinic["id"]
    service = await create_service(client, admin, cid, "SEC")
    added = await client.post(
        api(cid, "/staff/invitations"), json={"email": victim.email, "is_admin": True}, headers=admin.headers
    )
    assert added.status_code == 201, added.text
    room = await create_room(client, admin, cid, "Sala Secreta")
    taken = await client.post(api(cid, f"/rooms/{room['id']}/take"), headers=victim.headers)
    assert taken.status_code == 200, taken.text
    ticket = await issue(client, cid, service["id"], patient_name="Paciente Secreto")
    step = await call_next(client, cid, Desk(account=victim, room=room))
    assert step.status_code == 200, step.text
    invitation = await client.post(
        api(cid, "/staff/invitations"), json={"email": unique_email("pending")}, headers=admin.headers
    )
    assert invitation.status_code == 201, invitation.text
    kiosk = await client.post(api(cid, "/kiosks"), json={"name": "Totem Secreto"}, headers=admin.headers)
    assert kiosk.status_code == 201, kiosk.text
    client.cookies.delete("kiosk")  # the kiosk's cookie belongs to the kiosk's browser, not to this shared client
    claims = (await client.get("/api/v1/claims?limit=100", headers=admin.headers)).json()["items"]
    values = {
        "user_id": victim.id,
        "claim_id": str(next(c["id"] for c in claims if c["description"] == "users:manage")),
        "clinic_id": str(cid),
        "service_id": str(service["id"]),
        "room_id": str(room["id"]),
        "step_id": str(step.json()["id"]),
        "invitation_id": str(invitation.json()["invitation"]["id"]),
        "kiosk_id": str(kiosk.json()["id"]),
        "public_token": ticket["public_token"],
        "product_id": product_id,
        "purchase_id": str(purchase.json()["id"]),
    }
    secrets = [victim.email, victim.cpf, "Vitima Secreta", "SECRET-1", "Paciente Secreto", "Totem Secreto"]
    return victim, values, secrets


def _routes_with_ids(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route whose path takes a parameter, from the app's own route table."""
    found = []
    for route in app.routes:
        if not _PARAM.search(route.path) or set(_PARAM.findall(route.path)) <= SKIPPED_PARAMS:
            continue
        if isinstance(route, WebSocketRoute):
            found.append(("WS", route.path))
        elif isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in sorted(handler.http_methods):
                    if method not in ("HEAD", "OPTIONS") and (method, route.path) not in found:
                        found.append((method, route.path))
    return found


def _fill(template: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"no victim's value for the path parameter {name!r} of {template}: add one to the world")
        return values[name]

    return _PARAM.sub(value, template)


def _openapi_operation(doc: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    return doc["paths"].get(re.sub(r"{(\w+):\w+}", r"{\1}", template), {}).get(method.lower(), {})


async def test_every_route_with_an_id_refuses_another_users_resource(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    victim, values, secrets = await _victim_world(client, admin)
    intruder = await new_user(client)
    # The intruder is not a nobody: it administers a clinic of its own.
    own_clinic = await create_clinic(client, admin)
    joined = await client.post(
        api(own_clinic["id"], "/staff/invitations"),
        json={"email": intruder.email, "is_admin": True},
        headers=admin.headers,
    )
    assert joined.status_code == 201
    doc = (await client.get("/schema/openapi.json")).json()
    routes = _routes_with_ids(server.app)
    assert {r for r in ALLOWED_ON_OTHERS} <= set(routes), "ALLOWED_ON_OTHERS names a route that no longer exists"
    outcomes: dict[int, int] = {}
    probed = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
        for method, template in routes:
            url = _fill(template, values)
            if method == "WS":
                await _probe_socket(server, url, intruder, template)
                probed += 1
                continue
            operation = _openapi_operation(doc, method, template)
            body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            body = schema_example(body_schema, doc) if body_schema else None
            kwargs: dict[str, Any] = {"json": body} if body is not None else {}
            query = {
                p["name"]: str(schema_example(p.get("schema", {}), doc))
                for p in operation.get("parameters", [])
                if p.get("in") == "query" and p.get("required")
            }
            if query:
                kwargs["params"] = query
            as_intruder = await client.request(method, url, headers=intruder.headers, **kwargs)
            probed += 1
            outcomes[as_intruder.status_code] = outcomes.get(as_intruder.status_code, 0) + 1
            where = f"{method} {template} as another user: {as_intruder.status_code} {as_intruder.text[:300]}"
            assert as_intruder.status_code < 500, where
            if as_intruder.status_code in REFUSED:
                assert not any(s in as_intruder.text for s in secrets), where
                continue
            if (method, template) in ALLOWED_ON_OTHERS:
                continue
            # A success is only fine for a public thing: an anonymous client gets the same.
            as_anyone = await anonymous.request(method, url, **kwargs)
            assert as_anyone.status_code == as_intruder.status_code, where
            if method == "GET" and "json" in as_intruder.headers.get("content-type", ""):
                assert as_intruder.json() == as_anyone.json(), where
            assert not any(s in as_intruder.text for s in secrets if s not in as_anyone.text), where
    assert probed >= 40, probed
    print(f"probed {probed} routes with ids; intruder's statuses: {dict(sorted(outcomes.items()))}")

    # Nothing of the victim changed.
    me = (await client.get("/api/v1/users/me", headers=victim.headers)).json()
    assert me["name"] == "Vitima Secreta"
    assert me["active"] is True
    purchase = (await client.get(f"/api/v1/purchases/{values['purchase_id']}", headers=victim.headers)).json()
    assert purchase["code"] == "SECRET-1"
    assert (await client.get(f"/api/v1/products/{values['product_id']}")).json()["status"] not in ("cancelled",)
    rooms = (await client.get(api(int(values["clinic_id"]), "/rooms"), headers=victim.headers)).json()
    assert [r["name"] for r in rooms["items"] if str(r["id"]) == values["room_id"]] == ["Sala Secreta"]
    assert victim.token


async def _probe_socket(server: RunningServer, url: str, intruder: Account, template: str) -> None:
    """A socket route: the intruder is refused before accept, unless an anonymous client is let in too."""
    headers = {"Authorization": f"Bearer {intruder.token}"}
    status = 101
    try:
        async with connect(server.ws_url + url, additional_headers=headers, open_timeout=10):
            pass
    except InvalidStatus as refused:
        status = refused.response.status_code
    assert status in (101, 401, 403, 404), (template, status)
    intruder_in = status == 101
    if intruder_in:
        try:
            async with connect(server.ws_url + url, open_timeout=10):
                anyone_in = True
        except InvalidStatus:
            anyone_in = False
        assert anyone_in, f"WS {template}: another user gets in where an anonymous client does not"
