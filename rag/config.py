"""One typed settings object, read once from `RAG_*` environment variables and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import InvalidCollectionNameError, SettingsError

USE_M3 = "use-m3"
E5_SMALL = "e5-small"
DEFAULT_EMBEDDER = E5_SMALL  # why: eval/README.md, "Choosing the default embedder"
SearchMode = Literal["dense", "bm25", "hybrid"]
Language = Literal["fr", "en"]  # of questions and documents
SEARCH_MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")
# The bounds of a question, documented by the HTTP API; Settings may lower them.
MAX_K = 100
MAX_QUERY_CHARS = 1000
# Collections: named indexes served side by side. `default` is `index_dir`; any other lives in
# `collections_dir/<name>` (beside `index_dir` unless set).
DEFAULT_COLLECTION = "default"
COLLECTION_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
COLLECTION_NAME_RULE = (
    "a collection's name is 1 to 63 characters among a-z, 0-9, '_' and '-', and starts with a "
    "letter or a digit"
)
# Bounds of the size of a context block for chatbots (`max_chars`).
MIN_CONTEXT_CHARS = 200
MAX_CONTEXT_CHARS = 100_000


class Settings(BaseSettings):
    """Every tunable of the service. Override with `RAG_<NAME>` or by keyword."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # Beside the default's index unless set: `index/` and `collections/` (and an index given
    # elsewhere keeps its collections beside it, not in the working folder).
    collections_dir: Path = Field(
        default_factory=lambda data: Path(data["index_dir"]).parent / "collections",
        description="the collections besides 'default', a folder each",
    )
    collection_idle_seconds: float = Field(
        600.0, ge=0, description="a worker unloads a collection unused this long; 0: never"
    )
    # None: the index's own embedder when loading, DEFAULT_EMBEDDER when building.
    embedder: str | None = None
    # One thread: a short question gains little from two, and requests run side by side. Also
    # the threads of FAISS and of BLAS (numpy's, FAISS's) once an index is loaded: at their
    # default of one a core, their idle threads spin beside the encoder (eval/bench_ask.py).
    embed_threads: int = Field(1, ge=1, le=64)
    embed_batch_size: int = Field(64, ge=1, le=4096)
    # A question asked again costs its search alone (0.04-0.08x its encoding, bench_ask.py):
    # 4,096 vectors of 384 floats are 6 MB a process.
    query_cache: int = Field(4096, ge=0, le=1_000_000, description="question vectors kept; 0: none")
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

    # None, here and below: the embedder's own default (`TUNINGS`).
    chunk_size: int | None = Field(None, ge=50, le=20_000, description="characters per passage")
    chunk_overlap: int | None = Field(
        None, ge=0, le=10_000, description="characters shared by neighbours"
    )

    faiss_index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    exact_threshold: int = Field(200_000, ge=1, description="'auto' is exact below this size")
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_search: int = Field(128, ge=8)
    ivf_nprobe: int = Field(
        128, ge=1, description="IVF cells searched (of 4 sqrt(n)): .98 of exact at 1M passages"
    )

    default_k: int = Field(5, ge=1)
    max_k: int = Field(MAX_K, ge=1)
    max_query_chars: int = Field(MAX_QUERY_CHARS, ge=1)
    candidates: int = Field(50, ge=1, description="passages each retriever proposes to fusion")
    sentence_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="share of a passage's best sentence in its dense score"
    )
    document_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="share of the best passage of the same document in a passage's score",
    )
    highlight_margin: float = Field(
        0.03, ge=0.0, le=1.0, description="highlight every sentence this close to the best one"
    )
    fusion: Literal["convex", "rrf"] = "convex"
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="BM25's share in convex fusion"
    )
    cross_language_bm25_factor: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="BM25's weight is multiplied by this for a passage "
        "whose document is not in the question's language",
    )

    translate_questions: bool | None = Field(
        None,
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

    answer_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="least confidence of an answerable question; none: the embedder's "
        "calibrated threshold",
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(None, description="if set, all routes but /health need it")
    api_keys: Path | None = Field(
        None, description="a JSON file of keys scoped to collections (README, 'Collections')"
    )
    cors_origins: list[str] = Field(default_factory=list)
    log_requests: bool = Field(True, description="one JSON log line per request")
    metrics: bool = Field(True, description="count requests and searches for GET /metrics")
    metrics_public: bool = Field(False, description="serve /metrics without the API key")
    max_body_bytes: int = Field(
        1_000_000, ge=1_000, description="larger request bodies are refused with 413"
    )
    allow_writes: bool = Field(
        False,
        description="serve the write routes (POST, PUT, DELETE /documents) without an API "
        "key; with a key set, they need it",
    )
    max_document_bytes: int = Field(
        10_000_000, ge=1_000, description="larger bodies of the write routes are refused with 413"
    )
    max_pdf_pages: int = Field(
        2_000, ge=1, description="a PDF of more pages is skipped (rag index) or refused"
    )
    max_unpacked_bytes: int = Field(
        200_000_000,
        ge=1_000_000,
        description="a .docx that unpacks to more is refused (a zip bomb)",
    )
    ocr: bool = Field(
        False,
        description="read scanned PDF pages (no text layer) with Tesseract (extra 'ocr'); "
        "off: a PDF without text is skipped, saying so",
    )
    ocr_languages: str = Field(
        "fra+eng", pattern=r"^[a-z_]{3,10}(\+[a-z_]{3,10})*$", description="Tesseract's"
    )
    max_header_bytes: int = Field(
        65_536, ge=4_096, description="a larger request line and headers are refused with 431"
    )
    header_timeout: float = Field(
        10.0, gt=0, description="seconds a client has to send a request's headers (then 408)"
    )
    write_timeout: float = Field(
        60.0, gt=0, description="seconds a change waits for another process's change to end"
    )

    @field_validator("api_key")
    @classmethod
    def _usable_key(cls, key: SecretStr | None) -> SecretStr | None:
        # A blank key, or one with spaces around it, is one no request can carry: headers lose
        # their surrounding spaces. It would lock every route.
        value = key.get_secret_value() if key is not None else None
        if value is not None and (not value.strip() or value != value.strip()):
            raise ValueError("RAG_API_KEY is blank or has spaces around it; no client can send it")
        return key

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_size is not None and self.chunk_overlap is not None:
            _check_overlap(self.chunk_size, self.chunk_overlap)
        return self

    def for_collection(self, name: str) -> Settings:
        """These settings with `index_dir` at the collection `name` (refused unless the name
        follows the rule)."""
        check_collection_name(name)
        if name == DEFAULT_COLLECTION:
            return self
        return self.model_copy(update={"index_dir": self.collections_dir / name})

    def tuned_for(self, embedder: str) -> TunedSettings:
        """These settings with every one left unset taken from `embedder`'s tuning."""
        tuning = tuning_of(embedder)
        values = {name: getattr(self, name) for name in type(self).model_fields}
        for name in TUNED_SETTINGS:
            if values[name] is None:
                values[name] = getattr(tuning, name)
        _check_overlap(values["chunk_size"], values["chunk_overlap"])
        return TunedSettings.model_construct(**values)


class TunedSettings(Settings):
    """Settings with an embedder's tuning filled in: what an index is built and searched with.
    Made by `Settings.tuned_for`, never from the environment."""

    chunk_size: int
    chunk_overlap: int
    sentence_weight: float
    document_weight: float
    bm25_weight: float
    translate_questions: bool


def check_collection_name(name: str) -> str:
    if not re.fullmatch(COLLECTION_NAME_PATTERN, name):
        raise InvalidCollectionNameError(
            f"no collection can be named {name!r}: {COLLECTION_NAME_RULE}"
        )
    return name


def _check_overlap(size: int, overlap: int) -> None:
    if overlap >= size:
        raise SettingsError(f"chunk_overlap ({overlap}) must be smaller than chunk_size ({size})")


class NoAnswer(BaseModel):
    """When the corpus holds no answer: a logistic model of the top result, fitted by
    `eval/calibrate.py` on the gold set and `eval/unanswerable.jsonl`.

    confidence = 1 / (1 + exp(-(intercept + cosine * c + cross_language * x))), where c is the
    cosine of the question with the top passage and x is 1 when that passage is not in the
    question's language. A question is answerable when confidence >= threshold."""

    model_config = ConfigDict(frozen=True)

    intercept: float
    cosine: float
    cross_language: float
    threshold: float


class Tuning(BaseModel):
    """An embedder's defaults, chosen with `eval/tune.py` (the sweep is in eval/README.md)."""

    model_config = ConfigDict(frozen=True)

    chunk_size: int
    chunk_overlap: int
    bm25_weight: float
    sentence_weight: float
    document_weight: float
    translate_questions: bool
    no_answer: NoAnswer | None = None


TUNINGS: dict[str, Tuning] = {
    USE_M3: Tuning(
        chunk_size=600,
        chunk_overlap=100,
        bm25_weight=0.5,
        sentence_weight=0.0,
        document_weight=0.35,
        translate_questions=True,
        no_answer=NoAnswer(
            intercept=-2.3833, cosine=9.4604, cross_language=0.0341, threshold=0.2173
        ),
    ),
    E5_SMALL: Tuning(
        chunk_size=1000,
        chunk_overlap=150,
        bm25_weight=0.3,
        sentence_weight=0.5,
        document_weight=0.35,
        translate_questions=True,
        no_answer=NoAnswer(
            intercept=-23.4336, cosine=27.6260, cross_language=1.3209, threshold=0.2874
        ),
    ),
}
# Any other embedder (sentence-transformers models) starts from use-m3's fusion, uncalibrated.
TUNED_SETTINGS = (
    "chunk_size",
    "chunk_overlap",
    "bm25_weight",
    "sentence_weight",
    "document_weight",
    "translate_questions",
)


def tuning_of(embedder: str) -> Tuning:
    """The defaults of `embedder`; use-m3's fusion without a no-answer model if it has none."""
    if embedder in TUNINGS:
        return TUNINGS[embedder]
    return TUNINGS[USE_M3].model_copy(update={"no_answer": None})
