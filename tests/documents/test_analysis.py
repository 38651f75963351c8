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


def test_stemming_from_many_threads_at_once_gives_the_same_stems():
    """Searches run on several OS threads off the gevent hub; a stemmer shared between them
    corrupted words mid-stem (IndexError in the worker, wrong stems)."""
    import sys
    import threading

    from webapp.documents.analysis import stem_word

    stem = stem_word.__wrapped__  # past the cache, so every call stems
    words = [
        base + ending
        for base in ("стена", "перекрытие", "лестница", "кладовая", "помещение", "отделка")
        for ending in ("", "ми", "ами", "ого", "ему", "ыми", "ившись", "ующий", "ённые", "ости")
    ]
    expected = [stem(word) for word in words]
    problems: list[str] = []

    def stem_all() -> None:
        try:
            for _ in range(200):
                if [stem(word) for word in words] != expected:
                    problems.append("a different stem")
                    return
        except Exception as exc:  # the shared stemmer's failure mode
            problems.append(repr(exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=stem_all) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == []
