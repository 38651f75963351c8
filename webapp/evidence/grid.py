"""The 3×3 A1…C3 grid drawn on overviews, so the model can name a sector to zoom into.

Sizes are relative to the image (line width, font size) so labels stay legible at any overview size.
Called on a Wand image inside the render pool; Wand is imported lazily after the policy is applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webapp.evidence.policy import apply_imagemagick_policy
from webapp.evidence.regions import SECTOR_COLUMNS, SECTOR_ROWS

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
GRID_COLOR = "#E0001B"  # saturated red: stands out on black-and-white drawings
LABEL_BACKGROUND = "rgba(255,255,255,0.85)"


def grid_font() -> str | None:
    """DejaVu Sans from the OS package (fonts-dejavu-core); None: ImageMagick's default font."""
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            return str(candidate)
    return None


def draw_grid(image: Any) -> None:
    """Draw the 3×3 grid and its labels onto a Wand `Image` in place."""
    apply_imagemagick_policy()
    from wand.color import Color
    from wand.drawing import Drawing

    width, height = image.width, image.height
    short_side = min(width, height)
    line_width = max(2, round(short_side / 600))
    font_size = max(14, round(short_side * 0.035))
    padding = max(3, font_size // 4)
    with Drawing() as draw:
        draw.stroke_color = Color(GRID_COLOR)
        draw.stroke_width = line_width
        draw.fill_color = Color("none")
        for i in (1, 2):
            x = round(width * i / 3)
            y = round(height * i / 3)
            draw.line((x, 0), (x, height - 1))
            draw.line((0, y), (width - 1, y))
        draw.stroke_color = Color("none")
        draw.stroke_width = 0
        font = grid_font()
        if font:
            draw.font = font
        draw.font_size = font_size
        draw.text_antialias = True
        for col_index, column in enumerate(SECTOR_COLUMNS):
            for row_index, row in enumerate(SECTOR_ROWS):
                label = f"{column}{row}"
                metrics = draw.get_font_metrics(image, label)
                left = round(width * col_index / 3) + line_width
                top = round(height * row_index / 3) + line_width
                box_w = int(metrics.text_width) + 2 * padding
                box_h = int(metrics.ascender - metrics.descender) + 2 * padding
                draw.fill_color = Color(LABEL_BACKGROUND)
                draw.rectangle(left=left, top=top, width=box_w, height=box_h)
                draw.fill_color = Color(GRID_COLOR)
                draw.text(left + padding, top + padding + int(metrics.ascender), label)
        draw(image)
