"""Parser for `document.md`: preamble, `## СТРАНИЦА N` pages, `### BLOCK [KIND]: ID`."""

from __future__ import annotations

import hashlib
import re

from webapp.documents.fields import parse_fields
from webapp.documents.links import compute_backlinks, extract_links
from webapp.documents.model import Block, Document, DocumentFormatError, normalize_block_id

PAGE_RE = re.compile(r"^\s{0,3}##\s*(?:СТРАНИЦА|Страница|страница|PAGE|Page)\s*№?\s*(\d+)\b")
BLOCK_RE = re.compile(
    r"^\s{0,3}###\s*BLOCK\s*\[\s*(TEXT|IMAGE|TABLE)\s*\]\s*[:\-—]?\s*(\S*)", re.IGNORECASE
)
SHEET_RE = re.compile(r"^\s*\*\*\s*Лист\s*:?\s*\*\*\s*:?\s*(.*?)\s*$", re.IGNORECASE)
SHEET_NAME_RE = re.compile(
    r"^\s*\*\*\s*Наименование листа\s*:?\s*\*\*\s*:?\s*(.*?)\s*$", re.IGNORECASE
)
STAMP_RE = re.compile(r"^\s*\*\*\s*Штамп\s*:?\s*\*\*\s*:?\s*(.*?)\s*$", re.IGNORECASE)
TITLE_RE = re.compile(r"^\s*#\s+(.+?)\s*$")
SEPARATOR_RE = re.compile(r"^\s*(?:---+|\*\*\*+|___+)\s*$")


def content_version(*texts: str | None) -> str:
    """sha256 hex over the source texts; None and "" are distinguished from each other."""
    digest = hashlib.sha256()
    for text in texts:
        marker = b"\x00none" if text is None else b"\x00text" + str(len(text)).encode()
        digest.update(marker + b"\x00")
        if text:
            digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def sheet_number(value: str | None) -> str | None:
    """`2 (из 12)` → `2`; the total is page furniture, the number is what people cite."""
    if not value:
        return None
    number = re.sub(r"\s*\(\s*из\s*[^)]*\)\s*$", "", value.strip(), flags=re.IGNORECASE)
    return number or None


def clean_block_text(lines: list[str]) -> str:
    """Block text without surrounding blank lines and trailing horizontal rules."""
    while lines and (not lines[-1].strip() or SEPARATOR_RE.match(lines[-1])):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(line.rstrip() for line in lines)


def make_block(raw_id: str, kind: str, page: int | None, text: str) -> Block:
    """A block with fields (image blocks only) and outgoing links filled from its text."""
    block_id = normalize_block_id(raw_id) or raw_id.strip().upper()
    fields = parse_fields(text) if kind == "image" else {}
    return Block(
        id=block_id, kind=kind, page=page, text=text, fields=fields,
        links=extract_links(text, exclude=block_id),
    )


def parse_markdown(text: str) -> Document:
    """Parse a `document.md`; tolerant of noise, DocumentFormatError only for non-text input."""
    if not isinstance(text, str):
        raise DocumentFormatError(f"document.md must be text, got {type(text).__name__}")
    text = text.lstrip("\ufeff")
    preamble: list[str] = []
    blocks: list[Block] = []
    page: int | None = None
    sheet: str | None = None
    sheet_name: str | None = None
    header_zone = False  # between a page header and that page's first block
    current: tuple[str, str, int | None] | None = None
    body: list[str] = []
    seen_structure = False

    def close_block() -> None:
        nonlocal current
        if current is not None:
            block = make_block(current[0], current[1], current[2], clean_block_text(body))
            block.sheet, block.sheet_name = sheet, sheet_name
            blocks.append(block)
        current = None

    for line in text.splitlines():
        page_match = PAGE_RE.match(line)
        if page_match:
            close_block()
            seen_structure = True
            page = int(page_match.group(1))
            sheet = sheet_name = None
            header_zone = True
            continue
        block_match = BLOCK_RE.match(line)
        if block_match:
            close_block()
            seen_structure = True
            header_zone = False
            current = (block_match.group(2), block_match.group(1).lower(), page)
            body = []
            continue
        if header_zone:
            sheet_match, name_match = SHEET_RE.match(line), SHEET_NAME_RE.match(line)
            if sheet_match:
                sheet = sheet_number(sheet_match.group(1))
                continue
            if name_match:
                sheet_name = name_match.group(1) or None
                continue
        if current is not None:
            body.append(line)
        elif not seen_structure:
            preamble.append(line)
    close_block()

    compute_backlinks(blocks)
    preamble_text = clean_block_text(preamble)
    title = stamp = None
    for line in preamble:
        if title is None and TITLE_RE.match(line):
            title = TITLE_RE.match(line).group(1)
        if stamp is None and STAMP_RE.match(line):
            stamp = STAMP_RE.match(line).group(1) or None
    return Document(
        blocks=blocks, preamble=preamble_text, stamp=stamp, title=title,
        version=content_version(text),
    )
