"""A client generated from the served OpenAPI document works: openapi-python-client (pinned in the test extra) reads
/schema/openapi.json of the running server once per session, and one real flow per area goes through the generated
functions and models, errors the document declares coming back as the error envelope's model.

`_generate` runs the command a consumer runs (docs/architecture.md, "The API contract, and a generated client").
The flows' typed errors need the 409/422 documented with the envelope (issue 13, item 1)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.cashback_upstream import random_cpf
from tests.conftest import TEST_ENVIRONMENT
from tests.support import PASSWORD, ROOT, RunningServer, unique_email

pytestmark = pytest.mark.slow  # runs the generator's command (a process) once per session

PACKAGE = "marketplace_client"  # package_name_override in the config file
CONFIG = ROOT / "tests" / "openapi-python-client.yaml"


@dataclass
class Generated:
    """The generated package, imported by path, and what the generator printed."""

    package: ModuleType
    output: str
    seconds: float

    def operation(self, tag_and_id: str) -> Any:
        """The module of one operation: "users.signup_user" is api/users/signup_user.py."""
        return importlib.import_module(f"{PACKAGE}.api.{tag_and_id}")

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


async def _generate(url: str, folder: Path) -> Generated:
    output = folder / PACKAGE
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "openapi_python_client", "generate", "--url", f"{url}/schema/openapi.json"],
        *["--config", str(CONFIG), "--meta", "none", "--output-path", str(output)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    printed, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    seconds = time.perf_counter() - started
    assert process.returncode == 0, printed.decode()
    spec = importlib.util.spec_from_file_location(
        PACKAGE, output / "__init__.py", submodule_search_locations=[str(output)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return Generated(package=package, output=printed.decode(), seconds=seconds)


@pytest.fixture(scope="session")
def _generated_once() -> dict[str, Generated]:
    return {}


@pytest.fixture
async def generated(
    _generated_once: dict[str, Generated], server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Generated:
    """Generated from the first test's server; the document is the same for every server of the session."""
    if PACKAGE not in _generated_once:
        _generated_once[PACKAGE] = await _generate(server.url, tmp_path_factory.mktemp("generated-client"))
    return _generated_once[PACKAGE]


Connect = Callable[..., Awaitable[Any]]


