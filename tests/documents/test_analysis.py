from webapp.documents.analysis import analyze, analyze_query


def test_words_are_folded_and_stemmed() -> None:
    assert analyze_query("Стены") == analyze_query("стена") == analyze_query("СТЕН")
    assert analyze_query("ёлка") == analyze_query("елки")
    assert analyze_query("Walls") == analyze_query("wall")


def test_mixed_alphabet_words_are_repaired() -> None:
    # OCR wrote Latin K and o inside a Cyrillic word.
    assert analyze_query("Kлaдочный") == analyze_query("кладочный")


def test_codes_unify_lookalikes_and_stay_whole() -> None:
    assert analyze_query("B3-14") == analyze_query("В3-14") == ["b3-14"]
    assert analyze_query("АР4") == analyze_query("AP4")
    assert analyze_query("В2") != analyze_query("В21")
    assert analyze_query("0,702") == analyze_query("0.702")
    assert analyze_query("400х400") == analyze_query("400x400")


def test_indexed_codes_also_give_their_parts() -> None:
    terms = analyze("133/23-ГК-АР4")
    assert terms[0] == "133/23-гk-ap4"
    assert set(analyze_query("АР4")) <= set(terms)
    assert "b2" not in analyze("В21")


def test_stop_words_and_punctuation_give_nothing() -> None:
    assert analyze_query("и в на по для") == []
    assert analyze_query("?! … — ,,") == []
    assert analyze_query("") == []
