"""How well, and how fast, PDF and Word files and web pages are read: the measurements behind
the choice of libraries (eval/README.md, "Reading PDF and Word files").

The corpus articles are converted by LibreOffice to PDF and to DOCX, and a scan of the PDFs is
made (poppler's pdftoppm, img2pdf). Then, for each reader:
- fidelity: the share of the `.txt` article's words (as a multiset, compared after our cleaning)
  that the reader's text has, and of the reader's that the article has: the smaller of the two;
- speed: pages per second, the median of several rounds over all the PDFs.
Web pages: the Debian Administrator's Handbook in French (HTML with navigation around every
chapter), read by our cleaning and by trafilatura, scored by the share of navigation lines
each keeps and the words of the chapter body each keeps.

    python eval/bench_documents.py [--rounds 5] [--json eval/bench_documents.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from documents import scan, soffice  # noqa: E402

from rag.ingest.cleaning import clean_page  # noqa: E402
from rag.ingest.formats import FormatLimits, file_documents  # noqa: E402

CORPUS = ROOT / "corpus"
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/fr-FR")


def words(text: str) -> Counter[str]:
    return Counter(clean_page(text).text.split())


def fidelity(got: str, want: str) -> float:
    a, b = words(got), words(want)
    common = sum((a & b).values())
    return min(common / max(1, sum(a.values())), common / max(1, sum(b.values())))


def _pypdfium2(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range() for page in pdf]
    finally:
        pdf.close()


def _pypdf(data: bytes) -> list[str]:
    import io

    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def _pdfminer(data: bytes) -> list[str]:
    import io

    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data)).rstrip("\f").split("\f")


def _ours(data: bytes) -> list[str]:
    from rag.ingest.pdf import read_pdf

    return read_pdf(data, 10_000, None).pages


PDF_READERS: dict[str, Callable[[bytes], list[str]]] = {
    "pypdfium2 (raw text)": _pypdfium2,
    "pypdf": _pypdf,
    "pdfminer.six": _pdfminer,
    "rag: pypdfium2 + lines to paragraphs": _ours,
}
LICENCES = {
    "pypdfium2 (raw text)": "Apache-2.0 / BSD-3",
    "pypdf": "BSD-3",
    "pdfminer.six": "MIT",
    "rag: pypdfium2 + lines to paragraphs": "Apache-2.0 / BSD-3",
}


def bench_pdf(pdfs: list[Path], rounds: int) -> list[dict]:
    want = {p.stem: (CORPUS / f"{p.stem}.txt").read_text(encoding="utf-8") for p in pdfs}
    data = {p.stem: p.read_bytes() for p in pdfs}
    rows = []
    for name, read in PDF_READERS.items():
        pages = sum(len(read(b)) for b in data.values())
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            for b in data.values():
                read(b)
            times.append(time.perf_counter() - started)
        scores = [fidelity("\n".join(read(data[stem])), want[stem]) for stem in data]
        rows.append(
            {
                "reader": name,
                "licence": LICENCES[name],
                "pages": pages,
                "pages_per_s": round(pages / statistics.median(times), 1),
                "fidelity_min": round(min(scores), 4),
                "fidelity_mean": round(statistics.mean(scores), 4),
            }
        )
    return rows


def bench_files(folder: Path, limits: FormatLimits) -> dict:
    """rag's reading of every file of `folder` against the `.txt` articles, and its time."""
    started = time.perf_counter()
    docs = [d for f in sorted(folder.iterdir()) for d in file_documents(f, {}, limits)]
    took = time.perf_counter() - started
    scores = []
    for doc in docs:
        reference = next(file_documents(CORPUS / f"{doc.id}.txt", {}))  # type: ignore[union-attr]
        a, b = Counter(doc.text.split()), Counter(reference.text.split())  # type: ignore[union-attr]
        common = sum((a & b).values())
        scores.append(min(common / sum(a.values()), common / sum(b.values())))
    return {
        "documents": len(docs),
        "seconds": round(took, 2),
        "fidelity_min": round(min(scores), 4),
        "fidelity_mean": round(statistics.mean(scores), 4),
    }


def _handbook_chapters(limit: int) -> list[Path]:
    pages = sorted(p for p in HANDBOOK.glob("*.html") if p.stat().st_size > 20_000)
    return pages[:limit]


def bench_html(limit: int) -> dict:
    """Our cleaning of saved pages against trafilatura's, on the handbook's chapters: how many
    of the navigation links' texts each keeps (lower is better), how many of the words of the
    chapter's body (its `div.chapter`/`section` text, higher is better), and pages/s."""
    import trafilatura
    from bs4 import BeautifulSoup

    from rag.ingest.formats import parse_document

    chapters = _handbook_chapters(limit)
    results: dict[str, dict[str, list[float]]] = {"rag": {}, "trafilatura": {}}
    for name in results:
        results[name] = {"navigation": [], "body": [], "seconds": []}
    for path in chapters:
        raw = path.read_text(encoding="utf-8")
        soup = BeautifulSoup(raw, "html.parser")
        navigation = soup.select(".navfooter, .navheader, .toc")
        nav = {a.get_text(" ", strip=True) for n in navigation for a in n.find_all("a")} - {""}
        for n in navigation:  # the body is the chapter without its table of contents
            n.decompose()
        body_tag = soup.select_one("div.chapter, div.section, section") or soup.body
        body = Counter(body_tag.get_text(" ").split()) if body_tag else Counter()
        readers = {
            "rag": lambda r: parse_document("page", r, ".html")[0].text,
            "trafilatura": lambda r: trafilatura.extract(r, favor_recall=True) or "",
        }
        for name, read in readers.items():
            started = time.perf_counter()
            text = read(raw)
            results[name]["seconds"].append(time.perf_counter() - started)
            lines = {line.strip() for line in text.split("\n")}
            kept_nav = sum(1 for n in nav if n in lines)
            results[name]["navigation"].append(kept_nav / max(1, len(nav)))
            got = Counter(text.split())
            results[name]["body"].append(sum((got & body).values()) / max(1, sum(body.values())))
    return {
        name: {
            "pages": len(chapters),
            "navigation_kept": round(statistics.mean(r["navigation"]), 4),
            "body_words_kept": round(statistics.mean(r["body"]), 4),
            "pages_per_s": round(len(chapters) / sum(r["seconds"]), 1),
        }
        for name, r in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--html-pages", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        articles = sorted(CORPUS.glob("*.txt"))
        pdfs = soffice(articles, "pdf", work / "pdf", work / "profile")
        soffice(articles, "docx", work / "docx", work / "profile")
        for pdf in pdfs:
            scan(pdf, work / "scan" / pdf.name)
        report = {
            "pdf_readers": bench_pdf(pdfs, args.rounds),
            "rag_pdf": bench_files(work / "pdf", FormatLimits()),
            "rag_docx": bench_files(work / "docx", FormatLimits()),
            "rag_scanned_pdf_ocr": bench_files(work / "scan", FormatLimits(ocr=True)),
        }
    if HANDBOOK.exists():
        report["html"] = bench_html(args.html_pages)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
