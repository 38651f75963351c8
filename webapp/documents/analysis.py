"""Text analysis for the search index, done in Python so that index and query agree exactly.

Words are case-folded, `ё`→`е`, and stemmed (Russian or English snowball, with the fleeting vowel
of "перемычек"/"узел" removed so every form of a word has one stem). Tokens with a digit, a hyphen
or a slash are *codes* (`В3-14`, `АР4`, `133/23-ГК-АР4`): their look-alike letters are unified to
Latin and they are kept whole, so `B3-14` finds `В3-14` and `В2` never finds `В21`. Indexed codes
also contribute their parts (`АР4` finds `133/23-ГК-АР4`); query codes match whole. Ordinal
numbers lose their ending ("7-го" → 7) and qualified number expressions ("5,6-го этажей") add
terms such as `этаж5` (see `webapp.documents.numbers`). Capital Latin look-alike acronyms that OCR
wrote for Cyrillic ones ("OB", "BK") are read as Cyrillic.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

from webapp.documents.lookalikes import (
    LATIN_TO_CYRILLIC,
    normalize_dashes,
    to_cyrillic,
    to_latin,
)
from webapp.documents.numbers import (
    TENS,
    find_qualified,
    ordinal_token_numbers,
    ordinal_value,
    qualifier_name,
)

ANALYZER_VERSION = 2
# Letters/digits joined by '-', '/', '.' (and ',' between digits: 0,702) form one token.
TOKEN_RE = re.compile(
    r"[^\W_]+(?:(?:[-\u2010\u2011\u2012\u2013\u2014\u2212/.]|(?<=\d),(?=\d))[^\W_]+)*"
)
CODE_JOINERS_RE = re.compile(r"[-/.]")
_CYRILLIC_RE = re.compile(r"[а-я]")
_LATIN_RE = re.compile(r"[a-z]")

STOP_WORDS = frozenset(
    """
    а б в во вот все всё да для до его ее её же за и из или им их к как ко ли на над не него нее
    неё ни но о об обо от по под при про с со так также то того тоже у уже чем что чтобы это этот
    эта эти этом этой какой какая какое какие каков какова сколько где когда куда зачем почему ли
    ль бы быть был была были будет есть нет ещё еще мне мы вы он она оно они меня нас вас его ему
    кто чей чья чьё чье чьи там тут здесь какого каких какую каким
    a an and are as at be by for from in is it of on or that the this to was were with what which
    """.split()
)

# Asking words that say nothing about the blocks wanted ("покажи план" = "план").
QUERY_STOP_WORDS = STOP_WORDS | frozenset(
    """
    покажи покажите показать найди найдите найти дай дайте подскажи подскажите скажи скажите
    пожалуйста нужно нужен нужна нужны надо хочу можно мне нам ли вообще какой-нибудь ту те та
    каком какому котором которой который которая которые
    """.split()
)
# Snowball stems that differ between forms of one word, mapped to one stem.
STEM_FIXES = {"про": "проем", "о": "ос"}
_FLEETING_RE = re.compile(r"(?<=[бвгджзклмнпрстфхцчшщ])[оеё](?=[кл]$)")
_ACRONYM_LETTERS = frozenset(letter for letter in LATIN_TO_CYRILLIC if letter.isupper())
ACRONYM_CHARS = 5  # capitals this short also keep their unstemmed form (abbreviations)
_NUMERIC_RE = re.compile(r"^[\d.,-]+$")


class _Stemmers(threading.local):
    """Snowball stemmers keep the word being stemmed in the instance, so two threads sharing one
    corrupt each other's word (IndexError, wrong stems): searches run on several threads off the
    gevent hub, so each thread has its own."""

    def __init__(self) -> None:
        self.russian = snowballstemmer.stemmer("russian")
        self.english = snowballstemmer.stemmer("english")


_stemmers = _Stemmers()


def fold(text: str) -> str:
    """Compatibility-normalized, case-folded text with `ё`→`е` and plain hyphens."""
    return normalize_dashes(unicodedata.normalize("NFKC", text)).casefold().replace("ё", "е")


def is_compound_word(token: str) -> bool:
    """"кухня-столовая", "цементно-песчаный": hyphenated words, not codes (no digits, no short
    parts such as the "ГК" of "ГК-АР")."""
    parts = token.split("-")
    return (
        len(parts) > 1
        and all(len(part) >= 3 and part.isalpha() for part in parts)
        and "/" not in token
    )


def is_code(token: str) -> bool:
    """A token with a digit, hyphen or slash names something (`В2`, `П-1`, `1-4/А-Е`)."""
    return "-" in token or "/" in token or any(char.isdigit() for char in token)


@lru_cache(maxsize=200_000)
def stem_word(word: str) -> str:
    """Stem of a folded word; mixed-alphabet words are first moved to their majority alphabet."""
    cyrillic = len(_CYRILLIC_RE.findall(word))
    latin = len(_LATIN_RE.findall(word))
    if cyrillic and latin:
        word = to_cyrillic(word) if cyrillic >= latin else to_latin(word)
    if _CYRILLIC_RE.search(word):
        stem = _stemmers.russian.stemWord(word)
        stem = STEM_FIXES.get(stem, stem)
        return _FLEETING_RE.sub("", stem) if len(stem) >= 4 else stem
    if _LATIN_RE.search(word):
        return _stemmers.english.stemWord(word)
    return word


@lru_cache(maxsize=200_000)
def code_term(token: str) -> str:
    """Whole-code term: look-alikes as Latin, decimal comma as a dot, OCR's 0 for О as o."""
    return to_latin(re.sub(r"^0(?=[^\W\d_])", "o", token)).replace(",", ".")


