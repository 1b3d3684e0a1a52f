"""The API documentation: OpenAPI 3.1 at /schema/openapi.json with every route and money as numbers, and an
interactive UI at /docs and /schema that works offline (its assets are served by us, never by a CDN)."""

from __future__ import annotations

import copy
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
from openapi_spec_validator import OpenAPIV31SpecValidator

import app
from tests.support import PASSWORD, RunningServer, new_user, unique_email


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    return response.json()


async def test_the_document_is_openapi_3_1(client: httpx.AsyncClient) -> None:
    """openapi-spec-validator's OpenAPI 3.1 checks pass: the document against the specification's schema, every
    $ref resolves, every path parameter is declared, no operationId twice. (It finds each in a broken copy.)"""
    document = await openapi(client)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    assert document["paths"]
    assert [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()] == []

    broken = copy.deepcopy(document)
    broken["paths"]["/api/v1/users/me"]["get"]["operationId"] = "create_user"
    del broken["paths"]["/api/v1/users/{user_id}"]["get"]["parameters"]
    broken["components"]["schemas"]["UserOut"]["type"] = "user"
    found = " | ".join(error.message for error in OpenAPIV31SpecValidator(broken).iter_errors())
    assert "'create_user' for 'get' in '/api/v1/users/me' is not unique" in found
    assert "Path parameter 'user_id' for 'get' operation in '/api/v1/users/{user_id}' was not resolved" in found
    assert "'user' is not valid" in found


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


