"""The client's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy; and the client's
rate-limit bucket (docs/rules/users.md, "Rate limits")."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any

from litestar.connection import ASGIConnection

from app.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _ip(address: str) -> IPAddress | None:
    """The address, an IPv4-mapped IPv6 one (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers) as the
    IPv4 address it is; None when it is no address at all."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in _networks(proxies))


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


def client_bucket(address: str, settings: Settings) -> str:
    """What the per-client rate limits count: an IPv4 address, or the IPv6 network one client normally owns (a
    /64: a host picks any of its 2^64 addresses at will, so counting single addresses would give it unlimited
    budgets). Prefix lengths are settings; anything that is not an address is its own bucket."""
    ip = _ip(address)
    if ip is None:
        return address
    prefix = settings.ipv4_bucket_prefix if ip.version == 4 else settings.ipv6_bucket_prefix
    network = ipaddress.ip_network((ip, prefix), strict=False)
    return str(ip) if network.prefixlen == network.max_prefixlen else str(network)


def client_key(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The bucket of the client behind this request."""
    return client_bucket(client_address(connection, settings), settings)
