import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from conftest import CORPUS
from hypothesis import given
from hypothesis import strategies as st

from rag.ingest.cleaning import _ends_in_credit, clean_page, normalize_text


def _page(name: str):
    return clean_page(next(CORPUS.glob(f"{name}_*.txt")).read_text(encoding="utf-8"))


def test_normalize_text_applies_nfkc_and_folds_whitespace() -> None:
    raw = "Le\u00a0maire  de\tHangzhou ﬁnit.  \r\n\r\n\r\n\n  Suite\u2003ici "
    assert normalize_text(raw) == "Le maire de Hangzhou finit.\n\nSuite ici"


def test_page_furniture_is_dropped() -> None:
    texts = "\n".join(_page(n).text for n in ("000", "001", "002", "003", "004"))
    for furniture in (
        "Skip to content",
        "Partagez cet article",
        "Lorem ipsum",
        "Abonnez-vous",
        "lettre d'actualités",
        "Commentaires",
        "Retour",
        "crédit photo",
        "Ces articles pourraient vous intéresser",
        "Dernière mise à jour",
        "A.A.A",
        "(c) Commissariat",
    ):
        assert furniture not in texts, furniture


def test_every_article_sentence_is_kept() -> None:
    assert _page("003").text.endswith("en passant par l’administration en ligne.")
    assert "Le cycle, développé pour l’AIMF par le City Diplomacy Lab" in _page("003").text
    assert _page("004").text.endswith("renforcer la démocratie locale.")
    assert "à l’invitation du maire Xu Liyi" in _page("002").text
    assert "Retrouvez le programme et le plan d'action sur le site de l'AIMF" in _page("001").text
    assert _page("000").text.startswith("Le Secteur des Sciences et de la Technologie")


def test_titles_and_dates_are_found() -> None:
    assert _page("001").title == (
        "Villes et numérique en Francophonie: le Sommet international du Numérique à "
        "Bruxelles et Namur"
    )
    assert _page("003").title == "Lancement de la 1ère formation continue en diplomatie des villes"
    assert _page("000").title is None  # the page has no title line
    assert [_page(n).date for n in ("000", "001", "002", "003", "004")] == [
        "2021-09-15",  # the byline beats the "date 2021-09" field: it is more precise
        "2021-11-10",  # "Dernière mise à jour 10.11.2021"
        "2017-12-09",  # the first date in the text
        "2022-05-09",
        None,  # no full date anywhere
    ]


def test_repeated_caption_appears_once_and_blank_lines_collapse() -> None:
    page = clean_page("Titre de la page ici\n\n\n\nUne phrase.\n\nUne phrase.\n\n\nFin.")
    assert page.text == "Titre de la page ici\n\nUne phrase.\n\nFin."


# The caption pattern as it was, a whole line: right, but quadratic in the line's length.
_CREDIT_AS_A_PATTERN = re.compile(r"^(?:.*\(c\) [A-Z][^.!?]*)$", re.IGNORECASE)


@given(st.lists(st.sampled_from(["(c) ", "(C) ", "a", "B", ".", "!", "?", " ", "c", "("]),
                max_size=20).map("".join))  # fmt: skip
def test_a_credit_is_found_as_the_whole_line_pattern_finds_it(line: str) -> None:
    assert _ends_in_credit(line) == bool(_CREDIT_AS_A_PATTERN.match(line))


def test_cleaning_is_linear_in_a_line_of_many_credits() -> None:
    """`"(c) a" * 16000 + "."` took the whole-line pattern 25 s, and this line would take it
    over an hour; a hang here fails the test instead of freezing the suite."""
    line = "(c) a" * 200_000 + "."
    with _deadline(seconds=60):
        page = clean_page("Titre de la page ici\n\n" + line)
    assert page.text.endswith(line)


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: object) -> None:
        raise AssertionError(f"still running after {seconds} s: the cost is not linear")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
