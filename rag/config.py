"""One typed settings object, read once from `RAG_*` environment variables and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDER = "use-m3"
SearchMode = Literal["dense", "bm25", "hybrid"]
Language = Literal["fr", "en"]  # of questions and documents
SEARCH_MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")
# Bounds of the size of a context block for chatbots (`max_chars`).
MIN_CONTEXT_CHARS = 200
MAX_CONTEXT_CHARS = 100_000


class Settings(BaseSettings):
    """Every tunable of the service. Override with `RAG_<NAME>` or by keyword."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # None: the index's own embedder when loading, DEFAULT_EMBEDDER when building.
    embedder: str | None = None
    # One BLAS thread: a short question gains little from two, and requests run side by side.
    embed_threads: int = Field(1, ge=1, le=64)
    embed_batch_size: int = Field(64, ge=1, le=4096)
    query_prefix: str = Field("", description="put before questions, e.g. 'query: ' for e5")
    passage_prefix: str = Field("", description="put before passages, e.g. 'passage: ' for e5")

    ray: bool = Field(False, description="embed on a Ray cluster when building (extra 'ray')")
    ray_address: str | None = Field(
        None, description="a running Ray cluster's address; none: a local Ray for the build"
    )
    ray_actors: int | None = Field(
        None, ge=1, le=10_000, description="embedding actors; none: the cluster's CPUs"
    )
    ray_batch_size: int = Field(256, ge=1, le=100_000, description="texts per Ray task")

    chunk_size: int = Field(600, ge=50, le=20_000, description="characters per passage")
    chunk_overlap: int = Field(100, ge=0, le=10_000, description="characters shared by neighbours")

    faiss_index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    exact_threshold: int = Field(200_000, ge=1, description="'auto' is exact below this size")
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_search: int = Field(128, ge=8)
    ivf_nprobe: int = Field(16, ge=1)

    default_k: int = Field(5, ge=1)
    max_k: int = Field(100, ge=1)
    max_query_chars: int = Field(1000, ge=1)
    candidates: int = Field(50, ge=1, description="passages each retriever proposes to fusion")
    sentence_weight: float = Field(
        0.0, ge=0.0, le=1.0, description="share of a passage's best sentence in its dense score"
    )
    document_weight: float = Field(
        0.35,
        ge=0.0,
        le=1.0,
        description="share of the best passage of the same document in a passage's score",
    )
    highlight_margin: float = Field(
        0.03, ge=0.0, le=1.0, description="highlight every sentence this close to the best one"
    )
    fusion: Literal["convex", "rrf"] = "convex"
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float = Field(0.5, ge=0.0, le=1.0, description="BM25's share in convex fusion")
    cross_language_bm25_factor: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="BM25's weight is multiplied by this for a passage "
        "whose document is not in the question's language",
    )

    translate_questions: bool = Field(
        True,
        description="hybrid mode: add to BM25 the question's words translated into the "
        "index's other languages (nearest words of its vocabulary in the embedder's space)",
    )
    translation_min_similarity: float = Field(
        0.6, ge=-1.0, le=1.0, description="a translation's least cosine with the question word"
    )
    translation_neighbours: int = Field(2, ge=1, le=20, description="translations per word")
    vocabulary_size: int = Field(
        30_000, ge=0, description="words per language kept for translation (most frequent)"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(None, description="if set, all routes but /health need it")
    cors_origins: list[str] = Field(default_factory=list)
    log_requests: bool = Field(True, description="one JSON log line per request")
    metrics: bool = Field(True, description="count requests and searches for GET /metrics")
    metrics_public: bool = Field(False, description="serve /metrics without the API key")
    max_body_bytes: int = Field(
        1_000_000, ge=1_000, description="larger request bodies are refused with 413"
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self
