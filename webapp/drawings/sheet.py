"""Sheet furniture shared by synthesized crops and the demo set: fonts, sizes, frame, stamp."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.lib.pagesizes import A0, A1, A2, A3, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
SHEETS = {"A0": landscape(A0), "A1": landscape(A1), "A2": landscape(A2), "A3": landscape(A3)}
STAMP_WIDTH = 185 * mm
STAMP_HEIGHT = 55 * mm
# GOST 2.301 frame: 20 mm binding margin on the left, 5 mm elsewhere.
MARGIN_LEFT = 20 * mm
MARGIN = 5 * mm


def register_fonts() -> None:
    """Register DejaVu Sans (Cyrillic) once; reportlab embeds a subset, so text stays vector."""
    registered = pdfmetrics.getRegisteredFontNames()
    for name, filename in ((FONT, "DejaVuSans.ttf"), (FONT_BOLD, "DejaVuSans-Bold.ttf")):
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / filename)))


def sheet_size(sheet: str) -> tuple[float, float]:
    """Landscape page size in points for a format name ("A1"); unknown names fall back to A1."""
    return SHEETS.get(str(sheet).upper().strip(), SHEETS["A1"])


def new_canvas(path: Path, sheet: str, title: str) -> Canvas:
    """A deterministic canvas (no timestamps or random ids) of the given format."""
    register_fonts()
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(str(path), pagesize=sheet_size(sheet), invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("AIZoomDoc synthesized sheet")
    canvas.setAuthor("AIZoomDoc")
    return canvas


@lru_cache(maxsize=65536)
def text_width(text: str, font: str, size: float) -> float:
    """Width in points (cached: wrapping measures the same words over and over)."""
    return pdfmetrics.stringWidth(text, font, size)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap; words longer than a line are cut by characters.

    Widths are summed word by word (reportlab applies no kerning), which keeps long texts linear.
    """
    space = text_width(" ", font, size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            lines.append("")
            continue
        line: list[str] = []
        line_width = 0.0
        for word in words:
            word_width = text_width(word, font, size)
            if line and line_width + space + word_width <= width:
                line.append(word)
                line_width += space + word_width
                continue
            if line:
                lines.append(" ".join(line))
            while word_width > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], font, size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
                word_width = text_width(word, font, size)
            line, line_width = [word], word_width
        lines.append(" ".join(line))
    return lines


@dataclass(frozen=True)
class Frame:
    """The inner drawing frame of a sheet, in points (origin bottom-left as in PDF)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def draw_frame(canvas: Canvas, sheet: str) -> Frame:
    """Sheet border and format label; returns the inner frame."""
    width, height = sheet_size(sheet)
    frame = Frame(MARGIN_LEFT, MARGIN, width - MARGIN, height - MARGIN)
    canvas.setLineWidth(0.25)
    canvas.rect(0.5, 0.5, width - 1, height - 1)
    canvas.setLineWidth(1.4)
    canvas.rect(frame.x0, frame.y0, frame.width, frame.height)
    canvas.setFont(FONT, 7)
    canvas.drawRightString(frame.x1, 1.6 * mm, f"Формат {str(sheet).upper()}")
    return frame


def draw_stamp(canvas: Canvas, frame: Frame, rows: dict[str, str], title: str) -> None:
    """Title block (штамп) in the bottom-right corner, GOST form 1 proportions, small print."""
    x0, y0 = frame.x1 - STAMP_WIDTH, frame.y0
    canvas.setLineWidth(1.0)
    canvas.rect(x0, y0, STAMP_WIDTH, STAMP_HEIGHT)
    left_width = 65 * mm  # signatures grid
    canvas.line(x0 + left_width, y0, x0 + left_width, y0 + STAMP_HEIGHT)
    canvas.setLineWidth(0.3)
    row_height = 5 * mm
    for index in range(1, 11):
        canvas.line(x0, y0 + index * row_height, x0 + left_width, y0 + index * row_height)
    for offset in (7, 17, 40, 55):
        # Role names ("Проверил") span the first two columns below the header row.
        start = y0 + 5 * row_height if offset == 7 else y0
        canvas.line(x0 + offset * mm, start, x0 + offset * mm, y0 + STAMP_HEIGHT)
    canvas.setFont(FONT, 5)
    for index, label in enumerate(("Изм.", "Кол.уч", "Лист", "№ док.", "Подп.", "Дата")):
        x = x0 + (0, 7, 17, 27, 40, 55)[index] * mm + 0.8 * mm
        canvas.drawString(x, y0 + 5 * row_height + 1.5 * mm, label)
    roles = ("Разраб.", "Проверил", "ГИП", "Н.контр.")
    for index, role in enumerate(roles):
        canvas.drawString(x0 + 0.8 * mm, y0 + (3 - index) * row_height + 1.5 * mm, role)

    right_x = x0 + left_width
    right_width = STAMP_WIDTH - left_width
    canvas.setLineWidth(0.6)
    canvas.line(right_x, y0 + 40 * mm, frame.x1, y0 + 40 * mm)
    canvas.line(right_x, y0 + 15 * mm, frame.x1, y0 + 15 * mm)
    canvas.line(frame.x1 - 50 * mm, y0, frame.x1 - 50 * mm, y0 + 40 * mm)
    title_lines = wrap(title, FONT_BOLD, 8, right_width - 4 * mm)
    if len(title_lines) > 2:
        title_lines = [title_lines[0], _fit(" ".join(title_lines[1:]), FONT_BOLD, 8,
                                            right_width - 4 * mm)]
    canvas.setFont(FONT_BOLD, 8)
    title_y = y0 + (47.5 if len(title_lines) == 1 else 49.5) * mm
    for line in title_lines:
        canvas.drawCentredString(right_x + right_width / 2, title_y, line)
        title_y -= 10
    canvas.setFont(FONT, 6)
    lines = [f"{label}: {value}" for label, value in rows.items() if value]
    body_width = right_width - 50 * mm - 3 * mm
    y = y0 + 36 * mm
    for line in lines:
        for piece in wrap(line, FONT, 6, body_width)[:3]:
            if y < y0 + 16 * mm:
                break
            canvas.drawString(right_x + 1.5 * mm, y, piece)
            y -= 7.2
    canvas.setFont(FONT_BOLD, 7)
    organization = _fit(rows.get("Организация", "AIZoomDoc"), FONT_BOLD, 7, body_width)
    canvas.drawString(right_x + 1.5 * mm, y0 + 7 * mm, organization)
    canvas.setFont(FONT, 6)
    info_x = frame.x1 - 50 * mm + 1.5 * mm
    for index, label in enumerate(("Стадия", "Лист", "Листов")):
        canvas.drawString(info_x + index * 16 * mm, y0 + 35 * mm, label)
        value = rows.get(label, "")
        canvas.drawString(info_x + index * 16 * mm, y0 + 30 * mm, _fit(value, FONT, 6, 15 * mm))
    canvas.setFont(FONT_BOLD, 7)
    canvas.drawString(info_x, y0 + 7 * mm, _fit(rows.get("Блок", ""), FONT_BOLD, 7, 47 * mm))


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Text shortened with an ellipsis to fit a width."""
    if text_width(text, font, size) <= width:
        return text
    while text and text_width(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"
