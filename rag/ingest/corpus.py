"""Loading a corpus folder into documents: one per `.txt`, `.md` or `.html` file, one per line
of a `.jsonl` file. An optional `metadata.json` (id -> title, date, url) overrides what was guessed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.ingest.cleaning import clean_page, normalize_text
from rag.ingest.dates import parse_date
from rag.ingest.language import detect_language

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
METADATA_FILE = "metadata.json"
_METADATA_FIELDS = {"title", "date", "url"}
_TITLE_FALLBACK_CHARS = 90
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    date: str | None
    language: str
    source: str
    text: str
    url: str | None = None


def fallback_title(text: str) -> str:
    """The first sentence of `text`, cut at a word boundary when long."""
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].split("\n")[0]
    if len(first) <= _TITLE_FALLBACK_CHARS:
        return first.rstrip(".")
    return first[:_TITLE_FALLBACK_CHARS].rsplit(" ", 1)[0] + "…"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "convert it to UTF-8 or remove it from the corpus folder"
        ) from exc
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc


def _html_page(raw: str) -> tuple[str, str | None, str | None]:
    """Visible article text of an HTML page, with its title and date when the markup gives them."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript"]):
        tag.decompose()
    heading = soup.find("h1") or soup.find("title")
    title = heading.get_text(" ", strip=True) if heading else None
    date = None
    time_tag = soup.find("time")
    meta = soup.find("meta", attrs={"property": "article:published_time"})
    for value in (meta and meta.get("content"), time_tag and time_tag.get("datetime")):
        if isinstance(value, str) and value:
            date = value[:10]
            break
    root = soup.find("article") or soup.find("main") or soup.body or soup
    return root.get_text("\n"), title or None, date


def _document(doc_id: str, raw: str, source: Path, fields: dict[str, Any]) -> Document | None:
    page = clean_page(raw)
    if not page.text:
        log.warning("skipping %s: no text left after cleaning", source)
        return None
    title = normalize_text(str(fields.get("title") or "")) or page.title
    date = fields.get("date") or page.date
    return Document(
        id=doc_id,
        title=title or fallback_title(page.text),
        date=date,
        language=fields.get("language") or detect_language(page.text),
        source=str(source),
        text=page.text,
        url=fields.get("url"),
    )


def _jsonl_documents(path: Path) -> Iterator[Document]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number} is not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not record.get("id") or "text" not in record:
            raise CorpusError(
                f'{path}:{number} needs an object with "id" and "text" '
                '(and optionally "title", "date", "url", "language")'
            )
        doc = _document(str(record["id"]), str(record["text"]), path, record)
        if doc:
            yield doc


def _file_documents(path: Path) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_documents(path)
        return
    raw = _read(path)
    fields: dict[str, Any] = {}
    if suffix in (".html", ".htm"):
        raw, fields["title"], fields["date"] = _html_page(raw)
    elif suffix == ".md":
        heading = re.search(r"^#\s+(.+)$", raw, re.MULTILINE)
        fields["title"] = heading.group(1) if heading else None
        raw = _MD_HEADING.sub("", raw)
    doc = _document(path.stem, raw, path, fields)
    if doc:
        yield doc


def _load_metadata(corpus_dir: Path) -> dict[str, dict[str, str]]:
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(_read(path))
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


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Every document under `corpus_dir`, in file order. Raises CorpusError on bad input."""
    metadata = _load_metadata(corpus_dir)
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        for doc in _file_documents(path):
            if doc.id in seen:
                raise CorpusError(
                    f"document id {doc.id!r} is used by both {seen[doc.id]} and {doc.source}; "
                    "ids must be unique, so rename one of them"
                )
            seen[doc.id] = doc.source
            documents.append(_apply_metadata(doc, metadata[doc.id]) if doc.id in metadata else doc)
    if not documents:
        raise CorpusError(f"corpus folder {corpus_dir} has files but no text in any of them")
    unknown = sorted(set(metadata) - set(seen))
    if unknown:
        raise CorpusError(
            f"{corpus_dir / METADATA_FILE} names documents that are not in the corpus: {unknown}"
        )
    return documents


def corpus_fingerprint(documents: Iterable[Document]) -> str:
    """A hash of everything about the documents that the index depends on."""
    digest = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.id):
        for value in (doc.id, doc.title, doc.date or "", doc.language, doc.url or "", doc.text):
            digest.update(value.encode())
            digest.update(b"\0")
    return digest.hexdigest()
