"""Error answers: every refusal is `{"error": <kind>, "detail": <what was wrong>}`.

Domain errors (`rag.errors`) are mapped to HTTP statuses here and nowhere else.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rag.config import COLLECTION_NAME_PATTERN, COLLECTION_NAME_RULE
from rag.errors import (
    AccessDeniedError,
    CollectionConflictError,
    CollectionNotFoundError,
    CorpusError,
    DiskFullError,
    DocumentExistsError,
    DocumentNotFoundError,
    InvalidQueryError,
    RagError,
    UnsupportedMediaTypeError,
    WritesDisabledError,
)
from rag.service.schemas import WRITABLE_ID_PATTERN, WRITABLE_ID_RULE

UNAVAILABLE = "the index is still loading; try again shortly"


def problem(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


async def _invalid_query(request: Request, exc: Exception) -> JSONResponse:
    return problem(422, "invalid_query", str(exc))


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return problem(404, "not_found", str(exc))


async def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "forbidden", str(exc))


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return problem(409, "conflict", str(exc))


async def _invalid_document(request: Request, exc: Exception) -> JSONResponse:
    return problem(422, "invalid_document", str(exc))


async def _unsupported_media_type(request: Request, exc: Exception) -> JSONResponse:
    return problem(415, "unsupported_media_type", str(exc))


async def _disk_full(request: Request, exc: Exception) -> JSONResponse:
    return problem(507, "insufficient_storage", str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, "unavailable", str(exc))


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": _message(e), "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(422, "invalid_request", detail, errors=errors)


def _message(error: Any) -> str:
    if error["type"] == "json_invalid":  # FastAPI's message leaves out what json found
        found = error.get("ctx", {}).get("error")
        return f"not valid JSON ({found})" if found else "not valid JSON"
    if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == (
        WRITABLE_ID_PATTERN
    ):  # a person reads the rule, not the regex
        return f"an id is {WRITABLE_ID_RULE}"
    if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == (
        COLLECTION_NAME_PATTERN
    ):
        return COLLECTION_NAME_RULE
    return str(error["msg"])


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at the request's path (Starlette names only the first
    matching route's)."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {
        400: "invalid_request",
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        415: "unsupported_media_type",
        503: "unavailable",
    }
    detail = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = (
            f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allowed)}"
        )
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        if isinstance(exc.__cause__, RecursionError):  # json.loads gave up: valid, too deep
            detail = (
                "the request body is JSON nested too deeply to be read; no field of this "
                "API nests more than a few levels"
            )
        else:
            detail = "the request body cannot be read: send a JSON object, encoded in UTF-8"
    elif exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}; GET /docs lists the routes"
    response = problem(exc.status_code, kind.get(exc.status_code, "error"), detail)
    response.headers.update(headers)
    return response


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` with a problem body (handlers match the most specific class)."""
    app.add_exception_handler(InvalidQueryError, _invalid_query)
    app.add_exception_handler(DocumentNotFoundError, _not_found)
    app.add_exception_handler(CollectionNotFoundError, _not_found)
    app.add_exception_handler(CollectionConflictError, _conflict)
    app.add_exception_handler(AccessDeniedError, _forbidden)
    app.add_exception_handler(WritesDisabledError, _forbidden)
    app.add_exception_handler(DocumentExistsError, _conflict)
    app.add_exception_handler(CorpusError, _invalid_document)
    app.add_exception_handler(UnsupportedMediaTypeError, _unsupported_media_type)
    app.add_exception_handler(DiskFullError, _disk_full)
    app.add_exception_handler(RagError, _unavailable)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
