"""Error answers: every refusal is `{"error": <kind>, "detail": <what was wrong>}`.

Domain errors (`rag.errors`) are mapped to HTTP statuses here and nowhere else.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import DocumentNotFoundError, InvalidQueryError, RagError

UNAVAILABLE = "the index is still loading; try again shortly"


def problem(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


async def _invalid_query(request: Request, exc: Exception) -> JSONResponse:
    return problem(422, "invalid_query", str(exc))


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return problem(404, "not_found", str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, "unavailable", str(exc))


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(422, "invalid_request", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
    response = problem(exc.status_code, kind.get(exc.status_code, "error"), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` with a problem body (handlers match the most specific class)."""
    app.add_exception_handler(InvalidQueryError, _invalid_query)
    app.add_exception_handler(DocumentNotFoundError, _not_found)
    app.add_exception_handler(RagError, _unavailable)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
