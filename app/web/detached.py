"""Work a request starts and does not wait for, so that neither its answer nor the answer's timing can depend
on that work (the password reset). Not a queue: the work is short and runs in this process; a crash before it
ends loses it, as it would lose the request itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class DetachedTasks:
    def __init__(self) -> None:
        # Strong references: the event loop keeps only weak ones, and a task nobody holds may vanish mid-way.
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Detached work failed", exc_info=task.exception())

    async def close(self) -> None:
        """At shutdown: lets the work under way finish (briefly), then cancels what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
