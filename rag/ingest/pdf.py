"""Reading a PDF into the text of its pages, with pypdfium2 (why pypdfium2: eval/README.md,
"Reading PDF and Word files").

A PDF holds positioned lines, not paragraphs. Lines are joined back into paragraphs by where
they end: a line that reaches the right margin so closely that the next line's first word would
not have fitted after it was wrapped, and is joined to it (a word hyphenated across the break is
joined whole); a line that ends short ends its paragraph; a gap of more than one and a half
lines' pitch is a blank line. Lines repeated at the top or bottom of most pages (running
headers and footers, digits aside) and lone page numbers are dropped.

A page without a text layer (a scan) is read by Tesseract when OCR is on (extra `ocr`), whose
lines, with their boxes, are joined by the same rules.
"""

from __future__ import annotations

import re
import statistics
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from rag.ingest.dates import parse_date

# A page with fewer characters than this has no text layer worth the name (a scan, or a
# picture with a caption); a document all of whose pages are so is read by OCR or refused.
MIN_PAGE_CHARS = 20
# The resolution a page without text is rendered at for OCR.
OCR_DPI = 300
# pdfium is not thread-safe: two threads in it at once (two uploads read by one worker) read a
# good PDF as damaged, or abort the process (measured: SIGTRAP). Every call into it holds this.
_PDFIUM = threading.Lock()
# How many lines at each end of a page may be running headers or footers.
_EDGE_LINES = 2
_PAGE_NUMBER = re.compile(
    r"(?:page|p\.)?\s*\d{1,4}(?:\s*(?:/|sur|of|de)\s*\d{1,4})?|[-–]\s*\d{1,4}\s*[-–]",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_LINE_HYPHEN = re.compile(r"\ufffe(.?)")
_FIRST_WORD = re.compile(r"(?:[«“‘(\[¿¡]\s?)?\S+")
# A PDF date, "D:20210915083000+02'00'": its year, month and day.
_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?")


class PdfError(Exception):
    """The file cannot be read as a PDF; the message says why."""


# Reads a page's image (at OCR_DPI) of a page so many points high into its lines.
PageReader = Callable[[Any, float], list["Line"]]


@dataclass(frozen=True)
class PdfText:
    """A PDF's text, one string per page (each page's paragraphs joined), and what its
    metadata says of the title and the date."""

    pages: list[str]
    title: str | None
    date: str | None
    # continued[n]: page n's first line goes on with the paragraph of page n - 1's last.
    continued: list[bool]


@dataclass(frozen=True)
class Line:
    """A line of a page as laid out, in points from the page's bottom left."""

    text: str
    left: float
    right: float
    top: float  # of its first character
    end_top: float  # of its last: pdfium makes one line of two that a hyphen joins


def _line_hyphen(m: re.Match[str]) -> str:
    """A word cut by a line's end is one word again ("numé-rique"), a compound keeps its
    hyphen ("CGLU-Afrique")."""
    after = m.group(1)
    return after if after.islower() else "-" + after


def _lines(textpage: object) -> list[Line]:
    """The page's lines with their boxes, as pdfium lays them out (one per "\\r\\n")."""
    text: str = textpage.get_text_range()  # type: ignore[attr-defined]
    box = textpage.get_charbox  # type: ignore[attr-defined]
    lines: list[Line] = []
    at = 0
    for raw in re.split(r"\r\n|\n|\r", text):
        # pdfium gives a hyphen that ends a line as U+FFFE, and the line joined to the next
        stripped = _LINE_HYPHEN.sub(_line_hyphen, raw.strip())
        if stripped:
            first = at + (len(raw) - len(raw.lstrip()))
            last = at + len(raw.rstrip()) - 1
            left, _, _, top = box(first)
            _, _, right, end_top = box(last)
            lines.append(Line(stripped, left, right, top, end_top))
        at += len(raw) + (2 if text.startswith("\r\n", at + len(raw)) else 1)
    return lines


def _wrapped(line: Line, next_text: str, margin: float, char_width: float) -> bool:
    """Whether `line` was cut where it is because the start of `next_text` did not fit after
    it: the room left before the margin is less than that start's width. The start is the
    first word, with an opening mark bound to it ("« les")."""
    start = _FIRST_WORD.match(next_text)
    width = len(start.group()) if start else 1
    return margin - line.right < (width + 2) * char_width


def joined(text: str, next_text: str, between: str = "") -> str:
    """`text` and the `next_text` that continues its paragraph on the next line (`between`
    them, a page's mark): a word cut by a hyphen is whole again ("numé-rique"), a compound
    keeps its hyphen ("Sud-Est")."""
    if re.search(r"\w-$", text):
        cut = next_text[:1].islower()
        return (text[:-1] if cut else text) + between + next_text
    return text + " " + between + next_text


def _paragraphs(lines: list[Line], margin: float, char_width: float) -> str:
    """The page's lines joined into paragraphs (see the module's docstring), for a document
    whose text reaches `margin` on the right, in characters `char_width` wide."""
    if not lines:
        return ""
    steps = [a.end_top - b.top for a, b in pairwise(lines) if a.end_top > b.top]
    pitch = statistics.median(steps) if steps else 12.0  # from one line's top to the next's
    text = lines[0].text
    for previous, line in pairwise(lines):
        step = previous.end_top - line.top
        if step > 1.5 * pitch or step < -pitch:  # a blank line's gap, or a new column
            text += "\n\n" + line.text
        elif _wrapped(previous, line.text, margin, char_width):
            text = joined(text, line.text)
        else:
            text += "\n" + line.text
    return text


def _edges(lines: list[Line]) -> list[tuple[str, Line]]:
    """The lines at a page's top and bottom that may run through the document, each with its
    key: its edge and its text, digits aside ("page 3" is "page #")."""
    top = lines[:_EDGE_LINES]
    bottom = lines[max(len(top), len(lines) - _EDGE_LINES) :]
    return [(f"{side}:{_DIGITS.sub('#', li.text.lower())}", li)
            for side, part in (("top", top), ("bottom", bottom)) for li in part]  # fmt: skip


def _drop_running_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages without their running headers and footers and lone page numbers: a line at
    the same edge of at least half the pages (and of two) runs through the document."""
    seen = Counter(key for lines in pages for key in {key for key, _ in _edges(lines)})
    running = {key for key, n in seen.items() if n >= max(2, (len(pages) + 1) // 2)}
    kept = []
    for lines in pages:
        dropped = {
            id(li) for key, li in _edges(lines) if key in running or _PAGE_NUMBER.fullmatch(li.text)
        }
        kept.append([li for li in lines if id(li) not in dropped])
    return kept


def _metadata_date(value: str) -> str | None:
    m = _PDF_DATE.match(value.strip())
    if not m:
        return None
    try:
        return parse_date("-".join(part for part in m.groups() if part))
    except ValueError:
        return None


def _open(data: bytes) -> Any:
    """The pypdfium2 document of `data` (call with `_PDFIUM` held)."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        m = re.search(r"PDFium: ([^)]*)", str(exc))
        reason = m.group(1) if m else str(exc)
        if "password" in reason.lower():
            raise PdfError("an encrypted PDF (it needs a password); send it decrypted") from exc
        raise PdfError(f"a damaged PDF ({reason}); export it again") from exc


