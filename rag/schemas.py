"""The request and answer models of the HTTP API, shared by the server and the client."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The documented bounds of a request; the library enforces the same ones from Settings.
MAX_K = 100
MAX_QUERY_CHARS = 1000
MIN_CONTEXT_CHARS = 200
MAX_CONTEXT_CHARS = 100_000
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
Mode = Literal["dense", "bm25", "hybrid"]


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
    mode: Mode = "hybrid"
    filters: Filters | None = None


class HighlightOut(BaseModel):
    start: int = Field(description="offset in the document's stored text, like the passage's")
    end: int
    text: str


class Result(BaseModel):
    rank: int
    score: float
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int = Field(description="offset of the passage in the document's stored text")
    end: int = Field(description="end offset (exclusive): text == document.text[start:end]")
    text: str
    highlights: list[HighlightOut] = Field(
        description="the sentences of the passage that best answer the question"
    )


class SearchAnswer(BaseModel):
    query: str
    lang: Literal["fr", "en"] = Field(description="detected language of the question")
    mode: Mode
    took_ms: float
    results: list[Result]


class DocumentInfo(BaseModel):
    id: str
    title: str
    date: str | None
    language: str
    source: str
    url: str | None
    passages: int


class DocumentText(DocumentInfo):
    text: str = Field(description="the stored, normalised text that offsets refer to")


class Problem(BaseModel):
    error: str
    detail: str


class ContextRequest(SearchRequest):
    max_chars: int = Field(
        4000, ge=MIN_CONTEXT_CHARS, le=MAX_CONTEXT_CHARS, description="size bound of the text block"
    )


class Citation(BaseModel):
    number: int = Field(description="the [n] that marks the passage in the text block")
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int
    end: int


class ContextAnswer(BaseModel):
    query: str
    lang: Literal["fr", "en"]
    text: str = Field(description="numbered passages, ready to paste into a prompt")
    citations: list[Citation]
    truncated: bool = Field(description="whether a passage was cut or left out to fit max_chars")


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
