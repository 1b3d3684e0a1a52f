"""What tracing costs (issue 15, item 5): `GET /health` and the one-row read `GET /api/v1/products/{id}` served by
the code before tracing, by this code with TRACING off (the default) and by this code with TRACING on, exporting
to a loopback OTLP/HTTP sink. Alternating rounds on the same database; per round, each server's CPU time per
request (its process's user + system time over the requests wrk counted) over the "before" server's; the medians
of those ratios are reported. CPU per request rather than throughput: on a machine that other work shares,
throughput swings with the load, while the CPU a request takes barely does.

    git archive <commit before tracing> | tar -x -C /tmp/before
    .venv/bin/python -m loadtest.bench_tracing --before /tmp/before [--rounds 5] [--seconds 5] [--no-write]

Needs `wrk` (apt-get install wrk). One worker per server, so that each run measures one process's CPU.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

from loadtest.bench_platform import _prepare
from loadtest.harness import (
    Server,
    free_port,
    fresh_database,
    machine_line,
    median,
    now_iso,
    start_app,
    write_section,
    wrk,
)


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and drops them (a collector that costs nothing measurable)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def cpu_seconds(server: Server) -> float:
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in server.pids())


def cpu_per_request(server: Server, url: str, seconds: int, connections: int) -> float:
    """Microseconds of the server's CPU per request."""
    cpu, started = cpu_seconds(server), time.monotonic()
    result = wrk(url, seconds=seconds, connections=connections)
    spent, elapsed = cpu_seconds(server) - cpu, time.monotonic() - started
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"{url}: errors under load: {result}")
    return 1e6 * spent / (result.requests_per_second * elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before tracing")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/performance.md alone")
    args = parser.parse_args()
    with fresh_database() as database_url, otlp_sink() as sink:
        traced_env = {"TRACING": "on", "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_SERVICE_NAME": "bench"}
        servers = {
            "before": start_app(database_url, workers=1, checkout=args.before.resolve()),
            "off": start_app(database_url, workers=1),
            "on": start_app(database_url, workers=1, extra_env=traced_env),
        }
        try:
            _, product_id = _prepare(servers["off"])
            paths = {"/health": "/health", "one-row read": f"/api/v1/products/{product_id}"}
            costs: dict[tuple[str, str], list[float]] = {}
            for server in servers.values():  # warm-up: pool connections, prepared statements
                for path in paths.values():
                    wrk(server.url + path, seconds=1, connections=args.connections)
            for round_number in range(args.rounds):
                # Alternate the order too, so that neither server always runs first after a pause.
                order = list(servers.items()) if round_number % 2 == 0 else list(reversed(servers.items()))
                for what, path in paths.items():
                    for name, server in order:
                        cost = cpu_per_request(server, server.url + path, args.seconds, args.connections)
                        costs.setdefault((what, name), []).append(cost)
        finally:
            for server in servers.values():
                server.stop()
    rows = []
    for what in paths:
        before = costs[(what, "before")]
        off = [o / b for o, b in zip(costs[(what, "off")], before, strict=True)]
        on = [o / b for o, b in zip(costs[(what, "on")], before, strict=True)]
        spread = f"{min(off):.2f} to {max(off):.2f}"
        rows.append(f"| `{what}` | {median(before):,.0f} | **{median(off):.3f}** ({spread}) | {median(on):.2f} |")
    markdown = "\n".join(
        [
            "## Tracing's cost",
            "",
            f"Measured {now_iso()} on {machine_line()} by `.venv/bin/python -m loadtest.bench_tracing --before <dir>"
            f" --rounds {args.rounds} --seconds {args.seconds}`: one worker per server, wrk with"
            f" {args.connections} connections, {args.rounds} alternating rounds of {args.seconds} s. The server's"
            " CPU time per request with this code over the code before tracing, per round: the median of those"
            " ratios (1.00: the same cost) and their range, wide because other work shared the machine.",
            "",
            "| request | before, CPU µs per request (median) | TRACING=off / before (range) | TRACING=on / before |",
            "|---|---|---|---|",
            *rows,
            "",
            "TRACING=on exports every span (`parentbased_always_on`) to a loopback OTLP/HTTP sink: each request pays"
            " for making its spans and for encoding and sending them from the export thread, in the same process. In"
            " production, `OTEL_TRACES_SAMPLER=parentbased_traceidratio` keeps a share of the traces (an unsampled"
            " request makes no recording span, and its statements none at all).",
        ]
    )
    print(markdown)
    if not args.no_write:
        write_section("tracing", markdown)


if __name__ == "__main__":
    main()
