"""The manifest: how an index was built (embedder, chunking, corpus, format), saved beside it.

An index folder is whole when its `manifest.json` is there: a build writes it last.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rag.config import DEFAULT_EMBEDDER, Settings
from rag.errors import IndexCorruptError, RagError
from rag.index.store import ChunkStore, State, committed_generation
from rag.ingest.chunking import SPLITTER_VERSION
from rag.ingest.corpus import corpus_fingerprint
from rag.ingest.formats import Document

FORMAT_VERSION = 6  # 4: segments, and a store that changes; 5: BM25 postings memory-mapped;
# 6: the page of each passage
MANIFEST = "manifest.json"
STORE = "chunks.sqlite"


class EmbedderInfo(BaseModel):
    name: str
    dimension: int
    query_prefix: str = ""
    passage_prefix: str = ""


class ChunkingInfo(BaseModel):
    size: int
    overlap: int
    splitter: int = 1  # the rules that cut them (`SPLITTER_VERSION`); 1 before it was written


class Manifest(BaseModel):
    format_version: int
    rag_version: str
    embedder: EmbedderInfo
    chunking: ChunkingInfo
    corpus_fingerprint: str
    documents: int
    passages: int
    sentences: int
    vocabulary: int
    vector_index: str
    built_at: str
    updated_at: str | None = None
    # Each build or change of a folder numbers its index one more than the one it replaces.
    # The store's state is what a change commits; the manifest repeats its generation and
    # counts once it has.
    generation: int = 1


def read_manifest(index_dir: Path) -> Manifest:
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexCorruptError(
            f"{index_dir} has no {MANIFEST}, so it is not an index (or its build never finished); "
            f"rebuild it with: rag index --index {index_dir}"
        )
    try:
        manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(
            f"{path} cannot be read ({type(exc).__name__}); "
            f"rebuild the index with: rag index --index {index_dir}"
        ) from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorruptError(
            f"{index_dir} has index format {manifest.format_version}, this version reads "
            f"format {FORMAT_VERSION}; rebuild it with: rag index --index {index_dir}"
        )
    return manifest


def write_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Replace the manifest at `index_dir` whole (a temporary file, synced and renamed)."""
    staged = stage_manifest(index_dir, manifest)
    try:
        staged.put()
    finally:
        staged.discard()


@dataclass(frozen=True)
class StagedManifest:
    """A manifest written and synced beside the one it replaces. Putting it in place is a
    rename, which takes no room on the disk: a change stages its manifest before it commits
    and puts it after, so that a full disk fails the change whole, never the manifest alone."""

    temporary: Path
    path: Path

    def put(self) -> None:
        os.replace(self.temporary, self.path)
        with contextlib.suppress(OSError):  # the rename's own durability, where it can be had
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


def stage_manifest(index_dir: Path, manifest: Manifest) -> StagedManifest:
    path = index_dir / MANIFEST
    temporary = path.with_name(f".{MANIFEST}.{os.getpid()}")
    try:
        with temporary.open("w", encoding="utf-8") as f:
            f.write(manifest.model_dump_json(indent=2))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return StagedManifest(temporary, path)


def store_counts(store: ChunkStore, vocabulary_size: int) -> dict[str, Any]:
    """What a manifest repeats of its store: the corpus's fingerprint and the counts."""
    return {
        "corpus_fingerprint": store.corpus_fingerprint(),
        "documents": store.count_documents(),
        "passages": store.count_passages(),
        "sentences": store.count_sentences(),
        "vocabulary": store.vocabulary_count(vocabulary_size),
    }


def of_generation(manifest: Manifest, store: ChunkStore, state: State) -> Manifest:
    """`manifest` as it is for the store's committed generation `state`. The store is where a
    change commits; the manifest is rewritten after, so a crash or a full disk in between
    leaves it one generation behind, which this repairs."""
    if manifest.generation == state.generation:
        return manifest
    counts = store_counts(store, state.vocabulary_size)
    return manifest.model_copy(update={**counts, "generation": state.generation})


def repair_manifest(index_dir: Path, manifest: Manifest) -> bool:
    """Rewrite the manifest at `index_dir` as `manifest` (of the store's generation) if it
    says another generation; whether it did. For writers, under the index's write lock."""
    for left in index_dir.glob(f".{MANIFEST}.*"):  # staged by a writer killed before its put
        left.unlink(missing_ok=True)
    if _manifest_number(index_dir, "generation") == manifest.generation:
        return False
    write_manifest(index_dir, manifest)
    return True


def _manifest_number(index_dir: Path, field: str) -> int | None:
    """The number the manifest at `index_dir` gives as `field`, or None, whatever its format."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        value = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8")).get(field)
        return value if isinstance(value, int) else None
    return None


def format_version(index_dir: Path) -> int | None:
    """The format version the index at `index_dir` says it has, or None if it says none."""
    return _manifest_number(index_dir, "format_version")


def next_generation(index_dir: Path) -> int:
    """The generation of a new index at `index_dir`: one more than the one there, if any, as
    its store or its manifest says (the manifest repeats the store's after a change, and may lag
    it after a crash; a store that cannot be read says nothing)."""
    in_manifest = _manifest_number(index_dir, "generation") or 0
    return max(in_manifest, committed_generation(index_dir / STORE) or 0) + 1


def index_matches(index_dir: Path, documents: list[Document], settings: Settings) -> bool:
    """Whether the index at `index_dir` was built from these documents with these settings."""
    with contextlib.suppress(RagError, OSError):
        manifest = read_manifest(index_dir)
        embedder = settings.embedder or DEFAULT_EMBEDDER
        tuned = settings.tuned_for(embedder)
        return (
            manifest.corpus_fingerprint == corpus_fingerprint(documents)
            and manifest.embedder.name == embedder
            and manifest.chunking
            == ChunkingInfo(
                size=tuned.chunk_size, overlap=tuned.chunk_overlap, splitter=SPLITTER_VERSION
            )
        )
    return False
