"""The client's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any

from litestar.connection import ASGIConnection

from app.config import Settings


@cache
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(proxies))


def is_trusted_proxy(address: str, settings: Settings) -> bool:
    return bool(settings.trusted_proxies) and _trusted(address, settings.trusted_proxies)


def client_address(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    peer = connection.client.host if connection.client else "unknown"
    if not settings.trusted_proxies or not _trusted(peer, settings.trusted_proxies):
        return peer
    forwarded = connection.headers.get("x-forwarded-for", "")
    # Walk from the nearest hop back; the first address that is not one of our proxies is the client.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _trusted(hop, settings.trusted_proxies):
            return hop
    return peer
