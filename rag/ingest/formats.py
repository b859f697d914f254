"""Reading one file into documents, by its suffix: a `.txt`, `.md` or `.html` file is one
document, a `.jsonl` file one per line. Text is decoded (UTF-8, else the first encoding that
fits), checked (not binary, not empty), cleaned, and its title, date and language found.

`rag.ingest.corpus` walks folders and applies `metadata.json`; the HTTP upload routes call
`parse_document`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.ingest.cleaning import clean_page, normalize_text
from rag.ingest.dates import first_date, parse_date
from rag.ingest.language import detect_language

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
_TITLE_FALLBACK_CHARS = 90
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
# Tried in this order when a file is not UTF-8 (charset-normalizer picks the one that fits).
FALLBACK_ENCODINGS = ("cp1252", "latin_1", "utf_16", "utf_32")
# Control characters that text does not hold: all below space but tab, newlines and form feed.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


@dataclass(frozen=True)
class Skipped:
    """A file, or a line of a `.jsonl` file, that was left out of the corpus, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class Unusable(Exception):
    """This file or record cannot be a document; the message says why."""


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


def _decode(data: bytes) -> tuple[str, str]:
    """The text of `data` and the encoding it was read in: UTF-8, or else the first of the
    encodings people's files really have that fits it."""
    try:
        return data.decode("utf-8"), "utf_8"
    except UnicodeDecodeError as exc:
        utf8_error = f"not UTF-8 ({exc.reason} at byte {exc.start})"
    if b"\0" in data and not data.startswith(_WIDE_BOMS):
        raise Unusable("binary content (NUL bytes), not text")
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(FALLBACK_ENCODINGS)).best()
    if best is None:
        raise Unusable(
            f"{utf8_error}, and no other encoding fits it (tried "
            f"{', '.join(FALLBACK_ENCODINGS)}); convert it to UTF-8"
        )
    return str(best), best.encoding


def _read(path: Path) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unusable(f"cannot be read ({exc.strerror}); check its permissions") from exc
    return _decode(data)


def _check_text(text: str) -> None:
    """Refuse text that is binary data in disguise: NULs, or many control characters."""
    if "\0" in text:
        raise Unusable("binary content (NUL characters), not text")
    controls = len(_CONTROLS.findall(text))
    if controls > max(8, len(text) // 100):
        raise Unusable(f"binary content ({controls} control characters), not text")


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
        date = _markup_date(value) if isinstance(value, str) else None
        if date:
            break
    root = soup.find("article") or soup.find("main") or soup.body or soup
    return root.get_text("\n"), title or None, date


def _markup_date(value: str) -> str | None:
    """The date an attribute gives ("2021-09-15T08:00:00Z"), only if it really is one: markup
    is the page author's, not ours to store as it stands."""
    try:
        return parse_date(value.strip()[:10])
    except ValueError:
        return first_date(value)


def _document(doc_id: str, raw: str, source: Path | str, fields: dict[str, Any]) -> Document:
    page = clean_page(raw)
    if not page.text:
        raise Unusable("no text left after cleaning")
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


def _jsonl_record(path: Path, line: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise Unusable(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict) or not record.get("id") or "text" not in record:
        raise Unusable(
            'needs an object with "id" and "text" '
            '(and optionally "title", "date", "url", "language")'
        )
    text = str(record["text"])
    _check_text(text)
    return _document(str(record["id"]), text, path, record)


def _jsonl_documents(path: Path, text: str) -> Iterator[Document | Skipped]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield _jsonl_record(path, line)
            except Unusable as exc:
                yield Skipped(f"{path}:{number}", str(exc))


def file_documents(path: Path, decoded: dict[str, str]) -> Iterator[Document | Skipped]:
    """The documents of one file, and what of it was skipped."""
    suffix = path.suffix.lower()
    try:
        raw, encoding = _read(path)
        if suffix != ".jsonl":  # a .jsonl file's records are checked one by one
            _check_text(raw)
    except Unusable as exc:
        yield Skipped(str(path), str(exc))
        return
    if encoding != "utf_8":
        decoded[str(path)] = encoding
    if suffix == ".jsonl":
        yield from _jsonl_documents(path, raw)
        return
    try:
        yield _parsed(path.stem, raw, suffix, path, {})
    except Unusable as exc:
        yield Skipped(str(path), str(exc))


def _parsed(
    doc_id: str, raw: str, suffix: str, source: Path | str, given: dict[str, Any]
) -> Document:
    """The document of a file's text, read by its suffix; `given` fields win over the file's."""
    fields: dict[str, Any] = {}
    if suffix in (".html", ".htm"):
        raw, fields["title"], fields["date"] = _html_page(raw)
    elif suffix == ".md":
        heading = re.search(r"^#\s+(.+)$", raw, re.MULTILINE)
        fields["title"] = heading.group(1) if heading else None
        raw = _MD_HEADING.sub("", raw)
    fields.update({k: v for k, v in given.items() if v})
    return _document(doc_id, raw, source, fields)


def parse_document(
    doc_id: str,
    data: bytes | str,
    suffix: str = ".txt",
    source: str = "api",
    fields: dict[str, Any] | None = None,
) -> tuple[Document, str]:
    """One document from the bytes (or text) of an uploaded `.txt`, `.md` or `.html` file,
    cleaned as a corpus file is, and the encoding it was read in. `fields` (title, date, url,
    language) win over what the file gives. Raises CorpusError saying why it cannot be one."""
    suffix = suffix.lower()
    if suffix not in (".txt", ".md", ".html", ".htm"):
        raise CorpusError(
            f"a {suffix or 'suffix-less'} file cannot be a document; send .txt, .md or .html"
        )
    try:
        raw, encoding = _decode(data) if isinstance(data, bytes) else (data, "utf_8")
        _check_text(raw)
        given = dict(fields or {})
        if given.get("date"):
            try:
                given["date"] = parse_date(str(given["date"]))
            except ValueError as exc:
                raise Unusable(str(exc)) from exc
        return _parsed(doc_id, raw, suffix, source, given), encoding
    except Unusable as exc:
        raise CorpusError(f"document {doc_id!r} cannot be indexed: {exc}") from exc
