"""Loading a corpus folder into documents: one per `.txt`, `.md`, `.html`, `.pdf` or `.docx`
file, one per line of a `.jsonl` file (each file read by `rag.ingest.formats`). An optional
`metadata.json` (id -> title, date, url) overrides what was guessed. The fingerprints say
when a document changed.

A bad file does not stop the others: a file (or `.jsonl` line) that cannot be read, is binary,
has no text, or repeats an id is skipped, and `read_corpus` says which and why. A file that is
not UTF-8 is read in the first encoding that fits (cp1252, Latin-1, UTF-16, UTF-32), and that
too is reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.cleaning import normalize_text
from rag.ingest.dates import parse_date
from rag.ingest.formats import (
    DEFAULT_LIMITS,
    SUPPORTED_SUFFIXES,
    Document,
    FormatLimits,
    Skipped,
    file_documents,
)

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
_METADATA_FIELDS = {"title", "date", "url"}


def _load_metadata(corpus_dir: Path) -> dict[str, dict[str, str]]:
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path} cannot be read as UTF-8 text ({exc}); fix or remove it") from exc
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CorpusError(f'{path} must map document ids to objects like {{"title": ..., ...}}')
    for doc_id, fields in data.items():
        unknown = set(fields) - _METADATA_FIELDS
        if unknown:
            raise CorpusError(
                f"{path}: document {doc_id!r} has unknown fields {sorted(unknown)}; "
                f"allowed: {sorted(_METADATA_FIELDS)}"
            )
        if fields.get("date"):
            try:
                fields["date"] = parse_date(str(fields["date"]))
            except ValueError as exc:
                raise CorpusError(f"{path}: document {doc_id!r}: {exc}") from exc
    return data


def _apply_metadata(doc: Document, fields: dict[str, str]) -> Document:
    return Document(
        id=doc.id,
        title=normalize_text(fields.get("title") or "") or doc.title,
        date=fields.get("date") or doc.date,
        language=doc.language,
        source=doc.source,
        text=doc.text,
        url=fields.get("url") or doc.url,
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; pass --corpus DIR")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder; pass --corpus DIR")
    files = sorted(
        p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
    )
    if not files:
        raise CorpusError(
            f"corpus folder {corpus_dir} has no {', '.join(SUPPORTED_SUFFIXES)} files; "
            "add documents or pass another --corpus DIR"
        )
    return files


@dataclass(frozen=True)
class CorpusReading:
    """The documents of a corpus folder, with what was skipped and what was not UTF-8."""

    documents: list[Document]
    skipped: list[Skipped] = field(default_factory=list)
    decoded: dict[str, str] = field(default_factory=dict)  # source -> encoding read in


def read_corpus(corpus_dir: Path, limits: FormatLimits = DEFAULT_LIMITS) -> CorpusReading:
    """Every readable document under `corpus_dir`, in file order, and every skipped file or
    line with its reason. Raises CorpusError when the folder, or its metadata, is unusable, or
    when no document at all can be read."""
    metadata = _load_metadata(corpus_dir)
    documents: list[Document] = []
    skipped: list[Skipped] = []
    decoded: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        for doc in file_documents(path, decoded, limits):
            if isinstance(doc, Skipped):
                skipped.append(doc)
            elif doc.id in seen:
                reason = f"its id {doc.id!r} is already used by {seen[doc.id]}"
                skipped.append(Skipped(doc.source, reason))
            else:
                seen[doc.id] = doc.source
                meta = metadata.get(doc.id)
                documents.append(_apply_metadata(doc, meta) if meta else doc)
    if not documents:
        reasons = "; ".join(map(str, skipped[:5])) or "no text in any file"
        raise CorpusError(f"corpus folder {corpus_dir} has no readable document ({reasons})")
    unknown = sorted(set(metadata) - set(seen))
    if unknown:
        raise CorpusError(
            f"{corpus_dir / METADATA_FILE} names documents that are not in the corpus: {unknown}"
        )
    return CorpusReading(documents, skipped, decoded)


def read_paths(paths: list[Path], limits: FormatLimits = DEFAULT_LIMITS) -> CorpusReading:
    """The documents of files and folders (a folder is read as a corpus), as `read_corpus`
    reads them. Raises CorpusError for a path that does not exist or is not a supported file,
    for an id given twice, and when no document at all can be read."""
    documents: list[Document] = []
    skipped: list[Skipped] = []
    decoded: dict[str, str] = {}
    for path in paths:
        if path.is_dir():
            reading = read_corpus(path, limits)
            documents += reading.documents
            skipped += reading.skipped
            decoded.update(reading.decoded)
        elif not path.exists():
            raise CorpusError(f"{path} does not exist; give files or folders of documents")
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"{path} is not a document file; supported: {', '.join(SUPPORTED_SUFFIXES)}"
            )
        else:
            for doc in file_documents(path, decoded, limits):
                if isinstance(doc, Skipped):
                    skipped.append(doc)
                else:
                    documents.append(doc)
    seen: dict[str, str] = {}
    for doc in documents:
        if doc.id in seen:
            raise CorpusError(
                f"document id {doc.id!r} is given by both {seen[doc.id]} and {doc.source}; "
                "a document's id is its file name without the extension, so rename one"
            )
        seen[doc.id] = doc.source
    if not documents:
        reasons = "; ".join(map(str, skipped[:5])) or "no text in any file"
        raise CorpusError(f"no readable document in {', '.join(map(str, paths))} ({reasons})")
    return CorpusReading(documents, skipped, decoded)


def load_corpus(corpus_dir: Path, limits: FormatLimits = DEFAULT_LIMITS) -> list[Document]:
    """The documents of `corpus_dir` (see `read_corpus`; skipped files are logged)."""
    reading = read_corpus(corpus_dir, limits)
    for skipped in reading.skipped:
        log.warning("skipped %s", skipped)
    return reading.documents


def document_fingerprint(doc: Document) -> str:
    """A hash of everything about a document that the index depends on."""
    digest = hashlib.sha256()
    for value in (doc.id, doc.title, doc.date or "", doc.language, doc.url or "", doc.text):
        digest.update(value.encode())
        digest.update(b"\0")
    if doc.pages:
        digest.update(json.dumps(doc.pages).encode())
    return digest.hexdigest()


def fingerprint_of(fingerprints: Iterable[tuple[str, str]]) -> str:
    """The fingerprint of a corpus whose documents have these (id, fingerprint)."""
    digest = hashlib.sha256()
    for doc_id, fingerprint in sorted(fingerprints):
        digest.update(f"{doc_id}\0{fingerprint}\0".encode())
    return digest.hexdigest()


def corpus_fingerprint(documents: Iterable[Document]) -> str:
    """A hash of everything about the documents that the index depends on."""
    return fingerprint_of((d.id, document_fingerprint(d)) for d in documents)
