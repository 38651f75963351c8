"""Text analysis for the search index, done in Python so that index and query agree exactly.

Words are case-folded, `ё`→`е`, and stemmed (Russian or English snowball). Tokens with a digit,
a hyphen or a slash are *codes* (`В3-14`, `АР4`, `133/23-ГК-АР4`): their look-alike letters are
unified to Latin and they are kept whole, so `B3-14` finds `В3-14` and `В2` never finds `В21`.
Indexed codes also contribute their parts (`АР4` finds `133/23-ГК-АР4`); query codes match whole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

from webapp.documents.lookalikes import normalize_dashes, to_cyrillic, to_latin

ANALYZER_VERSION = 1
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

_russian = snowballstemmer.stemmer("russian")
_english = snowballstemmer.stemmer("english")


def fold(text: str) -> str:
    """Compatibility-normalized, case-folded text with `ё`→`е` and plain hyphens."""
    return normalize_dashes(unicodedata.normalize("NFKC", text)).casefold().replace("ё", "е")


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
        return _russian.stemWord(word)
    if _LATIN_RE.search(word):
        return _english.stemWord(word)
    return word


@lru_cache(maxsize=200_000)
def code_term(token: str) -> str:
    """Whole-code term: look-alikes as Latin, decimal comma as a dot."""
    return to_latin(token).replace(",", ".")


def _word_terms(token: str) -> list[str]:
    """A non-code token may still hold dots (`т.е`, `Д.ш`): each piece is a word."""
    terms = []
    for piece in CODE_JOINERS_RE.split(token):
        if piece and piece not in STOP_WORDS:
            terms.append(stem_word(piece))
    return terms


@lru_cache(maxsize=200_000)
def token_terms(token: str, with_parts: bool) -> tuple[str, ...]:
    """Terms of one folded token: a code (plus its parts when indexing) or word stems."""
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


@lru_cache(maxsize=200_000)
def raw_token_terms(raw: str, with_parts: bool) -> tuple[str, ...]:
    """Terms of a token as it appears in the text (cached: documents repeat tokens a lot)."""
    return token_terms(fold(raw), with_parts)


def iter_tokens(text: str, with_parts: bool = True) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(start, end, terms) for every token of the original text (spans index the original)."""
    for match in TOKEN_RE.finditer(text or ""):
        terms = raw_token_terms(match.group(0), with_parts)
        if terms:
            yield match.start(), match.end(), terms


def analyze(text: str) -> list[str]:
    """Index terms of a text, in order (codes with their parts)."""
    return [term for _, _, terms in iter_tokens(text, with_parts=True) for term in terms]


def analyze_query(text: str) -> list[str]:
    """Distinct query terms in order; codes whole only, stop words dropped."""
    seen: list[str] = []
    for _, _, terms in iter_tokens(text, with_parts=False):
        for term in terms:
            if term not in seen:
                seen.append(term)
    return seen
