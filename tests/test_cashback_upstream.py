"""GET /api/v1/cashback against a real HTTP server on loopback playing the external cashback API
(tests/cashback_upstream.py): success, embedded errors, 5xx, slowness, garbage, a refused connection, the retry,
the circuit breaker and the per-CPF cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from app.config import Settings
from tests.cashback_upstream import FakeCashbackApi, Reseller, new_reseller, refused_url
from tests.support import assert_envelope, eventually, new_user, serve_app, with_settings

TOKEN = "upstream-secret-token"


@asynccontextmanager
async def app_using(settings: Settings, url: str, **changes: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app configured to call the upstream at `url`, and a client on it."""
    changed = with_settings(settings, cashback_api_url=url, cashback_api_token=TOKEN, **changes)
    async with serve_app(changed) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def accumulated(client: httpx.AsyncClient, reseller: Reseller) -> httpx.Response:
    return await client.get("/api/v1/cashback", headers=reseller.headers)


async def test_success_sends_the_token_header_and_the_cpf(settings: Settings) -> None:
    async with FakeCashbackApi(credit=2009) as upstream, app_using(settings, upstream.url + "/") as client:
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert response.status_code == 200, response.text
        assert response.json() == {"credit": 2009, "cpf": reseller.cpf}
        [request] = upstream.requests
        assert request.method == "GET"
        assert request.path == "/v1/cashback"
        assert request.query == {"cpf": [reseller.cpf]}
        assert request.headers["token"] == TOKEN


async def test_successes_are_cached_per_cpf(settings: Settings) -> None:
    async with FakeCashbackApi(credit=10) as upstream, app_using(settings, upstream.url) as client:
        first, second = await new_reseller(client), await new_reseller(client)
        assert (await accumulated(client, first)).json()["credit"] == 10
        upstream.credit = 99
        assert (await accumulated(client, first)).json()["credit"] == 10  # from the cache
        assert (await accumulated(client, second)).json()["credit"] == 99  # another CPF asks the upstream
        assert [r.query["cpf"] for r in upstream.requests] == [[first.cpf], [second.cpf]]


async def test_the_cache_can_be_turned_off(settings: Settings) -> None:
    async with (
        FakeCashbackApi(credit=10) as upstream,
        app_using(settings, upstream.url, cashback_cache_ttl=0) as client,
    ):
        reseller = await new_reseller(client)
        await accumulated(client, reseller)
        upstream.credit = 11
        assert (await accumulated(client, reseller)).json()["credit"] == 11
        assert len(upstream.requests) == 2


async def test_an_error_embedded_in_a_200_is_502_with_the_upstream_message(settings: Settings) -> None:
    async with (
        FakeCashbackApi(behaviour="embedded_error", message="CPF não encontrado na base") as upstream,
        app_using(settings, upstream.url) as client,
    ):
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        body = assert_envelope(response, 502)
        assert "CPF não encontrado na base" in body["detail"]
        assert len(upstream.requests) == 1  # an answer, not an outage: never retried


async def test_a_garbage_body_is_502(settings: Settings) -> None:
    async with FakeCashbackApi(behaviour="garbage") as upstream, app_using(settings, upstream.url) as client:
        reseller = await new_reseller(client)
        assert_envelope(await accumulated(client, reseller), 502)


@pytest.mark.parametrize("behaviour", ["oversized", "endless"])
async def test_a_huge_body_is_502_and_reading_stops_at_the_limit(settings: Settings, behaviour: str) -> None:
    """Issue 11, finding 16: the body is read up to a bound (far above the documented answer), not to the end."""
    async with (
        FakeCashbackApi(behaviour=behaviour) as upstream,
        app_using(settings, upstream.url, cashback_api_timeout=5.0) as client,
    ):
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert "oversized" in assert_envelope(response, 502)["detail"]
        # Loopback socket buffers hold a few MiB at most: the rest was never read.
        assert upstream.sent_bytes < 12 * 2**20, upstream.sent_bytes


async def test_a_slow_upstream_is_504_within_the_timeout_and_not_retried(settings: Settings) -> None:
    async with (
        FakeCashbackApi(behaviour="slow", delay=10) as upstream,
        app_using(settings, upstream.url, cashback_api_timeout=0.3) as client,
    ):
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert "in time" in assert_envelope(response, 504)["detail"]
        assert len(upstream.requests) == 1


async def test_a_refused_connection_is_503_with_retry_after(settings: Settings) -> None:
    async with app_using(settings, refused_url()) as client:
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert_envelope(response, 503)
        assert int(response.headers["retry-after"]) >= 1


async def test_a_5xx_is_retried_once_then_503(settings: Settings) -> None:
    async with FakeCashbackApi(behaviour="server_error") as upstream, app_using(settings, upstream.url) as client:
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert_envelope(response, 503)
        assert "retry-after" in response.headers
        assert len(upstream.requests) == 2  # the first try and one retry, no more


async def test_one_5xx_then_success_is_a_success(settings: Settings) -> None:
    async with (
        FakeCashbackApi(script=["server_error"], credit=7) as upstream,
        app_using(settings, upstream.url) as client,
    ):
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert response.status_code == 200, response.text
        assert response.json()["credit"] == 7
        assert len(upstream.requests) == 2


