"""The HTTP API's requests, and the answers that add to the library's (`rag.answers`).

Shared by the server and the clients; this module imports only pydantic and the leaves.
"""

import copy
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rag.answers import DocumentSummary, SearchResponse
from rag.config import MAX_CONTEXT_CHARS, MAX_K, MAX_QUERY_CHARS, MIN_CONTEXT_CHARS, SearchMode

EXAMPLES: dict[str, Any] = {
    "fr": {"query": "Qui est le maire de Hangzhou ?", "k": 5, "mode": "hybrid"},
    "en": {"query": "Who is the mayor of Hangzhou?", "k": 3, "mode": "hybrid"},
    "filtered": {
        "query": "Quelles formations sur la diplomatie des villes ?",
        "k": 5,
        "mode": "hybrid",
        "filters": {"date_from": "2022-01-01", "date_to": "2022-12-31"},
    },
}


DocId = Annotated[str, Field(min_length=1, max_length=200)]
DateBound = Annotated[
    str,
    Field(max_length=32, description="ISO 8601 day or month (YYYY-MM-DD or YYYY-MM), inclusive"),
]


def _one_line(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must be one line of text, without control characters (NUL, tab, newline)")
    return value


# A field that is one line of text (the pattern tells the schema; the validator, the reason).
Line = Annotated[
    str, AfterValidator(_one_line), Field(json_schema_extra={"pattern": "^[^\\x00-\\x1f\\x7f]*$"})
]


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_ids: list[DocId] | None = Field(
        None, max_length=1000, description="only passages of these documents"
    )
    date_from: DateBound | None = None
    date_to: DateBound | None = None


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": list(EXAMPLES.values())},
    )
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="the question")
    k: int = Field(5, ge=1, le=MAX_K, strict=True, description="number of passages")
    mode: SearchMode = "hybrid"
    filters: Filters | None = None


class ContextRequest(SearchRequest):
    max_chars: int = Field(
        4000,
        ge=MIN_CONTEXT_CHARS,
        le=MAX_CONTEXT_CHARS,
        strict=True,
        description="size bound of the text block",
    )


class SearchAnswer(SearchResponse):
    """The library's answer, with the time the server took to find it."""

    took_ms: float


class DocumentText(DocumentSummary):
    text: str = Field(description="the stored, normalised text that offsets refer to")
    pages: list[int] | None = Field(
        None,
        description="where each page starts in `text` (page 1 at 0, page n at pages[n-1]); "
        "null for formats without pages",
    )


WRITABLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
WRITABLE_ID_RULE = (
    "letters, digits, '.', '_' and '-', at most 200, as a file name without its extension"
)
WritableId = Annotated[str, Field(pattern=WRITABLE_ID_PATTERN, description=WRITABLE_ID_RULE)]


class NewDocument(BaseModel):
    """A document to add or replace: its text, cleaned and indexed as a corpus file's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "lyon-velos-2024",
                    "title": "Lyon lance des vélos partagés",
                    "date": "2024-05-02",
                    "text": "La ville de Lyon lance un programme de vélos électriques partagés.",
                }
            ]
        },
    )
    id: WritableId | None = Field(
        None, description="the document's id; none: one made from its text (POST only)"
    )
    title: Line | None = Field(None, max_length=500, description="none: its first sentence")
    date: DateBound | None = None
    source: Line | None = Field(None, max_length=1000, description="where it comes from [api]")
    url: Line | None = Field(None, max_length=2000)
    language: Literal["fr", "en"] | None = Field(None, description="none: detected")
    text: str = Field(min_length=1, description="plain text, Markdown or HTML (see `format`)")
    format: Literal["text", "markdown", "html"] = Field(
        "text", description="how `text` is read: HTML is reduced to its article's text"
    )


UPLOAD_FIELDS = ("id", "title", "date", "url", "language")


def _upload_fields() -> dict[str, dict[str, Any]]:
    """The schema of each upload form field: the JSON body's rules for it, without a type, as
    every form field is text (`5` and `"5"` are the same field)."""
    properties = NewDocument.model_json_schema()["properties"]
    fields = {}
    for name in UPLOAD_FIELDS:
        rules = next(s for s in properties[name]["anyOf"] if s.get("type") == "string")
        fields[name] = {k: v for k, v in rules.items() if k != "type"}
    return fields


UPLOAD_FORMATS = "a .txt, .md, .html, .pdf or .docx file"


def _write_body(*, id_in_path: bool) -> dict[str, Any]:
    """The body of a POST (the id in the body, or from the file's name or the text) or of a PUT
    (the id in the path: the body says none, or the route refuses most of what its schema
    allows; a repeated id is still taken if it is the path's)."""
    document = copy.deepcopy(NewDocument.model_json_schema())
    fields = _upload_fields()
    named = "the path gives the id"
    if id_in_path:
        del document["properties"]["id"], fields["id"]
    else:
        named = "its name without the extension is the id unless `id` is given"
    upload = {"type": "string", "format": "binary", "description": f"{UPLOAD_FORMATS}; {named}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": document},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "additionalProperties": False,
                        "properties": {"file": upload, **fields},
                    }
                },
            },
        }
    }


POST_BODY = _write_body(id_in_path=False)
PUT_BODY = _write_body(id_in_path=True)


class DocumentChange(BaseModel):
    """What a write changed, and the index generation that holds it: every worker answers
    from that generation within a second."""

    generation: int
    added: list[str]
    replaced: list[str]
    removed: list[str]
    unchanged: list[str] = Field(description="given with the text they already had")
    passages_added: int
    passages_removed: int
    took_ms: float


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error answer: what kind of error, and what was wrong in words."""

    error: str = Field(description="invalid_query, invalid_request, not_found, unauthorized, ...")
    detail: str = Field(description="what was wrong, and what is allowed")
    errors: list[ValidationProblem] | None = Field(
        None, description="invalid_request only: each field that failed validation"
    )
    request_id: str | None = Field(None, description="internal only: the id the log names")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all with a `Problem` body."""
    described = {
        400: "unreadable request body (JSON), or a request the HTTP server itself cannot parse, "
        "such as a URL over 64 KB (plain text)",
        401: "missing or wrong API key",
        403: "writes are disabled on this server (it has no API key and no --allow-writes)",
        409: "a document with this id exists (POST adds; PUT replaces)",
        415: "a body that is neither JSON nor multipart/form-data",
        404: "no such document or route",
        413: "request body too large",
        422: "invalid question, parameter or body",
        500: "unexpected server error (logged under its request id)",
        503: "the index is still loading, or another change holds it for too long",
    }
    responses: dict[int | str, dict[str, Any]] = {
        s: {"model": Problem, "description": described[s]} for s in statuses
    }
    if 400 in responses:
        responses[400]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    return responses


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with its `$ref`s replaced by their definitions, and titles dropped."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k not in ("title", "$defs")}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def search_tool_definition() -> dict[str, Any]:
    """The `search` tool in OpenAI's function-calling format, built from `SearchRequest`."""
    schema = SearchRequest.model_json_schema()
    parameters = _inline(schema, schema.get("$defs", {}))
    parameters.pop("examples", None)
    return {
        "type": "function",
        "function": {
            "name": "search",
            "description": (
                "Search news articles about cities, digital transition and city diplomacy "
                "(mostly in French) with a question in French or English. Returns ranked "
                "passages with their source: document id, title, date and character offsets, "
                "and `answerable`: false when the articles probably do not answer the question, "
                "in which case say so rather than answer from the passages."
            ),
            "parameters": parameters,
        },
    }
