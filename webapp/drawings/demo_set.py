"""The demo drawing set: document.md, blocks.json, ocr.html and crop PDFs in the real formats.

The real samples are third-party data and never ship with the project, so `flask demo` uses this
generated set instead. Everything is deterministic: fixed ids, texts and PDF bytes.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from webapp.drawings import demo_text as content
from webapp.drawings.demo_sheets import (
    ROOMS,
    BBox,
    draw_floor_plan,
    draw_node,
    draw_section,
)


@dataclass(frozen=True)
class DemoFact:
    """A fact legible only in a crop's small print and where it is (bbox_norm, top-left origin)."""

    block_id: str
    question: str
    answer: str
    bbox_norm: BBox


@dataclass(frozen=True)
class DemoSet:
    """Paths of a built demo set and well-known ids and facts for tests and the demo run."""

    root: Path
    document_md: Path
    blocks_json: Path
    ocr_html: Path
    crops: dict[str, Path]
    title: str
    block_ids: tuple[str, ...]
    image_block_ids: tuple[str, ...]
    plan_block_id: str
    section_block_id: str
    node_block_id: str
    spec_block_id: str
    notes_block_id: str
    plan_fact: DemoFact
    node_fact: DemoFact

    @property
    def facts(self) -> tuple[DemoFact, ...]:
        return (self.plan_fact, self.node_fact)


def _union(first: BBox, second: BBox) -> BBox:
    return (min(first[0], second[0]), min(first[1], second[1]),
            max(first[2], second[2]), max(first[3], second[3]))


# ------------------------------------------------------------------------------------------
# document.md
# ------------------------------------------------------------------------------------------
def render_markdown() -> str:
    lines = [
        f"# {content.TITLE}", "",
        f"Сгенерировано: {content.GENERATED} UTC",
        f"**Штамп:** {content.stamp_line()}", "", "---", "",
    ]
    for page in content.PAGES:
        lines.append(f"## СТРАНИЦА {page.number}")
        if page.sheet:
            lines.append(f"**Лист:** {page.sheet} (из {content.SHEETS_TOTAL})")
        if page.sheet_name:
            lines.append(f"**Наименование листа:** {page.sheet_name}")
        lines.append("")
        for block in page.blocks:
            lines.append(f"### BLOCK [{block.kind.upper()}]: {block.id}")
            lines.append(block.text)
            lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# blocks.json
# ------------------------------------------------------------------------------------------
def crop_key(block_id: str) -> str:
    return f"crops/{block_id}.pdf"


def render_blocks_index() -> str:
    rows = [
        {
            "id": block.id,
            "page_index": page.number - 1,
            "block_type": block.kind,
            "category_code": None,
            "crop_url": crop_key(block.id),
        }
        for page in content.PAGES
        for block in page.blocks
        if block.kind == "image"
    ]
    return json.dumps({"blocks": rows}, ensure_ascii=False, indent=2) + "\n"


# ------------------------------------------------------------------------------------------
# ocr.html
# ------------------------------------------------------------------------------------------
_STYLE = """body { font-family: sans-serif; margin: 2rem; line-height: 1.5; }
.block { margin: 1rem 0; padding: 0.8rem; border-left: 3px solid #888; }
.block-header { font-size: 0.8rem; color: #555; }
.block-type-image { border-left-color: #7a4; }
.block-type-table { border-left-color: #a47; }
.stamp-info { font-size: 0.75rem; color: #246; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: 0.3rem; }"""


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def _table_html(rows: list[str]) -> str:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows
             if not re.match(r"^\s*\|?\s*-{3,}", row)]
    head, body = cells[0], cells[1:]
    parts = ['<table border="1">', "<thead>", "<tr>"]
    parts += [f"<th>{_inline_html(cell)}</th>" for cell in head]
    parts += ["</tr>", "</thead>", "<tbody>"]
    for row in body:
        parts.append("<tr>" + "".join(f"<td>{_inline_html(cell)}</td>" for cell in row) + "</tr>")
    parts += ["</tbody>", "</table>"]
    return "\n".join(parts)


def markdown_to_html(text: str) -> str:
    """HTML for our own block markdown (paragraphs, bold labels, headings, tables)."""
    parts: list[str] = []
    table: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if table:
            parts.append(_table_html(table))
            table.clear()
        if paragraph:
            parts.append("<p>" + "<br/>".join(_inline_html(line) for line in paragraph) + "</p>")
            paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            if paragraph:
                flush()
            table.append(stripped)
            continue
        if table:
            flush()
        if not stripped:
            flush()
        elif stripped.startswith("#### "):
            flush()
            parts.append(f"<h1>{_inline_html(stripped[5:])}</h1>")
        elif re.match(r"^(\*\*.+?:\*\*|\d+\.\s)", stripped):
            flush()
            paragraph.append(stripped)
            flush()
        else:
            paragraph.append(stripped)
    flush()
    return "\n".join(parts)


