"""Multilingual semantic retrieval over news articles: passages with their sources.

The library's public API, importable from `rag` itself:

    from rag import Settings, open_or_build_index, search
    index = open_or_build_index(Settings())
    for r in search(index, "Qui est le maire de Hangzhou ?", k=3).results:
        print(r.rank, r.title, r.start, r.end)

The names are imported on first use, so that `import rag` (and the `rag` command) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "__version__": "rag.version",
    "Settings": "rag.config",
    "RagError": "rag.errors",
    "InvalidQueryError": "rag.errors",
    "Citation": "rag.answers",
    "ContextBlock": "rag.answers",
    "DocumentSummary": "rag.answers",
    "Highlight": "rag.answers",
    "SearchResponse": "rag.answers",
    "SearchResult": "rag.answers",
    "Document": "rag.ingest.formats",
    "load_corpus": "rag.ingest.corpus",
    "Index": "rag.index.loading",
    "load_index": "rag.index.loading",
    "BuildReport": "rag.indexing.build",
    "build_index": "rag.indexing.build",
    "open_or_build_index": "rag.indexing.build",
    "write_index": "rag.indexing.build",
    "UpdateReport": "rag.indexing.updates",
    "index_corpus": "rag.indexing.updates",
    "update_index": "rag.indexing.updates",
    "LiveIndex": "rag.index.live",
    "parse_document": "rag.ingest.formats",
    "FormatLimits": "rag.ingest.formats",
    "SearchFilters": "rag.retrieval.search",
    "search": "rag.retrieval.search",
    "build_context": "rag.retrieval.context",
    "CollectionSummary": "rag.answers",
    "collection_names": "rag.indexing.collections",
    "create_collection": "rag.indexing.collections",
    "delete_collection": "rag.indexing.collections",
    "open_collection": "rag.indexing.collections",
}

__all__ = [
    "BuildReport",
    "Citation",
    "CollectionSummary",
    "ContextBlock",
    "Document",
    "DocumentSummary",
    "FormatLimits",
    "Highlight",
    "Index",
    "InvalidQueryError",
    "LiveIndex",
    "RagError",
    "SearchFilters",
    "SearchResponse",
    "SearchResult",
    "Settings",
    "UpdateReport",
    "__version__",
    "build_context",
    "build_index",
    "collection_names",
    "create_collection",
    "delete_collection",
    "index_corpus",
    "load_corpus",
    "load_index",
    "open_collection",
    "open_or_build_index",
    "parse_document",
    "search",
    "update_index",
    "write_index",
]

if TYPE_CHECKING:
    from rag.answers import (
        Citation,
        CollectionSummary,
        ContextBlock,
        DocumentSummary,
        Highlight,
        SearchResponse,
        SearchResult,
    )
    from rag.config import Settings
    from rag.errors import InvalidQueryError, RagError
    from rag.index.live import LiveIndex
    from rag.index.loading import Index, load_index
    from rag.indexing.build import BuildReport, build_index, open_or_build_index, write_index
    from rag.indexing.collections import (
        collection_names,
        create_collection,
        delete_collection,
        open_collection,
    )
    from rag.indexing.updates import UpdateReport, index_corpus, update_index
    from rag.ingest.corpus import load_corpus
    from rag.ingest.formats import Document, FormatLimits, parse_document
    from rag.retrieval.context import build_context
    from rag.retrieval.search import SearchFilters, search
    from rag.version import __version__


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
