"""What a block is about, in one short line: its heading.

Image blocks are named by their recognized type and short description; text blocks by their
first heading or first line; tables by their caption or header row. The document map lists these
lines, and the search index weighs a match in a heading above one in the body.
"""

from __future__ import annotations

import re
import threading

from cachetools import LRUCache

from webapp.documents.model import Block

HEADING_CHARS = 80
_MARKUP_RE = re.compile(r"^\s*(?:#{1,6}\s*|[-*+]\s+|\d+[.)]\s+|>\s*)")
_EMPHASIS_RE = re.compile(r"\*\*|__|`")
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE_MARKER_RE = re.compile(r"^\s*\*\*\s*\[\s*ИЗОБРАЖЕНИЕ\s*\]", re.IGNORECASE)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", _EMPHASIS_RE.sub("", text)).strip()


def shorten(text: str, width: int = HEADING_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `width` characters."""
    flat = _flat(text)
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:—-") + "…"


def table_row_cells(line: str) -> list[str]:
    """Non-empty cells of a markdown table row."""
    return [cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip()]


def _text_heading(text: str) -> str:
    for line in text.splitlines():
        if not line.strip() or _TABLE_RULE_RE.match(line):
            continue
        if line.lstrip().startswith("|"):
            return " · ".join(table_row_cells(_EMPHASIS_RE.sub("", line)))
        return _MARKUP_RE.sub("", line)
    return ""


def block_heading(block: Block, width: int = HEADING_CHARS) -> str:
    """One line (≤ `width` chars) saying what the block is about."""
    if block.is_image:
        kind = block.fields.get("image_type") or ""
        about = block.fields.get("short_description") or ""
        if not about:
            about = next(
                (
                    _text_heading(line)
                    for line in block.text.splitlines()
                    if line.strip() and not _IMAGE_MARKER_RE.match(line)
                ),
                "",
            )
        if kind and about.lower().startswith(kind.lower()):
            kind = ""
        return shorten(": ".join(part for part in (kind, about) if part), width)
    return shorten(title_page_name(block) or _text_heading(block.text), width)


# --- What a block is about, for the search index ------------------------------------------------

INDEX_HEADING_CHARS = 600
_HEADING_LINE_RE = re.compile(r"^\s*#{1,6}\s+(.+)$")
_BOLD_LINE_RE = re.compile(r"^\s*\*\*([^*]{3,120})\*\*\s*:?\s*$")
_TITLE_MARK_RE = re.compile(
    r"\b(?:РАБОЧАЯ|ПРОЕКТНАЯ|ИСПОЛНИТЕЛЬНАЯ)\s+ДОКУМЕНТАЦИЯ\b", re.IGNORECASE
)
_SET_CODE_RE = re.compile(r"^[\w.\\/]+(?:[-/][\w.\\]+){2,}$")
_TITLE_STOP_RE = re.compile(r"^(?:ОБЪЕКТ|ЗАКАЗЧИК|ШИФР|ТОМ|СТАДИЯ)\b", re.IGNORECASE)


def _plain_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        line = _flat(_MARKUP_RE.sub("", line))
        if line and not _TABLE_RULE_RE.match(line):
            lines.append(line)
    return lines


def title_page_name(block: Block) -> str | None:
    """ "Кладочные планы надземной части · 133/23-ГК-АР4" for a title page block, else None.

    A title page says "РАБОЧАЯ ДОКУМЕНТАЦИЯ", then the set's name and its code; the organisation's
    legal form above it is the same on every title page and names nothing.
    """
    if block.is_image:
        return None
    lines = _plain_lines(block.text or "")
    start = next((i for i, line in enumerate(lines) if _TITLE_MARK_RE.fullmatch(line)), None)
    if start is None:
        return None
    name_parts: list[str] = []
    code = ""
    for line in lines[start + 1 :]:
        if _TITLE_STOP_RE.match(line):
            break
        if _SET_CODE_RE.match(line) and any(char.isdigit() for char in line):
            code = line
            break
        name_parts.append(line)
    name = " ".join(name_parts[:2]).strip()
    if not name and not code:
        return None
    return " · ".join(part for part in (name, code) if part)


def _table_heads(text: str) -> list[str]:
    """Captions and header rows of the markdown tables in a text.

    The first row of a table is its header, unless it is a one-cell caption ("| Ведомость
    дверных проемов | | |"), in which case the next row is the header.
    """
    heads: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            first = list(dict.fromkeys(rows[0]))
            heads.append(" ".join(first))
            if len(first) <= 1 and len(rows) > 1:
                heads.append(" ".join(dict.fromkeys(rows[1])))
        rows.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            flush()
        elif not _TABLE_RULE_RE.match(stripped) and len(rows) < 2:
            cells = table_row_cells(_EMPHASIS_RE.sub("", stripped))
            if cells:
                rows.append(cells)
    flush()
    return [head for head in heads if head]


def index_heading(block: Block) -> str:
    """What the block is about, longer than `block_heading`: the search index's heading field.

    Images: their recognized type and short description. Text and tables: the first line, every
    markdown heading or bold label line, and each table's caption and header row (so a table is
    found by its column names), plus the set's name for a title page.
    """
    if block.is_image:
        parts = [block.fields.get("image_type") or "", block.fields.get("short_description") or ""]
        if not any(parts):
            parts = [block_heading(block, INDEX_HEADING_CHARS)]
    else:
        text = block.text or ""
        parts = [title_page_name(block) or "", _text_heading(text)]
        for line in text.splitlines():
            match = _HEADING_LINE_RE.match(line) or _BOLD_LINE_RE.match(line)
            if match:
                parts.append(_flat(match.group(1)))
        parts.extend(_table_heads(text))
    unique = [part for part in dict.fromkeys(_flat(p) for p in parts) if part]
    return shorten(" · ".join(unique), INDEX_HEADING_CHARS)


# --- Questions about the whole document, and the blocks that answer them -------------------------

_DOC = r"(?:документ\w*|комплект\w*|проект\w*|раздел\w*|альбом\w*|том\w*|набор\w*|файл\w*|pdf)"
WHOLE_DOCUMENT_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"\bо\s+ч[её]м\b.*\b{_DOC}",
        rf"\bчто\s+(?:это\s+)?за\s+{_DOC}",
        rf"\bчто\s+(?:это|такое)\s+(?:за\s+)?(?:этот\s+|данный\s+)?{_DOC}",
        rf"\b(?:опиши|расскажи|перескажи|обзор|резюме|summary)\b.*\b{_DOC}",
        rf"\b(?:состав|содержани[ея]|перечень|список|ведомост\w*|оглавлени[ея])\s+"
        rf"(?:\w+\s+)?(?:{_DOC}|лист\w*|чертеж\w*|разделов|документации)",
        r"\bкакие\s+(?:есть\s+|там\s+)?(?:листы|разделы|чертежи|марки)\b",
        r"\bсколько\s+(?:всего\s+)?(?:листов|чертежей|разделов|страниц)\b",
        r"\bобщи[ея]\s+(?:данные|указания)\b",
        r"\bкто\s+(?:\w+\s+)?(?:разработ\w*|проектировал\w*|выполнил\w*|автор\w*|подписал\w*|"
        r"утвердил\w*|проверил\w*|заказчик\w*|гип|гап|главн\w*|генеральн\w*|директор\w*|"
        r"нормоконтрол\w*|генпроектировщик\w*|проектировщик\w*)",
        r"\b(?:гип|гап|заказчик\w*|генпроектировщик\w*|нормоконтрол\w*)\b",
        r"\b(?:какая|какой)\s+(?:организаци\w*|шифр|стади\w*|объект)\b",
        r"\b(?:шифр|стадия|название|наименование)\s+(?:{0}|объекта)".format(_DOC),
        r"\bадрес\s+объекта\b",
    )
)
_CONTENTS_RE = re.compile(
    r"ведомость\s+(?:рабочих\s+)?чертежей|ведомость\s+основных\s+комплектов|состав\s+"
    r"(?:проекта|комплекта|рабочей|проектной|тома)|^содержание\b|ведомость\s+ссы\w*\s+и\s+"
    r"прилагаемых|ведомость\s+спецификаций|ведомость\s+документов",
    re.IGNORECASE,
)
_MAIN_CONTENTS_RE = re.compile(
    r"ведомость\s+(?:рабочих\s+)?чертежей|состав\s+(?:проекта|комплекта)|^содержание\b",
    re.IGNORECASE,
)
_GENERAL_RE = re.compile(
    r"^(?:общие\s+(?:указания|данные|характеристики|положения)|пояснительная\s+записка)"
    r"(?![\s:]*см\b)",  # "Общие указания см. лист 1" only points to them
    re.IGNORECASE,
)
_ROLE_RE = re.compile(
    r"\b(?:главный\s+(?:инженер|архитектор|конструктор)\s+проект\w*|генеральный\s+директор|"
    r"разработал|нормоконтроль|н\.\s*контр|заказчик\s*:)",
    re.IGNORECASE,
)
TITLE_PAGES = 3  # title page and its signature page come before the first sheets
SIGNATURE_PAGES = 5  # the general-data sheet, signed by the chief engineer, follows them


def is_whole_document_question(question: str) -> bool:
    """Whether a question is about the document as a whole rather than about some block of it.

    Such questions ("о чём этот документ?", "состав комплекта", "кто ГИП?", "общие данные")
    are answered by the title page, the list of drawings and the general notes, which the
    pipeline should send whatever the search ranks (see `title_blocks`).
    """
    text = " ".join((question or "").replace("ё", "е").split())[:2000]
    return any(pattern.search(text) for pattern in WHOLE_DOCUMENT_PATTERNS)


_REVIEW_RE = re.compile(
    r"(ошибк|несоответств|противореч|замечани|нарушени|недочет|недочёт|коллизи|неувязк|"
    r"провер(?:ь|ьте|ить|ка|ку|ки)\s+(?:весь\s+|этот\s+)?(?:проект|документ|комплект|чертеж|"
    r"чертёж|раздел)|"
    r"\berrors?\b|\bmistakes?\b|\binconsisten)",
    re.IGNORECASE,
)


def is_review_question(question: str) -> bool:
    """Whether the question asks to review the whole set (errors, inconsistencies, remarks):
    such a question needs a view of every sheet, not the few blocks that mention its words."""
    return bool(_REVIEW_RE.search(question or ""))


_titles: LRUCache = LRUCache(maxsize=256)  # document version → ids of its title blocks
_titles_lock = threading.Lock()


def title_blocks(document) -> list[Block]:
    """`find_title_blocks`, remembered per document version (a document never changes)."""
    key = document.version or id(document)
    with _titles_lock:
        ids = _titles.get(key)
    if ids is None:
        ids = [block.id for block in find_title_blocks(document)]
        with _titles_lock:
            _titles[key] = ids
    return [block for block in map(document.get, ids) if block is not None]


def find_title_blocks(document) -> list[Block]:
    """The blocks that say what the document is: title page, list of drawings, general notes.

    Found by structure and content, not by ids: title-page blocks ("РАБОЧАЯ ДОКУМЕНТАЦИЯ", the
    signatures of the ГИП/ГАП and the customer) among the first pages, then the list of drawings
    (ведомость рабочих чертежей / состав / содержание), the other lists of the general-data
    sheet, and the general notes. In that order, each group in document order.
    """
    pages = sorted({b.page for b in document.blocks if b.page is not None})
    first_pages, signature_pages = set(pages[:TITLE_PAGES]), set(pages[:SIGNATURE_PAGES])
    title, main_contents, contents, general = [], [], [], []
    for block in document.blocks:
        if block.is_image:
            continue
        heading = _flat(_text_heading(block.text or "")).lstrip("#* ")
        signed = _ROLE_RE.search(block.text or "") is not None
        if title_page_name(block) or (block.page in first_pages and signed):
            title.append(block)
        elif _MAIN_CONTENTS_RE.search(heading):
            main_contents.append(block)
        elif _CONTENTS_RE.search(heading):
            contents.append(block)
        elif _GENERAL_RE.search(heading) or (block.page in signature_pages and signed):
            general.append(block)
    return [*title, *main_contents, *contents, *general]
