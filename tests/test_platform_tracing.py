"""Distributed traces (issue 15, item 5): with TRACING=on real `app serve` processes export OTLP/HTTP, as the
standard OTEL_* variables configure it, to a real loopback receiver (tests/otlp_receiver.py). A bid is one trace:
its request span and a span per SQL statement named after sql/; the hub's delivery and the cashback upstream call
have spans; a `traceparent` is continued only from TRUSTED_PROXIES; the JSON logs carry trace_id beside request_id.

Where clients come in is the `front` fixture: "direct", one replica whose TRUSTED_PROXIES is 127.0.0.1 (the address
a proxy would come from, as nginx does in tests/scale_support.py), test clients coming from 127.0.0.2; "nginx",
replicas behind real nginx and PgBouncer (tests/scale_support.py; skipped with how to install them when absent)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.sql import all_sql_files, load_sql
from tests import scale_support
from tests.auctions_support import create_auction, http_bid, watching
from tests.cashback_upstream import FakeCashbackApi, new_reseller
from tests.conftest import TEST_ENVIRONMENT
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support import ServerProcess, SmtpServer, eventually, new_user, start_server_process, with_settings

pytestmark = pytest.mark.slow

PROXY_ADDRESS = "127.0.0.1"  # the trusted proxy's address (nginx's, behind the scale-out harness)
CLIENT_ADDRESS = "127.0.0.2"  # any 127/8 address is loopback on Linux: a client, not a proxy
STATEMENT_SPANS = {f"{f.stem}.{name}" for f in all_sql_files() for name in load_sql(f.stem)}


@dataclass
class Front:
    url: str  # where clients come in: a replica, or nginx
    ws_url: str
    replicas: list[ServerProcess]
    receiver: OtlpReceiver
    upstream: FakeCashbackApi

    def client(self, source: str = CLIENT_ADDRESS, base_url: str | None = None) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        return httpx.AsyncClient(base_url=base_url or self.url, transport=transport, timeout=30)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for r in self.replicas for line in r.log().splitlines() if line.startswith("{")]


def tracing_environment(receiver: OtlpReceiver, upstream: FakeCashbackApi) -> dict[str, str]:
    return {
        "TRACING": "on",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # milliseconds between exports (default 5000)
        "OTEL_SERVICE_NAME": "marketplace-test",
        "ACCESS_LOG": "on",
        "LOG_LEVEL": "INFO",
        "CASHBACK_API_URL": upstream.url,
    }


@pytest.fixture(params=["direct", "nginx"])
async def front(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> AsyncIterator[Front]:
    async with OtlpReceiver() as receiver, FakeCashbackApi(credit=2009) as upstream:
        environment = tracing_environment(receiver, upstream)
        if request.param == "direct":
            replica = await start_server_process(
                with_settings(settings, trusted_proxies=(PROXY_ADDRESS,)), tmp_path, extra_env=environment
            )
            try:
                yield Front(replica.url, replica.ws_url, [replica], receiver, upstream)
            finally:
                replica.stop()
            return
        smtp = SmtpServer()
        smtp.start()
        environment = TEST_ENVIRONMENT | {"SMTP_URL": smtp.url} | environment
        try:
            async with scale_support.scale_out(
                request.getfixturevalue("server_url"), settings.database_url, tmp_path, environment, replicas=2
            ) as cluster:
                yield Front(cluster.url, cluster.ws_url, cluster.replicas, receiver, upstream)
        finally:
            smtp.stop()


def traceparent() -> tuple[str, str, str]:
    """(header, trace id, span id) of a caller's sampled W3C trace context."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def assert_one_tree(spans: list[ReceivedSpan], root: ReceivedSpan) -> None:
    ids = {span.span_id for span in spans}
    assert [span for span in spans if span.parent_span_id not in ids] == [root]


