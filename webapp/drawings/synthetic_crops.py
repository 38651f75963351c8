"""Synthesized crops: a vector drawing sheet that lays out a block's recognized text.

Real crops are missing for some sets (the AR4 sample). The sheet shows the block's text, fields and
tables in small (≈6 pt on A1) but sharp vector text inside frames, with a title block, so an
overview shows the layout and only a zoomed region makes the print legible — like a real drawing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from webapp.documents.fields import IMAGE_MARKER_RE, LABEL_LINE_RE
from webapp.documents.model import Block, Document
from webapp.drawings.sheet import (
    FONT,
    FONT_BOLD,
    STAMP_HEIGHT,
    Frame,
    draw_frame,
    draw_stamp,
    new_canvas,
    text_width,
    wrap,
)

BODY_SIZE = 6.0
HEADING_SIZE = 7.5
TABLE_SIZE = 5.5
COLUMN_TARGET = 150 * mm
GUTTER = 6 * mm
# Body text from 7 pt down to 4.2 pt: the largest that fits the sheet is used.
SCALES = (7 / 6, 1.0, 0.9, 0.8, 0.7)
TABLE_ROW_RE = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass
class Heading:
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    rows: list[list[str]]


@dataclass
class Tags:
    items: list[str]


Item = Heading | Paragraph | Table | Tags


def _plain(text: str) -> str:
    """Markdown emphasis and heading marks removed: the sheet shows what a drawing would."""
    text = re.sub(r"^\s*#{1,6}\s*", "", text)
    return text.replace("**", "").replace("`", "").strip()


def _entities(value: str) -> list[str]:
    """Entities are listed as "a, b, c"; a comma without a space is a decimal comma (7,8322)."""
    return [part.strip() for part in re.split(r",\s+|;\s*", value) if part.strip()]


def _table_cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    return [_plain(cell.replace("\\|", "|")) for cell in re.split(r"(?<!\\)\|", body)]


def block_items(block: Block) -> list[Item]:
    """The block's text as layout items: labelled fields become headed sections."""
    items: list[Item] = []
    paragraph: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if paragraph:
            items.append(Paragraph(" ".join(paragraph)))
            paragraph.clear()
        if table:
            items.append(Table([row for row in table]))
            table.clear()

    text = block.text or "\n\n".join(f"**{key}:** {value}" for key, value in block.fields.items())
    for line in text.splitlines():
        if TABLE_ROW_RE.match(line):
            if paragraph:
                items.append(Paragraph(" ".join(paragraph)))
                paragraph.clear()
            if not TABLE_RULE_RE.match(line):
                table.append(_table_cells(line))
            continue
        if table:
            flush()
        if IMAGE_MARKER_RE.match(line):
            continue  # shown in the sheet header
        label = LABEL_LINE_RE.match(line)
        if label:
            flush()
            name, value = label.group(1).strip(), label.group(2).strip()
            items.append(Heading(name))
            if name.lower() == "сущности" and value:
                items.append(Tags(_entities(value)))
            elif value:
                paragraph.append(_plain(value))
            continue
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("#"):
            flush()
            items.append(Heading(_plain(stripped)))
        elif re.match(r"^([-*•]|\d+[.)])\s+", stripped):
            flush()
            items.append(Paragraph("• " + _plain(re.sub(r"^([-*•]|\d+[.)])\s+", "", stripped))))
        else:
            paragraph.append(_plain(stripped))
    flush()
    return items


