"""The TV panel, the kiosk, a ticket's public page, the staff desk and the manager's dashboard (docs/rules/clinic.md,
"Pages"): plain HTML files under app/static/clinic/ (their scripts and styles are files too: the page policy allows no
inline script), served for any existing clinic; the script reads the clinic id (and the ticket's token) from the
address. The desk and the dashboard hold no data: they ask the API, which decides who may see what (a login form or a
refusal otherwise)."""

from __future__ import annotations

from functools import cache

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from app.clinic.access import CLINIC_DEPENDENCIES, CLINIC_NOT_FOUND
from app.clinic.repository import ClinicRepository
from app.config import PROJECT_ROOT
from app.web.errors import not_found

PAGES_FOLDER = PROJECT_ROOT / "app" / "static" / "clinic"


@cache
def _page_bytes(name: str) -> bytes:
    return (PAGES_FOLDER / name).read_bytes()


async def _page(clinics: ClinicRepository, clinic_id: int, name: str) -> Response[bytes]:
    clinic = await clinics.clinic_view(clinic_id)
    if clinic is None or not clinic.active:
        raise not_found(CLINIC_NOT_FOUND)
    return Response(_page_bytes(name), media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


class PagesController(Controller):
    path = "/clinics"
    include_in_schema = False
    dependencies = CLINIC_DEPENDENCIES

    @get("/{clinic_id:int}/tv", summary="The TV panel")
    async def tv(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await _page(clinics, clinic_id, "tv.html")

    @get("/{clinic_id:int}/totem", summary="The kiosk")
    async def totem(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await _page(clinics, clinic_id, "totem.html")

    @get("/{clinic_id:int}/desk", summary="The staff desk")
    async def desk(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await _page(clinics, clinic_id, "desk.html")

    @get("/{clinic_id:int}/dashboard", summary="The manager's dashboard")
    async def dashboard(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await _page(clinics, clinic_id, "dashboard.html")

    @get("/{clinic_id:int}/tickets/{public_token:str}", summary="A ticket's public page (the kiosk's QR code)")
    async def ticket_page(
        self, clinic_id: FromPath[int], public_token: FromPath[str], clinics: NamedDependency[ClinicRepository]
    ) -> Response[bytes]:
        # The token is checked by the API call the page makes: an unknown one shows "not found" there.
        del public_token
        return await _page(clinics, clinic_id, "ticket.html")
