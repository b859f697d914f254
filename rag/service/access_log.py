"""One JSON log line per request, with its `took_ms` (`RAG_LOG_REQUESTS=false` turns it off)."""

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

access_log = logging.getLogger("rag.access")


class AccessLog:
    """Pure ASGI middleware: it times the whole request, streaming included."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "took_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    )
                )