class _Flow:
    """Column flow of items; draws when given a canvas, otherwise only measures."""

    def __init__(self, canvas: Canvas | None, left: float, top: float, width: float,
                 height: float, scale: float) -> None:
        self.canvas = canvas
        self.scale = scale
        count = max(1, int((width + GUTTER) // (COLUMN_TARGET + GUTTER)))
        self.column_width = (width - GUTTER * (count - 1)) / count
        self.xs = [left + index * (self.column_width + GUTTER) for index in range(count)]
        self.top = top
        self.height = height
        self.used = [0.0] * count
        self.column = 0
        self.overflow = False

    # --- cursor -----------------------------------------------------------------------------
    def _room(self, needed: float, span: int = 1) -> bool:
        """Move the cursor until `needed` points fit; False when the page is full."""
        while self.column + span <= len(self.xs):
            y = max(self.used[self.column:self.column + span])
            if y + needed <= self.height:
                for index in range(self.column, self.column + span):
                    self.used[index] = y
                return True
            self.column += 1
        self.overflow = True
        return False

    def _y(self) -> float:
        return self.top - self.used[self.column]

    # --- items ------------------------------------------------------------------------------
    def heading(self, text: str) -> None:
        size = HEADING_SIZE * self.scale
        lines = wrap(text, FONT_BOLD, size, self.column_width)
        needed = len(lines) * size * 1.25 + 3 + 3 * BODY_SIZE * self.scale * 1.2
        if not self._room(needed):
            return
        y = self._y() - 2
        for line in lines:
            y -= size * 1.1
            if self.canvas:
                self.canvas.setFont(FONT_BOLD, size)
                self.canvas.drawString(self.xs[self.column], y, line)
        y -= size * 0.3
        if self.canvas:
            self.canvas.setLineWidth(0.4)
            self.canvas.line(self.xs[self.column], y, self.xs[self.column] + self.column_width, y)
        self.used[self.column] = self.top - y + 2

    def paragraph(self, text: str) -> None:
        size = BODY_SIZE * self.scale
        leading = size * 1.2
        for line in wrap(text, FONT, size, self.column_width):
            if not self._room(leading):
                return
            y = self._y() - size
            if self.canvas:
                self.canvas.setFont(FONT, size)
                self.canvas.drawString(self.xs[self.column], y, line)
            self.used[self.column] += leading
        self.used[self.column] += leading * 0.5

    def tags(self, items: list[str]) -> None:
        size = BODY_SIZE * self.scale
        box_height = size * 1.7
        x_offset = 0.0
        if not self._room(box_height + 2):
            return
        for item in items:
            label = item if text_width(item, FONT, size) < self.column_width - 4 else item[:40]
            box_width = text_width(label, FONT, size) + 2.4 * mm * self.scale
            if x_offset and x_offset + box_width > self.column_width:
                self.used[self.column] += box_height + 2
                x_offset = 0.0
                if not self._room(box_height + 2):
                    return
            x, y = self.xs[self.column] + x_offset, self._y() - box_height
            if self.canvas:
                self.canvas.setLineWidth(0.35)
                self.canvas.roundRect(x, y, box_width, box_height, 1.2)
                self.canvas.setFont(FONT, size)
                self.canvas.drawString(x + 1.2 * mm * self.scale, y + size * 0.5, label)
            x_offset += box_width + 1.5
        self.used[self.column] += box_height + 2 + size

    def table(self, rows: list[list[str]]) -> None:
        size = TABLE_SIZE * self.scale
        leading = size * 1.2
        pad = 1.2
        width_count = max(len(row) for row in rows)
        rows = [row + [""] * (width_count - len(row)) for row in rows]
        lengths = [max(min(len(row[index]), 60) for row in rows) + 3
                   for index in range(width_count)]
        natural = sum(lengths) * size * 0.55
        span = 2 if natural > self.column_width and len(self.xs) - self.column >= 2 else 1
        total_width = min(self.column_width * span + GUTTER * (span - 1),
                          max(natural, self.column_width * 0.6))
        widths = [total_width * length / sum(lengths) for length in lengths]

        def row_lines(row: list[str], font: str = FONT) -> list[list[str]]:
            return [wrap(cell, font, size, max(widths[index] - 2 * pad, 4))
                    for index, cell in enumerate(row)]

        header = row_lines(rows[0], FONT_BOLD)
        for row_index, row in enumerate(rows):
            cells = header if row_index == 0 else row_lines(row)
            row_height = max(len(cell) for cell in cells) * leading + 2 * pad
            if not self._room(row_height, span):
                return
            x = self.xs[self.column]
            y_top = self._y()
            if self.canvas:
                self.canvas.setLineWidth(0.6 if row_index == 0 else 0.25)
                for index, cell in enumerate(cells):
                    self.canvas.rect(x, y_top - row_height, widths[index], row_height)
                    font = FONT_BOLD if row_index == 0 else FONT
                    self.canvas.setFont(font, size)
                    for line_index, line in enumerate(cell):
                        self.canvas.drawString(x + pad, y_top - pad - size - line_index * leading,
                                               line)
                    x += widths[index]
            for index in range(self.column, self.column + span):
                self.used[index] = self.top - y_top + row_height
        for index in range(self.column, min(self.column + span, len(self.xs))):
            self.used[index] += leading

    def place(self, items: list[Item]) -> None:
        for item in items:
            if self.overflow:
                return
            if isinstance(item, Heading):
                self.heading(item.text)
            elif isinstance(item, Paragraph):
                self.paragraph(item.text)
            elif isinstance(item, Tags):
                self.tags(item.items)
            elif isinstance(item, Table) and item.rows:
                self.table(item.rows)


def _header(canvas: Canvas, frame: Frame, block: Block) -> float:
    """Sheet heading (legible in the overview); returns its height."""
    kind_names = {"text": "Текст", "table": "Таблица"}
    kind = block.fields.get("image_type") or kind_names.get(block.kind, "Блок")
    title = f"{kind}: {block.fields.get('short_description', '')}".strip(" :")
    x, y = frame.x0 + 8 * mm, frame.y1 - 14 * mm
    lines = wrap(_plain(title), FONT_BOLD, 16, frame.width - 16 * mm)[:2]
    canvas.setFont(FONT_BOLD, 16)
    for line in lines:
        canvas.drawString(x, y, line)
        y -= 19
    canvas.setFont(FONT, 9)
    info = [f"Блок {block.id}"]
    if block.page:
        info.append(f"стр. {block.page}")
    if block.sheet:
        info.append(f"лист {block.sheet}")
    if block.fields.get("axes"):
        info.append(f"оси {block.fields['axes']}")
    canvas.drawString(x, y - 2, " · ".join(info))
    used = frame.y1 - (y - 8)
    canvas.setLineWidth(0.8)
    canvas.line(frame.x0, frame.y1 - used, frame.x1, frame.y1 - used)
    return used


def _stamp_rows(block: Block, stamp: str | None) -> dict[str, str]:
    rows: dict[str, str] = {}
    for part in (stamp or "").split("|"):
        label, sep, value = part.partition(":")
        if sep and label.strip() in ("Шифр", "Стадия", "Объект", "Организация"):
            rows[label.strip()] = value.strip()
    rows.setdefault("Организация", "AIZoomDoc")
    rows["Лист"] = block.sheet or (str(block.page) if block.page else "")
    rows["Блок"] = block.id
    rows["Наименование"] = block.sheet_name or ""
    rows["Источник"] = "синтезировано по распознанному тексту"
    return rows


def synthesize_document_crops(document: Document, dest: Path, sheet: str = "A1") -> dict[str, Path]:
    """`<dest>/<block id>.pdf` for every image block of a document whose crops are missing."""
    written: dict[str, Path] = {}
    for block in document.image_blocks():
        path = Path(dest) / f"{block.id}.pdf"
        synthesize_crop(block, path, sheet=sheet, stamp=document.stamp)
        written[block.id] = path
    return written


def synthesize_crop(
    block: Block,
    out_path: Path,
    sheet: str = "A1",
    stamp: str | None = None,
) -> None:
    """Write a one-page vector PDF sheet for `block` to `out_path` (same input, same bytes)."""
    out_path = Path(out_path)
    canvas = new_canvas(out_path, sheet, f"Блок {block.id}")
    frame = draw_frame(canvas, sheet)
    header_height = _header(canvas, frame, block)
    left = frame.x0 + 6 * mm
    top = frame.y1 - header_height - 5 * mm
    bottom = frame.y0 + STAMP_HEIGHT + 6 * mm
    width = frame.width - 12 * mm
    items = block_items(block)

    chosen = SCALES[-1]
    for scale in SCALES:
        trial = _Flow(None, left, top, width, top - bottom, scale)
        trial.place(items)
        if not trial.overflow:
            chosen = scale
            break
    flow = _Flow(canvas, left, top, width, top - bottom, chosen)
    flow.place(items)
    if flow.overflow:
        canvas.setFont(FONT_BOLD, 7)
        canvas.drawString(left, bottom - 4 * mm, "… текст блока сокращён: не помещается на лист")
    title = block.sheet_name or block.fields.get("image_type") or f"Блок {block.id}"
    draw_stamp(canvas, frame, _stamp_rows(block, stamp), title)
    canvas.showPage()
    canvas.save()
