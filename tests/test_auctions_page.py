"""The live auction page in a real headless Chromium (docs/rules/auctions.md, "Live page")."""

from __future__ import annotations

import httpx
import pytest

from tests.auctions_support import amount, create_auction, http_bid
from tests.support import RunningServer, create_account, new_user

pytestmark = pytest.mark.browser


async def test_logged_in_user_sees_live_bids_and_bids_from_the_page(
    browser,
    server: RunningServer,
    client: httpx.AsyncClient,
    user,
) -> None:
    product_id = await create_auction(client, user, baseprice=100, min_increment=5, name="Câmera analógica")
    rival = await new_user(client)
    buyer = await create_account(client, name="Bia Compradora")
    context = await browser.new_context()
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        response = await page.goto(f"{server.url}/auctions/{product_id}")
        assert response is not None
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        await page.wait_for_selector("#product-name:has-text('Câmera analógica')")
        await page.wait_for_selector("#connection[data-state='live']")
        assert "100.00" in await page.inner_text("#current-price")

        # Log in on the page (cookie session + CSRF token); the bid form appears and the socket reconnects.
        await page.fill("#login-email", buyer.email)
        await page.fill("#login-password", buyer.password)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#bid-panel:not([hidden])")
        assert "Bia Compradora" in await page.inner_text("#me-name")
        await page.wait_for_selector("#connection[data-state='live']")

        # A bid placed through the API appears without reloading.
        assert (await http_bid(client, rival, product_id, 150)).status_code == 201
        await page.wait_for_selector("#current-price:has-text('150.00')")
        await page.wait_for_selector("#bids li:has-text('150.00')")
        assert "155.00" in await page.inner_text("#minimum")

        # The user bids from the page.
        await page.fill("#bid-amount", "170")
        await page.click("#bid-button")
        await page.wait_for_selector("#bid-result:has-text('accepted')")
        await page.wait_for_selector("#current-price:has-text('170.00')")
        product = (await client.get(f"/api/v1/products/{product_id}")).json()
        assert amount(product["current_bid"]) == amount(170)
        assert product["current_bidder_id"] == buyer.id

        # A refused bid says why.
        await page.fill("#bid-amount", "171")
        await page.click("#bid-button")
        await page.wait_for_selector("#bid-result:has-text('minimum is 175.00')")
        assert not [p for p in problems if "Content Security Policy" in p or "Uncaught" in p], problems
    finally:
        await context.close()


async def test_page_of_an_unknown_auction_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/auctions/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
