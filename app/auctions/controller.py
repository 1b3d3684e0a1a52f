"""Routes of the auctions area: Gobid's product and bid API, and the live page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.auctions import privacy, service
from app.auctions.repository import AuctionsRepository
from app.auctions.schemas import (
    BidOut,
    CreatedProduct,
    CreateProduct,
    PlaceBid,
    PlacedBid,
    ProductOut,
    ProductSummary,
    Status,
)
from app.auth.claims import SELL_AUCTIONS
from app.auth.principal import Principal, claim_required, login_required
from app.config import PROJECT_ROOT, Settings
from app.web.errors import invalid_field, not_found, refuses
from app.web.idempotency import KEY_REUSED, idempotent
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.responses import AppResponse

PAGE_FILE = PROJECT_ROOT / "app" / "static" / "auctions" / "auction.html"


def _viewer(caller: Principal | None) -> UUID | None:
    return caller.id if caller is not None else None


def provide_auctions(db: NamedDependency[AsyncConnection[Any]]) -> AuctionsRepository:
    return AuctionsRepository(db)


class ProductsController(Controller):
    path = "/api/v1/products"
    tags = ["auctions"]
    dependencies = {
        "auctions": Provide(provide_auctions, sync_to_thread=False),
    }

    @post(
        ["/", ""],
        guards=[claim_required(SELL_AUCTIONS)],
        status_code=HTTP_201_CREATED,
        summary="Put a product up for auction",
    )
    @refuses(KEY_REUSED)
    async def create_product(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateProduct],
        auctions: NamedDependency[AuctionsRepository],
        caller: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[CreatedProduct]:
        earliest = datetime.now(UTC) + timedelta(seconds=settings.auction_min_duration)
        if data.auction_end < earliest:
            raise invalid_field("auction_end", f"Must be at least {settings.auction_min_duration} seconds from now")

        async def create() -> Response[CreatedProduct]:
            product_id = await auctions.create_product(
                seller_id=caller.id,
                product_name=data.product_name,
                description=data.description,
                baseprice=data.baseprice,
                auction_end=data.auction_end,
                min_increment=data.min_increment,
                extend_seconds=data.extend_seconds,
            )
            return Response(
                CreatedProduct(id=product_id, product_id=product_id),
                status_code=HTTP_201_CREATED,
                headers={"Location": f"/api/v1/products/{product_id}"},
            )

        return await idempotent(request, db, create)

    @get(["/", ""], summary="Auctions, newest first, with current price, bidder count and end")
    async def list_products(
        self,
        auctions: NamedDependency[AuctionsRepository],
        maybe_caller: NamedDependency[Principal | None],
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[Status | None, QueryParameter(description="open, closed or cancelled")] = None,
    ) -> Page[ProductSummary]:
        after = decode_cursor(cursor, (datetime, UUID))
        rows = await auctions.list_products(status=status, after=after, limit=limit)  # type: ignore[arg-type]
        viewer = _viewer(maybe_caller)
        rows = [privacy.product_for(viewer, row) for row in rows]
        return page_of(rows, limit, lambda p: (p.created_at.isoformat(), str(p.id)))

    @get("/{product_id:uuid}", summary="One auction: current bid and bidder, end, status, winner")
    async def get_product(
        self,
        product_id: FromPath[UUID],
        auctions: NamedDependency[AuctionsRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> ProductOut:
        product = await auctions.product_view(product_id)
        if product is None:
            raise not_found("Product not found")
        return privacy.product_for(_viewer(maybe_caller), product)

    @get("/{product_id:uuid}/bids", summary="Bid history, newest first")
    async def list_bids(
        self,
        product_id: FromPath[UUID],
        auctions: NamedDependency[AuctionsRepository],
        maybe_caller: NamedDependency[Principal | None],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[BidOut]:
        after = decode_cursor(cursor, (datetime, int))
        rows = await auctions.list_bids(product_id, after=after, limit=limit)  # type: ignore[arg-type]
        if not rows and after is None and not await auctions.product_exists(product_id):
            raise not_found("Product not found")
        viewer = _viewer(maybe_caller)
        seller = None
        # Only a logged-in reader of others' bids needs to know whether they sell the product.
        if viewer is not None and any(bid.bidder_id != viewer for bid in rows):
            seller = await auctions.product_seller(product_id)
        rows = [privacy.bid_for(viewer, bid, seller) for bid in rows]
        return page_of(rows, limit, lambda b: (b.created_at.isoformat(), b.id))

    @delete(
        "/{product_id:uuid}",
        guards=[login_required],
        status_code=HTTP_204_NO_CONTENT,
        summary="Cancel an auction (the seller, before the first bid)",
    )
    @refuses(*service.CANCEL_REFUSALS)
    async def cancel_product(
        self,
        product_id: FromPath[UUID],
        caller: NamedDependency[Principal],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> None:
        await service.cancel_auction(db, product_id, caller.id)

    @post(
        "/{product_id:uuid}/bids",
        guards=[login_required],
        status_code=HTTP_201_CREATED,
        summary="Place a bid (same rules as the WebSocket)",
    )
    @refuses(*service.BID_REFUSALS, KEY_REUSED)
    async def place_bid(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[UUID],
        data: JSONBody[PlaceBid],
        caller: NamedDependency[Principal],
        db: NamedDependency[AsyncConnection[Any]],
        settings: NamedDependency[Settings],
    ) -> Response[PlacedBid]:
        async def create() -> Response[PlacedBid]:
            bid = await service.place_bid(
                db,
                product_id,
                caller.id,
                data.amount,
                session_hash=caller.session_hash,
                idle_seconds=settings.session_idle_ttl,
            )
            # AppResponse: the amounts are money, a JSON number as the document says (a plain Response wrote strings).
            return AppResponse(
                bid, status_code=HTTP_201_CREATED, headers={"Location": f"/api/v1/products/{product_id}/bids"}
            )

        return await idempotent(request, db, create)


@cache
def _page() -> bytes:
    return PAGE_FILE.read_bytes()


# MediaType.HTML: Litestar adds the charset itself (a media type that already had one was sent with it twice).
@get("/auctions/{product_id:uuid}", include_in_schema=False, media_type=MediaType.HTML)
async def auction_page(product_id: FromPath[UUID], db: NamedDependency[AsyncConnection[Any]]) -> Response[bytes]:
    """The live page of an auction (HTML, its script and style under /static/auctions/)."""
    if not await AuctionsRepository(db).product_exists(product_id):
        raise not_found("Product not found")
    return Response(_page(), media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})
