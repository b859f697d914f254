"""The rules that make a PDF's positioned lines into paragraphs, on lines as pdfium gives them
(tests/ingest/test_documents.py reads real PDFs)."""

from __future__ import annotations

from rag.ingest.pdf import Line, _drop_running_lines, _paragraphs, joined

# A page of 100-point-wide lines, 12 points apart, in characters 5 points wide.
MARGIN = 150.0
CHAR = 5.0


def _line(text: str, top: float, right: float = MARGIN) -> Line:
    return Line(text, 50.0, right, top, top)


def test_a_line_that_reaches_the_margin_is_joined_and_a_short_one_ends_its_paragraph() -> None:
    lines = [
        _line("Les villes ouvrent leurs", 700, right=148),  # "données" would not fit: wrapped
        _line("données et forment leurs agents.", 688, right=120),  # ends short
        _line("Un autre paragraphe.", 676, right=100),
        _line("Après un blanc.", 640, right=100),  # three lines' pitch below
    ]
    text = _paragraphs(lines, MARGIN, CHAR)
    assert text == (
        "Les villes ouvrent leurs données et forment leurs agents.\n"
        "Un autre paragraphe.\n\nAprès un blanc."
    )


def test_a_line_with_room_for_the_next_word_was_not_wrapped() -> None:
    lines = [_line("Titre court", 700, right=100), _line("le", 688, right=60)]
    assert _paragraphs(lines, MARGIN, CHAR) == "Titre court\nle"


def test_a_hyphen_at_a_line_end_joins_a_cut_word_and_keeps_a_compound() -> None:
    assert joined("la transition numé-", "rique des villes") == "la transition numérique des villes"
    assert joined("les pays d'Asie du Sud-", "Est") == "les pays d'Asie du Sud-Est"
    assert joined("une phrase", "qui continue") == "une phrase qui continue"
    assert joined("numé-", "rique", "|2|") == "numé|2|rique"


def test_running_headers_footers_and_page_numbers_are_dropped() -> None:
    body = ["La ville ouvre.", "Le maire parle.", "Rapport annuel 2024", "Les écoles aussi."]
    pages = [
        [_line("Rapport annuel 2024", 800), _line(f"Chapitre {n}", 790),
         *(_line(text, 700 - 12 * i) for i, text in enumerate(body)),
         _line(f"Page {n} sur 4", 70), _line(f"- {n} -", 60)]
        for n in range(1, 5)
    ]  # fmt: skip
    kept = _drop_running_lines(pages)
    # The header, "Page n sur 4" and "- n -" go; "Chapitre n" is at the top of every page too
    # (digits aside), so it goes; the body's "Rapport annuel 2024" is not at an edge and stays.
    assert [[li.text for li in page] for page in kept] == [body] * 4
    single = _drop_running_lines([[_line("Un titre", 800), _line("Le texte.", 700)]])
    assert [li.text for li in single[0]] == ["Un titre", "Le texte."]  # one page: nothing repeats
