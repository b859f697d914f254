"""Python clients of the HTTP API, sync and async, with typed results.

    from rag.clients import RagClient
    with RagClient("http://127.0.0.1:8000", api_key=None) as client:
        answer = client.search("Qui est le maire de Hangzhou ?", k=3)

`collection="villes"` asks that collection (`/collections/villes/...`); without it, the default.

A refused request raises `RequestRejected` (4xx, with the server's reason), a failing server
`ServerError` (5xx), and a server that cannot be reached or does not answer in time
`ServiceUnreachable`.

Each operation is written once, as a function that builds a `Call` (method, path, body and the
type of the answer); the two clients differ only in how they send it (`_send`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from rag.answers import CollectionSummary, ContextBlock, DocumentSummary
from rag.errors import RagError
from rag.service.schemas import DocumentText, SearchAnswer

T = TypeVar("T")
P = ParamSpec("P")


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


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the API, and the type its answer is parsed into."""

    method: str
    path: str
    answer: Any  # type[T], or a generic alias such as list[DocumentSummary]
    json: dict[str, Any] | None = None
    # Asked of the client's collection (under /collections/{name}/ when it has one).
    scoped: bool = True

    def url(self, collection: str | None) -> str:
        if collection is None or not self.scoped:
            return self.path
        return f"/collections/{quote(collection, safe='')}{self.path}"

    def parse(self, response: httpx.Response) -> T:
        """The answer as a `T`, or the error the status code means."""
        if response.status_code >= 400:
            try:
                body = response.json()
                error, detail = str(body.get("error", "error")), str(body.get("detail", body))
            except ValueError:
                error, detail = "error", response.text[:500]
            if response.status_code >= 500:
                raise ServerError(response.status_code, detail)
            raise RequestRejected(response.status_code, error, detail)
        adapter: TypeAdapter[T] = TypeAdapter(self.answer)
        return adapter.validate_python(response.json())


def _query(
    query: str, k: int, mode: str, filters: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "k": k, "mode": mode, **extra}
    if filters:
        body["filters"] = filters
    return body


def _search(
    query: str, k: int = 5, mode: str = "hybrid", filters: dict[str, Any] | None = None
) -> Call[SearchAnswer]:
    """Ranked passages for `query`, with their sources (`POST /search`)."""
    return Call("POST", "/search", SearchAnswer, _query(query, k, mode, filters))


def _context(
    query: str,
    k: int = 5,
    mode: str = "hybrid",
    filters: dict[str, Any] | None = None,
    max_chars: int = 4000,
) -> Call[ContextBlock]:
    """The top passages as one numbered text block with citations (`POST /context`)."""
    body = _query(query, k, mode, filters, max_chars=max_chars)
    return Call("POST", "/context", ContextBlock, body)


def _documents() -> Call[list[DocumentSummary]]:
    """Every document's id, title, date, language, source and passage count."""
    return Call("GET", "/documents", list[DocumentSummary])


def _document(doc_id: str) -> Call[DocumentText]:
    """A document's metadata and full stored text."""
    return Call("GET", f"/documents/{doc_id}", DocumentText)


def _collections() -> Call[list[CollectionSummary]]:
    """The collections the client's key may read, with their embedders and sizes."""
    return Call("GET", "/collections", list[CollectionSummary], scoped=False)


def _unreachable(base_url: str, exc: httpx.HTTPError) -> ServiceUnreachable:
    what = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "is unreachable"
    return ServiceUnreachable(f"the rag service at {base_url} {what} ({type(exc).__name__})")


def _options(base_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    headers = {"X-API-Key": api_key} if api_key else {}
    return {"base_url": base_url.rstrip("/"), "headers": headers, "timeout": timeout}


def _blocking(build: Callable[P, Call[T]]) -> Callable[Concatenate[RagClient, P], T]:
    @functools.wraps(build)
    def method(self: RagClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._send(build(*args, **kwargs))

    return method


def _awaitable(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncRagClient, P], Awaitable[T]]:
    @functools.wraps(build)
    async def method(self: AsyncRagClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._send(build(*args, **kwargs))

    return method


class _Client:
    """What both clients keep: the server's address, the collection and the HTTP client."""

    _transport: Callable[..., Any]

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        collection: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.collection = collection  # None: the default collection, at its own paths
        self._http = self._transport(**_options(base_url, api_key, timeout))


class RagClient(_Client):
    """A blocking client. Use it as a context manager, or call `close()`."""

    _http: httpx.Client
    _transport = httpx.Client

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.url(self.collection), json=call.json)
        except httpx.HTTPError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return call.parse(response)

    search = _blocking(_search)
    context = _blocking(_context)
    documents = _blocking(_documents)
    document = _blocking(_document)
    collections = _blocking(_collections)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RagClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncRagClient(_Client):
    """The same calls as `RagClient`, awaitable. Use it with `async with`, or `await aclose()`."""

    _http: httpx.AsyncClient
    _transport = httpx.AsyncClient

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.url(self.collection), json=call.json
            )
        except httpx.HTTPError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return call.parse(response)

    search = _awaitable(_search)
    context = _awaitable(_context)
    documents = _awaitable(_documents)
    document = _awaitable(_document)
    collections = _awaitable(_collections)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRagClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
