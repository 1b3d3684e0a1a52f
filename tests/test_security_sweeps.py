"""Sweeps for the classes of docs/security.md, "Threat model": each walks everything of its kind that exists
(the route table, the schema, the page scripts), so a new route, column or page is covered without anyone
remembering to add it."""

from __future__ import annotations

import asyncio
import re

import httpx
import psycopg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.config import PROJECT_ROOT, Settings
from app.web.sockets import CLOSE_SESSION_ENDED
from tests.security_support import fill_path, public_things, route_table, routes_with_a_body
from tests.support import Account, RunningServer, assert_envelope, new_user

# Rights cached on long-lived things ----------------------------------------------------------------------------

# Feeds anyone may watch: a socket of these keeps watching, anonymously, when its session ends (its bidding right
# goes: tests/test_realtime_rights.py). Every other socket needs its session and is closed with 4401 when it ends.
PUBLIC_FEEDS = {
    "/api/v1/products/ws/subscribe/{product_id:str}": "an auction is public; bidding is checked per bid",
    "/api/v1/clinics/{clinic_id:int}/ws/display": "the TV panel shows what the waiting room sees",
}


async def test_every_websocket_follows_its_session_when_it_ends(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    values = await public_things(client, admin)
    _, sockets = route_table(server.app)
    assert set(PUBLIC_FEEDS) <= set(sockets)
    for template in sockets:
        holder = await new_user(client)
        # Administrador rights for the holder: it may open every feed (clinics:manage covers every clinic's staff).
        response = await client.patch(f"/api/v1/users/{holder.id}", json={"role_id": 1}, headers=admin.headers)
        assert response.status_code == 200, response.text
        url = server.ws_url + fill_path(template, values)
        async with connect(url, additional_headers=holder.headers, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 5)  # the snapshot: the feed is open
            assert (await client.delete("/api/v1/auth/token", headers=holder.headers)).status_code == 204
            if template in PUBLIC_FEEDS:
                await asyncio.sleep(0.5)
                assert ws.close_code is None, template  # still watching
                continue
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed:
                pass
            assert ws.close_code == CLOSE_SESSION_ENDED, (template, ws.close_code)


# Bad input never reaches a 500 ---------------------------------------------------------------------------------


async def test_every_body_refuses_a_deeply_nested_document_with_400(
    server: RunningServer, client: httpx.AsyncClient, admin: Account
) -> None:
    values = await public_things(client, admin)
    nested = b"[" * 4_000 + b"]" * 4_000  # 8 kB: under every body limit, far over any sane depth
    routes = routes_with_a_body(server.app)
    assert len(routes) >= 30, routes
    refused = 0
    for method, template in routes:
        response = await client.request(
            method,
            fill_path(template, values),
            content=nested,
            headers=admin.headers | {"Content-Type": "application/json"},
        )
        assert response.status_code < 500, (method, template, response.text)
        if response.status_code == 400:
            assert_envelope(response, 400)
            refused += 1
    # A few answer 403/404/413 first (a guard, an unknown id, the body limit); the others judged the body.
    assert refused >= len(routes) * 3 // 4, refused


# Stored strings reaching HTML ----------------------------------------------------------------------------------

HTML_SINKS = re.compile(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(")


def test_no_page_script_turns_data_into_html() -> None:
    """The pages show names, rooms and amounts that users typed: always as text (textContent), never parsed as
    HTML, so a stored `<script>` is shown, not run (the CSP forbids inline scripts as a second wall)."""
    scripts = sorted((PROJECT_ROOT / "app" / "static").rglob("*.js"))
    assert scripts
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in scripts
        if "vendor" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HTML_SINKS.search(line)
    ]
    assert offenders == []


# Secrets at rest -----------------------------------------------------------------------------------------------

# Columns whose names suggest a credential but hold none, each with the reason.
NOT_SECRETS = {
    ("tickets", "code"): "the ticket's display code (CG-005), called out on the TV",
    ("services", "code"): "the service's letters on the ticket",
    ("purchases", "code"): "the reseller's own purchase reference",
    ("calls", "code"): "the ticket's display code as the TV announced it",
    ("idempotency_keys", "key"): "the client's own retry key: it replays only that caller's answer, secrets removed",
    ("idempotency_keys", "status_code"): "an HTTP status",
    ("tickets", "public_token"): (
        "a capability for one ticket's status page, printed on the ticket; reveals its place in line only "
        "(docs/security.md, 'Secrets at rest')"
    ),
}
CREDENTIAL = re.compile(r"password|token|secret|code|key")


async def test_no_column_keeps_a_credential_in_clear(settings: Settings) -> None:
    """Passwords are argon2id hashes, tokens and codes SHA-256 or HMAC digests (bytea): a column whose name says
    credential is a hash, or is listed above with why it holds none."""
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cursor = await conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name NOT LIKE '\\_yoyo%' AND table_name NOT LIKE 'yoyo%'"
        )
        columns = await cursor.fetchall()
    suspects = [
        (table, column, kind)
        for table, column, kind in columns
        if CREDENTIAL.search(column) and not column.endswith("_hash") and (table, column) not in NOT_SECRETS
    ]
    assert suspects == [], suspects
