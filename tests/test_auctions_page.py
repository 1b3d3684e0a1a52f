"""The live auction page in a real headless Chromium (docs/rules/auctions.md, "Live page")."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.auctions_support import amount, create_auction, http_bid
from tests.support import RunningServer, cookie_login, create_account, new_user

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("PAGES_SCREENSHOTS")  # a folder: the test saves what it saw there
NBSP = "\u00a0"  # Intl's pt-BR currency format puts a non-breaking space after R$


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def test_bidders_follow_the_auction_in_portuguese_until_each_is_told_whether_they_won(
    browser: Any, server: RunningServer, client: httpx.AsyncClient, user: Any
) -> None:
    product_id = await create_auction(
        client, user, seconds=14, baseprice=1000, min_increment=10, extend_seconds=0, name="Câmera analógica"
    )
    rival = await new_user(client, name="Rui Rival")
    buyer = await create_account(client, name="Bia Compradora")
    watcher_client = httpx.AsyncClient(base_url=server.url)
    await cookie_login(watcher_client, rival)
    buyer_context = await browser.new_context(viewport={"width": 1280, "height": 900})
    rival_context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    await rival_context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in watcher_client.cookies.items()]
    )
    await watcher_client.aclose()
    page = await buyer_context.new_page()
    phone = await rival_context.new_page()
    problems: list[str] = []
    for each in (page, phone):
        each.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        each.on("pageerror", lambda e: problems.append(str(e)))
    try:
        response = await page.goto(f"{server.url}/auctions/{product_id}")
        assert response is not None
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["content-type"].count("charset") == 1, response.headers["content-type"]
        assert await page.get_attribute("html", "lang") == "pt-BR"
        await expect(page.locator("#product-name")).to_have_text("Câmera analógica", timeout=10_000)
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)
        await expect(page.locator("#current-price")).to_have_text(f"R${NBSP}1.000,00")
        assert await page.inner_text("#status") == "Aberto"
        await phone.goto(f"{server.url}/auctions/{product_id}")
        await expect(phone.locator("#bid-panel")).to_be_visible(timeout=10_000)

        # Log in on the page (cookie session + CSRF token); the bid form appears and the socket reconnects.
        await page.fill("#login-email", buyer.email)
        await page.fill("#login-password", buyer.password)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#bid-panel")).to_be_visible(timeout=10_000)
        assert "Bia Compradora" in await page.inner_text("#me-name")
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)

        # Money as Brazilians write it, typed and shown; the bidder is "Você" to themself, a number to others.
        started = time.perf_counter()
        await page.fill("#bid-amount", "1.234,56")
        await page.click("#bid-button")
        await expect(page.locator("#current-price")).to_have_text(f"R${NBSP}1.234,56", timeout=10_000)
        print(f"\nbid -> own price: {(time.perf_counter() - started) * 1000:.0f} ms (typing and click included)")
        await expect(page.locator("#bid-result")).to_have_text(f"Seu lance de R${NBSP}1.234,56 foi aceito.")
        await expect(page.locator("#leader")).to_have_text("na liderança: Você")
        await expect(phone.locator("#leader")).to_have_text("na liderança: Licitante 1", timeout=10_000)
        assert "Bia" not in await phone.inner_text("body")

        # The rival outbids from the API: the buyer is told, and the history says who by pseudonym.
        started = time.perf_counter()
        assert (await http_bid(client, rival, product_id, 1300)).status_code == 201
        await expect(page.locator("#current-price")).to_have_text(f"R${NBSP}1.300,00", timeout=10_000)
        print(f"bid -> price on another page: {(time.perf_counter() - started) * 1000:.0f} ms (API response included)")
        await expect(page.locator("#outbid")).to_contain_text("Você foi superado")
        await expect(page.locator("#outbid")).to_contain_text("Licitante 2")
        await expect(page.locator("#bids li").first).to_contain_text("Licitante 2")
        await expect(phone.locator("#leader")).to_have_text("na liderança: Você", timeout=10_000)
        for live in ("#price-box", "#bids"):
            assert await page.get_attribute(live, "aria-live") == "polite"

        # A refused bid says why, in Portuguese, with the minimum in reais.
        await page.fill("#bid-amount", "1301")
        await page.click("#bid-button")
        await expect(page.locator("#bid-result")).to_have_text(f"Lance abaixo do mínimo: o mínimo é R${NBSP}1.310,00.")
        await page.fill("#bid-amount", "1400")
        await page.click("#bid-button")
        await expect(page.locator("#current-price")).to_have_text(f"R${NBSP}1.400,00", timeout=10_000)
        await expect(page.locator("#outbid")).to_be_hidden()
        product = (await client.get(f"/api/v1/products/{product_id}")).json()
        assert amount(product["current_bid"]) == amount(1400)
        assert product["current_bidder"] == 1

        # A phone shows every amount on one line, without a horizontal scroll.
        assert await phone.evaluate("document.documentElement.scrollWidth <= innerWidth")
        heights = await phone.eval_on_selector_all(
            "#current-price, #bids .amount", "els => els.map(e => e.getClientRects().length)"
        )
        assert set(heights) == {1}, heights
        await shot(phone, "auction-390x844-bids")

        # The end: the form goes with its old messages; the winner and the loser are each told plainly.
        await expect(page.locator("#notice")).to_have_text(
            f"Você venceu! Arrematado por R${NBSP}1.400,00.", timeout=30_000
        )
        await expect(page.locator("#bid-form")).to_be_hidden()
        assert await page.inner_text("#bid-result") == ""
        await expect(page.locator("#leader")).to_have_text("vencedor: Você")
        await expect(phone.locator("#notice")).to_have_text(
            f"O leilão terminou e você não venceu: Licitante 1 arrematou por R${NBSP}1.400,00.", timeout=10_000
        )
        await expect(phone.locator("#bid-form")).to_be_hidden()
        assert await phone.evaluate("document.documentElement.scrollWidth <= innerWidth")
        await shot(page, "auction-1280x900-won")
        await shot(phone, "auction-390x844-lost")
        assert not problems, problems  # no 401 for "who am I", no missing favicon, no CSP refusal
    finally:
        await buyer_context.close()
        await rival_context.close()


async def test_page_of_an_unknown_auction_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/auctions/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
