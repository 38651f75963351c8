"""Numbers with their qualifiers: floors, sheets, axes, sections, buildings, nodes, pages.

Russian writes the same floor many ways: "7-го этажа", "на 7-м этаже", "этаж 7", "седьмого
этажа"; lists and ranges too: "3,4-го этажа", "5, 6, 8, 9-го этажей", "11-13-го этажа", "с 2 по 4
этаж". Each such expression yields a *qualified term* per number (`этаж7`), which is rare in a
document and so ranks a block of the right floor above blocks of other floors. Document text and
questions go through the same function, so both sides agree.

A comma between digits stays a decimal ("отм. +15,300") unless an ordinal ending or a qualifier
word makes the expression a list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.documents.lookalikes import normalize_dashes, to_latin

MAX_RANGE = 40  # a wider span is not a list of floors ("1-100" is a code, not 100 floors)
# Grid axes skip these letters (GOST 21.101): a letter range "А-Е" has no "З" or "Й".
AXIS_LETTERS = "АБВГДЕЖИКЛМНПРСТУФШЭЮЯ"

# Qualifier word forms → canonical name. Abbreviations need their dot ("л.2", "корп.1").
QUALIFIERS: dict[str, str] = {
    r"этаж(?:а|у|ом|е|и|ей|ам|ами|ах)?|эт\.": "этаж",
    r"лист(?:а|у|ом|е|ы|ов|ам|ами|ах)?|л\.": "лист",
    r"секци(?:я|и|ю|ей|й|ям|ями|ях)|секц?\.": "секция",
    r"корпус(?:а|у|ом|е|ы|ов|ам|ами|ах)?|корп\.": "корпус",
    r"подъезд(?:а|у|ом|е|ы|ов|ам|ами|ах)?": "подъезд",
    r"строени(?:е|я|ю|ем|и|й|ям|ями|ях)": "строение",
    r"узел|узл(?:а|у|ом|е|ы|ов|ам|ами|ах)": "узел",
    r"страниц(?:а|ы|е|у|ей|ам|ами|ах)?|стр\.": "страница",
}
AXIS_QUALIFIER = r"ос(?:ь|и|ью|ей|ям|ями|ях)"

# Ordinal endings after a number: 7-го, 7-й, 7-м, 7-ом, 1-ый, 2-х, 5-ти …
ORDINAL_ENDING = (
    r"(?:ого|его|ому|ему|ыми|ими|ый|ий|ой|ая|яя|ую|юю|ое|ее|ые|ие|ых|их|ым|им|ом|ем|го|му|ми|ти"
    r"|й|м|х|е|я|ю)"
)
_B = r"(?<![^\W_])"  # no letter or digit before
_E = r"(?![^\W_])"  # no letter or digit after
_NUM = r"\d{1,3}(?:\.\d{1,2})?"
_ATOM = rf"{_NUM}(?:-?{ORDINAL_ENDING})?{_E}"
_SEP = r"(?:\s*,\s*|\s+и\s+|\s*-\s*)"
_LIST = rf"{_ATOM}(?:{_SEP}{_ATOM})*"

UNITS = {
    "перв": 1, "втор": 2, "трет": 3, "четверт": 4, "пят": 5, "шест": 6, "седьм": 7, "восьм": 8,
    "девят": 9,
}
TEENS = {
    "десят": 10, "одиннадцат": 11, "двенадцат": 12, "тринадцат": 13, "четырнадцат": 14,
    "пятнадцат": 15, "шестнадцат": 16, "семнадцат": 17, "восемнадцат": 18, "девятнадцат": 19,
    "двадцат": 20, "тридцат": 30, "сороков": 40, "пятидесят": 50,
}
TENS = {"двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50}
_ADJ_ENDING = r"(?:ого|его|ому|ему|ыми|ими|ый|ий|ой|ая|яя|ую|юю|ое|ее|ые|ие|ых|их|ым|им|ом|ем)"
_ORD_STEM = "|".join(sorted([*UNITS, *TEENS], key=len, reverse=True))
_SOFT_ENDING = r"ь(?:его|ему|ей|ем|им|ими|их|я|е|ю|и)"  # третьего, третья
_ORD_WORD = rf"(?:(?:{'|'.join(TENS)})\s+)?(?:{_ORD_STEM})(?:{_SOFT_ENDING}|{_ADJ_ENDING})"
_ORD_LIST = rf"{_B}{_ORD_WORD}{_E}(?:(?:\s*,\s*|\s+и\s+){_ORD_WORD}{_E})*"

_QUAL = "|".join(f"(?:{pattern})" for pattern in QUALIFIERS)
_QUAL_WORD = rf"{_B}(?:{_QUAL})(?:(?<=\.)|{_E})"
_AXIS_WORD = rf"{_B}{AXIS_QUALIFIER}{_E}"
# Axis names: 7, 15.2, Г, А.1, Ж/2.П, 25/1.П; "/" before a letter separates numbers from letters.
_AXIS_ATOM = (
    r"(?:\d{1,3}(?:\.\d{1,2})?|[А-ЯЁA-Zа-яёa-z](?:\.\d{1,2})?)(?:/\d{1,2}(?:\.[^\W_]{1,2})?)?"
)
_AXIS_SEP = r"(?:\s*,\s*|\s+и\s+|\s*-\s*|\s*/\s*)"
_AXIS_LIST = rf"{_AXIS_ATOM}{_E}(?:{_AXIS_SEP}{_AXIS_ATOM}{_E})*"

AFTER_RE = re.compile(rf"{_B}(?P<list>{_LIST})\s*(?P<qual>{_QUAL_WORD})", re.IGNORECASE)
BEFORE_RE = re.compile(
    rf"(?P<qual>{_QUAL_WORD})[ \t]*(?:[:№#][ \t]*)*(?P<list>{_LIST})",
    re.IGNORECASE,
)
FROM_TO_RE = re.compile(
    rf"{_B}(?:(?P<qual1>{_QUAL_WORD})\s+)?со?\s+(?P<lo>{_ATOM})\s+по\s+(?P<hi>{_ATOM})"
    rf"(?:\s*(?P<qual2>{_QUAL_WORD}))?",
    re.IGNORECASE,
)
GLUED_RE = re.compile(rf"{_B}(?P<list>\d{{1,3}})(?P<qual>эт\.)", re.IGNORECASE)  # "2эт."
ORDINAL_WORDS_RE = re.compile(rf"(?P<list>{_ORD_LIST})\s+(?P<qual>{_QUAL_WORD})", re.IGNORECASE)
AXES_RE = re.compile(rf"(?P<qual>{_AXIS_WORD})[ \t]*:?[ \t]*(?P<list>{_AXIS_LIST})", re.IGNORECASE)
ORDINAL_TOKEN_RE = re.compile(
    rf"^(?P<list>\d{{1,3}}(?:[,-]\d{{1,3}})*)-?{ORDINAL_ENDING}$", re.IGNORECASE
)
_PREPOSITION_LETTERS = set("вскуоиая")


@dataclass(frozen=True)
class Qualified:
    """A number expression in a text: its span, the plain numbers and the qualified terms."""

    start: int
    end: int
    qualifier: str
    numbers: tuple[str, ...]
    terms: tuple[str, ...]


def qualifier_name(word: str) -> str | None:
    """Canonical qualifier for one word form ("этажей" → "этаж"), None for other words."""
    folded = word.lower().replace("ё", "е")
    for pattern, name in QUALIFIERS.items():
        if re.fullmatch(pattern, folded):
            return name
    return "ось" if re.fullmatch(AXIS_QUALIFIER, folded) else None


def ordinal_value(word: str) -> int | None:
    """1 for "первого", 21 for "двадцать первый"; None for anything else."""
    folded = " ".join(word.lower().replace("ё", "е").split())
    if not re.fullmatch(_ORD_WORD, folded):
        return None
    tens = 0
    if " " in folded:
        head, folded = folded.split(" ", 1)
        tens = TENS[head]
    for stem, value in sorted([*UNITS.items(), *TEENS.items()], key=lambda p: -len(p[0])):
        if folded.startswith(stem):
            return tens + value if tens and value < 10 else (value if not tens else None)
    return None


def ordinal_token_numbers(token: str) -> tuple[str, ...] | None:
    """Numbers of an ordinal token: "7-го" → (7,), "3,4-го" → (3, 4), "11-13-го" → (11, 13)."""
    match = ORDINAL_TOKEN_RE.match(token)
    if match is None:
        return None
    return tuple(str(int(part)) for part in re.split(r"[,-]", match.group("list")))


def _number(text: str) -> str:
    head = re.match(r"\d+(?:\.\d+)?", text)
    value = head.group(0) if head else text
    if "." in value:
        whole, fraction = value.split(".", 1)
        return f"{int(whole)}.{fraction}"
    return str(int(value))


def _expand(items: list[str], separators: list[str]) -> list[str]:
    """Numbers of a list; "-" between two whole numbers is a range (expanded when short)."""
    values: list[str] = []
    for index, item in enumerate(items):
        if index and separators[index - 1] == "-" and values:
            low, high = values[-1], item
            if low.isdigit() and high.isdigit() and 0 < int(high) - int(low) <= MAX_RANGE:
                values.extend(str(n) for n in range(int(low) + 1, int(high) + 1))
                continue
        values.append(item)
    return list(dict.fromkeys(values))


def _split_list(text: str) -> tuple[list[str], list[str]]:
    """Atoms and the separators between them ("," or "и" → ",", dashes → "-")."""
    atoms = re.findall(rf"{_NUM}", text)
    between = re.split(rf"{_NUM}(?:-?{ORDINAL_ENDING})?", text)[1:-1]
    separators = ["-" if "-" in sep else "," for sep in between]
    return [_number(atom) for atom in atoms], separators


def _axis_value(atom: str) -> str:
    return to_latin(atom.lower().replace("ё", "е"))


def _axis_terms(text: str) -> list[str]:
    atoms = re.findall(_AXIS_ATOM, text)
    between = re.split(_AXIS_ATOM, text)[1:-1]
    values: list[str] = []
    for index, atom in enumerate(atoms):
        separator = between[index - 1].strip() if index else ""
        if index and separator == "-" and values:
            low, high = atoms[index - 1].upper(), atom.upper()
            if low.isdigit() and high.isdigit() and 0 < int(high) - int(low) <= MAX_RANGE:
                values.extend(str(n) for n in range(int(low) + 1, int(high) + 1))
                continue
            if low in AXIS_LETTERS and high in AXIS_LETTERS and low < high:
                span = AXIS_LETTERS[AXIS_LETTERS.index(low) + 1:AXIS_LETTERS.index(high) + 1]
                values.extend(_axis_value(letter) for letter in span)
                continue
        values.append(_axis_value(atom) if not atom.isdigit() else str(int(atom)))
    return list(dict.fromkeys(values))


def _axis_list_end(text: str, start: int, end: int) -> int:
    """Drop trailing lowercase one-letter "axes" that are really prepositions ("оси в плане")."""
    piece = text[start:end]
    while True:
        match = re.search(rf"{_AXIS_SEP}?\b([^\W\d_])$", piece)
        if match is None or match.group(1) not in _PREPOSITION_LETTERS:
            return start + len(piece)
        piece = piece[: match.start()].rstrip()
        if not piece:
            return start


# Every expression has a qualifier word: a text without one (most of them) is skipped at once.
_ANY_QUALIFIER_RE = re.compile(rf"(?:{_QUAL})|{AXIS_QUALIFIER}", re.IGNORECASE)


def find_qualified(text: str) -> list[Qualified]:
    """Every qualified number expression in `text`, in order, without overlaps."""
    source = normalize_dashes(text or "").replace("ё", "е").replace("Ё", "Е")
    if not _ANY_QUALIFIER_RE.search(source):
        return []
    found: list[Qualified] = []

    def add(start: int, end: int, qualifier_word: str, numbers: list[str]) -> None:
        qualifier = qualifier_name(qualifier_word.strip())
        if qualifier is None or not numbers:
            return
        found.append(Qualified(start, end, qualifier, tuple(numbers),
                               tuple(f"{qualifier}{number}" for number in numbers)))

    for match in FROM_TO_RE.finditer(source):
        qualifier = match.group("qual1") or match.group("qual2")
        if qualifier:
            low, high = _number(match.group("lo")), _number(match.group("hi"))
            add(match.start(), match.end(), qualifier, _expand([low, high], ["-"]))
    for match in ORDINAL_WORDS_RE.finditer(source):
        words = re.findall(_ORD_WORD, match.group("list"), re.IGNORECASE)
        numbers = [str(value) for value in map(ordinal_value, words) if value is not None]
        add(match.start(), match.end(), match.group("qual"), numbers)
    for match in (*AFTER_RE.finditer(source), *GLUED_RE.finditer(source)):
        atoms, separators = _split_list(match.group("list"))
        add(match.start(), match.end(), match.group("qual"), _expand(atoms, separators))
    for match in BEFORE_RE.finditer(source):
        atoms, separators = _split_list(match.group("list"))
        add(match.start(), match.end(), match.group("qual"), _expand(atoms, separators))
    for match in AXES_RE.finditer(source):
        end = _axis_list_end(source, match.start("list"), match.end("list"))
        if end > match.start("list"):
            add(match.start(), end, match.group("qual"),
                _axis_terms(source[match.start("list"):end]))

    found.sort(key=lambda item: (item.start, -(item.end - item.start)))
    result: list[Qualified] = []
    for item in found:
        if result and item.start < result[-1].end:
            continue
        result.append(item)
    return result
