"""Statements of sql/web.sql: rate-limit counters and idempotency keys."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.db.sql import Repository


class RateLimitHit(msgspec.Struct):
    bucket: str
    window_start: datetime
    hits: int
    elapsed: float  # seconds since the window started


class StoredResponse(msgspec.Struct):
    request_hash: bytes
    status_code: int | None
    response: bytes | None
    location: str | None


class WebRepository(Repository):
    area = "web"

    async def hit_rate_limits(self, buckets: list[str], window_seconds: list[int]) -> dict[str, RateLimitHit]:
        hits = await self.fetch_all("hit_rate_limits", RateLimitHit, buckets=buckets, window_seconds=window_seconds)
        return {hit.bucket: hit for hit in hits}

    async def refund_rate_limits(self, hits: list[RateLimitHit]) -> None:
        await self.execute(
            "refund_rate_limits",
            buckets=[hit.bucket for hit in hits],
            window_starts=[hit.window_start for hit in hits],
        )

    async def claim_idempotency_key(self, owner: str, key: str, request_hash: bytes) -> bool:
        return bool(await self.fetch_value("claim_idempotency_key", owner=owner, key=key, request_hash=request_hash))

    async def idempotent_response(self, owner: str, key: str) -> StoredResponse | None:
        return await self.fetch_one("idempotent_response", StoredResponse, owner=owner, key=key)

    async def store_idempotent_response(
        self, owner: str, key: str, status_code: int, response: bytes, location: str | None
    ) -> None:
        await self.execute(
            "store_idempotent_response",
            owner=owner,
            key=key,
            status_code=status_code,
            response=response,
            location=location,
        )

    async def delete_old_rate_limits(self, batch_size: int) -> int:
        return await self.execute("delete_old_rate_limits", batch_size=batch_size)

    async def delete_old_idempotency_keys(self, batch_size: int) -> int:
        return await self.execute("delete_old_idempotency_keys", batch_size=batch_size)
