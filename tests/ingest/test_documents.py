"""PDF and Word files made by real producers (LibreOffice, poppler, img2pdf; tests/documents.py)
read into documents: their words, their pages, their metadata, and every bad file refused with
its reason."""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from conftest import CORPUS, HANGZHOU, OfficeFiles
from documents import PAGE_3_FACT, REPORT, RUNNING_HEADER

from rag.config import Settings
from rag.embedders import Embedder
from rag.errors import CorpusError, MissingExtraError
from rag.index.loading import load_index
from rag.indexing.build import write_index
from rag.ingest.chunking import chunk_document, make_splitter
from rag.ingest.corpus import load_corpus, read_corpus
from rag.ingest.formats import (
    DEFAULT_LIMITS,
    Document,
    FormatLimits,
    Skipped,
    file_documents,
    parse_document,
)
from rag.retrieval.context import build_context
from rag.retrieval.search import search


def _document(path: Path, limits: FormatLimits = DEFAULT_LIMITS) -> Document:
    (doc,) = file_documents(path, {}, limits)
    assert isinstance(doc, Document), doc
    return doc


def _word_share(got: str, want: str) -> float:
    """The share of words (as a multiset) the two texts have in common, of the longer."""
    a, b = Counter(got.split()), Counter(want.split())
    return sum((a & b).values()) / max(sum(a.values()), sum(b.values()))


@pytest.mark.parametrize("kind", ["pdf", "docx"])
def test_the_corpus_articles_as_pdf_and_word_keep_their_words(
    office_files: OfficeFiles, kind: str
) -> None:
    folder = office_files.pdf_corpus if kind == "pdf" else office_files.docx_corpus
    for article in sorted(CORPUS.glob("*.txt")):
        want = _document(article)
        got = _document(folder / f"{article.stem}.{kind}")
        assert got.id == article.stem and got.title == want.title
        assert _word_share(got.text, want.text) >= 0.99, article.name
    hangzhou = _document(office_files.pdf_corpus / f"{HANGZHOU}.pdf")
    assert len(hangzhou.pages) == 3  # LibreOffice lays the longest article out on three pages


def test_a_pdf_knows_the_page_of_each_passage(office_files: OfficeFiles) -> None:
    doc = _document(office_files.report_pdf)
    assert doc.id == REPORT and len(doc.pages) == 3 and doc.pages[0] == 0
    assert doc.page_at(doc.text.index(PAGE_3_FACT)) == 3
    assert doc.page_at(doc.text.index("Le deuxième chapitre")) == 2
    assert doc.page_at(0) == 1
    # The running header and the page numbers of the footer are dropped; the table is text.
    assert RUNNING_HEADER not in doc.text
    assert not re.search(r"^Page \d+$", doc.text, re.MULTILINE)
    assert "Villeneuve 12 millions" in doc.text
    for passage in chunk_document(doc, make_splitter(120, 20)):
        assert passage.page == doc.page_at(passage.start)
        assert passage.text == doc.text[passage.start : passage.end]


