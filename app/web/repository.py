"""Statements of sql/web.sql: rate-limit counters and idempotency keys."""

from __future__ import annotations

import msgspec

from app.db.sql import Repository


class RateLimitHit(msgspec.Struct):
    hits: int
    retry_after: int


class StoredResponse(msgspec.Struct):
    request_hash: bytes
    status_code: int | None
    response: bytes | None
    location: str | None


class WebRepository(Repository):
    area = "web"

    async def hit_rate_limit(self, bucket: str, window_seconds: int) -> RateLimitHit:
        hit = await self.fetch_one("hit_rate_limit", RateLimitHit, bucket=bucket, window_seconds=window_seconds)
        assert hit is not None
        return hit

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

    async def delete_stale_rows(self) -> None:
        await self.execute("delete_old_rate_limits")
        await self.execute("delete_old_idempotency_keys")
