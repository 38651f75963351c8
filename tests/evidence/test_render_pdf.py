"""PDF crops through real Ghostscript + ImageMagick: ROI placement, quadrants, grid, pixel cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.evidence import QUADRANTS, BBox, Renderer, parse_region
from webapp.evidence.pngmeta import read_meta

from .helpers import (
    BLUE,
    BLUE_PX,
    DARK,
    GREEN,
    GREEN_PX,
    GRID_RED_PX,
    Marker,
    bbox_of,
    count_of,
    decode,
    make_dense_sheet,
    make_sheet,
    pdf_source,
)

SHEET_W, SHEET_H = 600.0, 400.0
ROI = BBox(0.4, 0.3, 0.7, 0.6)  # x 240..420 pt, y 120..240 pt
INSIDE = Marker(300, 150, 30)  # black, fully inside the ROI
EDGE = Marker(410, 180, 20, GREEN)  # straddles the ROI's right edge (x = 420 pt)
OUTSIDE = [
    Marker(50, 50, 40, BLUE),
    Marker(500, 300, 40, BLUE),
    Marker(428, 130, 30, BLUE),  # just right of the ROI
    Marker(250, 247, 20, BLUE),  # just below the ROI
]
OUTSIDE_TEXT = [(20, 330, "OUTSIDE THE REGION"), (440, 20, "ALSO OUTSIDE")]


def to_pixels(left_pt, top_pt, right_pt, bottom_pt, box: BBox, width: int, height: int):
    """Where a display-point rectangle must land in an image of `box` that is width×height."""
    x0, y0 = box.x1 * SHEET_W, box.y1 * SHEET_H
    sx = width / (box.width * SHEET_W)
    sy = height / (box.height * SHEET_H)
    return ((left_pt - x0) * sx, (top_pt - y0) * sy, (right_pt - x0) * sx, (bottom_pt - y0) * sy)


def assert_close(actual, expected, tolerance=2.0):
    assert actual is not None
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected)), (actual, expected)


@pytest.mark.parametrize("layout", ["plain", "cropbox", "rotated"])
def test_roi_shows_exactly_the_requested_region(tmp_path: Path, renderer: Renderer, layout):
    pdf = make_sheet(
        tmp_path / "sheet.pdf",
        SHEET_W,
        SHEET_H,
        [INSIDE, EDGE, *OUTSIDE],
        OUTSIDE_TEXT,
        BLUE,
        layout,
    )
    image = renderer.roi(pdf_source(pdf), ROI, dpi=300)

    assert (image.width, image.height) == (750, 500)  # 180×120 pt at 300 dpi
    assert image.dpi == pytest.approx(300)
    pixels = decode(image.png)
    assert pixels.size == (750, 500)
    expected = to_pixels(300, 150, 330, 180, ROI, 750, 500)  # (250, 125, 375, 250)
    assert_close(bbox_of(pixels, DARK), expected)
    # The edge marker is cut by the right border of the image, exactly at the region's edge.
    edge = bbox_of(pixels, GREEN_PX)
    assert_close(edge, to_pixels(410, 180, 420, 200, ROI, 750, 500))
    assert edge[2] == 750
    # Nothing drawn outside the region (markers, text) shows up.
    assert bbox_of(pixels, BLUE_PX) is None


def test_roi_from_a_sector(tmp_path: Path, renderer: Renderer):
    marker = Marker(SHEET_W / 2 - 10, SHEET_H / 2 - 10, 20)  # centre of sector B2
    pdf = make_sheet(tmp_path / "s.pdf", SHEET_W, SHEET_H, [marker, Marker(20, 20, 30, BLUE)])
    region = parse_region(sector="b2", margin=0.05)
    image = renderer.roi(pdf_source(pdf), region, dpi=150)
    pixels = decode(image.png)
    expected = to_pixels(290, 190, 310, 210, region, image.width, image.height)
    assert_close(bbox_of(pixels, DARK), expected)
    assert bbox_of(pixels, BLUE_PX) is None
    assert image.bbox_norm == region


def test_quadrants_overlap_as_specified(tmp_path: Path, cache):
    width, height = 1000.0, 700.0  # 150 dpi: 2083 px wide, 5.2× the 400-px overview
    shared_top = Marker(480, 120, 40)  # x 0.48–0.52: in TL and TR only
    centre = Marker(480, 330, 40)  # x 0.48–0.52, y 0.47–0.53: in all four
    only_tl = Marker(100, 100, 40, BLUE)  # x < 0.45, y < 0.45
    pdf = make_sheet(tmp_path / "big.pdf", width, height, [shared_top, centre, only_tl])
    renderer = Renderer(cache, preview_max_side=400, zoom_max_side=400)
    src = pdf_source(pdf)

    assert renderer.needs_quadrants(src)
    quads = renderer.quadrants(src)
    assert [q.bbox_norm for q in quads] == list(QUADRANTS.values())
    assert all(q.kind == "quadrant" and max(q.width, q.height) <= 400 for q in quads)
    assert len({(q.width, q.height) for q in quads}) == 1  # equal boxes, equal sizes

    def marker_in_page_coords(quad, marker):
        """The marker found in `quad`, mapped back to display points of the sheet."""
        found = bbox_of(decode(quad.png), DARK if marker.color == (0, 0, 0) else BLUE_PX)
        if found is None:
            return None
        box = quad.bbox_norm
        sx, sy = box.width * width / quad.width, box.height * height / quad.height
        return (
            box.x1 * width + found[0] * sx,
            box.y1 * height + found[1] * sy,
            box.x1 * width + found[2] * sx,
            box.y1 * height + found[3] * sy,
        )

    tl, tr, bl, br = quads
    pt_per_px = 0.55 * width / tl.width
    # Dark pixels of TL/TR/BL/BR agree on where the overlapping markers are on the sheet.
    tl_dark = marker_in_page_coords(tl, shared_top)
    tr_dark = marker_in_page_coords(tr, shared_top)
    assert_close(tl_dark, (480, 120, 520, 370), tolerance=2 * pt_per_px)  # both markers
    assert_close(tr_dark, tl_dark, tolerance=2 * pt_per_px)
    for quad in (bl, br):
        assert_close(marker_in_page_coords(quad, centre), (480, 330, 520, 370), 2 * pt_per_px)
    # the blue marker (a 40-pt square at 100, 100) is where it is on the sheet, in TL only
    assert_close(marker_in_page_coords(tl, only_tl), (100, 100, 140, 140), 2 * pt_per_px)
    assert all(marker_in_page_coords(q, only_tl) is None for q in (tr, bl, br))


def test_no_quadrants_for_a_small_crop(tmp_path: Path, renderer: Renderer):
    pdf = make_sheet(tmp_path / "small.pdf", 300, 200, [Marker(10, 10, 10)])
    assert not renderer.needs_quadrants(pdf_source(pdf))
    assert renderer.quadrants(pdf_source(pdf)) == []


def test_grid_only_on_overviews_that_hide_detail(tmp_path: Path, cache):
    renderer = Renderer(cache, preview_max_side=600, zoom_max_side=600)
    small = make_dense_sheet(tmp_path / "small.pdf", 280, 200)  # 583 px at 150 dpi: fits
    big = make_dense_sheet(tmp_path / "big.pdf", 1200, 850)  # 2500 px at 150 dpi: 4.2×

    plain = renderer.overview(pdf_source(small, "small"))
    assert not plain.grid and plain.scale == pytest.approx(1.0)
    assert count_of(decode(plain.png), GRID_RED_PX) == 0

    gridded = renderer.overview(pdf_source(big, "big"))
    assert gridded.grid and gridded.width == 600
    pixels = decode(gridded.png)
    # Red grid lines run down the image at 1/3 and 2/3 of its width, and across at 1/3 and 2/3.
    for x in (round(gridded.width / 3), round(2 * gridded.width / 3)):
        column = pixels.crop((x - 2, 0, x + 3, gridded.height))
        assert count_of(column, GRID_RED_PX) > 0.8 * gridded.height
    for y in (round(gridded.height / 3), round(2 * gridded.height / 3)):
        row = pixels.crop((0, y - 2, gridded.width, y + 3))
        assert count_of(row, GRID_RED_PX) > 0.8 * gridded.width
    # Labels are drawn (red glyph pixels) in the top-left corner of every cell.
    for col in range(3):
        for row in range(3):
            left, top = col * gridded.width // 3 + 4, row * gridded.height // 3 + 4
            corner = pixels.crop((left, top, left + 40, top + 30))
            assert count_of(corner, GRID_RED_PX) > 20
    assert "A1…C3" in gridded.caption("AB12-CD34-EF5")
    assert read_meta(gridded.png)["grid"] is True


def test_pixel_cap_lowers_the_dpi(tmp_path: Path, cache):
    renderer = Renderer(cache, zoom_max_side=10_000, max_pixels=250_000)
    pdf = make_dense_sheet(tmp_path / "a3.pdf", 1190, 842)
    image = renderer.roi(pdf_source(pdf), BBox(0, 0, 1, 1), dpi=300)
    assert image.width * image.height <= 250_000
    assert image.dpi < 300 and image.scale > 1
    assert decode(image.png).size == (image.width, image.height)
    assert image.width / image.height == pytest.approx(1190 / 842, rel=0.01)


def test_max_side_lowers_the_dpi(tmp_path: Path, renderer: Renderer):
    pdf = make_dense_sheet(tmp_path / "a3.pdf", 1190, 842)
    image = renderer.roi(pdf_source(pdf), BBox(0, 0, 0.5, 0.5), dpi=400)
    assert image.width == 1200  # zoom_max_side of the fixture
    assert image.dpi == pytest.approx(1200 / (595 / 72), rel=0.01)


def test_overview_never_exceeds_the_preview_side(tmp_path: Path, renderer: Renderer):
    pdf = make_dense_sheet(tmp_path / "tall.pdf", 800, 2000)
    image = renderer.overview(pdf_source(pdf))
    assert image.height == 800 and image.width == 320
    assert image.kind == "overview" and image.bbox_norm == BBox(0, 0, 1, 1)


def test_second_request_is_served_from_the_cache(tmp_path: Path, renderer: Renderer):
    pdf = make_sheet(tmp_path / "s.pdf", SHEET_W, SHEET_H, [INSIDE])
    first = renderer.roi(pdf_source(pdf), ROI)
    second = renderer.roi(pdf_source(pdf), ROI)
    assert not first.from_cache and second.from_cache
    assert second.png == first.png
    assert (second.width, second.height, second.dpi, second.scale) == (
        first.width,
        first.height,
        pytest.approx(first.dpi, abs=0.01),
        pytest.approx(first.scale, abs=0.001),
    )
    assert renderer.ghostscript.renders == 1
    # A new version of the crop is a different image.
    third = renderer.roi(pdf_source(pdf, version="v2"), ROI)
    assert not third.from_cache and third.cache_key != first.cache_key


def test_caption_names_block_kind_bbox_and_scale(tmp_path: Path, renderer: Renderer):
    pdf = make_sheet(tmp_path / "s.pdf", SHEET_W, SHEET_H, [INSIDE])
    caption = renderer.roi(pdf_source(pdf), ROI, dpi=300).caption("AB12-CD34-EF5")
    assert "AB12-CD34-EF5" in caption and "roi" in caption
    assert "[0.400, 0.300, 0.700, 0.600]" in caption and "scale 1.00" in caption


def test_a_new_process_serves_overview_and_quadrants_without_ghostscript(tmp_path: Path, cache):
    pdf = make_dense_sheet(tmp_path / "big.pdf", 1200, 850)
    first = Renderer(cache, preview_max_side=300, zoom_max_side=300)
    made = [first.overview(pdf_source(pdf)), *first.quadrants(pdf_source(pdf))]
    assert len(made) == 5 and first.ghostscript.renders == 5
    assert first.ghostscript.probes == 0  # the overview render measured the page

    second = Renderer(cache, preview_max_side=300, zoom_max_side=300)  # e.g. another worker
    served = [second.overview(pdf_source(pdf)), *second.quadrants(pdf_source(pdf))]
    assert all(image.from_cache for image in served)
    assert [image.png for image in served] == [image.png for image in made]
    assert second.ghostscript.probes == 0 and second.ghostscript.renders == 0
    assert served[0].scale == pytest.approx(made[0].scale, abs=1e-3) and served[0].grid
