"""Ghostscript wrapper: page measurement and the one-run render agree with the two-run form."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.evidence import BBox, RenderError
from webapp.evidence.ghostscript import Ghostscript

from .helpers import BLUE, Marker, make_dense_sheet, make_sheet


@pytest.mark.parametrize(
    "layout, size", [("plain", (600, 400)), ("cropbox", (600, 400)), ("rotated", (600, 400))]
)
def test_probe_reports_the_displayed_size(tmp_path: Path, layout, size):
    pdf = make_sheet(tmp_path / "s.pdf", *size, [Marker(10, 10, 10)], layout=layout)
    page = Ghostscript().probe(pdf)
    assert (page.width_pt, page.height_pt, page.page_count) == (*size, 1)


@pytest.mark.parametrize("layout", ["plain", "cropbox", "rotated"])
def test_one_run_render_matches_probe_then_render(tmp_path: Path, layout):
    pdf = make_sheet(
        tmp_path / "s.pdf",
        600,
        400,
        [Marker(250, 100, 60), Marker(400, 200, 50, BLUE)],
        layout=layout,
    )
    gs = Ghostscript()
    box = BBox(0.3, 0.2, 0.8, 0.7)
    fitted = gs.render_fitted(pdf, 1, box, dpi=150, max_side=400, max_pixels=10**8)
    assert (fitted.page.width_pt, fitted.page.height_pt) == (600, 400)
    assert fitted.width == 400 and fitted.height == 266  # 300×200 pt at 96 dpi (max side 400)
    assert fitted.dpi == pytest.approx(96, abs=0.01)
    separate = gs.render_region(pdf, 1, (600, 400), box, fitted.width, fitted.height)
    assert fitted.ppm == separate
    assert (gs.probes, gs.renders) == (0, 2)


def test_one_run_render_respects_the_pixel_cap(tmp_path: Path):
    pdf = make_dense_sheet(tmp_path / "a2.pdf", 1684, 1190)
    fitted = Ghostscript().render_fitted(pdf, 1, BBox(0, 0, 1, 1), 400, 100_000, 1_000_000)
    assert fitted.width * fitted.height <= 1_000_000
    assert fitted.width / fitted.height == pytest.approx(1684 / 1190, rel=0.01)


def test_missing_page_in_one_run(tmp_path: Path):
    pdf = make_sheet(tmp_path / "s.pdf", 300, 200, [Marker(10, 10, 10)])
    with pytest.raises(RenderError, match=r"has 1 page\(s\); page 2 does not exist"):
        Ghostscript().render_fitted(pdf, 2, BBox(0, 0, 1, 1), 150, 1000, 10**7)
