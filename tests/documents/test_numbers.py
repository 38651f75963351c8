import pytest

from webapp.documents.analysis import analyze, analyze_query
from webapp.documents.numbers import find_qualified, ordinal_token_numbers, ordinal_value


def qualified(text: str) -> list[str]:
    return [term for item in find_qualified(text) for term in item.terms]


@pytest.mark.parametrize("text", [
    "7-го этажа", "на 7-м этаже", "7-й этаж", "7-ой этаж", "этаж 7", "Этаж: 7", "7 этаж",
    "седьмой этаж", "седьмого этажа", "на седьмом этаже", "СЕДЬМОМУ ЭТАЖУ", "7-ми этажей",
])
def test_one_floor_in_every_form(text: str) -> None:
    assert qualified(text) == ["этаж7"]


@pytest.mark.parametrize("text, floors", [
    ("3,4-го этажа", [3, 4]),
    ("5,6,8,9-го этажа", [5, 6, 8, 9]),
    ("5, 6, 8, 9-го этажей", [5, 6, 8, 9]),
    ("2,3 этажей", [2, 3]),
    ("2 и 3 этажи", [2, 3]),
    ("11-13-го этажа", [11, 12, 13]),
    ("с 2 по 4 этаж", [2, 3, 4]),
    ("со 2-го по 4-й этаж", [2, 3, 4]),
    ("этажи с 2 по 4", [2, 3, 4]),
    ("2–4 этажи", [2, 3, 4]),
    ("третьего и четвертого этажей", [3, 4]),
])
def test_lists_and_ranges_give_each_floor(text: str, floors: list[int]) -> None:
    assert qualified(text) == [f"этаж{floor}" for floor in floors]


@pytest.mark.parametrize("word, value", [
    ("первый", 1), ("второго", 2), ("третьей", 3), ("третье", 3), ("четвёртому", 4),
    ("пятым", 5), ("десятом", 10), ("одиннадцатого", 11), ("девятнадцатый", 19),
    ("двадцатый", 20), ("тридцатого", 30), ("двадцать первый", 21), ("тридцать пятом", 35),
    ("первоклассный", None), ("пятно", None), ("двадцать", None),
])
def test_ordinal_words(word: str, value: int | None) -> None:
    assert ordinal_value(word) == value


@pytest.mark.parametrize("text, terms", [
    ("лист 5.1", ["лист5.1"]),
    ("листы 3-5", ["лист3", "лист4", "лист5"]),
    ("на 12-м листе", ["лист12"]),
    ("см. л. 2-4", ["лист2", "лист3", "лист4"]),
    ("ось 7", ["ось7"]),
    ("в осях 1-4", ["ось1", "ось2", "ось3", "ось4"]),
    ("по оси Г", ["осьг"]),
    ("в осях А-Г", ["осьa", "осьб", "осьb", "осьг"]),
    ("секция 2", ["секция2"]),
    ("корп.2,3", ["корпус2", "корпус3"]),
    ("во 2-м подъезде", ["подъезд2"]),
    ("Строение № 2", ["строение2"]),
    ("Узлы 16,17", ["узел16", "узел17"]),
    ("на 3 странице", ["страница3"]),
])
def test_every_qualifier_before_and_after(text: str, terms: list[str]) -> None:
    assert qualified(text) == terms


@pytest.mark.parametrize("text", [
    "отм. +15,300...+29,100", "масса 0,702 кг", "2,3 м", "по оси в плане", "толщиной 300 мм",
])
def test_decimals_and_plain_numbers_are_not_qualified(text: str) -> None:
    assert qualified(text) == []


def test_decimals_stay_decimals_in_the_index() -> None:
    assert "0.702" in analyze("масса 0,702 кг")
    assert "15.300" in analyze("отм. +15,300")
    assert analyze_query("0,702") == ["0.702"]


def test_ordinal_tokens_lose_their_endings() -> None:
    assert ordinal_token_numbers("7-го") == ("7",)
    assert ordinal_token_numbers("3,4-го") == ("3", "4")
    assert ordinal_token_numbers("11-13-го") == ("11", "13")
    assert ordinal_token_numbers("в3-14") is None
    assert ordinal_token_numbers("1-1") is None


def test_question_and_title_agree_on_the_floor() -> None:
    title = set(analyze("Кладочный план 5,6,8,9-го этажа на отм. +15,300...+29,100"))
    assert "этаж6" in title and "этаж7" not in title
    for question in ("план 6-го этажа", "на шестом этаже", "этаж 6", "6 этаж"):
        assert "этаж6" in analyze_query(question)


def test_bad_input_gives_nothing() -> None:
    assert find_qualified("") == []
    assert find_qualified("этаж этажа этажей ,,, --- 7-") == []
    assert isinstance(find_qualified("1-го этажа " * 3000), list)
