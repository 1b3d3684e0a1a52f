"""Clinic patient queue (docs/rules/clinic.md)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from psycopg import AsyncConnection

from app.areas import Area
from app.auth.principal import Principal
from app.clinic.cache import TOPIC as SERVICES_CACHE_TOPIC
from app.clinic.cache import ServiceCache
from app.clinic.controller import ActivationController, ClinicsController, PagesController
from app.clinic.demo import seed_demo
from app.clinic.repository import ClinicRepository
from app.clinic.sockets import display_socket, queue_socket


async def install_service_cache(app: Litestar) -> None:
    """The kiosk's service list, cached in this process and dropped when any process changes it."""
    cache = ServiceCache()
    app.state.clinic_services = cache
    app.state.hub.on_prefix(SERVICES_CACHE_TOPIC, cache.invalidate)


async def free_rooms_on_logout(conn: AsyncConnection[Any], principal: Principal) -> None:
    await ClinicRepository(conn).free_rooms_of_user(principal.id)


area = Area(
    name="clinic",
    route_handlers=[ClinicsController, ActivationController, PagesController, display_socket, queue_socket],
    on_startup=[install_service_cache],
    logout_hooks=[free_rooms_on_logout],
    seed_demo=seed_demo,
)
