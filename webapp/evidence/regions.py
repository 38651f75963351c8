"""Regions of a crop the model may ask for: normalized boxes, A1…C3 sectors, quadrants.

Input comes from the model, so parsing is lenient (corners sorted, values clamped, strings accepted)
and every refusal is a `RegionError` whose message is written for the model to read and correct.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

MIN_SIDE = 0.005  # a box thinner than 0.5 % of the crop shows nothing useful
SECTOR_COLUMNS = "ABC"
SECTOR_ROWS = "123"
DPI_MIN, DPI_MAX = 72, 400


class RegionError(ValueError):
    """A region the model asked for cannot be used; the message tells the model why."""


@dataclass(frozen=True)
class BBox:
    """A box in crop-relative coordinates 0..1, origin top-left, x to the right, y down."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def as_list(self, digits: int = 4) -> list[float]:
        return [round(v, digits) for v in (self.x1, self.y1, self.x2, self.y2)]

    def __str__(self) -> str:
        return "[" + ", ".join(f"{v:.3f}" for v in (self.x1, self.y1, self.x2, self.y2)) + "]"


FULL = BBox(0.0, 0.0, 1.0, 1.0)

QUADRANTS: dict[str, BBox] = {
    "TL": BBox(0.0, 0.0, 0.55, 0.55),
    "TR": BBox(0.45, 0.0, 1.0, 0.55),
    "BL": BBox(0.0, 0.45, 0.55, 1.0),
    "BR": BBox(0.45, 0.45, 1.0, 1.0),
}

_SECTOR_RE = re.compile(r"^\s*([A-Ca-c])\s*([1-3])\s*$")


def sector_bbox(sector: str, margin: float = 0.0) -> BBox:
    """The box of sector A1…C3 (column A–C left→right, row 1–3 top→bottom) plus `margin`."""
    match = _SECTOR_RE.match(str(sector))
    if not match:
        raise RegionError(
            f"Unknown sector {str(sector)[:20]!r}: use A1…C3 (column A–C left to right, "
            "row 1–3 top to bottom)."
        )
    col = SECTOR_COLUMNS.index(match.group(1).upper())
    row = SECTOR_ROWS.index(match.group(2))
    margin = max(0.0, _number(margin, "margin"))
    return BBox(
        _clamp(col / 3 - margin),
        _clamp(row / 3 - margin),
        _clamp((col + 1) / 3 + margin),
        _clamp((row + 1) / 3 + margin),
    )


def parse_region(bbox_norm: Any = None, sector: Any = None, margin: float = 0.05) -> BBox:
    """Turn the model's `bbox_norm` or `sector` into a `BBox` (bbox_norm wins when both are given).

    `bbox_norm` may be a list/tuple of 4 numbers or numeric strings, or one string such as
    "0.1, 0.2, 0.5, 0.6"; corners are sorted and clamped to 0..1.
    """
    if bbox_norm is not None and not (isinstance(bbox_norm, str) and not bbox_norm.strip()):
        return _parse_bbox(bbox_norm)
    if sector is not None and str(sector).strip():
        return sector_bbox(str(sector), margin)
    raise RegionError(
        "No region given: pass bbox_norm [x1, y1, x2, y2] in 0..1 (top-left origin) "
        "or a sector A1…C3."
    )


def clamp_dpi(dpi: Any, default: int = 300) -> int:
    """The dpi the model asked for, clamped to 72–400 (default when absent or not a number)."""
    try:
        value = float(dpi)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(value):
        return default
    return int(round(min(DPI_MAX, max(DPI_MIN, value))))


def _parse_bbox(raw: Any) -> BBox:
    values = _four_numbers(raw)
    xs = sorted(_clamp(v) for v in (values[0], values[2]))
    ys = sorted(_clamp(v) for v in (values[1], values[3]))
    box = BBox(xs[0], ys[0], xs[1], ys[1])
    if box.width < MIN_SIDE or box.height < MIN_SIDE:
        hint = (
            " Values above 1 look like pixels or percent: divide by the image size."
            if any(abs(v) > 1 for v in values)
            else ""
        )
        raise RegionError(
            f"bbox_norm {box} is degenerate (width {box.width:.4f}, height {box.height:.4f} after "
            "clamping to 0..1): give [x1, y1, x2, y2] with x2 > x1 and y2 > y1, "
            "in 0..1 of the crop." + hint
        )
    return box


def _four_numbers(raw: Any) -> list[float]:
    items: Iterable[Any]
    if isinstance(raw, str):
        items = [part for part in re.split(r"[\s,;\[\]()]+", raw) if part]
    elif isinstance(raw, dict):
        items = [raw.get(name) for name in ("x1", "y1", "x2", "y2")]
    elif isinstance(raw, (list, tuple)):
        items = raw
    else:
        raise RegionError(
            f"bbox_norm must be 4 numbers [x1, y1, x2, y2] in 0..1, got {type(raw).__name__}."
        )
    items = list(items)
    if len(items) != 4:
        raise RegionError(
            f"bbox_norm must have exactly 4 numbers [x1, y1, x2, y2] in 0..1, got {len(items)}."
        )
    return [_number(item, "bbox_norm value") for item in items]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise RegionError(f"{what} {value!r} is not a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegionError(f"{what} {str(value)[:20]!r} is not a number.") from None
    if not math.isfinite(number):
        raise RegionError(f"{what} {str(value)[:20]!r} is not a finite number.")
    return number


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