@pytest.fixture
async def connect(generated: Generated, server: RunningServer) -> AsyncIterator[Connect]:
    """connect() is an anonymous generated Client; connect(token) an AuthenticatedClient sending it as a bearer."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_client(token: str | None = None, **options: Any) -> Any:
            if token is None:
                made = generated.package.Client(base_url=server.url, **options)
            else:
                made = generated.package.AuthenticatedClient(base_url=server.url, token=token, **options)
            return await stack.enter_async_context(made)

        yield open_client


async def _token(generated: Generated, connect: Connect, email: str, password: str = PASSWORD) -> str:
    """POST /api/v1/auth/token with the JSON body."""
    body = generated.model("TokenRequest")(email=email, password=password)
    answer = await generated.operation("auth.token").asyncio_detailed(client=await connect(), body=body)
    assert answer.status_code == 200, answer.content
    return answer.parsed.access_token


async def _signed_up(generated: Generated, connect: Connect, name: str = "Cliente Gerado") -> tuple[str, str]:
    """(e-mail, bearer token) of a new account made through the generated client."""
    email = unique_email("generated")
    body = generated.model("SignupUser")(user_name=name, email=email, password=PASSWORD)
    answer = await generated.operation("users.signup_user").asyncio_detailed(client=await connect(), body=body)
    assert answer.status_code == 201, answer.content
    return email, await _token(generated, connect, email)


def _error_model_of(document: dict[str, Any], path: str, method: str, status: int) -> str:
    """The schema component the document names for this answer (the shared error envelope), through a shared
    response component if it is one."""
    response = document["paths"][path][method]["responses"].get(str(status))
    assert response is not None, f"{method.upper()} {path} does not document {status}"
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


# The generator -------------------------------------------------------------------------------------------------


async def test_the_generator_reads_every_operation_without_a_warning(
    generated: Generated, client: httpx.AsyncClient
) -> None:
    """A warning means a part of the contract (a response, a body, a parameter) is left out of the client."""
    print(f"\nthe client was generated in {generated.seconds:.1f} s")
    document = await _document(client)
    for item in document["paths"].values():
        for operation in item.values():  # each has its module, named by its tag and operationId
            tag = re.sub(r"\W+", "_", operation["tags"][0])
            assert generated.operation(f"{tag}.{operation['operationId']}").asyncio_detailed
    warned = re.findall(r"^WARNING parsing (.+) within", generated.output, flags=re.MULTILINE)
    assert warned == [], f"{len(warned)} operations lose a part, e.g. {warned[0]}:\n{generated.output[:600]}"


# Users ---------------------------------------------------------------------------------------------------------


async def test_users_sign_up_and_read_their_account(generated: Generated, connect: Connect) -> None:
    email, token = await _signed_up(generated, connect, name="Ana Gerada")
    me = await generated.operation("users.get_me").asyncio(client=await connect(token))
    assert isinstance(me, generated.model("UserOut"))
    assert (me.email, me.name, me.state) == (email, "Ana Gerada", "active")
    assert isinstance(me.created_at, datetime)


async def test_a_duplicate_sign_up_comes_back_as_the_typed_409(
    generated: Generated, connect: Connect, client: httpx.AsyncClient
) -> None:
    email, _ = await _signed_up(generated, connect)
    body = generated.model("SignupUser")(user_name="Outra Pessoa", email=email, password=PASSWORD)
    answer = await generated.operation("users.signup_user").asyncio_detailed(client=await connect(), body=body)
    assert answer.status_code == 409
    envelope = _error_model_of(await _document(client), "/api/v1/users/signupuser", "post", 409)
    assert isinstance(answer.parsed, generated.model(envelope)), answer.parsed
    assert answer.parsed.status_code == 409
    assert answer.parsed.detail == "An account with this e-mail already exists"
    assert [(problem.key, problem.message) for problem in answer.parsed.extra] == [
        ("email", "An account with this e-mail already exists")
    ]


# Auth ----------------------------------------------------------------------------------------------------------


async def test_auth_token_session_and_revocation(generated: Generated, connect: Connect) -> None:
    """Two tokens of one account; the session endpoint names the caller; a revoked token is refused, the other
    still works."""
    email, token = await _signed_up(generated, connect)
    session = generated.operation("auth.session")
    assert (await session.asyncio(client=await connect())).user is None
    assert (await session.asyncio(client=await connect(token))).user.email == email

    second = await generated.operation("auth.token").asyncio(
        client=await connect(), body=generated.model("TokenRequest")(email=email, password=PASSWORD)
    )
    assert second.token_type == "bearer"
    assert second.expires_at > datetime.now(UTC)

    revoked = await generated.operation("auth.revoke_token").asyncio_detailed(client=await connect(second.access_token))
    assert revoked.status_code == 204
    me = await generated.operation("users.get_me").asyncio_detailed(client=await connect(second.access_token))
    assert me.status_code == 401
    assert (await session.asyncio(client=await connect(token))).user.email == email  # the other token still works


async def test_auth_cookie_login_and_logout(generated: Generated, connect: Connect) -> None:
    """The browser's way (Gobid): the session cookie, and the CSRF header on an unsafe request."""
    email, _ = await _signed_up(generated, connect)
    browser = await connect()
    login = await generated.operation("auth.login").asyncio(
        client=browser, body=generated.model("Login")(email=email, password=PASSWORD)
    )
    assert isinstance(login, generated.model("LoginResult"))
    session = generated.operation("auth.session")
    assert (await session.asyncio(client=browser)).user.email == email
    csrf = await generated.operation("auth.csrf_token").asyncio(client=browser)
    browser.with_headers({"X-CSRF-Token": csrf.csrf_token})  # also sets it on the client in use
    logout = await generated.operation("auth.logout").asyncio(client=browser)
    assert logout.message == "logged out successfully"
    assert (await session.asyncio(client=browser)).user is None


# Auctions ------------------------------------------------------------------------------------------------------


async def _auction(generated: Generated, connect: Connect) -> Any:
    """An auction of a new seller, ending in an hour (its id)."""
    _, seller_token = await _signed_up(generated, connect, name="Vendedora")
    product = generated.model("CreateProduct")(
        product_name="Bicicleta aro 29",
        description="Mountain bike, pouco uso, freio a disco.",
        baseprice=100.0,
        auction_end=datetime.now(UTC) + timedelta(hours=1),
    )
    created = await generated.operation("auctions.create_product").asyncio(
        client=await connect(seller_token), body=product
    )
    assert isinstance(created, generated.model("CreatedProduct")), created
    return created.product_id


async def test_auctions_create_a_product_and_bid(generated: Generated, connect: Connect) -> None:
    product_id = await _auction(generated, connect)
    _, bidder_token = await _signed_up(generated, connect, name="Licitante")
    placed = await generated.operation("auctions.place_bid").asyncio(
        product_id, client=await connect(bidder_token), body=generated.model("PlaceBid")(amount=120.5)
    )
    assert isinstance(placed, generated.model("PlacedBid"))
    assert (placed.product_id, placed.amount) == (product_id, 120.5)  # money is a number, as declared
    shown = await generated.operation("auctions.get_product").asyncio(product_id, client=await connect())
    assert (shown.product_name, shown.current_price) == ("Bicicleta aro 29", 120.5)
    listed = await generated.operation("auctions.list_products").asyncio(
        client=await connect(), status=generated.model("ListProductsStatusType0").OPEN
    )
    assert [(item.id, item.bid_count) for item in listed.items] == [(product_id, 1)]


