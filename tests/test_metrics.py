"""GET /metrics: off by default, Prometheus text when on, protected by METRICS_TOKEN when set."""

from __future__ import annotations

import httpx

from app.config import Settings
from tests.support import assert_envelope, serve_app, with_settings


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/metrics"), 404)


async def test_metrics_report_requests_per_route_and_the_pool(settings: Settings) -> None:
    changed = with_settings(settings, metrics=True)
    async with serve_app(changed) as server, httpx.AsyncClient(base_url=server.url) as http:
        for _ in range(3):
            assert (await http.get("/health")).status_code == 200
        assert (await http.get("/api/v1/users/me")).status_code == 401
        text = (await http.get("/metrics")).text
    assert 'http_request_duration_seconds_count{method="GET",route="/health",status="200"} 3.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/api/v1/users/me",status="401"} 1.0' in text
    assert "http_requests_in_flight" in text
    assert 'db_pool{figure="pool_max"} 10.0' in text
    assert "realtime_events_delivered_total 0.0" in text


async def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    changed = with_settings(settings, metrics=True, metrics_token="scrape-secret")
    async with serve_app(changed) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert_envelope(await http.get("/metrics"), 401)
        allowed = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
