"""The outermost layer of every request: an id, a size limit, no stack trace, one log line.

- Each request gets an id (the client's `X-Request-ID` when it is a short token, otherwise a new
  one), sent back in `X-Request-ID` and written in its log line.
- A body larger than `max_body_bytes` (`max_document_bytes` for the writes of `/documents`)
  is refused with 413 before it is read: at once when `Content-Length` says so, otherwise as
  soon as the bytes received pass the limit.
- An exception that nothing else handled becomes a JSON 500 that names the request id, and is
  logged with its traceback under the same id. The answer is complete, so the client's
  keep-alive connection stays usable.
- Each request counts in the metrics (`rag.service.metrics`) by route template and status.
- One JSON access line per request (`RAG_LOG_REQUESTS=false` turns it off): method, path,
  status, `took_ms` and `request_id`.
- A request that changes something (POST, PUT, PATCH, DELETE) sent by a browser from a page of
  another origin is refused with 403, unless `RAG_CORS_ORIGINS` allows that origin: a form
  auto-submitted by another site must not write with the rights of the server's own pages.
- Every answer says `X-Content-Type-Options: nosniff`; the pages add their own policies.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from rag.service import metrics
from rag.service.problems import problem

access_log = logging.getLogger("rag.access")
log = logging.getLogger("rag.service")

Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def foreign_origin(scope: Message, allowed: frozenset[str]) -> str | None:
    """The other origin (or `Sec-Fetch-Site` value) that a browser says sent this request,
    when the request would change something and `allowed` does not name that origin."""
    if scope["method"] not in _UNSAFE or "*" in allowed:
        return None
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is not None:
        # This server's own pages send its Host; the scheme is left out, as a proxy in front
        # that ends TLS makes it https for the browser and http here.
        own = origin.partition("://")[2] == headers.get("host")
        return None if own or origin in allowed else origin
    site = headers.get("sec-fetch-site")
    return None if site in (None, "same-origin", "none") else f"a {site} page"


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            given = value.decode("latin-1")
            if _TOKEN.fullmatch(given):
                return given
    return uuid.uuid4().hex[:16]


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


class RequestGuard:
    """Pure ASGI middleware (it sees streaming responses whole, and costs no thread hop)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_document_bytes: int | None = None,
        log_requests: bool = True,
        metrics: bool = True,
        allowed_origins: frozenset[str] = frozenset(),
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_document_bytes = max_document_bytes or max_body_bytes
        self.log_requests = log_requests
        self.metrics = metrics
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        received = 0
        refused = False
        limit, setting = self._limit(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if refused:  # the 413 is sent: what the app says after it is dropped
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        async def receive_bounded() -> Message:
            nonlocal received, refused
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not status:
                    await self._too_large(scope, receive, send_with_id, limit, setting)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        try:
            declared = _declared_length(scope.get("headers", []))
            foreign = foreign_origin(scope, self.allowed_origins)
            if foreign is not None:
                detail = (
                    f"{scope['method']} from {foreign} is refused: changes are taken from this "
                    "server's own pages and from clients that are not browsers; to allow a "
                    "front end at another origin, list it in RAG_CORS_ORIGINS"
                )
                await problem(403, "cross_origin", detail)(scope, receive, send_with_id)
            elif declared is not None and declared > limit:
                await self._too_large(scope, receive, send_with_id, limit, setting)
            else:
                await self.app(scope, receive_bounded, send_with_id)
        except Exception:
            log.exception("request %s (%s %s) failed", request_id, scope["method"], scope["path"])
            if not status:
                detail = (
                    f"the server failed on this request; it is logged under request id "
                    f"{request_id}: quote it when you report the problem"
                )
                response = problem(500, "internal", detail, request_id=request_id)
                await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if self.metrics:
                route = getattr(scope.get("route"), "path", "unmatched")
                metrics.observe_request(route, scope["method"], status or 500, seconds)
                metrics.maybe_update_worker()
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                line = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status or 500,
                    "took_ms": round(seconds * 1000, 2),
                    "request_id": request_id,
                }
                access_log.info(json.dumps(line))

    def _limit(self, scope: Message) -> tuple[int, str]:
        """The most bytes this request's body may have, and the setting that says so."""
        if scope["method"] in ("POST", "PUT") and scope["path"].startswith("/documents"):
            return self.max_document_bytes, "RAG_MAX_DOCUMENT_BYTES"
        return self.max_body_bytes, "RAG_MAX_BODY_BYTES"

    async def _too_large(
        self, scope: Message, receive: Any, send: Any, limit: int, setting: str
    ) -> None:
        detail = (
            f"the request body is larger than {limit} bytes, the most this server accepts "
            f"here ({setting}); send a smaller one"
        )
        response = problem(413, "too_large", detail)
        # The client may still be sending: the connection cannot carry another request.
        response.headers["connection"] = "close"
        await response(scope, receive, send)