async def test_the_circuit_opens_fails_fast_and_closes_after_its_cooldown(settings: Settings) -> None:
    async with (
        FakeCashbackApi(behaviour="server_error") as upstream,
        app_using(
            settings, upstream.url, cashback_breaker_threshold=2, cashback_breaker_cooldown=0.5, cashback_cache_ttl=0
        ) as client,
    ):
        reseller = await new_reseller(client)
        for _ in range(2):
            assert_envelope(await accumulated(client, reseller), 503)
        calls = len(upstream.requests)
        assert calls == 4
        # Open: answered at once, without calling the upstream.
        upstream.behaviour = "success"
        for _ in range(3):
            response = await accumulated(client, reseller)
            assert_envelope(response, 503)
            assert int(response.headers["retry-after"]) >= 1
        assert len(upstream.requests) == calls

        # After the cool-down one trial call goes through; it succeeds and the circuit closes.
        async def recovered() -> bool:
            return (await accumulated(client, reseller)).status_code == 200

        await eventually(recovered, timeout=10, interval=0.1)
        for _ in range(3):
            assert (await accumulated(client, reseller)).status_code == 200
        assert len(upstream.requests) == calls + 4


async def test_a_failed_trial_call_opens_the_circuit_again(settings: Settings) -> None:
    async with (
        FakeCashbackApi(behaviour="slow", delay=10) as upstream,
        app_using(
            settings,
            upstream.url,
            cashback_api_timeout=0.2,
            cashback_breaker_threshold=1,
            cashback_breaker_cooldown=0.3,
        ) as client,
    ):
        reseller = await new_reseller(client)
        assert_envelope(await accumulated(client, reseller), 504)
        assert_envelope(await accumulated(client, reseller), 503)  # open
        assert len(upstream.requests) == 1

        async def trial_made() -> bool:
            return (await accumulated(client, reseller)).status_code == 504

        await eventually(trial_made, timeout=10, interval=0.1)
        assert len(upstream.requests) == 2
        assert_envelope(await accumulated(client, reseller), 503)  # open again at once
        assert len(upstream.requests) == 2


async def test_embedded_errors_do_not_open_the_circuit(settings: Settings) -> None:
    async with (
        FakeCashbackApi(behaviour="embedded_error") as upstream,
        app_using(settings, upstream.url, cashback_breaker_threshold=2) as client,
    ):
        reseller = await new_reseller(client)
        for _ in range(4):
            assert_envelope(await accumulated(client, reseller), 502)
        assert len(upstream.requests) == 4


async def test_only_resellers_have_accumulated_cashback(settings: Settings) -> None:
    async with FakeCashbackApi() as upstream, app_using(settings, upstream.url) as client:
        plain = await new_user(client)
        assert_envelope(await client.get("/api/v1/cashback", headers=plain.headers), 404)
        assert_envelope(await client.get("/api/v1/cashback"), 401)
        assert upstream.requests == []


async def test_a_keep_alive_upstream_is_called_over_one_connection(settings: Settings) -> None:
    async with (
        FakeCashbackApi(credit=77, keep_alive=True) as upstream,
        app_using(settings, upstream.url, cashback_cache_ttl=0) as client,
    ):
        reseller = await new_reseller(client)
        for _ in range(3):
            response = await accumulated(client, reseller)
            assert response.status_code == 200, response.text
            assert response.json()["credit"] == 77
        assert len(upstream.requests) == 3
        assert upstream.connections == 1


async def test_a_chunked_answer_is_read(settings: Settings) -> None:
    async with (
        FakeCashbackApi(credit=4242, behaviour="chunked") as upstream,
        app_using(settings, upstream.url) as client,
    ):
        response = await accumulated(client, await new_reseller(client))
        assert response.status_code == 200, response.text
        assert response.json() == {"credit": 4242, "cpf": response.json()["cpf"]}


async def test_a_connection_the_upstream_dropped_while_idle_is_not_an_outage(settings: Settings) -> None:
    # The upstream closes each kept connection when the next request arrives on it, unanswered (its idle timeout
    # expired meanwhile). Sending again on a new connection is not the one retry: here that retry is still
    # needed for a 5xx, and the call succeeds.
    async with (
        FakeCashbackApi(credit=5, keep_alive=True, drop_idle=True, script=["success", "server_error"]) as upstream,
        app_using(settings, upstream.url, cashback_cache_ttl=0) as client,
    ):
        reseller = await new_reseller(client)
        assert (await accumulated(client, reseller)).status_code == 200
        response = await accumulated(client, reseller)
        assert response.status_code == 200, response.text
        assert response.json()["credit"] == 5


async def test_a_reseller_gets_the_credit_with_a_pool_of_one_connection(settings: Settings) -> None:
    # The route reads the CPF on a connection of its own and returns it before the upstream call: the one
    # connection that authenticated the request must not be kept for it (it would then wait for a second).
    async with (
        FakeCashbackApi(credit=31) as upstream,
        app_using(settings, upstream.url, db_pool_min=1, db_pool_max=1, db_pool_timeout=5.0) as client,
    ):
        reseller = await new_reseller(client)
        response = await accumulated(client, reseller)
        assert response.status_code == 200, response.text
        assert response.json()["credit"] == 31
