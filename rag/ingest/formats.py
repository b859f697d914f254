"""Reading one file into documents, by its suffix: a `.txt`, `.md`, `.html`, `.pdf` or `.docx`
file is one document, a `.jsonl` file one per line. Text is decoded (UTF-8, else the first
encoding that fits), checked (not binary, not empty), cleaned, and its title, date and language
found. A PDF's text is read by `rag.ingest.pdf` (which knows its pages), a Word file's by
`rag.ingest.word`.

`rag.ingest.corpus` walks folders and applies `metadata.json`; the HTTP upload routes call
`parse_document`.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import CorpusError
from rag.ingest.cleaning import clean_page, normalize_text
from rag.ingest.dates import first_date, parse_date
from rag.ingest.language import detect_language
from rag.ingest.pdf import Line, PageReader, PdfError, joined, read_pdf
from rag.ingest.word import WordError, read_docx

TEXT_SUFFIXES = (".txt", ".md", ".html", ".htm")
BINARY_SUFFIXES = (".pdf", ".docx")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, *BINARY_SUFFIXES, ".jsonl")
# What a file that is not text starts with, and the suffix it should have.
_MAGIC = ((b"%PDF-", "a PDF", ".pdf"), (b"PK\x03\x04", "a zip archive (a .docx?)", ".docx"))
# Marks where a page starts, on a line of its own, as the text goes through cleaning.
_PAGE_MARK = "\ue000{}\ue001"
_PAGE_MARKS = re.compile(r"\ue000(\d+)\ue001\n*")
_TITLE_FALLBACK_CHARS = 90
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_NAVIGATION = re.compile(
    r"^(?:nav(?:bar|header|footer|igation|-.*)?|toc|breadcrumbs?|skip-?link)$",
    re.IGNORECASE,
)
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


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class FormatLimits:
    """What a PDF or Word file may be, and whether scanned pages are read: the settings of
    these names, their defaults Settings' own."""

    max_pdf_pages: int = _default("max_pdf_pages")
    max_unpacked_bytes: int = _default("max_unpacked_bytes")
    ocr: bool = _default("ocr")
    ocr_languages: str = _default("ocr_languages")

    @classmethod
    def of(cls, settings: Settings) -> FormatLimits:
        return cls(
            settings.max_pdf_pages,
            settings.max_unpacked_bytes,
            settings.ocr,
            settings.ocr_languages,
        )


DEFAULT_LIMITS = FormatLimits()


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    date: str | None
    language: str
    source: str
    text: str
    url: str | None = None
    # Where each page starts in `text` (page 1 at 0), for formats with pages (PDF); else ().
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page on which `offset` of the text falls, or None without pages."""
        return bisect_right(self.pages, offset) if self.pages else None


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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Unusable(f"cannot be read ({exc.strerror}); check its permissions") from exc


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
    # Navigation that pages mark by class or id, not by tag: <div class="navheader">, a table
    # of contents, a breadcrumb trail (the Debian handbook's and many a CMS's). Not "sidebar":
    # DocBook's sidebars are the handbook's boxed notes, text of the chapter.
    for tag in [*soup.find_all(class_=_NAVIGATION), *soup.find_all(id=_NAVIGATION)]:
        if not tag.decomposed:
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


def _marked(pages: list[str], continued: list[bool]) -> str:
    """The pages' texts as one, each page after the first starting with its mark: on a line of
    its own, or within the line when the page goes on with the previous page's paragraph."""
    text = pages[0]
    for number, (page, goes_on) in enumerate(zip(pages[1:], continued[1:], strict=True), 2):
        mark = _PAGE_MARK.format(number)
        if goes_on:
            text = joined(text, page, mark)
        else:
            text += f"\n\n{mark}\n\n{page}"
    return text


def _unmarked(text: str, pages: int) -> tuple[str, tuple[int, ...]]:
    """`text` without its page marks, and where each of its `pages` starts in it. A page whose
    mark cleaning cut (with the related links that end a page) starts at the end."""
    if pages <= 1:
        return text, ()
    kept: list[str] = []
    found: dict[int, int] = {}
    at = length = 0
    for m in _PAGE_MARKS.finditer(text):
        kept.append(text[at : m.start()])
        length += m.start() - at
        found[int(m.group(1))] = length
        at = m.end()
    kept.append(text[at:])
    body = "".join(kept).rstrip()
    starts = [0]
    for number in range(2, pages + 1):
        starts.append(max(starts[-1], min(found.get(number, len(body)), len(body))))
    return body, tuple(starts)


