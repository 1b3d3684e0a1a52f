"""The API documentation: OpenAPI 3.1 at /schema/openapi.json with every route and money as numbers, and an
interactive UI at /docs and /schema that works offline (its assets are served by us, never by a CDN)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import typing
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute

import app
from tests.support import RunningServer


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    return response.json()


async def test_the_document_is_openapi_3_1(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    assert document["paths"]


def _documented_operations(server: RunningServer) -> set[tuple[str, str]]:
    """(method, path) of every route our code declares and does not hide from the schema."""
    operations = set()
    for route in server.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.fn.__module__.startswith("app.") or not handler.resolve_include_in_schema():
                continue
            path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
            operations |= {
                (method.lower(), path) for method in handler.http_methods if method not in ("OPTIONS", "HEAD")
            }
    return operations


async def test_every_route_is_in_the_document(client: httpx.AsyncClient, server: RunningServer) -> None:
    document = await openapi(client)
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    expected = _documented_operations(server)
    assert {("get", "/health"), ("get", "/ready"), ("post", "/api/v1/users")} <= expected
    assert expected - listed == set()


# Money --------------------------------------------------------------------------------------------------------


def _is_decimal(annotation: Any) -> bool:
    """Decimal, Money (Annotated[Decimal, ...]) or an optional of either."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_decimal(typing.get_args(annotation)[0])
    if annotation is Decimal:
        return True
    return any(_is_decimal(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _structs_of_the_app() -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    for module_info in pkgutil.walk_packages(app.__path__, "app."):
        if not module_info.name.endswith(".schemas"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__module__ == module.__name__:
                found[value.__name__] = value
    return found


def _types_in(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", [])
    found = set([kinds] if isinstance(kinds, str) else kinds)
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        found |= _types_in(option)
    return found


async def test_money_is_declared_a_number(client: httpx.AsyncClient) -> None:
    """Every Decimal field of every request or response body (Money included) is `type: number`: that is what
    travels on the wire, and a generated client must not send or expect strings."""
    schemas = (await openapi(client))["components"]["schemas"]
    structs = _structs_of_the_app()
    checked = []
    for name, schema in schemas.items():
        struct = structs.get(name)
        if struct is None:
            continue
        hints = typing.get_type_hints(struct, include_extras=True)
        for field in msgspec.structs.fields(struct):
            if _is_decimal(hints[field.name]) and field.encode_name in schema.get("properties", {}):
                kinds = _types_in(schema["properties"][field.encode_name])
                assert "number" in kinds, (name, field.name, schema["properties"][field.encode_name])
                assert "string" not in kinds, (name, field.name)
                checked.append(f"{name}.{field.name}")
    if not checked:
        pytest.skip("no money field is exposed yet")


# The interactive UI, offline -----------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_redirects_to_the_swagger_ui(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"].endswith("/schema/swagger")
    page = await client.get("/docs", follow_redirects=True)
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_ui_references_no_external_host_and_its_assets_are_served(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in links.urls)
    for url in links.urls:
        assert not urlsplit(url).netloc, f"{path} loads {url} from another host"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    # Nor does any inline script name a host (a CDN, a font service).
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", page.text.replace("http://json-schema.org", ""))


async def test_swagger_assets_have_their_content_types(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/swagger/swagger-ui-bundle.js")
    style = await client.get("/static/swagger/swagger-ui.css")
    assert script.status_code == style.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert style.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/swagger/../../../etc/passwd")).status_code in (400, 404)


@pytest.mark.browser
async def test_the_ui_renders_the_operations_in_a_browser_offline(
    server: RunningServer, client: httpx.AsyncClient, browser: Any, tmp_path: Path
) -> None:
    """Headless Chromium loads /docs; every request it makes goes to our server, and the operations render."""
    document = await openapi(client)
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(server.url + "/docs")
    await page.wait_for_selector(".opblock", timeout=15000)
    rendered = await page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block =>
            block.querySelector('.opblock-summary-method').textContent.trim() + ' ' +
            block.querySelector('.opblock-summary-path').textContent.replace(/\u200b/g, '').trim())""",
    )
    await page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert errors == []
    assert set(rendered) == operations  # (an operation with two tags is shown under each)
    foreign = [url for url in requested if not url.startswith(server.url) and not url.startswith("data:")]
    assert foreign == []
