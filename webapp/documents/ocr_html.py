"""Parser for `ocr.html`, the HTML export of the same blocks.

Each `div.block` is parsed on its own slice of the file: real exports contain unbalanced tags inside
block content, and a tree parser would otherwise nest later blocks inside earlier ones.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from webapp.documents.fields import parse_fields
from webapp.documents.links import compute_backlinks, extract_links, find_block_ids, merge_links
from webapp.documents.markdown import content_version, sheet_number
from webapp.documents.model import Block, Document, DocumentFormatError, normalize_block_id

BLOCK_START_RE = re.compile(
    r"<div\b[^>]*\bclass\s*=\s*[\"'](?:[^\"']*\s)?block(?:\s[^\"']*)?[\"'][^>]*>", re.IGNORECASE
)
HEADER_PAGE_RE = re.compile(r"(?:стр|page)\.?\s*(\d+)", re.IGNORECASE)
HEADER_KIND_RE = re.compile(r"Тип\s*:\s*(image|text|table)", re.IGNORECASE)
HEADER_ID_RE = re.compile(r"\bID\s*:\s*(\S+)")
BLOCK_LINE_RE = re.compile(r"^\s*BLOCK\s*:\s*(\S+)", re.IGNORECASE)
SKIPPED_LABELS = ("created", "linked block", "linked blocks")
CROP_HINTS = ("/crops/", ".pdf", ".png", ".jpg", ".jpeg")
HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _inline(node: Tag | NavigableString) -> str:
    """Inline markdown of a node: bold as `**…**`, line breaks kept, whitespace collapsed."""
    if isinstance(node, PreformattedString):  # comments, doctype, CDATA
        return ""
    if isinstance(node, NavigableString):
        return re.sub(r"\s+", " ", str(node))
    if node.name == "br":
        return "\n"
    inner = "".join(_inline(child) for child in node.children)
    if node.name in ("b", "strong") and inner.strip():
        return f"**{inner.strip()}**"
    if node.name == "code" and inner.strip():
        return f"`{inner.strip()}`"
    return inner


def _clean_lines(text: str) -> str:
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def _table(table: Tag) -> str:
    """A markdown table; colspans become empty cells so that columns line up."""
    rows: list[list[str]] = []
    for row in table.find_all("tr"):
        cells: list[str] = []
        for cell in row.find_all(["th", "td"], recursive=False):
            cells.append(_squash(_inline(cell)).replace("|", "\\|"))
            span = cell.get("colspan", "1")
            cells.extend([""] * (int(span) - 1 if str(span).isdigit() and int(span) > 1 else 0))
        if cells:
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = []
    for index, row in enumerate(rows):
        row = row + [""] * (width - len(row))
        lines.append("| " + " | ".join(row) + " |")
        if index == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


def _list(node: Tag) -> str:
    ordered = node.name == "ol"
    items = []
    for number, item in enumerate(node.find_all("li", recursive=False), start=1):
        text = _squash(_inline(item))
        if text:
            items.append(f"{number}. {text}" if ordered else f"- {text}")
    return "\n".join(items)


def _heading(level: int, text: str) -> str:
    """Headings inside blocks start at level 4: levels 2-3 are page and block headers."""
    return "#" * min(6, level + 3) + " " + text


def _markdown(node: Tag) -> list[str]:
    """Paragraph-level markdown chunks of a content element, in order."""
    return _markdown_nodes(list(node.children))


def _markdown_nodes(nodes: list) -> list[str]:
    """Paragraph-level markdown chunks of sibling nodes, in order."""
    chunks: list[str] = []
    inline_run: list[str] = []

    def flush_inline() -> None:
        text = _clean_lines("".join(inline_run))
        if text:
            chunks.append(text)
        inline_run.clear()

    for child in nodes:
        if isinstance(child, NavigableString):
            inline_run.append(_inline(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in HEADING_TAGS:
            flush_inline()
            text = _squash(_inline(child).replace("\n", " "))
            if text:
                chunks.append(_heading(HEADING_TAGS[name], text))
        elif name == "table":
            flush_inline()
            chunks.append(_table(child))
        elif name in ("ul", "ol"):
            flush_inline()
            chunks.append(_list(child))
        elif name == "pre":
            flush_inline()
            chunks.append(child.get_text().strip("\n"))
        elif name in ("p", "div", "section", "li", "blockquote"):
            flush_inline()
            chunks.extend(_markdown(child) if child.find(["table", "ul", "ol", "p", "div"])
                          else [_clean_lines(_inline(child))])
        elif name in ("script", "style", "img"):
            continue
        else:
            inline_run.append(_inline(child))
    flush_inline()
    return [chunk for chunk in chunks if chunk.strip()]


def _stamp_pairs(stamp: Tag) -> list[tuple[str, str]]:
    """`<b>Шифр:</b> X | <b>Лист:</b> 2` → [("Шифр", "X"), ("Лист", "2")]."""
    pairs = []
    for part in _squash(stamp.get_text(" ")).split("|"):
        label, sep, value = part.partition(":")
        if sep:
            pairs.append((label.strip(), value.strip()))
    return pairs


def _crop_link(paragraph: Tag) -> str | None:
    for anchor in paragraph.find_all("a", href=True):
        href = anchor["href"].strip()
        text = anchor.get_text(" ").lower()
        if "кроп" in text or "crop" in text or any(hint in href.lower() for hint in CROP_HINTS):
            return href
    return None


class _ParsedBlock:
    def __init__(self) -> None:
        self.id: str | None = None
        self.kind = "text"
        self.page: int | None = None
        self.crop_url: str | None = None
        self.linked: list[str] = []
        self.stamp: list[tuple[str, str]] = []
        self.chunks: list[str] = []


def _parse_block(fragment: str) -> _ParsedBlock | None:
    soup = BeautifulSoup(fragment, "html.parser")
    root = soup.find("div")
    if root is None:
        return None
    parsed = _ParsedBlock()
    classes = " ".join(root.get("class", []))
    kind_from_class = re.search(r"block-type-(image|text|table)", classes)
    if kind_from_class:
        parsed.kind = kind_from_class.group(1)
    header = root.find("div", class_="block-header")
    if header is not None:
        header_text = _squash(header.get_text(" "))
        if HEADER_PAGE_RE.search(header_text):
            parsed.page = int(HEADER_PAGE_RE.search(header_text).group(1))
        if HEADER_KIND_RE.search(header_text):
            parsed.kind = HEADER_KIND_RE.search(header_text).group(1).lower()
        if HEADER_ID_RE.search(header_text):
            parsed.id = normalize_block_id(HEADER_ID_RE.search(header_text).group(1))
    content = root.find("div", class_="block-content") or root
    for child in list(content.children):
        if not isinstance(child, Tag):
            parsed.chunks.extend(_markdown_nodes([child]))
            continue
        if "stamp-info" in child.get("class", []):
            parsed.stamp = _stamp_pairs(child)
            continue
        if child.name == "p":
            text = _squash(child.get_text(" "))
            block_line = BLOCK_LINE_RE.match(text)
            if block_line:
                parsed.id = parsed.id or normalize_block_id(block_line.group(1))
                if parsed.id is None:
                    parsed.id = block_line.group(1).strip().upper()
                continue
            label = text.split(":", 1)[0].strip().lower() if ":" in text else ""
            if label in SKIPPED_LABELS:
                if label.startswith("linked"):
                    parsed.linked = merge_links(parsed.linked, find_block_ids(text))
                continue
            crop = _crop_link(child)
            if crop and len(text) < 80:
                parsed.crop_url = parsed.crop_url or crop
                continue
        parsed.chunks.extend(_markdown_nodes([child]))
    return parsed if parsed.id else None


def _to_block(parsed: _ParsedBlock) -> Block:
    text = "\n\n".join(parsed.chunks)
    stamp = dict(parsed.stamp)
    fields = parse_fields(text) if parsed.kind == "image" else {}
    links = merge_links(extract_links(text, exclude=parsed.id),
                        [block_id for block_id in parsed.linked if block_id != parsed.id])
    return Block(
        id=parsed.id or "", kind=parsed.kind, page=parsed.page, text=text, fields=fields,
        links=links, crop_url=parsed.crop_url,
        sheet=sheet_number(stamp.get("Лист")), sheet_name=stamp.get("Наименование") or None,
    )


def _document_stamp(pairs: list[tuple[str, str]]) -> str | None:
    """The set-wide part of a block stamp, in the markdown `**Штамп:**` form."""
    per_sheet = ("Лист", "Наименование")
    shared = [f"{label}: {value}" for label, value in pairs if label not in per_sheet]
    return " | ".join(shared) or None


def parse_ocr_html(text: str | bytes) -> Document:
    """Parse an ocr.html export; blocks without an id are skipped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise DocumentFormatError(f"ocr.html must be text, got {type(text).__name__}")
    if text.strip() and not re.search(r"<\s*[a-zA-Z!]", text):
        raise DocumentFormatError("ocr.html does not contain HTML markup")
    starts = [match.start() for match in BLOCK_START_RE.finditer(text)]
    head = text[: starts[0]] if starts else text
    blocks: list[Block] = []
    first_stamp: list[tuple[str, str]] = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        parsed = _parse_block(text[start:end])
        if parsed is None:
            continue
        first_stamp = first_stamp or parsed.stamp
        blocks.append(_to_block(parsed))
    compute_backlinks(blocks)

    head_soup = BeautifulSoup(head, "html.parser")
    title_tag = head_soup.find("h1") or head_soup.find("title")
    title = _squash(title_tag.get_text(" ")) if title_tag else None
    if title and title_tag.name == "title":
        title = re.sub(r"\s*-\s*OCR\s*$", "", title)
    body = head_soup.body or head_soup
    preamble = "\n".join(
        _squash(node.get_text(" "))
        for node in body.find_all(["h1", "p"])
        if node.get_text().strip()
    )
    return Document(
        blocks=blocks, preamble=preamble, stamp=_document_stamp(first_stamp), title=title,
        version=content_version(text),
    )
