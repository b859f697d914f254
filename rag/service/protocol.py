"""uvicorn's HTTP/1.1 protocol (httptools) with the two bounds it lacks: on a request's head
(request line and headers) and on the time a client takes to send it.

uvicorn keeps every header a client sends, however large (24 MB of headers grew a worker to
424 MB), and waits for the end of a head for ever (200 sockets trickling headers stayed open).
A head larger than `max_bytes` is answered 431, one not received within `timeout` seconds of
its first byte (or of the connection) 408, and the connection is closed either way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _answer(status: int, reason: str, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHttpProtocol(HttpToolsProtocol):
    """Set its bounds with `configure` before uvicorn makes any connection."""

    max_bytes = 65_536
    timeout = 10.0

    @classmethod
    def configure(cls, max_bytes: int, timeout: float) -> type[BoundedHttpProtocol]:
        return type("BoundedHttpProtocol", (cls,), {"max_bytes": max_bytes, "timeout": timeout})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # what follows a refusal is not read
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.max_bytes and not self._refused:
            detail = (
                f"the request line and headers are larger than {self.max_bytes} bytes, the "
                "most this server reads (RAG_MAX_HEADER_BYTES); send fewer or smaller headers"
            )
            self._refuse(_answer(431, "Request Header Fields Too Large", "too_large", detail))

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None  # it runs only while a head is awaited
        detail = (
            f"the request's headers did not arrive within {self.timeout:g} s "
            "(RAG_HEADER_TIMEOUT); send them at once"
        )
        self._refuse(_answer(408, "Request Timeout", "timeout", detail))

    def _refuse(self, answer: bytes) -> None:
        self._refused = True
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()
