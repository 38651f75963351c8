"""Helpers for the evidence tests: vector sheets drawn with reportlab, pixel probes with Pillow.

The sheets carry coloured markers at known positions, so a test can compute where a marker must
land in a rendered image and check that colours drawn outside a region never show up in it.
Pillow decodes the PNGs independently of the ImageMagick code under test.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops
from reportlab.pdfgen import canvas

from webapp.evidence import CropSource

BLACK = (0, 0, 0)
BLUE = (0, 0, 1)
GREEN = (0, 0.6, 0)


@dataclass(frozen=True)
class Marker:
    """A filled square in top-left-origin points."""

    left: float
    top: float
    size: float
    color: tuple[float, float, float] = BLACK


CROP_OFFSET = (50.0, 60.0)  # where the CropBox starts inside the larger MediaBox ("cropbox" layout)


def make_sheet(
    path: Path,
    width: float,
    height: float,
    markers: list[Marker],
    texts: list[tuple[float, float, str]] = (),
    text_color: tuple[float, float, float] = BLUE,
    layout: str = "plain",
) -> Path:
    """A one-page vector PDF that *displays* as `width`×`height` points with the given markers.

    Positions are top-left-origin display points. `layout` "cropbox" draws on a larger MediaBox and
    shows it through a CropBox; "rotated" stores the page portrait with /Rotate 90 (reportlab swaps
    the MediaBox, so raw x is display top and raw y is display left).
    """
    if layout == "rotated":
        pdf = canvas.Canvas(str(path), pagesize=(width, height))
        pdf.setPageRotation(90)

        def rect(left: float, top: float, w: float, h: float) -> tuple[float, float, float, float]:
            return top, left, h, w

        def point(left: float, top: float) -> tuple[float, float]:
            return top, left

    elif layout == "cropbox":
        ox, oy = CROP_OFFSET
        pdf = canvas.Canvas(str(path), pagesize=(width + 2 * ox, height + 2 * oy))
        pdf.setCropBox((ox, oy, ox + width, oy + height))

        def rect(left: float, top: float, w: float, h: float) -> tuple[float, float, float, float]:
            return ox + left, oy + height - top - h, w, h

        def point(left: float, top: float) -> tuple[float, float]:
            return ox + left, oy + height - top

    else:
        pdf = canvas.Canvas(str(path), pagesize=(width, height))

        def rect(left: float, top: float, w: float, h: float) -> tuple[float, float, float, float]:
            return left, height - top - h, w, h

        def point(left: float, top: float) -> tuple[float, float]:
            return left, height - top

    for marker in markers:
        pdf.setFillColorRGB(*marker.color)
        pdf.rect(*rect(marker.left, marker.top, marker.size, marker.size), stroke=0, fill=1)
    pdf.setFillColorRGB(*text_color)
    pdf.setFont("Helvetica", 10)
    for left, top, text in texts:
        pdf.drawString(*point(left, top + 10), text)
    pdf.showPage()
    pdf.save()
    return path


def make_dense_sheet(path: Path, width: float, height: float) -> Path:
    """Black small text and thin lines all over: a stand-in for a drawing sheet."""
    pdf = canvas.Canvas(str(path), pagesize=(width, height))
    pdf.setLineWidth(0.3)
    for i in range(0, 21):
        x = 20 + i * (width - 40) / 20
        pdf.line(x, 20, x, height - 20)
    pdf.setFont("Helvetica", 4)
    y = height - 30
    while y > 25:
        pdf.drawString(30, y, "Wall W-12 h=2700 mm, masonry M150, see note 4  " * 6)
        y -= 6
    pdf.showPage()
    pdf.save()
    return path


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


Range = tuple[int, int]
DARK = ((0, 90), (0, 90), (0, 90))
BLUE_PX = ((0, 120), (0, 120), (140, 255))
GREEN_PX = ((0, 90), (90, 255), (0, 90))
GRID_RED_PX = ((170, 255), (0, 90), (0, 90))


def color_mask(image: Image.Image, ranges: tuple[Range, Range, Range]) -> Image.Image:
    """An L image, 255 where every channel lies in its (low, high) range."""
    masks = [
        channel.point([255 if low <= v <= high else 0 for v in range(256)])
        for channel, (low, high) in zip(image.split(), ranges)
    ]
    return ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])


def bbox_of(image: Image.Image, ranges: tuple[Range, Range, Range]):
    """(left, top, right, bottom) of the matching pixels, right/bottom exclusive; or None."""
    return color_mask(image, ranges).getbbox()


def count_of(image: Image.Image, ranges: tuple[Range, Range, Range]) -> int:
    return color_mask(image, ranges).histogram()[255]


def pdf_source(path: Path, source_id: str = "crop-1", version: str = "v1") -> CropSource:
    return CropSource(path=path, source_id=source_id, version=version, media_type="application/pdf")