def _document(
    doc_id: str,
    raw: str,
    source: Path | str,
    fields: dict[str, Any],
    file_fields: dict[str, Any] | None = None,
    pages: int = 1,
) -> Document:
    """The document of `raw` text (of `pages` pages, marked); `fields` win over what the text
    gives, and the text over `file_fields` (a PDF's or Word file's own metadata)."""
    page = clean_page(raw)
    text, starts = _unmarked(page.text, pages)
    if not text:
        raise Unusable("no text left after cleaning")
    meta = file_fields or {}
    title = (
        normalize_text(str(fields.get("title") or ""))
        or page.title
        or normalize_text(str(meta.get("title") or ""))
    )
    date = fields.get("date") or page.date or meta.get("date")
    return Document(
        id=doc_id,
        title=title or fallback_title(text),
        date=date,
        language=fields.get("language") or detect_language(text),
        source=str(source),
        text=text,
        url=fields.get("url"),
        pages=starts,
    )


def _binary_document(
    doc_id: str,
    data: bytes,
    suffix: str,
    source: Path | str,
    given: dict[str, Any],
    limits: FormatLimits,
) -> Document:
    """The document of a PDF or Word file's bytes."""
    try:
        if suffix == ".pdf":
            reader = _ocr(limits.ocr_languages) if limits.ocr else None
            pdf = read_pdf(data, limits.max_pdf_pages, reader)
            meta = {"title": pdf.title, "date": pdf.date}
            text = _marked(pdf.pages, pdf.continued)
            return _document(doc_id, text, source, given, meta, len(pdf.pages))
        word = read_docx(data, limits.max_unpacked_bytes)
    except (PdfError, WordError) as exc:
        raise Unusable(str(exc)) from exc
    return _document(doc_id, word.text, source, given, {"title": word.title, "date": word.date})


def _ocr(languages: str) -> PageReader:
    """Tesseract's reader of a page in `languages`, checked (is Tesseract there, with these
    languages?) only when a page without text needs it, and once a process."""

    def read(image: Any, page_height: float) -> list[Line]:
        from rag.ingest.ocr import page_reader

        return page_reader(languages)(image, page_height)

    return read


def _check_magic(data: bytes, suffix: str) -> None:
    """Refuse a PDF or zip archive named as text, saying what it is."""
    for magic, kind, right in _MAGIC:
        if data.startswith(magic):
            raise Unusable(f"{kind}, not {suffix} text; name it with the {right} suffix")


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


def file_documents(
    path: Path, decoded: dict[str, str], limits: FormatLimits = DEFAULT_LIMITS
) -> Iterator[Document | Skipped]:
    """The documents of one file, and what of it was skipped."""
    suffix = path.suffix.lower()
    try:
        data = _read(path)
        if suffix in BINARY_SUFFIXES:
            yield _binary_document(path.stem, data, suffix, path, {}, limits)
            return
        _check_magic(data, suffix)
        raw, encoding = _decode(data)
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
    limits: FormatLimits = DEFAULT_LIMITS,
) -> tuple[Document, str]:
    """One document from the bytes (or text) of an uploaded `.txt`, `.md`, `.html`, `.pdf` or
    `.docx` file, read and cleaned as a corpus file is, and the encoding it was read in ("binary"
    for PDF and Word). `fields` (title, date, url, language) win over what the file gives.
    Raises CorpusError saying why it cannot be one."""
    suffix = suffix.lower()
    allowed = (*TEXT_SUFFIXES, *BINARY_SUFFIXES)
    if suffix not in allowed:
        raise CorpusError(
            f"a {suffix or 'suffix-less'} file cannot be a document; send {', '.join(allowed)}"
        )
    try:
        given = dict(fields or {})
        if given.get("date"):
            try:
                given["date"] = parse_date(str(given["date"]))
            except ValueError as exc:
                raise Unusable(str(exc)) from exc
        if suffix in BINARY_SUFFIXES:
            if isinstance(data, str):
                raise Unusable(f"a {suffix} file is bytes, not text; upload the file itself")
            given = {k: v for k, v in given.items() if v}
            return _binary_document(doc_id, data, suffix, source, given, limits), "binary"
        if isinstance(data, bytes):
            _check_magic(data, suffix)
        raw, encoding = _decode(data) if isinstance(data, bytes) else (data, "utf_8")
        _check_text(raw)
        return _parsed(doc_id, raw, suffix, source, given), encoding
    except Unusable as exc:
        raise CorpusError(f"document {doc_id!r} cannot be indexed: {exc}") from exc
