"""eval/ocr_gold.py carries a gold quote over to the OCR text of the same article."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "eval"))

from ocr_gold import Alignment


def test_a_quote_lands_on_the_same_words_of_the_ocr_text() -> None:
    text = "Le maire a présenté l’objectif de la réunion à Paris, le 9 mai."
    ocr = "Le maire a presenté l'objectif de la reunion a Paris , le 9 mai."
    align = Alignment(text, ocr)
    start = text.index("l’objectif")
    end = text.index(" à Paris") + len(" à Paris")
    assert ocr[align(start) : align(end)].strip() == "l'objectif de la reunion a Paris"
    assert align(0) == 0 and align(len(text)) == len(ocr)
