"""Block references inside the answer text, written one way: `[#BLOCK-ID]`.

The model cites blocks in many shapes — `[ID]`, `(ID, ID)`, a bare id, look-alike Cyrillic
letters — and sometimes cites ids that do not exist. `rewrite` turns every reference into
`[#ID]` (so a page can link it) and reports the unknown ones. It works on a growing text too:
`stable_length` says how much of a partial text can be rewritten without cutting a reference in
half, so the streamed answer is rewritten exactly as the final one will be.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from webapp.documents.model import normalize_block_id

_C = "[0-9A-Za-zА-Яа-яЁё]"
_D = "[-‐‑–—]"
_ID = rf"{_C}{{4}}{_D}{_C}{{4}}{_D}{_C}{{3}}"
_GROUP_RE = re.compile(rf"[\[(]\s*#?\s*(?P<ids>{_ID}(?:\s*[,;]\s*#?\s*{_ID})*)\s*[\])]")
_BARE_RE = re.compile(rf"(?<![\w#\-])#?(?P<id>{_ID})(?![\w\-])")
_ONE_ID_RE = re.compile(_ID)
# A group that may still be open at the end of a partial text: "[#7EW4-WC", "(ID, ", "["
_OPEN_GROUP_RE = re.compile(rf"[\[(]\s*#?\s*(?:{_ID}\s*[,;]\s*#?\s*)*[\w\-‐‑–—]*\s*$")
# The end of a partial text that may still grow into an id ("DEMO", "#7EW4-WC"), and spaces
_TRAILING_RE = re.compile(
    rf"(?:(?<![\w\-])#?{_C}{{1,4}}(?:{_D}{_C}{{0,4}}(?:{_D}{_C}{{0,3}})?)?)?\s*$"
)

_DROPPED = "\x00dropped"  # emitted for a reference that resolves to "" (removed)
Resolver = Callable[[str], "str | None"]  # canonical id → the id to write, or None (unknown)


@dataclass
class Rewritten:
    text: str
    unknown: list[str] = field(default_factory=list)  # canonical ids not in the documents
    first_unknown_at: int | None = None  # where the first unknown reference starts in `text`


def canonical(raw: str) -> str | None:
    """The canonical form of an id-shaped token, or None when it is not an id at all."""
    candidate = normalize_block_id(raw)
    if candidate is None or not re.search(r"[A-Z]", candidate):
        return None  # all digits ("2024-2025-001") is a number, not a block id
    return candidate


def rewrite(text: str, resolve: Resolver) -> Rewritten:
    """Every block reference as `[#ID]`; unknown ids are kept (as `[#ID]`) and reported.

    `resolve` maps a canonical id to the id to write (known, or corrected), "" to drop the
    reference, or None when it is unknown.
    """
    result = Rewritten("")
    out: list[str] = []
    length = 0

    def emit(piece: str) -> None:
        nonlocal length
        if piece == "":
            return
        if piece is _DROPPED:  # a dropped reference takes the spaces before it along
            while out and out[-1].rstrip(" \t") != out[-1]:
                stripped = out[-1].rstrip(" \t")
                length -= len(out[-1]) - len(stripped)
                out[-1] = stripped
                if stripped:
                    break
                out.pop()
            return
        out.append(piece)
        length += len(piece)

    def reference(raw: str) -> str | None:
        """The rewritten reference, "" when dropped; None when `raw` is no block id."""
        found = canonical(raw)
        if found is None:
            return None
        target = resolve(found)
        if target is None:
            if found not in result.unknown:
                result.unknown.append(found)
            if result.first_unknown_at is None:
                result.first_unknown_at = length
            return f"[#{found}]"
        return f"[#{target}]" if target else ""

    position = 0
    for match in _GROUP_RE.finditer(text):
        _bare(text[position : match.start()], emit, reference)
        position = match.end()
        raws = _ONE_ID_RE.findall(match.group("ids"))
        if any(canonical(raw) is None for raw in raws):
            emit(match.group(0))  # brackets around something that is not a block id
            continue
        pieces: list[str] = []
        for raw in raws:
            starts_at = length + sum(len(piece) + 1 for piece in pieces)
            had_unknown = result.first_unknown_at is not None
            piece = reference(raw)
            if not had_unknown and result.first_unknown_at is not None:
                result.first_unknown_at = starts_at
            if piece:
                pieces.append(piece)
        emit(" ".join(pieces) if pieces else _DROPPED)
    _bare(text[position:], emit, reference)
    result.text = "".join(out)
    return result


def _bare(text: str, emit: Callable[[str], None], reference: Callable[[str], str | None]) -> None:
    position = 0
    for match in _BARE_RE.finditer(text):
        if canonical(match.group("id")) is None:
            continue
        emit(text[position : match.start()])
        emit(reference(match.group("id")) or _DROPPED)
        position = match.end()
    emit(text[position:])


def stable_length(partial: str) -> int:
    """How much of a growing text can be rewritten now without cutting a reference in half.

    Held back: a group that may still be open, a trailing token that may still become an id,
    and trailing whitespace (so a reference dropped later never leaves a sent space behind).
    """
    open_group = _OPEN_GROUP_RE.search(partial[-80:])
    if open_group is not None:
        return len(partial) - (len(partial[-80:]) - open_group.start())
    trailing = _TRAILING_RE.search(partial)
    return trailing.start() if trailing else len(partial)


def cited_ids(text: str) -> list[str]:
    """Ids referenced as `[#ID]` in a rewritten text, in order of first mention."""
    found: list[str] = []
    for match in re.finditer(r"\[#([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{3})\]", text):
        if match.group(1) not in found:
            found.append(match.group(1))
    return found
