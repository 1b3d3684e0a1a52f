"""What the security sweeps share: the app's own route table, paths filled for probing, and the public things
(a clinic with a service, an auction) that path parameters can name."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from litestar.routes import HTTPRoute, WebSocketRoute

from tests.auctions_support import create_auction
from tests.clinic_support import create_clinic, create_service
from tests.support import Account

_PARAM = re.compile(r"{(\w+):(\w+)}")


def route_table(app: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(method, path) of every HTTP route and the path of every WebSocket route, from the app's route table."""
    http: list[tuple[str, str]] = []
    sockets: list[str] = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            sockets.append(route.path)
        elif isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in sorted(handler.http_methods):
                    if method not in ("HEAD", "OPTIONS") and (method, route.path) not in http:
                        http.append((method, route.path))
    return http, sockets


def routes_with_a_body(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route whose handler takes a JSON body (`data`)."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if "data" in handler.parsed_fn_signature.parameters:
                    found.extend((method, route.path) for method in sorted(handler.http_methods))
    return found


def fill_path(template: str, values: dict[str, str]) -> str:
    """Path parameters by name when the test has a real one, otherwise any value of the right type."""
    by_type = {"int": "1", "uuid": str(uuid.uuid4()), "str": "x", "path": "x"}
    return _PARAM.sub(lambda m: values.get(m.group(1), by_type[m.group(2)]), template)


async def public_things(client: httpx.AsyncClient, admin: Account) -> dict[str, str]:
    clinic = await create_clinic(client, admin)
    await create_service(client, admin, clinic["id"], "HD")
    return {"clinic_id": str(clinic["id"]), "product_id": await create_auction(client, admin)}
