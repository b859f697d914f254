from conftest import CORPUS

from rag.ingest.cleaning import clean_page, normalize_text


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
