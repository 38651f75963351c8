"""PNG and JPEG crops: cut and scaled by ImageMagick, never upscaled, same rules as PDFs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from webapp.evidence import BBox, CropSource, Renderer

from .helpers import BLUE_PX, DARK, GRID_RED_PX, bbox_of, count_of, decode

ROI = BBox(0.4, 0.3, 0.7, 0.6)  # px 360..630 × 180..360 of a 900×600 image


def make_raster(path: Path, size=(900, 600), fmt="PNG", transparent=False) -> Path:
    """White (or transparent) image, black square inside ROI, blue squares outside it."""
    mode = "RGBA" if transparent else "RGB"
    background = (0, 0, 0, 0) if transparent else (255, 255, 255)
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((450, 225, 494, 269), fill=(0, 0, 0))
    for box in ((40, 40, 100, 100), (640, 200, 700, 260), (400, 370, 450, 420)):
        draw.rectangle(box, fill=(0, 0, 255))
    image.save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize("fmt, media_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_raster_roi_cuts_the_region_at_native_resolution(tmp_path, renderer, fmt, media_type):
    path = make_raster(tmp_path / f"crop.{fmt.lower()}", fmt=fmt)
    src = CropSource(path, "raster-1", "v1", media_type)
    image = renderer.roi(src, ROI, dpi=300)
    assert (image.width, image.height) == (270, 180)  # never upscaled beyond the source pixels
    assert image.scale == pytest.approx(1.0)
    pixels = decode(image.png)
    found = bbox_of(pixels, DARK)
    assert found is not None
    assert all(abs(a - e) <= 2 for a, e in zip(found, (90, 45, 135, 90))), found
    assert bbox_of(pixels, BLUE_PX) is None


@pytest.mark.parametrize("fmt, media_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_raster_overview_is_scaled_to_the_preview_side(tmp_path, renderer, fmt, media_type):
    path = make_raster(tmp_path / f"crop.{fmt.lower()}", size=(1600, 1000), fmt=fmt)
    image = renderer.overview(CropSource(path, "raster-2", "v1", media_type))
    assert (image.width, image.height) == (800, 500)
    assert image.scale == pytest.approx(2.0)  # > 1.5: the grid is drawn
    assert image.grid and count_of(decode(image.png), GRID_RED_PX) > 0


def test_small_raster_overview_is_untouched_and_has_no_grid(tmp_path, renderer):
    path = make_raster(tmp_path / "crop.png")
    image = renderer.overview(CropSource(path, "raster-3", "v1", "image/png"))
    assert (image.width, image.height) == (800, 533)
    assert not image.grid
    assert count_of(decode(image.png), GRID_RED_PX) == 0


def test_big_raster_gets_quadrants(tmp_path, cache):
    renderer = Renderer(cache, preview_max_side=300, zoom_max_side=300)
    path = make_raster(tmp_path / "crop.png", size=(1500, 1000))
    src = CropSource(path, "raster-4", "v1", "image/png")
    assert renderer.needs_quadrants(src)  # 1500 px vs a 300-px overview: 5×
    quads = renderer.quadrants(src)
    assert [q.kind for q in quads] == ["quadrant"] * 4
    assert all(max(q.width, q.height) == 300 for q in quads)


def test_transparent_png_is_flattened_on_white(tmp_path, renderer):
    path = make_raster(tmp_path / "alpha.png", transparent=True)
    image = renderer.roi(CropSource(path, "raster-5", "v1", "image/png"), ROI)
    pixels = decode(image.png)
    assert pixels.getpixel((2, 2)) == (255, 255, 255)
    assert (image.width, image.height) == (270, 180)
    found = bbox_of(pixels, DARK)  # the black square survives, where it was
    assert found is not None and all(abs(a - e) <= 2 for a, e in zip(found, (90, 45, 135, 90)))


def test_declared_type_does_not_override_the_content(tmp_path, renderer):
    path = make_raster(tmp_path / "crop.bin", fmt="PNG")
    image = renderer.roi(CropSource(path, "raster-6", "v1", "application/octet-stream"), ROI)
    assert (image.width, image.height) == (270, 180)
