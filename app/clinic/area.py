"""Clinic patient queue (docs/rules/clinic.md)."""

from __future__ import annotations

from litestar import Litestar

from app.areas import Area
from app.clinic.cache import TOPIC as SERVICES_CACHE_TOPIC
from app.clinic.cache import ServiceCache
from app.clinic.controllers.desk import DeskController
from app.clinic.controllers.pages import PagesController
from app.clinic.controllers.setup import SetupController
from app.clinic.controllers.staff import ActivationController, StaffController
from app.clinic.controllers.tickets import TicketsController
from app.clinic.demo import seed_demo
from app.clinic.desk import close_account, release_desk
from app.clinic.sockets import display_socket, queue_socket


async def install_service_cache(app: Litestar) -> None:
    """The kiosk's service list, cached in this process and dropped when any process changes it."""
    cache = ServiceCache()
    app.state.clinic_services = cache
    app.state.hub.on_prefix(SERVICES_CACHE_TOPIC, cache.invalidate)


area = Area(
    name="clinic",
    route_handlers=[
        SetupController,
        StaffController,
        ActivationController,
        DeskController,
        TicketsController,
        PagesController,
        display_socket,
        queue_socket,
    ],
    on_startup=[install_service_cache],
    session_end_hooks=[release_desk],  # every clinic's rooms and called tickets
    account_close_hooks=[close_account],  # tickets forwarded to the account by name
    seed_demo=seed_demo,
)
