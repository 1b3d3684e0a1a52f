"""Routes of the cashback area: resellers, their purchases (with the month's cashback) and the accumulated
cashback from the external API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.auth.claims import MANAGE_PURCHASES
from app.auth.principal import Principal, claim_required, login_required
from app.cashback.cpf import normalize_cpf
from app.cashback.repository import CashbackRepository, DuplicateCode
from app.cashback.schemas import (
    AccumulatedCashback,
    CreatePurchase,
    CreateReseller,
    PurchaseOut,
    ResellerOut,
    UpdatePurchase,
)
from app.cashback.upstream import CashbackApi
from app.config import Settings
from app.db.pool import OWN_CONNECTIONS, autocommit_connection
from app.security import Passwords
from app.users.repository import UsersRepository
from app.users.service import EMAIL_TAKEN, create_account
from app.web.errors import Refusal, conflict, forbidden, invalid_field, not_found, refuses, status_conflict
from app.web.idempotency import KEY_REUSED, idempotent
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.ratelimit import ANONYMOUS_CREATE, RateLimiter
from app.web.responses import AppResponse  # renders Decimal as a JSON number, as the app's default does

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
BIGINT_MAX = 2**63 - 1

MonthQuery = Annotated[
    str | None, QueryParameter(description="Only purchases of this calendar month (YYYY-MM)", max_length=7)
]
CpfQuery = Annotated[
    str | None,
    QueryParameter(description="A reseller's CPF (purchases:manage, or the caller's own)", max_length=14),
]

NOT_A_RESELLER = Refusal(404, "the caller is not a reseller")
CODE_TAKEN = Refusal(409, "a purchase with this code already exists")
NOT_VALIDATING = Refusal(409, "the purchase is no longer 'Em validação' (its status in `extra`)")


def provide_cashback(db: NamedDependency[AsyncConnection[Any]]) -> CashbackRepository:
    return CashbackRepository(db)


def _month_start(month: str | None) -> dt.date | None:
    if month is None:
        return None
    match = _MONTH.match(month)
    if match is None or int(match.group(1)) < 1:
        raise invalid_field("month", "Expected a month as YYYY-MM")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _known_id(purchase_id: int) -> int:
    """Ids are bigint: a number outside that range names no purchase (and must not reach the database)."""
    if not 0 < purchase_id <= BIGINT_MAX:
        raise not_found("Purchase not found")
    return purchase_id


def _cursor(cursor: str | None) -> tuple[dt.date, int] | None:
    after = decode_cursor(cursor, (dt.date, int))
    if after is None:
        return None
    day, purchase_id = after
    if not 0 < purchase_id <= BIGINT_MAX:
        raise invalid_field("cursor", "Not a cursor this API issued")
    return day, purchase_id


def _not_in_future(day: dt.date | None, settings: Settings) -> None:
    """A purchase already happened: its date is at most today in APP_TIMEZONE."""
    if day is not None and day > dt.datetime.now(settings.zone).date():
        raise invalid_field("date", "A purchase date cannot be in the future")


async def _own_cpf(cashback: CashbackRepository, caller: Principal) -> str | None:
    reseller = await cashback.reseller_view(caller.id)
    return reseller.cpf if reseller is not None else None


class ResellersController(Controller):
    path = "/api/v1/resellers"
    tags = ["cashback"]
    dependencies = {
        "cashback": Provide(provide_cashback, sync_to_thread=False),
    }

    @post("/", status_code=HTTP_201_CREATED, summary="Register as a reseller (a user with a CPF)")
    @refuses(EMAIL_TAKEN, Refusal(409, "a reseller with this CPF already exists"), KEY_REUSED)
    async def create_reseller(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateReseller],
        cashback: NamedDependency[CashbackRepository],
        passwords: NamedDependency[Passwords],
        rate_limiter: NamedDependency[RateLimiter],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[ResellerOut]:
        await rate_limiter.hit_address(ANONYMOUS_CREATE, request)

        async def create() -> Response[ResellerOut]:
            # The user and its reseller row in the request's one transaction: a taken CPF undoes the user too.
            user_id, _ = await create_account(
                UsersRepository(db), passwords, email=data.email, password=data.password, name=data.full_name
            )
            if not await cashback.create_reseller(user_id, data.cpf):
                raise conflict("A reseller with this CPF already exists", key="cpf")
            reseller = await cashback.reseller_view(user_id)
            return AppResponse(reseller, status_code=HTTP_201_CREATED)

        return await idempotent(request, db, create)

    @get("/me", guards=[login_required], summary="The caller's reseller profile")
    @refuses(NOT_A_RESELLER)
    async def get_my_reseller(
        self, cashback: NamedDependency[CashbackRepository], caller: NamedDependency[Principal]
    ) -> ResellerOut:
        reseller = await cashback.reseller_view(caller.id)
        if reseller is None:
            raise not_found("You are not a reseller")
        return reseller


class PurchasesController(Controller):
    path = "/api/v1/purchases"
    tags = ["cashback"]
    guards = [login_required]
    dependencies = {
        "cashback": Provide(provide_cashback, sync_to_thread=False),
    }

    @post("/", status_code=HTTP_201_CREATED, summary="Register a purchase; answers it with its cashback")
    @refuses(Refusal(403, "the caller is not a reseller, or the CPF is not their own"), CODE_TAKEN, KEY_REUSED)
    async def create_purchase(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreatePurchase],
        cashback: NamedDependency[CashbackRepository],
        caller: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[PurchaseOut]:
        _not_in_future(data.date, settings)
        if not caller.has(MANAGE_PURCHASES):
            own = await _own_cpf(cashback, caller)
            if own is None:
                raise forbidden("Only resellers can register purchases")
            if own != data.cpf:
                raise forbidden("The CPF must be your own")

        async def create() -> Response[PurchaseOut]:
            created = await cashback.create_purchase(
                code=data.code, value=data.value, purchased_on=data.date, cpf=data.cpf
            )
            if created.reseller_id is None:
                raise invalid_field("cpf", "No reseller has this CPF")
            if created.purchase_id is None:
                raise conflict("A purchase with this code already exists", key="code")
            purchase = await cashback.purchase_view(created.purchase_id, None)
            return AppResponse(
                purchase,
                status_code=HTTP_201_CREATED,
                headers={"Location": f"/api/v1/purchases/{created.purchase_id}"},
            )

        return await idempotent(request, db, create)

    @get("/", summary="Purchases with their cashback, newest first (own; any reseller's with purchases:manage)")
    @refuses(Refusal(403, "listing another reseller's purchases without the purchases:manage claim"))
    async def list_purchases(
        self,
        cashback: NamedDependency[CashbackRepository],
        caller: NamedDependency[Principal],
        month: MonthQuery = None,
        cpf: CpfQuery = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[PurchaseOut]:
        month_start = _month_start(month)
        after = _cursor(cursor)
        reseller_id = caller.id
        if cpf is not None:
            try:
                cpf = normalize_cpf(cpf)
            except ValueError as exc:
                raise invalid_field("cpf", str(exc)) from None
            if caller.has(MANAGE_PURCHASES):
                found = await cashback.reseller_by_cpf(cpf)
                if found is None:
                    return Page(items=[], next_cursor=None)
                reseller_id = found
            elif cpf != await _own_cpf(cashback, caller):
                raise forbidden(f"Listing another reseller's purchases requires the {MANAGE_PURCHASES!r} claim")
        rows = await cashback.purchase_views(
            reseller_id=reseller_id,
            month_start=month_start,
            after=after,
            limit=limit,
        )
        return page_of(rows, limit, lambda p: (p.date.isoformat(), p.id))

    @get("/{purchase_id:int}", summary="One purchase with its cashback (owner or purchases:manage)")
    async def get_purchase(
        self,
        purchase_id: FromPath[int],
        cashback: NamedDependency[CashbackRepository],
        caller: NamedDependency[Principal],
    ) -> PurchaseOut:
        owner = None if caller.has(MANAGE_PURCHASES) else caller.id
        purchase = await cashback.purchase_view(_known_id(purchase_id), owner)
        if purchase is None:
            raise not_found("Purchase not found")
        return purchase

    @patch("/{purchase_id:int}", summary="Edit an own purchase while it is 'Em validação'")
    @refuses(CODE_TAKEN, NOT_VALIDATING)
    async def update_purchase(
        self,
        purchase_id: FromPath[int],
        data: JSONBody[UpdatePurchase],
        cashback: NamedDependency[CashbackRepository],
        caller: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> PurchaseOut:
        _not_in_future(data.date, settings)
        try:
            changed = await cashback.update_purchase(
                _known_id(purchase_id), caller.id, code=data.code, value=data.value, purchased_on=data.date
            )
        except DuplicateCode:
            raise conflict("A purchase with this code already exists", key="code") from None
        if not changed:
            await self._why_unchanged(cashback, purchase_id, caller)
        purchase = await cashback.purchase_view(purchase_id, caller.id)
        assert purchase is not None
        return purchase

    @delete(
        "/{purchase_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Withdraw an own purchase while 'Em validação'"
    )
    @refuses(NOT_VALIDATING)
    async def delete_purchase(
        self,
        purchase_id: FromPath[int],
        cashback: NamedDependency[CashbackRepository],
        caller: NamedDependency[Principal],
    ) -> None:
        if not await cashback.delete_purchase(_known_id(purchase_id), caller.id):
            await self._why_unchanged(cashback, purchase_id, caller)

    @staticmethod
    async def _why_unchanged(cashback: CashbackRepository, purchase_id: int, caller: Principal) -> None:
        """A conditional change touched nothing: 404 when unknown or not the caller's, else 409 with the status."""
        current = await cashback.purchase_status(purchase_id, caller.id)
        if current is None:
            raise not_found("Purchase not found")
        raise status_conflict(current)

    @post(
        "/{purchase_id:int}/approve",
        guards=[claim_required(MANAGE_PURCHASES)],
        status_code=HTTP_200_OK,
        summary="Approve a purchase that is 'Em validação'",
    )
    @refuses(NOT_VALIDATING)
    async def approve_purchase(
        self, purchase_id: FromPath[int], cashback: NamedDependency[CashbackRepository]
    ) -> PurchaseOut:
        changed = await cashback.approve_purchase(_known_id(purchase_id))
        return await self._decided(cashback, purchase_id, changed)

    @post(
        "/{purchase_id:int}/reject",
        guards=[claim_required(MANAGE_PURCHASES)],
        status_code=HTTP_200_OK,
        summary="Reject a purchase that is 'Em validação' or 'Aprovado'",
    )
    @refuses(NOT_VALIDATING)
    async def reject_purchase(
        self, purchase_id: FromPath[int], cashback: NamedDependency[CashbackRepository]
    ) -> PurchaseOut:
        changed = await cashback.reject_purchase(_known_id(purchase_id))
        return await self._decided(cashback, purchase_id, changed)

    @staticmethod
    async def _decided(cashback: CashbackRepository, purchase_id: int, changed: bool) -> PurchaseOut:
        if not changed:
            current = await cashback.purchase_status(purchase_id, None)
            if current is None:
                raise not_found("Purchase not found")
            raise status_conflict(current)
        purchase = await cashback.purchase_view(purchase_id, None)
        assert purchase is not None
        return purchase


class CashbackController(Controller):
    path = "/api/v1/cashback"
    tags = ["cashback"]
    guards = [login_required]

    @get(
        "/",
        summary="The caller's accumulated cashback, from the external cashback API",
        opt={OWN_CONNECTIONS: True},
    )
    @refuses(NOT_A_RESELLER, *CashbackApi.REFUSALS)
    async def accumulated(
        self, request: Request[Any, Any, Any], caller: NamedDependency[Principal]
    ) -> AccumulatedCashback:
        # A short-lived connection, returned before the upstream call: a slow upstream must not hold the pool.
        async with autocommit_connection(request.app.state.pool) as conn:
            cpf = await _own_cpf(CashbackRepository(conn), caller)
        if cpf is None:
            raise not_found("You are not a reseller")
        api: CashbackApi = request.app.state.cashback_api
        return AccumulatedCashback(credit=await api.credit(cpf), cpf=cpf)
