"""The HTTP API's requests, and the answers that add to the library's (`rag.answers`).

Shared by the server and the clients; this module imports only pydantic and the leaves.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.answers import DocumentSummary, SearchResponse
from rag.config import MAX_CONTEXT_CHARS, MIN_CONTEXT_CHARS, SearchMode

# The documented bounds of a request; the library enforces the same ones from Settings.
MAX_K = 100
MAX_QUERY_CHARS = 1000
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


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_ids: list[str] | None = Field(None, description="only passages of these documents")
    date_from: str | None = Field(None, description="ISO 8601 day or month, inclusive")
    date_to: str | None = Field(None, description="ISO 8601 day or month, inclusive")


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": list(EXAMPLES.values())},
    )
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="the question")
    k: int = Field(5, ge=1, le=MAX_K, description="number of passages")
    mode: SearchMode = "hybrid"
    filters: Filters | None = None


class ContextRequest(SearchRequest):
    max_chars: int = Field(
        4000, ge=MIN_CONTEXT_CHARS, le=MAX_CONTEXT_CHARS, description="size bound of the text block"
    )


class SearchAnswer(SearchResponse):
    """The library's answer, with the time the server took to find it."""

    took_ms: float


class DocumentText(DocumentSummary):
    text: str = Field(description="the stored, normalised text that offsets refer to")


class Problem(BaseModel):
    error: str
    detail: str


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
                "passages with their source: document id, title, date and character offsets."
            ),
            "parameters": parameters,
        },
    }
