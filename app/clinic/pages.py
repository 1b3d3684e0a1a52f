"""The TV panel and the kiosk: plain HTML files under app/static/clinic/ (their scripts and styles are files
too: the page policy allows no inline script), served for any existing clinic; the script reads the clinic id
from the address."""

from __future__ import annotations

from functools import cache

from litestar import Response
from litestar.enums import MediaType

from app.clinic.repository import ClinicRepository
from app.config import PROJECT_ROOT
from app.web.errors import not_found

PAGES_FOLDER = PROJECT_ROOT / "app" / "static" / "clinic"


@cache
def _page_bytes(name: str) -> bytes:
    return (PAGES_FOLDER / name).read_bytes()


async def page(clinics: ClinicRepository, clinic_id: int, name: str) -> Response[bytes]:
    clinic = await clinics.clinic_view(clinic_id)
    if clinic is None or not clinic.active:
        raise not_found("Clinic not found")
    return Response(_page_bytes(name), media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})
