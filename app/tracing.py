"""OpenTelemetry traces: off unless TRACING=on, then exported over OTLP/HTTP as the standard OTEL_* variables say
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_BSP_*...; docs/operations.md, "Traces").

Span names are stable (dashboards and alerts are built on them):

| span                   | kind     | one per                                                                  |
|------------------------|----------|--------------------------------------------------------------------------|
| `{METHOD} {route}`     | server   | HTTP request (`GET` alone when no route matched); app/web/tracing.py     |
| `<area>.<statement>`   | client   | SQL statement of `sql/<area>.sql` run inside a traced request/delivery   |
| `cashback.upstream`    | client   | call to the external cashback API (its retry included); traceparent sent |
| `hub.deliver`          | consumer | notification the hub hands to this process's subscribers of its topic    |

Off, `tracer` is None and each hook costs one `is None` test: OpenTelemetry is not even imported (no span, no
thread, no start-up time); callers test `tracing.tracer` before calling anything here that makes spans.
Statements outside a traced request or delivery (the background loops' ticks) get no span: a trace a second per
loop and process would bury the requests.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, SpanKind, Tracer

DEFAULT_SERVICE_NAME = "marketplace-backend"
INSTRUMENTATION_NAME = "app"
Kind = Literal["server", "client", "consumer"]

tracer: Tracer | None = None
_provider: TracerProvider | None = None
_kinds: dict[str, SpanKind] = {}


def configure_tracing(enabled: bool) -> None:
    """Start exporting spans from this process (once; each uvicorn worker calls it after its fork)."""
    global tracer, _provider
    if not enabled or tracer is not None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import HOST_NAME, SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, and a random service.instance.id per process (worker).
    resource = Resource.create()
    defaults: dict[str, str] = {}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if HOST_NAME not in resource.attributes:  # which replica: they share a service name
        defaults[HOST_NAME] = socket.gethostname()
    provider = TracerProvider(resource=resource.merge(Resource(defaults)))  # OTEL_TRACES_SAMPLER(_ARG)
    # Batched, exported from the processor's own thread: a slow or absent collector never holds a request.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_BSP_*, OTEL_EXPORTER_OTLP_*
    _kinds.update(server=SpanKind.SERVER, client=SpanKind.CLIENT, consumer=SpanKind.CONSUMER)
    _provider = provider
    tracer = provider.get_tracer(INSTRUMENTATION_NAME)


def shutdown_tracing() -> None:
    """Export what is still batched (at shutdown; a stopped process's last spans are otherwise lost)."""
    global tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    tracer, _provider = None, None


@contextmanager
def span(name: str, kind: Kind, attributes: Mapping[str, Any], *, context: Context | None = None) -> Iterator[Span]:
    """A current span (an exception leaving it marks it failed). Only with tracing on."""
    assert tracer is not None, "test tracing.tracer first"
    with tracer.start_as_current_span(name, context=context, kind=_kinds[kind], attributes=attributes) as current:
        yield current


def in_trace() -> bool:
    """Is a recording span current (a traced request or delivery)?"""
    from opentelemetry import trace

    return tracer is not None and trace.get_current_span().is_recording()


def statement_span(area: str, statement: str, text: str) -> AbstractContextManager[Span]:
    """The span of one named SQL statement: `<area>.<statement>`, with its text (placeholders, never values)."""
    attributes = {"db.system.name": "postgresql", "db.query.summary": f"{area}.{statement}", "db.query.text": text}
    return span(f"{area}.{statement}", "client", attributes)


def set_attribute(key: str, value: str | int | float | bool) -> None:
    if tracer is not None:
        from opentelemetry import trace

        trace.get_current_span().set_attribute(key, value)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace's headers (W3C traceparent, per OTEL_PROPAGATORS) to an outgoing request."""
    if tracer is not None:
        from opentelemetry import propagate

        propagate.inject(headers)


def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits (as tracing back ends show it), or None outside a trace."""
    if tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
