"""The baseline for the app-overhead ratio: a bare Litestar app answering GET /health with the same JSON,
no middleware, no database. Served by uvicorn with the same options as the real app."""

from litestar import Litestar, get


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar([health])
