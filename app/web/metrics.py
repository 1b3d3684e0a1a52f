"""GET /metrics in Prometheus' text format: request latency per route, requests in flight, open WebSockets per
topic kind, events fanned out, slow subscribers dropped, connection-pool usage.

Off unless METRICS=on; with METRICS_TOKEN set, a scraper must send `Authorization: Bearer <METRICS_TOKEN>`.
Each server process reports its own figures (run one worker per container and scrape every replica).
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.web.errors import AppError

# Latency buckets from 1 ms to 5 s: the interesting part of an API's latency is below 100 ms.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def topic_kind(topic: str) -> str:
    """'product:<uuid>' -> 'product', 'clinic:7:display' -> 'clinic:display': a label without ids."""
    parts = topic.split(":")
    return parts[0] if len(parts) < 3 else f"{parts[0]}:{parts[-1]}"


class _RuntimeCollector(Collector):
    """Figures read at scrape time from the hub and the pool, instead of being counted twice."""

    def __init__(self, app_state: Any) -> None:
        self.state = app_state

    def collect(self) -> Iterator[Any]:
        hub = self.state.hub
        events = CounterMetricFamily("realtime_events_delivered", "Events handed to local subscribers")
        events.add_metric([], hub.stats["events_delivered"])
        yield events
        dropped = CounterMetricFamily("realtime_dropped_subscribers", "Subscribers dropped for being too slow")
        dropped.add_metric([], hub.stats["dropped_subscribers"])
        yield dropped
        reconnects = CounterMetricFamily("realtime_listen_reconnects", "Times the LISTEN connection was re-opened")
        reconnects.add_metric([], hub.stats["reconnects"])
        yield reconnects
        sockets = GaugeMetricFamily("websocket_subscribers", "Open subscribed sockets per topic kind", labels=["kind"])
        per_kind: Counter[str] = Counter()
        for topic, count in hub.subscriber_counts().items():
            per_kind[topic_kind(topic)] += count
        for kind, count in sorted(per_kind.items()):
            sockets.add_metric([kind], count)
        yield sockets
        pool = GaugeMetricFamily("db_pool", "Connection pool figures (psycopg_pool get_stats)", labels=["figure"])
        for figure, value in self.state.pool.get_stats().items():
            if figure in ("pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting"):
                pool.add_metric([figure], value)
        yield pool


class Metrics:
    def __init__(self, app_state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, per route",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("http_requests_in_flight", "Requests being answered", registry=self.registry)
        self.registry.register(_RuntimeCollector(app_state))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await next_app(scope, receive, recording_send)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("path_template") or "unmatched"
            self.metrics.latency.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)


@get("/metrics", tags=["operations"], summary="Prometheus metrics (METRICS=on)", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    settings = request.app.state.settings
    if settings.metrics_token:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent, settings.metrics_token):
            raise AppError(401, "A metrics token is required")
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
