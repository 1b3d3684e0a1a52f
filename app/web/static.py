"""Static files (the pages' scripts and styles, Swagger UI's bundle), served from a list made when the app is
built: a request's path is only ever a key looked up in that list, never joined to a folder. So no path a
client can write (NUL, `%2e%2e`, backslashes, bytes that are not UTF-8, thousands of characters) reaches the
file system; everything that is not one of the listed files is the ordinary 404 with the JSON envelope.
(Litestar's static router joined the path to the folder and stat()ed it: a NUL or an over-long name raised
ValueError/OSError there, a 500.)"""

from __future__ import annotations

from pathlib import Path

from litestar import Router, route
from litestar.enums import HttpMethod
from litestar.params import FromPath
from litestar.response import File

from app.web.errors import not_found


def static_files_router(path: str, folder: Path, summary: str) -> Router:
    """GET/HEAD `{path}/{file_path}` for every file under `folder` (as it is when the app is built)."""
    files = {found.relative_to(folder).as_posix(): found for found in sorted(folder.rglob("*")) if found.is_file()}

    @route("/{file_path:path}", http_method=[HttpMethod.GET, HttpMethod.HEAD], summary=summary)
    async def static_file(file_path: FromPath[str]) -> File:
        found = files.get(file_path.removeprefix("/"))
        if found is None:
            raise not_found("File not found")
        return File(path=found, filename=found.name, content_disposition_type="inline")

    return Router(path=path, route_handlers=[static_file], include_in_schema=False)