def test_a_word_file_gives_headings_tables_and_its_properties(
    office_files: OfficeFiles, tmp_path: Path
) -> None:
    report = _document(office_files.report_docx)
    assert report.title == "Les villes et le numérique"  # its first heading: the text's
    assert report.date == "2024-03-05"  # the text has none: the core properties'
    assert "Villeneuve | 12 millions" in report.text and PAGE_3_FACT in report.text
    assert report.pages == () and report.page_at(10) is None
    assert report.text.index("Les budgets") < report.text.index("Villeneuve | 12 millions")

    import docx

    memo = docx.Document()
    memo.core_properties.title = "Note sur les marchés"
    memo.core_properties.created = datetime(2023, 6, 1)
    memo.add_paragraph("Les marchés de la ville ouvrent plus tôt en été, dès six heures.")
    memo.save(tmp_path / "memo.docx")
    doc = _document(tmp_path / "memo.docx")
    assert (doc.title, doc.date) == ("Note sur les marchés", "2023-06-01")


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _corrupt_core() -> bytes:
    """A .docx whose core properties fail their checksum (one byte changed, stored as is)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        archive.writestr("docProps/core.xml", b"<cp:coreProperties>TITLE</cp:coreProperties>")
    return out.getvalue().replace(b"TITLE", b"TITLF")


def _merged(pdfs: list[Path]) -> bytes:
    """One PDF of the pages of `pdfs`, bound by pdfium."""
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    for path in pdfs:
        merged.import_pages(pdfium.PdfDocument(path))
    out = io.BytesIO()
    merged.save(out)
    return out.getvalue()


def _bad_files(office_files: OfficeFiles) -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, what the reason says)."""
    pdf = (office_files.pdf_corpus / f"{HANGZHOU}.pdf").read_bytes()
    return {
        "truncated.pdf": (pdf[: len(pdf) // 2], "a damaged PDF"),
        "garbage.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 20, "a damaged PDF"),
        "encrypted.pdf": (office_files.encrypted_pdf.read_bytes(), "an encrypted PDF"),
        "scan.pdf": (office_files.scanned_pdf.read_bytes(), "without a text layer (a scan?)"),
        "text.pdf": (b"Un simple texte.", "not a PDF file (it starts with 'Un simpl'"),
        "pdf.txt": (pdf, "a PDF, not .txt text; name it with the .pdf suffix"),
        "text.docx": (b"Un simple texte.", "not a Word .docx file (not a zip archive"),
        "other.docx": (_zip({"readme.txt": b"x"}), "a zip archive without word/document.xml"),
        "broken.docx": (_zip({"word/document.xml": b"<w:document"}), "a damaged .docx file"),
        "crc.docx": (_corrupt_core(), "a damaged .docx file (docProps/core.xml: Bad CRC-32"),
        "bomb.docx": (
            _zip({"word/document.xml": b"<w:document/>" + b" " * 5_000_000}),
            "unpacks to 5,000,013 bytes, more than the 1,000,000 allowed",
        ),
        "long.pdf": (
            _merged([office_files.report_pdf, office_files.report_pdf]),
            "a PDF of 6 pages, more than the 5 allowed (RAG_MAX_PDF_PAGES)",
        ),
    }


def test_every_bad_file_is_skipped_by_a_build_and_refused_by_an_upload_with_its_reason(
    office_files: OfficeFiles, tmp_path: Path
) -> None:
    limits = FormatLimits(max_pdf_pages=5, max_unpacked_bytes=1_000_000)
    bad = _bad_files(office_files)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (data, _) in bad.items():
        (corpus / name).write_bytes(data)
    (corpus / "good.txt").write_text("Le marché de la ville ouvre le mardi matin.")
    reading = read_corpus(corpus, limits)
    assert [d.id for d in reading.documents] == ["good"]
    reasons = {Path(s.source).name: s.reason for s in reading.skipped}
    assert set(reasons) == set(bad)
    for name, (data, says) in bad.items():
        assert says in reasons[name], (name, reasons[name])
        with pytest.raises(CorpusError, match=re.escape(says)):
            parse_document(Path(name).stem, data, Path(name).suffix, limits=limits)
    assert "tesseract-ocr-fra" in reasons["scan.pdf"] and "RAG_OCR=true" in reasons["scan.pdf"]


def test_a_pdf_sent_as_text_is_refused() -> None:
    with pytest.raises(CorpusError, match=r"a \.pdf file is bytes, not text"):
        parse_document("x", "%PDF-1.7 ...", ".pdf")


@pytest.mark.slow
def test_a_scanned_pdf_is_read_by_ocr_when_it_is_on(office_files: OfficeFiles) -> None:
    (skipped,) = file_documents(office_files.scanned_pdf, {})
    assert isinstance(skipped, Skipped) and "without a text layer" in skipped.reason
    doc = _document(office_files.scanned_pdf, FormatLimits(ocr=True))
    want = _document(CORPUS / f"{HANGZHOU}.txt")
    assert len(doc.pages) == 3
    assert _word_share(doc.text, want.text) >= 0.9
    assert doc.title.startswith("Hangzhou accueille le Conseil mondial de CGLU")


def test_ocr_without_the_languages_asked_says_what_to_install(office_files: OfficeFiles) -> None:
    scan = office_files.scanned_pdf.read_bytes()
    limits = FormatLimits(ocr=True, ocr_languages="fra+deu")
    with pytest.raises(MissingExtraError, match=r"no data for deu .* install tesseract-ocr-deu"):
        parse_document("scan", scan, ".pdf", limits=limits)
    text = (office_files.pdf_corpus / f"{HANGZHOU}.pdf").read_bytes()
    doc, _ = parse_document("text", text, ".pdf", limits=limits)  # no page needs OCR: no check
    assert len(doc.pages) == 3


def test_search_results_and_citations_carry_the_page(
    office_files: OfficeFiles, tmp_path: Path, use_embedder: Embedder
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (office_files.report_pdf, CORPUS / f"{HANGZHOU}.txt"):
        (corpus / path.name).write_bytes(path.read_bytes())
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    write_index(load_corpus(corpus), settings.index_dir, settings, use_embedder)
    index = load_index(settings.index_dir, settings, use_embedder)
    response = search(index, "Quand ouvre le marché couvert de Villeneuve ?", k=3)
    top = response.results[0]
    assert top.doc_id == REPORT and top.page == 3 and PAGE_3_FACT in top.text
    assert all(r.page is None for r in response.results if r.doc_id == HANGZHOU)
    block = build_context(index, "Quand ouvre le marché couvert de Villeneuve ?", k=3)
    assert block.citations[0].page == 3
    stored = index.store.document(REPORT)
    assert stored is not None and stored.pages == _document(office_files.report_pdf).pages


_READ_FROM_THREADS = """
import sys, threading
from pathlib import Path
from rag.ingest.pdf import read_pdf
data = [p.read_bytes() for p in sorted(Path(sys.argv[1]).glob("*.pdf"))]
errors = []
def read():
    try:
        for _ in range(30):
            for pdf in data:
                assert read_pdf(pdf, 100, None).pages
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=read) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(errors), errors[:3])
"""


def test_pdfs_read_from_many_threads_at_once_are_read_right(office_files: OfficeFiles) -> None:
    # pdfium is not thread-safe: before its lock, two uploads read by one worker at once made
    # good PDFs "damaged" or "without a text layer", or aborted the process (SIGTRAP).
    done = subprocess.run(
        [sys.executable, "-c", _READ_FROM_THREADS, str(office_files.pdf_corpus)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0 []"


@pytest.mark.parametrize("seed", range(3))
def test_damaged_pdf_and_word_files_are_refused_with_a_reason_never_a_crash(
    office_files: OfficeFiles, seed: int
) -> None:
    """Real files with random bytes changed and cut short: each is read or refused as a
    CorpusError (zipfile's NotImplementedError for a header version a damaged file claims
    escaped before)."""
    originals = {
        ".pdf": (office_files.pdf_corpus / f"{HANGZHOU}.pdf").read_bytes(),
        ".docx": (office_files.docx_corpus / f"{HANGZHOU}.docx").read_bytes(),
    }
    rng = random.Random(seed)
    for _ in range(300):
        suffix = rng.choice(sorted(originals))
        data = bytearray(originals[suffix])
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        try:
            parse_document("damaged", bytes(data), suffix)
        except CorpusError as exc:
            assert "cannot be indexed: " in str(exc)