def _schemas_in(node: Any) -> list[dict[str, Any]]:
    """Every object of the document that has a `type` or an `enum` (schemas, at any depth)."""
    if isinstance(node, list):
        return [found for item in node for found in _schemas_in(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if "type" in node or "enum" in node else []
    return own + [found for value in node.values() for found in _schemas_in(value)]


async def test_an_optional_choice_is_an_enum_or_null(client: httpx.AsyncClient) -> None:
    """`Literal[...] | None` is `oneOf: [{enum}, {type: null}]`, not one schema with null among its types and enum
    values, which generators turn into one identical enum class per type."""
    document = await openapi(client)
    mixed = [schema for schema in _schemas_in(document) if "enum" in schema and isinstance(schema.get("type"), list)]
    assert mixed == []
    parameters = {
        parameter["name"]: parameter for parameter in document["paths"]["/api/v1/products"]["get"]["parameters"]
    }
    assert parameters["status"]["schema"]["oneOf"] == [
        {"type": "string", "enum": ["open", "closed", "cancelled"]},
        {"type": "null"},
    ]


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


# Operation ids --------------------------------------------------------------------------------------------------

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _handlers_by_operation(server: RunningServer) -> dict[tuple[str, str], Any]:
    """(method, path) -> the route handler of every operation our code puts in the document."""
    handlers = {}
    for route in server.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.fn.__module__.startswith("app.") or not handler.resolve_include_in_schema():
                continue
            path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                handlers[(method.lower(), path)] = handler
    return handlers


async def test_every_operation_id_is_its_handlers_name_in_snake_case_and_unique(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """A route's operationId is the name of the function that handles it (so a reader goes from a generated
    client's method to the handler, the repository method and the statement by one search); no two alike."""
    document = await openapi(client)
    handlers = _handlers_by_operation(server)
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation_id = operation.get("operationId")
            assert operation_id, (method, path)
            assert SNAKE_CASE.fullmatch(operation_id), (method, path, operation_id)
            handler = handlers[(method, path)]
            assert operation_id == handler.fn.__name__, (method, path, operation_id, handler.fn.__name__)
            ids.append(operation_id)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"place_bid", "get_me", "get_my_reseller", "signup_user"} <= set(ids)


async def test_aliases_answer_but_stay_out_of_the_document(client: httpx.AsyncClient) -> None:
    paths = (await openapi(client))["paths"]
    assert "post" in paths["/api/v1/users/signupuser"]
    assert "/api/v1/users/signup" not in paths
    assert "post" in paths["/api/v1/clinics/{clinic_id}/staff/invitations"]
    assert "post" not in paths["/api/v1/clinics/{clinic_id}/staff"]
    response = await client.post(
        "/api/v1/users/signup", json={"user_name": "Alias", "email": unique_email("alias"), "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


# Security schemes -----------------------------------------------------------------------------------------------

BEARER_OR_COOKIE = [{"bearerAuth": []}, {"cookieSession": []}]
BEARER_OR_COOKIE_AND_CSRF = [{"bearerAuth": []}, {"cookieSession": [], "csrfToken": []}]


async def test_security_schemes_are_declared_once(client: httpx.AsyncClient) -> None:
    schemes = (await openapi(client))["components"]["securitySchemes"]
    assert {name: {k: v for k, v in scheme.items() if k != "description"} for name, scheme in schemes.items()} == {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "cookieSession": {"type": "apiKey", "in": "cookie", "name": "session"},
        "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
    }


async def test_each_operation_lists_the_credentials_it_accepts(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """Logged-in routes: bearer, or the cookie (with the CSRF header when unsafe). Routes that take anonymous
    callers but answer a logged-in one differently add `{}`. Public ones list nothing."""
    document = await openapi(client)
    handlers = _handlers_by_operation(server)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            guarded = any(
                guard.__module__ == "app.auth.principal" for guard in handlers[(method, path)].resolve_guards()
            )
            expected = BEARER_OR_COOKIE if method == "get" else BEARER_OR_COOKIE_AND_CSRF
            if guarded:
                assert security == expected, (method, path, security)
            else:
                assert security in (None, expected, [{}, *expected]), (method, path, security)
    paths = document["paths"]
    assert paths["/api/v1/users/me"]["get"]["security"] == BEARER_OR_COOKIE
    assert paths["/api/v1/users/me"]["delete"]["security"] == BEARER_OR_COOKIE_AND_CSRF
    assert paths["/api/v1/clinics/{clinic_id}/stats"]["get"]["security"] == BEARER_OR_COOKIE  # staff access
    assert paths["/api/v1/auth/session"]["get"]["security"] == [{}, *BEARER_OR_COOKIE]
    assert paths["/api/v1/clinics/{clinic_id}/tickets"]["post"]["security"] == [{}, *BEARER_OR_COOKIE_AND_CSRF]
    for public in ["/api/v1/users/loginuser", "/api/v1/auth/token", "/api/v1/users/signupuser"]:
        assert "security" not in paths[public]["post"], public
    assert "security" not in paths["/health"]["get"]


async def test_operations_that_require_credentials_refuse_an_anonymous_caller(
    client: httpx.AsyncClient,
) -> None:
    """What the document says matches what the service does, on routes without path parameters."""
    document = await openapi(client)
    checked = 0
    for path, item in document["paths"].items():
        if "{" in path:
            continue
        for method, operation in item.items():
            security = operation.get("security")
            if not security or {} in security:
                continue
            response = await client.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 10


@pytest.mark.browser
async def test_authorize_in_the_ui_then_try_it_out_on_a_protected_route(
    server: RunningServer, client: httpx.AsyncClient, browser: Any, tmp_path: Path
) -> None:
    """A user pastes a token from POST /api/v1/auth/token into "Authorize"; "Try it out" on GET /api/v1/users/me
    answers 200 with the user's e-mail."""
    account = await new_user(client)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(server.url + "/docs")
        await page.click("button.authorize", timeout=15000)
        container = page.locator(".auth-container", has_text="bearerAuth")
        await container.locator("input").fill(account.token or "", timeout=10000)
        await container.locator("button.authorize").click(timeout=10000)
        await page.click("button.btn-done", timeout=10000)
        operation = page.locator("#operations-users-get_me")
        await operation.locator(".opblock-summary").click(timeout=10000)
        await operation.locator("button.try-out__btn").click(timeout=10000)
        await operation.locator("button.execute").click(timeout=10000)
        live = operation.locator(".live-responses-table .response")
        await live.locator(".response-col_status", has_text="200").wait_for(timeout=15000)
        assert account.email in await live.locator(".response-col_description").inner_text(timeout=10000)
    finally:
        await page.screenshot(path=str(tmp_path / "authorize.png"), full_page=False)
    assert errors == []