def _stamp_html(page: content.DemoPage) -> str:
    pairs = [("Шифр", content.CODE), ("Стадия", content.STAGE)]
    if page.sheet:
        pairs.append(("Лист", page.sheet))
    pairs.append(("Объект", content.OBJECT))
    if page.sheet_name:
        pairs.append(("Наименование", page.sheet_name))
    pairs.append(("Организация", content.ORGANIZATION))
    body = " | ".join(
        f"<b>{label}:</b> {html.escape(value, quote=False)}" for label, value in pairs)
    return f'<div class="stamp-info">{body}</div>'


def render_ocr_html() -> str:
    title = html.escape(content.TITLE, quote=False)
    parts = [
        "<!DOCTYPE html>", '<html lang="ru">', "<head>", '<meta charset="UTF-8">',
        f"<title>{title} - OCR</title>", f"<style>\n{_STYLE}\n</style>", "</head>", "<body>",
        f"<h1>{title}</h1>", f"<p>Сгенерировано: {content.GENERATED} UTC</p>", "",
    ]
    for page in content.PAGES:
        for number, block in enumerate(page.blocks, start=1):
            parts += [
                f'<div class="block block-type-{block.kind}">',
                f'<div class="block-header">Блок #{number} (стр. {page.number}) | '
                f"Тип: {block.kind}</div>",
                '<div class="block-content">',
                f"<p>BLOCK: {block.id}</p>",
                f"<p><b>Created:</b> {content.GENERATED}</p>",
                _stamp_html(page),
            ]
            if block.kind == "image":
                parts.append(f'<p><a href="{crop_key(block.id)}" target="_blank">'
                             "<b>Открыть кроп изображения</b></a></p>")
            parts += [markdown_to_html(block.text), "</div></div>"]
    parts += ["</body></html>", ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------
def _stamp_rows(page: content.DemoPage, block_id: str) -> dict[str, str]:
    return {
        "Шифр": content.CODE, "Стадия": content.STAGE, "Объект": content.OBJECT,
        "Организация": content.ORGANIZATION, "Лист": page.sheet or "",
        "Листов": str(content.SHEETS_TOTAL), "Блок": block_id,
    }


def build_demo_set(dest: Path) -> DemoSet:
    """Write the demo set under `dest` (overwriting) and describe it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    document_md = dest / "document.md"
    blocks_json = dest / "blocks.json"
    ocr_html = dest / "ocr.html"
    document_md.write_text(render_markdown(), encoding="utf-8")
    blocks_json.write_text(render_blocks_index(), encoding="utf-8")
    ocr_html.write_text(render_ocr_html(), encoding="utf-8")

    drawers = {content.PLAN_ID: draw_floor_plan, content.SECTION_ID: draw_section,
               content.NODE_ID: draw_node}
    crops: dict[str, Path] = {}
    labels: dict[str, dict[str, BBox]] = {}
    for page in content.PAGES:
        for block in page.blocks:
            if block.kind != "image":
                continue
            path = dest / crop_key(block.id)
            labels[block.id] = drawers[block.id](path, _stamp_rows(page, block.id),
                                                 page.sheet_name or block.id)
            crops[block.id] = path

    storeroom = next(room for room in ROOMS if room.number == "107")
    plan_labels = labels[content.PLAN_ID]
    plan_fact = DemoFact(
        block_id=content.PLAN_ID,
        question="Какова площадь кладовой 107 на плане 1-го этажа?",
        answer=storeroom.area_text,
        bbox_norm=_union(plan_labels["room:107:name"], plan_labels["room:107:area"]),
    )
    node_fact = DemoFact(
        block_id=content.NODE_ID,
        question="С каким шагом ставятся анкеры крепления кронштейнов НФС в узле 1?",
        answer="600 мм",
        bbox_norm=labels[content.NODE_ID]["anchor"],
    )
    all_blocks = [block for page in content.PAGES for block in page.blocks]
    return DemoSet(
        root=dest, document_md=document_md, blocks_json=blocks_json, ocr_html=ocr_html,
        crops=crops, title=content.TITLE,
        block_ids=tuple(block.id for block in all_blocks),
        image_block_ids=tuple(block.id for block in all_blocks if block.kind == "image"),
        plan_block_id=content.PLAN_ID, section_block_id=content.SECTION_ID,
        node_block_id=content.NODE_ID, spec_block_id=content.SPEC_ID,
        notes_block_id=content.NOTES_ID, plan_fact=plan_fact, node_fact=node_fact,
    )
