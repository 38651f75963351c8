"""Vector drawings of the demo set: a floor plan, a section and a node detail.

Drawn with reportlab in millimetres on real sheet formats, with axes, dimension lines, small-print
labels and a title block, so that overviews show the layout and only zoomed regions are legible.
Positions of selected labels are recorded so tests and the demo know where a fact can be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from webapp.drawings.sheet import (
    FONT,
    FONT_BOLD,
    draw_frame,
    draw_stamp,
    new_canvas,
    sheet_size,
    text_width,
    wrap,
)

BBox = tuple[float, float, float, float]


@dataclass
class Room:
    number: str
    name: str
    x0: float  # metres from axis 1 / axis А
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        """Clear floor area: half of each bounding wall (≈0.15 m) is deducted on every side."""
        return round((self.x1 - self.x0 - 0.3) * (self.y1 - self.y0 - 0.3), 2)

    @property
    def area_text(self) -> str:
        return f"{self.area:.2f}".replace(".", ",") + " м²"


@dataclass
class Sheet:
    """A sheet being drawn; `labels` maps keys to bbox_norm (x0, y0, x1, y1; top-left origin)."""

    canvas: Canvas
    sheet: str
    labels: dict[str, BBox] = field(default_factory=dict)

    @property
    def size(self) -> tuple[float, float]:
        return sheet_size(self.sheet)

    def text(self, x: float, y: float, value: str, size: float, *, bold: bool = False,
             anchor: str = "left", key: str | None = None) -> None:
        """Text at (x, y) in mm (baseline); `key` records its bbox for later lookup."""
        font = FONT_BOLD if bold else FONT
        width = text_width(value, font, size)
        left = x * mm - {"left": 0, "center": width / 2, "right": width}[anchor]
        self.canvas.setFont(font, size)
        self.canvas.drawString(left, y * mm, value)
        if key:
            page_width, page_height = self.size
            top, bottom = y * mm + size * 0.95, y * mm - size * 0.25
            self.labels[key] = (
                round(left / page_width, 4), round(1 - top / page_height, 4),
                round((left + width) / page_width, 4), round(1 - bottom / page_height, 4),
            )

    def line(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.25) -> None:
        self.canvas.setLineWidth(width)
        self.canvas.line(x0 * mm, y0 * mm, x1 * mm, y1 * mm)

    def rect(self, x: float, y: float, w: float, h: float, width: float = 0.25,
             fill: float | None = None, stroke: bool = True) -> None:
        self.canvas.setLineWidth(width)
        if fill is not None:
            self.canvas.setFillGray(fill)
        self.canvas.rect(x * mm, y * mm, w * mm, h * mm, stroke=int(stroke),
                         fill=int(fill is not None))
        self.canvas.setFillGray(0)

    def hatch(self, x: float, y: float, w: float, h: float, step: float = 2.0,
              angle: float = 45) -> None:
        """Diagonal hatching clipped to a rectangle (section of masonry or concrete)."""
        canvas = self.canvas
        canvas.saveState()
        path = canvas.beginPath()
        path.rect(x * mm, y * mm, w * mm, h * mm)
        canvas.clipPath(path, stroke=0, fill=0)
        canvas.setLineWidth(0.18)
        slope = math.tan(math.radians(angle))
        offset = -h / slope if slope else 0
        position = x + offset - h
        while position < x + w + h:
            canvas.line(position * mm, y * mm, (position + h / slope) * mm, (y + h) * mm)
            position += step
        canvas.restoreState()

    def axis_bubble(self, x: float, y: float, label: str, radius: float = 5.0) -> None:
        self.canvas.setLineWidth(0.35)
        self.canvas.circle(x * mm, y * mm, radius * mm)
        self.text(x, y - 1.3, label, 10, anchor="center")

    def dash_dot(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.canvas.saveState()
        self.canvas.setDash([12, 2, 1.5, 2])
        self.line(x0, y0, x1, y1, 0.25)
        self.canvas.restoreState()

    def dimension_chain(self, points: list[float], fixed: float, *, vertical: bool = False,
                        labels: list[str] | None = None, size: float = 6.0) -> None:
        """A dimension line with 45° ticks through `points` (mm) at `fixed` (mm)."""
        first, last = points[0], points[-1]
        if vertical:
            self.line(fixed, first - 2, fixed, last + 2)
        else:
            self.line(first - 2, fixed, last + 2, fixed)
        for point in points:
            if vertical:
                self.line(fixed - 1.2, point - 1.2, fixed + 1.2, point + 1.2, 0.5)
            else:
                self.line(point - 1.2, fixed - 1.2, point + 1.2, fixed + 1.2, 0.5)
        for index in range(len(points) - 1):
            middle = (points[index] + points[index + 1]) / 2
            value = labels[index] if labels else ""
            if vertical:
                self.canvas.saveState()
                self.canvas.translate((fixed - 1.0) * mm, middle * mm)
                self.canvas.rotate(90)
                self.canvas.setFont(FONT, size)
                self.canvas.drawCentredString(0, 0, value)
                self.canvas.restoreState()
            else:
                self.text(middle, fixed + 1.0, value, size, anchor="center")

    def paragraph_lines(self, x: float, y: float, width: float, text: str, size: float,
                        leading: float) -> float:
        """Wrapped text from (x, y) down; returns the y below it (mm)."""
        for line in wrap(text, FONT, size, width * mm):
            self.text(x, y, line, size)
            y -= leading
        return y


def _small_table(sheet: Sheet, x: float, y: float, widths: list[float], rows: list[list[str]],
                 size: float = 5.5, row_height: float = 4.2, keys: dict[tuple[int, int], str]
                 | None = None) -> float:
    """A grid table from its top-left corner (mm); returns its bottom y."""
    keys = keys or {}
    for row_index, row in enumerate(rows):
        top = y - row_index * row_height
        cell_x = x
        for column, value in enumerate(row):
            sheet.rect(cell_x, top - row_height, widths[column], row_height,
                       0.5 if row_index == 0 else 0.2)
            sheet.text(cell_x + 0.8, top - row_height + 1.2, value, size, bold=row_index == 0,
                       key=keys.get((row_index, column)))
            cell_x += widths[column]
    return y - len(rows) * row_height


# ------------------------------------------------------------------------------------------
# Floor plan
# ------------------------------------------------------------------------------------------
AXES_X = [("1", 0.0), ("2", 6.0), ("3", 12.0), ("4", 15.0), ("5", 21.0), ("6", 27.0)]
AXES_Y = [("А", 0.0), ("Б", 6.0), ("В", 8.4), ("Г", 13.8)]
ROOMS = [
    Room("101", "Офис", 0.0, 0.0, 6.0, 6.0),
    Room("102", "Офис", 6.0, 0.0, 12.0, 6.0),
    Room("ЛК-1", "Лестничная клетка", 12.0, 0.0, 15.0, 6.0),
    Room("103", "Офис", 15.0, 0.0, 21.0, 6.0),
    Room("104", "Офис", 21.0, 0.0, 27.0, 6.0),
    Room("105", "Коридор", 0.0, 6.0, 27.0, 8.4),
    Room("106", "Санузел", 0.0, 8.4, 3.0, 13.8),
    Room("107", "Кладовая", 3.0, 8.4, 6.0, 13.8),
    Room("108", "Переговорная", 6.0, 8.4, 12.0, 13.8),
    Room("109", "Лифтовой холл", 12.0, 8.4, 15.0, 13.8),
    Room("110", "Кухня", 15.0, 8.4, 21.0, 13.8),
    Room("111", "Серверная", 21.0, 8.4, 27.0, 13.8),
]
WALL_TYPES = [
    ("С-1", "Наружная стена: газобетон D500 300 мм + минвата 100 мм + НФС", 0.40),
    ("ВС-1", "Внутренняя несущая стена: кирпич М150 на р-ре М100, 250 мм", 0.25),
    ("П-1", "Перегородка: газобетон D500 100 мм (В2)", 0.12),
    ("П-2", "Перегородка санузла: кирпич 120 мм с гидроизоляцией (В21)", 0.12),
]
PLAN_SCALE = 20.0  # mm on paper per metre (1:50)
PLAN_ORIGIN = (85.0, 150.0)  # axis 1 / axis А on the sheet, mm


def _plan_xy(x: float, y: float) -> tuple[float, float]:
    return PLAN_ORIGIN[0] + x * PLAN_SCALE, PLAN_ORIGIN[1] + y * PLAN_SCALE


def _wall(sheet: Sheet, x0: float, y0: float, x1: float, y1: float, thickness: float,
          hatch: bool = True) -> None:
    """A straight wall between two axis points (metres), drawn as a hatched strip."""
    (ax, ay), (bx, by) = _plan_xy(x0, y0), _plan_xy(x1, y1)
    half = thickness * PLAN_SCALE / 2
    if ay == by:
        left, bottom = min(ax, bx) - half, ay - half
        width, height = abs(bx - ax) + 2 * half, 2 * half
    else:
        left, bottom = ax - half, min(ay, by) - half
        width, height = 2 * half, abs(by - ay) + 2 * half
    sheet.rect(left, bottom, width, height, 0.5, fill=1)
    if hatch:
        sheet.hatch(left, bottom, width, height, step=1.6)


def _opening(sheet: Sheet, x: float, y: float, length: float, thickness: float, *,
             vertical: bool, door: bool, mark: str) -> None:
    """Door (leaf and swing) or window (three lines) cut into a wall; centre at (x, y) metres."""
    cx, cy = _plan_xy(x, y)
    half_len, half_thk = length * PLAN_SCALE / 2, thickness * PLAN_SCALE / 2 + 0.3
    if vertical:
        sheet.rect(cx - half_thk, cy - half_len, 2 * half_thk, 2 * half_len, 0.0, fill=1,
                   stroke=False)
    else:
        sheet.rect(cx - half_len, cy - half_thk, 2 * half_len, 2 * half_thk, 0.0, fill=1,
                   stroke=False)
    canvas = sheet.canvas
    canvas.setLineWidth(0.3)
    if door:
        leaf = 2 * half_len
        if vertical:
            sheet.line(cx, cy - half_len, cx + leaf, cy - half_len, 0.4)
            canvas.arc((cx - leaf) * mm, (cy - half_len - leaf) * mm, (cx + leaf) * mm,
                       (cy - half_len + leaf) * mm, 0, 90)
        else:
            sheet.line(cx - half_len, cy, cx - half_len, cy - leaf, 0.4)
            canvas.arc((cx - half_len - leaf) * mm, (cy - leaf) * mm, (cx - half_len + leaf) * mm,
                       (cy + leaf) * mm, 270, 90)
        sheet.text(cx + (2.5 if vertical else 0), cy + (0 if vertical else 2.2), mark, 5,
                   anchor="left" if vertical else "center")
    else:
        for offset in (-half_thk + 0.3, 0, half_thk - 0.3):
            if vertical:
                sheet.line(cx + offset, cy - half_len, cx + offset, cy + half_len, 0.25)
            else:
                sheet.line(cx - half_len, cy + offset, cx + half_len, cy + offset, 0.25)
        if vertical:
            sheet.text(cx - half_thk - 1.5, cy, mark, 5, anchor="right")
        else:
            sheet.text(cx, cy - half_thk - 3.2, mark, 5, anchor="center")


def _wall_tag(sheet: Sheet, x: float, y: float, code: str) -> None:
    """Wall type code in a small box with a leader, placed at (x, y) metres."""
    cx, cy = _plan_xy(x, y)
    width = text_width(code, FONT, 5) / mm + 2.0
    sheet.line(cx, cy, cx + 3, cy + 3, 0.2)
    sheet.rect(cx + 3, cy + 3, width, 3.4, 0.3, fill=1)
    sheet.text(cx + 4, cy + 4, code, 5)


def draw_floor_plan(path: Path, stamp_rows: dict[str, str], title: str) -> dict[str, BBox]:
    """The demo floor plan on A1 (1:50); returns recorded label positions (bbox_norm)."""
    canvas = new_canvas(path, "A1", title)
    sheet = Sheet(canvas, "A1")
    frame = draw_frame(canvas, "A1")
    sheet.text(85, 545, "План 1-го этажа на отм. 0,000. М1:50", 16, bold=True, key="title")

    x_first, x_last = _plan_xy(AXES_X[0][1], 0)[0], _plan_xy(AXES_X[-1][1], 0)[0]
    y_first, y_last = _plan_xy(0, AXES_Y[0][1])[1], _plan_xy(0, AXES_Y[-1][1])[1]
    for label, x in AXES_X:
        px = _plan_xy(x, 0)[0]
        sheet.dash_dot(px, y_first - 30, px, y_last + 48)
        sheet.axis_bubble(px, y_first - 35, label)
        sheet.axis_bubble(px, y_last + 53, label)
    for label, y in AXES_Y:
        py = _plan_xy(0, y)[1]
        sheet.dash_dot(x_first - 48, py, x_last + 30, py)
        sheet.axis_bubble(x_first - 53, py, label)
        sheet.axis_bubble(x_last + 35, py, label)

    xs = [_plan_xy(x, 0)[0] for _, x in AXES_X]
    ys = [_plan_xy(0, y)[1] for _, y in AXES_Y]
    spans_x = [f"{round((b - a) * 1000)}" for (_, a), (_, b) in zip(AXES_X, AXES_X[1:])]
    spans_y = [f"{round((b - a) * 1000)}" for (_, a), (_, b) in zip(AXES_Y, AXES_Y[1:])]
    sheet.dimension_chain(xs, y_last + 22, labels=spans_x)
    sheet.dimension_chain([xs[0], xs[-1]], y_last + 32, labels=["27000"])
    sheet.dimension_chain(xs, y_first - 20, labels=spans_x)
    sheet.dimension_chain(ys, x_first - 22, vertical=True, labels=spans_y)
    sheet.dimension_chain([ys[0], ys[-1]], x_first - 32, vertical=True, labels=["13800"])

    exterior, bearing, partition = 0.40, 0.25, 0.12
    for y in (0.0, 13.8):
        _wall(sheet, 0, y, 27, y, exterior)
    for x in (0.0, 27.0):
        _wall(sheet, x, 0, x, 13.8, exterior)
    for y in (6.0, 8.4):
        _wall(sheet, 0, y, 27, y, bearing)
    for x in (6.0, 12.0, 15.0, 21.0):
        _wall(sheet, x, 0, x, 6.0, bearing)
        _wall(sheet, x, 8.4, x, 13.8, bearing)
    _wall(sheet, 3.0, 8.4, 3.0, 13.8, partition, hatch=False)

    for number, x in (("Д1", 3.0), ("Д1", 9.0), ("Д2", 13.5), ("Д1", 18.0), ("Д1", 24.0)):
        _opening(sheet, x, 6.0, 0.9, bearing, vertical=False, door=True, mark=number)
    for number, x in (("Д3", 1.5), ("Д3", 4.5), ("Д1", 9.0), ("Д2", 13.5), ("Д1", 18.0),
                      ("Д1", 24.0)):
        _opening(sheet, x, 8.4, 0.9, bearing, vertical=False, door=True, mark=number)
    for x in (3.0, 9.0, 18.0, 24.0):
        _opening(sheet, x, 0.0, 1.8, exterior, vertical=False, door=False, mark="ОК-1")
        _opening(sheet, x, 13.8, 1.8, exterior, vertical=False, door=False, mark="ОК-1")
    _opening(sheet, 27.0, 7.2, 1.2, exterior, vertical=True, door=False, mark="ОК-2")
    _opening(sheet, 0.0, 7.2, 1.5, exterior, vertical=True, door=True, mark="ДН-1")

    for x, y, code in ((1.2, 0.0, "С-1"), (27.0, 2.0, "С-1"), (6.0, 2.5, "ВС-1"),
                       (15.0, 11.5, "ВС-1"), (3.0, 12.0, "П-1"), (10.5, 6.0, "ВС-1"),
                       (1.0, 13.8, "С-1")):
        _wall_tag(sheet, x, y, code)
    for x in (3.0, 9.0, 18.0, 24.0):
        lx, ly = _plan_xy(x, 6.0)
        sheet.text(lx + 7, ly - 5.5, "В3-14", 4.5)

    for room in ROOMS:
        cx, cy = _plan_xy((room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2)
        key = f"room:{room.number}"
        sheet.text(cx, cy + 2.5, f"{room.name} {room.number}", 6.5, anchor="center",
                   key=f"{key}:name")
        sheet.text(cx, cy - 2.2, room.area_text, 5, anchor="center", key=f"{key}:area")
        area_box = sheet.labels[f"{key}:area"]
        sheet.line(area_box[0] * sheet.size[0] / mm, cy - 2.9, area_box[2] * sheet.size[0] / mm,
                   cy - 2.9, 0.2)
    sheet.text(_plan_xy(13.5, 3.0)[0], _plan_xy(13.5, 3.0)[1] - 7, "i=1:2, 2x9 ступ.", 4.5,
               anchor="center")

    _plan_side_panel(sheet)
    _section_mark(sheet)
    draw_stamp(canvas, frame, stamp_rows, title)
    canvas.showPage()
    canvas.save()
    return sheet.labels


def _section_mark(sheet: Sheet) -> None:
    """Cut line 1-1 through axis 4.5 (metres) with arrows and labels."""
    x = _plan_xy(16.5, 0)[0]
    y_bottom, y_top = _plan_xy(0, -1.8)[1], _plan_xy(0, 15.6)[1]
    sheet.line(x, y_bottom, x, y_bottom + 8, 1.2)
    sheet.line(x, y_top - 8, x, y_top, 1.2)
    for y in (y_bottom, y_top):
        sheet.line(x, y, x - 6, y, 0.6)
        sheet.text(x - 8, y - 1.5, "1", 9, bold=True, anchor="right")


def _plan_side_panel(sheet: Sheet) -> None:
    """Room schedule, wall-type legend and notes in small print right of the plan."""
    x = 690.0
    sheet.text(x, 560, "Экспликация помещений", 8, bold=True)
    rows = [["№", "Наименование", "Площадь, м²", "Кат."]]
    for room in ROOMS:
        category = "В4" if room.name in ("Кладовая", "Серверная") else "—"
        rows.append([room.number, room.name, room.area_text.replace(" м²", ""), category])
    total = sum(room.area for room in ROOMS)
    rows.append(["", "Итого", f"{total:.2f}".replace(".", ","), ""])
    bottom = _small_table(sheet, x, 556, [12, 62, 26, 40], rows)

    sheet.text(x, bottom - 10, "Условные обозначения", 8, bold=True)
    y = bottom - 16
    for code, description, thickness in WALL_TYPES:
        sheet.rect(x, y - 1, 14, 3.2, 0.4, fill=1)
        if thickness >= 0.25:
            sheet.hatch(x, y - 1, 14, 3.2, step=1.2)
        sheet.text(x + 17, y, f"{code} — {description}", 5)
        y -= 7
    sheet.text(x, y - 6, "Примечания", 8, bold=True)
    notes = [
        "1. За отметку 0,000 принят уровень чистого пола 1-го этажа, что соответствует "
        "абсолютной отметке 148,250.",
        "2. Перемычки над дверными проемами в стенах ВС-1 — марки В3-14, см. спецификацию "
        "перемычек.",
        "3. Перегородки П-2 в санузлах выполнять с гидроизоляцией на высоту 200 мм от пола.",
        "4. Двери Д2 в лестничную клетку — противопожарные EI 30 с доводчиком.",
        "5. Высота помещений до низа перекрытия — 3,00 м.",
        "6. Площади помещений указаны по внутреннему обмеру.",
    ]
    y -= 12
    for note in notes:
        y = sheet.paragraph_lines(x, y, 140, note, 5.5, 2.8) - 1.0


# ------------------------------------------------------------------------------------------
# Section 1-1
# ------------------------------------------------------------------------------------------
LEVELS = [("0,000", 0.0), ("+3,300", 3.3), ("+6,600", 6.6), ("+9,900", 9.9)]


def draw_section(path: Path, stamp_rows: dict[str, str], title: str) -> dict[str, BBox]:
    """Section 1-1 on A2 (1:50): floors, slabs, level marks, axes А–Г."""
    canvas = new_canvas(path, "A2", title)
    sheet = Sheet(canvas, "A2")
    frame = draw_frame(canvas, "A2")
    sheet.text(60, 395, "Разрез 1-1. М1:50", 14, bold=True, key="title")
    scale, origin_x, origin_y = 20.0, 90.0, 100.0

    def point(x: float, y: float) -> tuple[float, float]:
        return origin_x + x * scale, origin_y + y * scale

    for label, x in AXES_Y:
        px = point(x, 0)[0]
        sheet.dash_dot(px, origin_y - 25, px, point(0, 11.2)[1])
        sheet.axis_bubble(px, origin_y - 30, label)
    sheet.dimension_chain([point(x, 0)[0] for _, x in AXES_Y], origin_y - 14,
                          labels=["6000", "2400", "5400"])
    left, right = point(0, 0)[0], point(13.8, 0)[0]
    for level_name, level in LEVELS:
        y = point(0, level)[1]
        thickness = 0.22 * scale
        sheet.rect(left - 4, y - thickness, right - left + 8, thickness, 0.5, fill=1)
        sheet.hatch(left - 4, y - thickness, right - left + 8, thickness, step=1.4, angle=60)
        sheet.line(right + 10, y, right + 30, y, 0.3)
        sheet.line(right + 10, y, right + 12, y + 2, 0.3)
        sheet.line(right + 12, y + 2, right + 8, y + 2, 0.3)
        sheet.text(right + 14, y + 1, level_name, 6, key=f"level:{level_name}")
    for x in (0.0, 13.8):
        px = point(x, 0)[0]
        sheet.rect(px - 4, origin_y, 8, 10.5 * scale, 0.5, fill=1)
        sheet.hatch(px - 4, origin_y, 8, 10.5 * scale, step=1.6)
    for x in (6.0, 8.4):
        px = point(x, 0)[0]
        for level in (0.0, 3.3, 6.6):
            sheet.rect(px - 2.5, point(0, level)[1], 5, 3.08 * scale, 0.4, fill=1)
    sheet.dimension_chain([point(0, level)[1] for _, level in LEVELS], left - 20, vertical=True,
                          labels=["3300", "3300", "3300"])
    y = 380.0
    x = 400.0
    sheet.text(x, y, "Состав перекрытия П1 (снизу вверх)", 7, bold=True)
    for line in ("1. Ж/б плита 220 мм (бетон В25, F150)", "2. Звукоизоляция 20 мм",
                 "3. Стяжка ЦПР М150 армированная, 50 мм", "4. Покрытие пола по ведомости"):
        y -= 3.5
        sheet.text(x, y, line, 5.5)
    draw_stamp(canvas, frame, stamp_rows, title)
    canvas.showPage()
    canvas.save()
    return sheet.labels


# ------------------------------------------------------------------------------------------
# Node detail
# ------------------------------------------------------------------------------------------
NODE_LAYERS = [
    ("1", "Газобетонный блок D500 В3,5 на клею", 300),
    ("2", "Минераловатная плита λ=0,038, ρ=110 кг/м³", 100),
    ("3", "Ветрозащитная мембрана", 1),
    ("4", "Воздушный зазор", 40),
    ("5", "Фиброцементная панель на подсистеме НФС", 12),
]


def draw_node(path: Path, stamp_rows: dict[str, str], title: str) -> dict[str, BBox]:
    """Node 1 on A2 (1:5): exterior wall layers on a slab edge with numbered callouts."""
    canvas = new_canvas(path, "A2", title)
    sheet = Sheet(canvas, "A2")
    frame = draw_frame(canvas, "A2")
    sheet.text(60, 395, "Узел 1. Опирание наружной стены С-1 на перекрытие. М1:5", 14, bold=True,
               key="title")
    scale, x, base = 0.2, 110.0, 110.0  # mm of paper per mm of construction (1:5)
    slab_height = 220 * scale
    sheet.rect(x - 60, base, 60 + 300 * scale, slab_height, 0.6, fill=1)
    sheet.hatch(x - 60, base, 60 + 300 * scale, slab_height, step=2.2, angle=60)
    callouts = []
    layer_x = x
    for number, name, thickness in NODE_LAYERS:
        width = max(thickness * scale, 0.8)
        sheet.rect(layer_x, base + slab_height, width, 180, 0.4, fill=1)
        if number == "1":
            sheet.hatch(layer_x, base + slab_height, width, 180, step=3.0)
        if number == "2":
            sheet.canvas.saveState()
            sheet.canvas.setDash([1, 1.5])
            for offset in range(4, 180, 6):
                sheet.line(layer_x, base + slab_height + offset, layer_x + width,
                           base + slab_height + offset + 3, 0.2)
            sheet.canvas.restoreState()
        callouts.append((number, name, thickness, layer_x + width / 2))
        layer_x += width
    for index, (number, name, thickness, cx) in enumerate(callouts):
        tip_y = base + slab_height + 150 - index * 12
        label_x, label_y = 260.0, 330.0 - index * 14
        sheet.line(cx, tip_y, label_x - 6, label_y + 1.5, 0.25)
        sheet.canvas.circle((label_x - 3) * mm, (label_y + 1.5) * mm, 3 * mm)
        sheet.text(label_x - 3, label_y, number, 7, anchor="center")
        sheet.text(label_x + 2, label_y, f"{name} — {thickness} мм", 6, key=f"layer:{number}")
    total = sum(thickness for _, _, thickness in NODE_LAYERS)
    sheet.dimension_chain([x, layer_x], base - 12, labels=[str(total)])
    sheet.text(x - 60, base - 6, "Плита перекрытия 220 мм", 6)
    sheet.text(260, 240, "Анкер крепления кронштейна НФС: 10x100 мм, шаг 600 мм", 6,
               key="anchor")
    sheet.text(260, 232, "Перемычка над проемом — см. В3-14", 6)
    draw_stamp(canvas, frame, stamp_rows, title)
    canvas.showPage()
    canvas.save()
    return sheet.labels