def _word_terms(token: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """A non-code token may still hold dots (`т.е`, `Д.ш`): each piece is a word."""
    terms = []
    for piece in CODE_JOINERS_RE.split(token):
        if piece and piece not in stop_words:
            terms.append(stem_word(piece))
    return terms


@lru_cache(maxsize=200_000)
def token_terms(token: str, with_parts: bool) -> tuple[str, ...]:
    """Terms of one folded token: a code (plus its parts when indexing) or word stems."""
    numbers = ordinal_token_numbers(token)
    if numbers is not None:
        return numbers
    if is_compound_word(token):
        return tuple(_word_terms(token.replace("-", ".")))
    if not is_code(token):
        return tuple(_word_terms(token))
    whole = code_term(token)
    if not with_parts:
        return (whole,)
    terms = [whole]
    for piece in CODE_JOINERS_RE.split(token.replace(",", ".")):
        if not piece:
            continue
        piece_terms = [code_term(piece)] if is_code(piece) else [stem_word(piece)]
        terms.extend(term for term in piece_terms if term not in terms)
    return tuple(terms)


def is_lookalike_acronym(raw: str) -> bool:
    """"OB", "BK", "MOP": capital Latin letters that all look Cyrillic, as OCR writes ОВ, ВК."""
    return 2 <= len(raw) <= 4 and all(char in _ACRONYM_LETTERS for char in raw)


@lru_cache(maxsize=200_000)
def raw_token_terms(raw: str, with_parts: bool) -> tuple[str, ...]:
    """Terms of a token as it appears in the text (cached: documents repeat tokens a lot)."""
    if is_lookalike_acronym(raw):
        raw = to_cyrillic(raw)
    terms = token_terms(fold(raw), with_parts)
    if 2 <= len(raw) <= ACRONYM_CHARS and raw.isupper() and raw.isalpha():
        whole = fold(raw)  # "АИ", "УГО": abbreviations are not inflected words
        if whole not in terms and whole not in STOP_WORDS:
            terms = (whole, *terms)
    return terms


def _span_token_terms(raw: str, with_parts: bool) -> tuple[str, ...]:
    """Terms a token keeps inside a qualified expression: numbers and the qualifier are given."""
    if _NUMERIC_RE.match(raw) or ordinal_token_numbers(fold(raw)) is not None:
        return ()
    if qualifier_name(raw.rstrip(".")) or qualifier_name(raw + "."):
        return ()
    if ordinal_value(raw) is not None or fold(raw) in TENS:  # "седьмого" is the number 7
        return ()
    return raw_token_terms(raw, with_parts)


def iter_tokens(text: str, with_parts: bool = True) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(start, end, terms) for every token of the original text (spans index the original).

    A qualified number expression ("3,4-го этажа") is one item: the qualifier's stem, the plain
    numbers and the qualified terms (`этаж3`, `этаж4`), plus the terms of any other words in it.
    """
    text = text or ""
    spans = find_qualified(text)
    span_index = 0
    pending: list[str] = []
    for match in TOKEN_RE.finditer(text):
        while span_index < len(spans) and spans[span_index].end <= match.start():
            yield _span_item(spans[span_index], pending)
            span_index, pending = span_index + 1, []
        if span_index < len(spans) and spans[span_index].start <= match.start():
            pending.extend(_span_token_terms(match.group(0), with_parts))
            continue
        terms = raw_token_terms(match.group(0), with_parts)
        if terms:
            yield match.start(), match.end(), terms
    for span in spans[span_index:]:
        yield _span_item(span, pending)
        pending = []


def _span_item(span, extra: list[str]) -> tuple[int, int, tuple[str, ...]]:
    terms = [stem_word(span.qualifier), *span.numbers, *span.terms]
    terms.extend(term for term in extra if term not in terms)
    return span.start, span.end, tuple(terms)


def analyze(text: str) -> list[str]:
    """Index terms of a text, in order (codes with their parts)."""
    return [term for _, _, terms in iter_tokens(text, with_parts=True) for term in terms]


def query_items(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """Items of a question: like `iter_tokens` without code parts and without asking words."""
    items = []
    for start, end, terms in iter_tokens(text, with_parts=False):
        raw = text[start:end]
        if fold(raw) in QUERY_STOP_WORDS and len(terms) == 1 and not raw.isupper():
            continue
        items.append((start, end, terms))
    return items


def analyze_query(text: str) -> list[str]:
    """Distinct query terms in order; codes whole only, stop words dropped."""
    seen: list[str] = []
    for _, _, terms in query_items(text):
        for term in terms:
            if term not in seen:
                seen.append(term)
    return seen
