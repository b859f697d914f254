from rag.index.analysis import analyze_passage, analyze_query


def test_passages_are_stemmed_in_their_language() -> None:
    assert analyze_passage("Les maires des villes", "fr") == ["mair", "vill"]
    assert analyze_passage("The mayors of the cities", "en") == ["mayor", "citi"]


def test_questions_are_stemmed_in_both_languages() -> None:
    stems = analyze_query("Qui sont les maires des cities ?")
    assert {"mair", "citi"} <= set(stems)
    assert "les" not in stems and "qui" not in stems


def test_interrogatives_are_dropped_from_questions_only() -> None:
    stems = analyze_query("Quand et combien ? When and how many cities?")
    assert not {"quand", "combien", "when", "how", "mani", "many"} & set(stems)
    assert "citi" in stems
    # A passage keeps them: "comment" and "quand" are words of the text there.
    assert "quand" in analyze_passage("Il viendra quand il pourra", "fr")


def test_accents_are_folded_and_stop_words_are_of_the_language() -> None:
    assert analyze_passage("le château de la forêt", "fr") == ["chateau", "foret"]
    assert analyze_passage("the castle of the forest", "en") == ["castl", "forest"]
    assert analyze_passage("", "fr") == analyze_query("?!") == []
