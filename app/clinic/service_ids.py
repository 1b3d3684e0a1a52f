"""The lists of service ids a request names: a display's `?services=1,2,3` and a body's `service_ids`."""

from __future__ import annotations

from app.clinic.repository import ClinicRepository
from app.web.errors import invalid_field


def parse_service_filter(raw: str | None) -> list[int] | None:
    """`?services=1,2,3` -> [1, 2, 3]; a malformed list is a 400."""
    if raw is None or not raw.strip():
        return None
    try:
        ids = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise invalid_field("services", "A comma-separated list of service ids") from None
    if not ids or len(ids) > 100 or any(i < 1 for i in ids):
        raise invalid_field("services", "A comma-separated list of 1 to 100 service ids")
    return ids


async def check_service_ids(repo: ClinicRepository, clinic_id: int, service_ids: list[int], key: str) -> None:
    unknown = await repo.unknown_service_ids(clinic_id, sorted(set(service_ids)))
    if unknown:
        raise invalid_field(key, f"Unknown services: {', '.join(map(str, unknown))}")
