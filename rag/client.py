"""Python clients of the HTTP API, sync and async, with typed results.

    from rag.client import RagClient
    with RagClient("http://127.0.0.1:8000", api_key=None) as client:
        answer = client.search("Qui est le maire de Hangzhou ?", k=3)

A refused request raises `RequestRejected` (4xx, with the server's reason), a failing server
`ServerError` (5xx), and a server that cannot be reached or does not answer in time
`ServiceUnreachable`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from rag.errors import RagError
from rag.schemas import ContextAnswer, DocumentInfo, DocumentText, SearchAnswer

T = TypeVar("T")


class ClientError(RagError):
    """Base class of the client's errors."""


class RequestRejected(ClientError):
    """The server refused the request (4xx)."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail


class ServerError(ClientError):
    """The server failed (5xx)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class ServiceUnreachable(ClientError):
    """The server could not be reached, or did not answer in time."""


def _payload(
    query: str, k: int, mode: str, filters: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "k": k, "mode": mode, **extra}
    if filters:
        body["filters"] = filters
    return body


def _parse(response: httpx.Response, kind: type[T] | Any) -> T:
    if response.status_code >= 400:
        try:
            body = response.json()
            error, detail = str(body.get("error", "error")), str(body.get("detail", body))
        except ValueError:
            error, detail = "error", response.text[:500]
        if response.status_code >= 500:
            raise ServerError(response.status_code, detail)
        raise RequestRejected(response.status_code, error, detail)
    adapter: TypeAdapter[T] = TypeAdapter(kind)
    return adapter.validate_python(response.json())


# Each operation as (method, path, answer type, request arguments), shared by both clients.
Call = tuple[str, str, Any, dict[str, Any]]


def _search(query: str, k: int, mode: str, filters: dict[str, Any] | None) -> Call:
    return "POST", "/search", SearchAnswer, {"json": _payload(query, k, mode, filters)}


def _context(query: str, k: int, mode: str, filters: dict[str, Any] | None, max_chars: int) -> Call:
    body = _payload(query, k, mode, filters, max_chars=max_chars)
    return "POST", "/context", ContextAnswer, {"json": body}


def _documents() -> Call:
    return "GET", "/documents", list[DocumentInfo], {}


def _document(doc_id: str) -> Call:
    return "GET", f"/documents/{doc_id}", DocumentText, {}


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def _unreachable(base_url: str, exc: httpx.HTTPError) -> ServiceUnreachable:
    what = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "is unreachable"
    return ServiceUnreachable(f"the rag service at {base_url} {what} ({type(exc).__name__})")


class RagClient:
    """A blocking client. Use it as a context manager, or call `close()`."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=_headers(api_key), timeout=timeout
        )

    def _call(self, call: Call) -> Any:
        method, path, kind, kwargs = call
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _parse(response, kind)

    def search(
        self, query: str, k: int = 5, mode: str = "hybrid", filters: dict[str, Any] | None = None
    ) -> SearchAnswer:
        result: SearchAnswer = self._call(_search(query, k, mode, filters))
        return result

    def context(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
        max_chars: int = 4000,
    ) -> ContextAnswer:
        result: ContextAnswer = self._call(_context(query, k, mode, filters, max_chars))
        return result

    def documents(self) -> list[DocumentInfo]:
        result: list[DocumentInfo] = self._call(_documents())
        return result

    def document(self, doc_id: str) -> DocumentText:
        result: DocumentText = self._call(_document(doc_id))
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RagClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncRagClient:
    """The same calls as `RagClient`, awaitable. Use it with `async with`, or `await aclose()`."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=_headers(api_key), timeout=timeout
        )

    async def _call(self, call: Call) -> Any:
        method, path, kind, kwargs = call
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _parse(response, kind)

    async def search(
        self, query: str, k: int = 5, mode: str = "hybrid", filters: dict[str, Any] | None = None
    ) -> SearchAnswer:
        result: SearchAnswer = await self._call(_search(query, k, mode, filters))
        return result

    async def context(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
        max_chars: int = 4000,
    ) -> ContextAnswer:
        result: ContextAnswer = await self._call(_context(query, k, mode, filters, max_chars))
        return result

    async def documents(self) -> list[DocumentInfo]:
        result: list[DocumentInfo] = await self._call(_documents())
        return result

    async def document(self, doc_id: str) -> DocumentText:
        result: DocumentText = await self._call(_document(doc_id))
        return result

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRagClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


__all__ = [
    "AsyncRagClient",
    "ClientError",
    "RagClient",
    "RequestRejected",
    "ServerError",
    "ServiceUnreachable",
]