async def test_a_bid_is_one_trace_with_its_statement_spans_and_the_logs_carry_its_id(front: Front) -> None:
    async with front.client() as client:
        seller, bidder = await new_user(client), await new_user(client)
        product_id = await create_auction(client, seller)
        async with watching(front.ws_url, product_id) as watcher:
            forged, forged_trace_id, _ = traceparent()  # from a client, not a proxy: ignored
            request_id = f"bid-{secrets.token_hex(6)}"
            bidder.headers |= {"X-Request-ID": request_id, "traceparent": forged}
            response = await http_bid(client, bidder, product_id, 150)
            assert response.status_code == 201, response.text
            await watcher.wait_for(lambda _: watcher.events())

    root = await front.receiver.request_span(request_id)
    assert root.trace_id != forged_trace_id
    assert root.parent_span_id == ""
    assert root.name == "POST /api/v1/products/{product_id}/bids"
    assert root.attributes["http.response.status_code"] == 201
    assert root.resource["service.name"] == "marketplace-test"
    assert {"host.name", "service.instance.id"} <= root.resource.keys()  # which replica, which worker
    spans = front.receiver.trace(root.trace_id)
    assert_one_tree(spans, root)
    statements = [span.name for span in spans if span is not root]
    assert "auctions.place_bid" in statements
    assert set(statements) <= STATEMENT_SPANS, "every other span of the request is a statement of sql/"
    # One trace: the bid's statement is in this trace and no other.
    assert {s.trace_id for s in front.receiver.spans if s.name == "auctions.place_bid"} == {root.trace_id}

    async def delivered() -> list[ReceivedSpan]:
        topic = f"product:{product_id}"
        deliveries = [s for s in front.receiver.spans if s.name == "hub.deliver"]
        return [s for s in deliveries if s.attributes.get("messaging.destination.name") == topic]

    [delivery] = await eventually(delivered, timeout=15)
    assert delivery.attributes["app.seq"] == watcher.events()[0]["seq"]

    async def access_line() -> dict[str, Any] | None:
        found = [e for e in front.log_lines() if e.get("logger") == "app.access" and e.get("request_id") == request_id]
        return found[0] if found else None

    line = await eventually(access_line, timeout=15)
    assert line["trace_id"] == root.trace_id
    assert line["path"] == f"/api/v1/products/{product_id}/bids"


@pytest.mark.parametrize("front", ["direct"], indirect=True)  # straight to a replica: nginx drops traceparent
async def test_traceparent_is_continued_only_from_a_trusted_proxy_and_passed_to_the_upstream(front: Front) -> None:
    header, trace_id, parent_id = traceparent()
    async with front.client(PROXY_ADDRESS) as proxy, front.client(CLIENT_ADDRESS) as direct:
        reseller = await new_reseller(direct)
        request_id = f"proxied-{secrets.token_hex(6)}"
        headers = reseller.headers | {"traceparent": header, "X-Request-ID": request_id}
        response = await proxy.get(front.replicas[0].url + "/api/v1/cashback", headers=headers)
        assert response.status_code == 200, front.replicas[0].log()[-3000:]
        untrusted_id = f"direct-{secrets.token_hex(6)}"
        response = await direct.get(
            front.replicas[0].url + "/health", headers={"traceparent": header, "X-Request-ID": untrusted_id}
        )
        assert response.status_code == 200

    root = await front.receiver.request_span(request_id)
    assert (root.trace_id, root.parent_span_id) == (trace_id, parent_id)
    assert root.name == "GET /api/v1/cashback"
    spans = front.receiver.trace(trace_id)
    assert_one_tree(spans, root)
    [call] = [span for span in spans if span.name == "cashback.upstream"]
    assert call.attributes["http.response.status_code"] == 200
    assert reseller.cpf not in json.dumps([s.attributes for s in spans])  # personal data stays out of traces
    # The upstream was asked inside the same trace, by the upstream call's span.
    [asked] = front.upstream.requests
    assert asked.headers["traceparent"].split("-")[1:3] == [trace_id, call.span_id]

    untrusted = await front.receiver.request_span(untrusted_id)
    assert untrusted.trace_id != trace_id
    assert untrusted.parent_span_id == ""
