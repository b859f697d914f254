import json
import re
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.formats import Document, Skipped, file_documents, parse_document


def test_md_html_and_jsonl_documents(tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text("# Smart cities in Europe\n\nCities go digital fast.\n")
    (tmp_path / "page.html").write_text(
        "<html><head><title>Site</title><meta property='article:published_time' "
        "content='2020-03-04T10:00:00Z'></head><body><nav>Menu Accueil</nav><article>"
        "<h1>La ville numérique</h1><p>Les villes deviennent numériques.</p></article>"
        "<script>var x = 1;</script><footer>Mentions légales</footer></body></html>"
    )
    (tmp_path / "more.jsonl").write_text(
        json.dumps({"id": "j1", "text": "The mayor spoke.", "title": "Speech", "date": "2019-01"})
        + "\n\n"
        + json.dumps({"id": "j2", "text": "Le maire a parlé aux habitants de la ville."})
        + "\n"
    )
    decoded: dict[str, str] = {}
    docs = {
        d.id: d
        for path in sorted(tmp_path.iterdir())
        for d in file_documents(path, decoded)
        if isinstance(d, Document)
    }
    assert set(docs) == {"note", "page", "j1", "j2"}
    assert docs["note"].title == "Smart cities in Europe"
    assert docs["note"].language == "en"
    assert docs["note"].text == "Smart cities in Europe\n\nCities go digital fast."
    assert docs["page"].title == "La ville numérique"
    assert docs["page"].date == "2020-03-04"
    assert "Menu" not in docs["page"].text and "var x" not in docs["page"].text
    assert "Les villes deviennent numériques." in docs["page"].text
    assert (docs["j1"].title, docs["j1"].date, docs["j1"].language) == ("Speech", "2019-01", "en")
    assert docs["j2"].language == "fr"
    assert decoded == {}  # all UTF-8


@pytest.mark.parametrize(
    ("datetime", "date"),
    [("2021-09-15T08:00:00+02:00", "2021-09-15"), ("<svg onload=alert(7)>", None),
     ("2021-13-45", None), ("le 3 mars 2020", "2020-03-03")],
)  # fmt: skip
def test_a_date_in_html_markup_is_kept_only_when_it_is_one(datetime: str, date: str | None) -> None:
    page = f"<html><body><time datetime='{datetime}'>hier</time><p>Un article sans date.</p>"
    doc, _ = parse_document("page", page, ".html")
    assert doc.date == date


def test_an_upload_is_cleaned_as_a_corpus_file_and_its_fields_win() -> None:
    page = "<html><head><title>Site</title></head><body><h1>Le titre</h1><p>Un texte.</p>"
    doc, encoding = parse_document(
        "up", page.encode("cp1252"), ".HTML", fields={"title": "Donné", "date": "2021-09"}
    )
    assert (doc.id, doc.title, doc.date, doc.source, encoding) == (
        "up",
        "Donné",
        "2021-09",
        "api",
        "utf_8",
    )
    assert "Un texte." in doc.text and "<p>" not in doc.text
    _, encoding = parse_document("old", "Coût : 5 €, à Montréal.".encode("cp1252"))
    assert encoding == "cp1252"


@pytest.mark.parametrize(
    ("data", "suffix", "fields", "message"),
    [
        (
            b"texte",
            ".rtf",
            None,
            "a .rtf file cannot be a document; send .txt, .md, .html, .htm, .pdf, .docx",
        ),
        (b"texte", ".pdf", None, "not a PDF file (it starts with 'texte', not '%PDF-')"),
        (b"texte", ".docx", None, "not a Word .docx file (not a zip archive"),
        (
            b"%PDF-1.7\n%\xe2\xe3",
            ".txt",
            None,
            "a PDF, not .txt text; name it with the .pdf suffix",
        ),
        (b"texte", "", None, "a suffix-less file cannot be a document"),
        (b"\0" * 1000, ".txt", None, "binary content"),
        (b"   ", ".txt", None, "no text left after cleaning"),
        (b"texte", ".txt", {"date": "hier"}, "ISO 8601"),
    ],
)
def test_an_upload_that_cannot_be_a_document_says_why(
    data: bytes, suffix: str, fields: dict | None, message: str
) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)):
        parse_document("doc", data, suffix, fields=fields)


def test_a_file_that_cannot_be_read_is_skipped_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "nuls.txt").write_bytes(b"\0" * 1000)
    (skipped,) = file_documents(tmp_path / "nuls.txt", {})
    assert isinstance(skipped, Skipped) and skipped.reason.startswith("binary content")


def test_navigation_marked_by_class_or_id_is_dropped_and_boxed_notes_are_kept() -> None:
    page = (
        "<html><body><div class='navheader'><a href='a.html'>Précédent</a> "
        "<a href='c.html'>Suivant</a></div><div id='breadcrumb'>Accueil › Guide</div>"
        "<div class='chapter'><h1>Le guide</h1><div class='toc'><a>1. Installer</a></div>"
        "<p>Le guide explique comment installer le système.</p>"
        "<div class='sidebar'><p>Une note encadrée sur les mises à jour.</p></div></div>"
        "<div class='navfooter'><a href='index.html'>Sommaire</a></div></body></html>"
    )
    doc, _ = parse_document("guide", page, ".html")
    for navigation in ("Précédent", "Suivant", "Accueil", "1. Installer", "Sommaire"):
        assert navigation not in doc.text
    assert "Le guide explique comment installer le système." in doc.text
    assert "Une note encadrée sur les mises à jour." in doc.text  # a DocBook sidebar: text
