"""Reading a scanned PDF page with Tesseract (extra `ocr`: pytesseract, and the `tesseract`
program with its French and English data, Debian's tesseract-ocr-fra and tesseract-ocr-eng).

`rag.ingest.pdf` renders the page at 300 dpi (holding pdfium's lock); Tesseract gives its words
with their boxes, made here into lines placed as a text layer's are, which `rag.ingest.pdf`
joins into paragraphs.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from rag.errors import MissingExtraError
from rag.ingest.pdf import OCR_DPI, Line, PageReader


def _page_lines(data: dict[str, list], page_height: float) -> list[Line]:
    """Tesseract's words (`image_to_data` as a dict) as lines, in points from the page's bottom
    left like a text layer's."""
    scale = 72 / OCR_DPI
    words: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if str(text).strip():
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            words.setdefault(key, []).append(i)
    lines = []
    for indices in words.values():  # in reading order, as Tesseract numbers them
        left = min(data["left"][i] for i in indices) * scale
        right = max(data["left"][i] + data["width"][i] for i in indices) * scale
        top = page_height - min(data["top"][i] for i in indices) * scale
        text = " ".join(str(data["text"][i]).strip() for i in indices)
        lines.append(Line(text, left, right, top, top))
    return lines


@functools.cache
def page_reader(languages: str) -> PageReader:
    """A function that reads the lines of a page's image with Tesseract in `languages`
    ("fra+eng").
    Raises MissingExtraError, naming what to install, when Tesseract or a language is missing."""
    try:
        import pytesseract
    except ImportError as exc:
        raise MissingExtraError(
            "reading scanned PDFs needs the extra 'ocr': pip install 'rag[ocr]'"
        ) from exc
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise MissingExtraError(
            "reading scanned PDFs needs the tesseract program: apt-get install tesseract-ocr "
            "tesseract-ocr-fra tesseract-ocr-eng (or set RAG_OCR=false)"
        ) from exc
    missing = sorted(set(languages.split("+")) - installed)
    if missing:
        packages = " ".join(f"tesseract-ocr-{language}" for language in missing)
        raise MissingExtraError(
            f"Tesseract has no data for {', '.join(missing)} (it has "
            f"{', '.join(sorted(installed))}); install {packages} or set RAG_OCR_LANGUAGES"
        )
    # Tesseract's OpenMP threads, as many as cores, spin against each other and against the
    # rest of a build: one thread reads a page 3.5 times faster here (5.9 s, not 20 s, on two
    # cores). pytesseract passes no environment of its own, so the program inherits this.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def read(image: Any, page_height: float) -> list[Line]:
        data = pytesseract.image_to_data(image, lang=languages, output_type=pytesseract.Output.DICT)
        return _page_lines(data, page_height)

    return read