def _page(pdf: Any, number: int, for_ocr: bool) -> tuple[list[Line], Any, float]:
    """The lines of page `number`, and with `for_ocr` an image of it if it has no text layer,
    and its height (call with `_PDFIUM` held). Every pdfium object is closed before the lock
    is let go: left to the garbage collector, it would be freed in whatever thread runs it."""
    page = pdf[number]
    try:
        textpage = page.get_textpage()
        try:
            lines = _lines(textpage)
        finally:
            textpage.close()
        image = None
        if for_ocr and sum(len(li.text) for li in lines) < MIN_PAGE_CHARS:
            bitmap = page.render(scale=OCR_DPI / 72, grayscale=True)
            try:
                image = bitmap.to_pil().copy()  # its own pixels, not the bitmap's
            finally:
                bitmap.close()
        return lines, image, page.get_height()
    finally:
        page.close()


def read_pdf(data: bytes, max_pages: int, ocr: PageReader | None) -> PdfText:
    """The text of each page of the PDF `data`. A page without a text layer is read by `ocr`
    (given an image of the page at OCR_DPI and its height in points, it gives the lines it
    reads) when given. Raises PdfError for what is not a readable PDF: not a PDF, damaged,
    encrypted, more than `max_pages` pages, or without text (and without OCR)."""
    if not data.startswith(b"%PDF-"):
        start = data[:8].decode("latin-1").encode("unicode_escape").decode()
        raise PdfError(f"not a PDF file (it starts with {start!r}, not '%PDF-')")
    import pypdfium2 as pdfium

    with _PDFIUM:
        pdf = _open(data)
    try:
        with _PDFIUM:
            count = len(pdf)
        if count > max_pages:
            raise PdfError(
                f"a PDF of {count} pages, more than the {max_pages} allowed "
                "(RAG_MAX_PDF_PAGES); split it or raise the limit"
            )
        pages: list[list[Line]] = []
        for number in range(count):
            with _PDFIUM:
                try:
                    lines, image, height = _page(pdf, number, ocr is not None)
                except pdfium.PdfiumError as exc:  # a page the document names but cannot give
                    reason = f"page {number + 1}: {exc}"
                    raise PdfError(f"a damaged PDF ({reason}); export it again") from exc
            if image is not None and ocr is not None:  # read outside the lock: seconds a page
                lines = ocr(image, height)
            pages.append(lines)
        with _PDFIUM:
            meta = pdf.get_metadata_dict()
    finally:
        with _PDFIUM:
            pdf.close()
    every = [line for lines in pages for line in lines]
    margin = max((line.right for line in every), default=0.0)
    widths = [(li.right - li.left) / len(li.text) for li in every if len(li.text) > 10]
    char_width = statistics.median(widths) if widths else 5.0
    pages = _drop_running_lines(pages)
    texts = [_paragraphs(lines, margin, char_width) for lines in pages]
    continued = [False] + [
        bool(before and after) and _wrapped(before[-1], after[0].text, margin, char_width)
        for before, after in pairwise(pages)
    ]
    if not any(len(t.strip()) >= MIN_PAGE_CHARS for t in texts):
        raise PdfError(
            "a PDF without a text layer (a scan?): nothing to index. Turn OCR on to read it "
            "(install Tesseract, Debian's tesseract-ocr-fra and tesseract-ocr-eng, and the "
            "extra rag[ocr]; then set RAG_OCR=true)"
            if ocr is None
            else "a PDF in which neither its text layer nor OCR finds any text"
        )
    title = meta.get("Title", "").strip() or None
    date = _metadata_date(meta.get("CreationDate", "") or meta.get("ModDate", ""))
    return PdfText(texts, title, date, continued)