async def test_a_low_bid_comes_back_as_the_typed_422(
    generated: Generated, connect: Connect, client: httpx.AsyncClient
) -> None:
    product_id = await _auction(generated, connect)
    _, bidder_token = await _signed_up(generated, connect, name="Licitante")
    low = await generated.operation("auctions.place_bid").asyncio_detailed(
        product_id, client=await connect(bidder_token), body=generated.model("PlaceBid")(amount=99.99)
    )
    assert low.status_code == 422
    envelope = _error_model_of(await _document(client), "/api/v1/products/{product_id}/bids", "post", 422)
    assert isinstance(low.parsed, generated.model(envelope)), low.parsed
    assert (low.parsed.status_code, low.parsed.detail) == (422, "Bid too low: the minimum is 100.00")
    assert [problem.key for problem in low.parsed.extra] == ["amount"]


# Clinic --------------------------------------------------------------------------------------------------------


async def test_clinic_a_kiosk_issues_a_ticket_and_the_desk_calls_it(generated: Generated, connect: Connect) -> None:
    """The clinic's administrator sets up a service, a room and a kiosk; the kiosk (its cookie) issues a ticket, a
    staff member at the room's desk calls the next patient, and the ticket's public status says so."""
    admin_token = await _token(generated, connect, TEST_ENVIRONMENT["ADMIN_EMAIL"], TEST_ENVIRONMENT["ADMIN_PASSWORD"])
    admin = await connect(admin_token)
    model = generated.model
    clinic = await generated.operation("clinic.create_clinic").asyncio(
        client=admin, body=model("CreateClinic")(name="Clínica Gerada", slug=f"gerada-{uuid.uuid4().hex[:10]}")
    )
    service = await generated.operation("clinic.create_service").asyncio(
        clinic.id, client=admin, body=model("CreateService")(name="Clínica geral", prefix="CG", route_text="Sala 1")
    )
    room = await generated.operation("clinic.create_room").asyncio(
        clinic.id, client=admin, body=model("CreateRoom")(name="Consultório 1")
    )
    kiosk = await generated.operation("clinic.register_kiosk").asyncio(
        clinic.id, client=admin, body=model("CreateKiosk")(name="Totem da entrada")
    )
    staff_email, staff_token = await _signed_up(generated, connect, name="Atendente")
    invited = await generated.operation("clinic.invite").asyncio(
        clinic.id, client=admin, body=model("CreateInvitation")(email=staff_email, service_ids=[service.id])
    )
    assert invited.status == "added"

    at_the_entrance = await connect(cookies={"kiosk": kiosk.token})
    ticket = await generated.operation("clinic.issue_ticket").asyncio(
        clinic.id, client=at_the_entrance, body=model("CreateTicket")(service_id=service.id)
    )
    assert isinstance(ticket, model("TicketIssued"))
    assert (ticket.code, ticket.waiting_ahead) == ("CG-001", 0)

    desk = await connect(staff_token)
    await generated.operation("clinic.take_room").asyncio(clinic.id, room.id, client=desk)
    called = await generated.operation("clinic.call_next").asyncio(clinic.id, client=desk, body=model("CallNext")())
    assert isinstance(called, model("StepOut")), called
    assert (called.code, called.status, called.room) == ("CG-001", "called", "Consultório 1")
    status = await generated.operation("clinic.ticket_status").asyncio(
        clinic.id, ticket.public_token, client=at_the_entrance
    )
    assert (status.status, status.room) == ("called", "Consultório 1")


# Cashback ------------------------------------------------------------------------------------------------------


async def test_cashback_a_reseller_registers_a_purchase_and_lists_it(generated: Generated, connect: Connect) -> None:
    cpf = random_cpf()
    email = unique_email("reseller")
    reseller = await generated.operation("cashback.create_reseller").asyncio(
        client=await connect(),
        body=generated.model("CreateReseller")(full_name="Revendedora Gerada", cpf=cpf, email=email, password=PASSWORD),
    )
    assert isinstance(reseller, generated.model("ResellerOut"))
    me = await connect(await _token(generated, connect, cpf))  # a reseller may log in with the CPF
    assert (await generated.operation("cashback.get_my_reseller").asyncio(client=me)).email == email

    purchase = await generated.operation("cashback.create_purchase").asyncio(
        client=me, body=generated.model("CreatePurchase")(code="NF-1", value=150.0, date=date(2024, 5, 10), cpf=cpf)
    )
    assert isinstance(purchase, generated.model("PurchaseOut"))
    assert (purchase.status, purchase.value, purchase.cashback_percent) == ("Em validação", 150.0, 10)
    listed = await generated.operation("cashback.list_purchases").asyncio(client=me, month="2024-05")
    assert [(item.id, item.code) for item in listed.items] == [(purchase.id, "NF-1")]
    assert listed.next_cursor is None
