"""Latin/Cyrillic look-alike letters.

OCR engines and LLMs freely mix the two alphabets in codes ("B3-14" for "В3-14", "AР4"), so ids and
codes are compared after mapping every look-alike letter onto one alphabet.
"""

from __future__ import annotations

# Upper- and lower-case Cyrillic letters that are drawn like a Latin letter.
CYRILLIC_TO_LATIN = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԛ": "q", "ԝ": "w",
}
LATIN_TO_CYRILLIC = {
    latin: cyrillic
    for cyrillic, latin in CYRILLIC_TO_LATIN.items()
    if cyrillic in "АВЕКМНОРСТУХаеокрстух"
}
# Lower-case Latin "b", "h", "m", "t" look like nothing Cyrillic; upper-case ones do.
LATIN_TO_CYRILLIC.update({"b": "в", "h": "н", "m": "м", "t": "т", "y": "у"})

_TO_LATIN = str.maketrans(CYRILLIC_TO_LATIN)
_TO_CYRILLIC = str.maketrans(LATIN_TO_CYRILLIC)
_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})


def to_latin(text: str) -> str:
    """Map Cyrillic look-alike letters to Latin ones; other characters are kept."""
    return text.translate(_TO_LATIN)


def to_cyrillic(text: str) -> str:
    """Map Latin look-alike letters to Cyrillic ones (used for words typed mostly in Cyrillic)."""
    return text.translate(_TO_CYRILLIC)


def normalize_dashes(text: str) -> str:
    """Typographic dashes and minus signs become '-' (OCR output uses them interchangeably)."""
    return text.translate(_DASHES)
