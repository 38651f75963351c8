"""Failures become RenderError with a message fit for users and the model (no server paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.evidence import BBox, CropSource, Renderer, RenderError
from webapp.evidence.ghostscript import Ghostscript, stderr_excerpt

from .helpers import Marker, make_dense_sheet, make_sheet, pdf_source


def render_error(renderer: Renderer, src: CropSource) -> str:
    with pytest.raises(RenderError) as caught:
        renderer.roi(src, BBox(0, 0, 1, 1))
    message = str(caught.value)
    assert str(src.path.parent) not in message and "/tmp" not in message
    return message


def test_corrupt_pdf(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF\n")
    message = render_error(renderer, pdf_source(path))
    assert "PDF" in message and ("corrupt" in message or "could not" in message)


def test_random_bytes_behind_a_pdf_header(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "noise.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    assert "PDF" in render_error(renderer, pdf_source(path))


def test_empty_file(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "empty" in render_error(renderer, pdf_source(path))


def test_missing_file(tmp_path: Path, renderer: Renderer):
    assert "missing" in render_error(renderer, pdf_source(tmp_path / "gone.pdf"))


def test_unsupported_type(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "crop.gif"
    path.write_bytes(b"GIF89a" + b"\x00" * 64)
    message = render_error(renderer, CropSource(path, "g", "1", "image/gif"))
    assert "Unsupported" in message and "PDF, PNG or JPEG" in message


def test_not_a_png(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "crop.png"
    path.write_bytes(b"this is text")
    assert "not a valid PNG" in render_error(renderer, CropSource(path, "p", "1", "image/png"))


def test_corrupt_png(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "crop.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert "PNG crop" in render_error(renderer, CropSource(path, "p", "1", "image/png"))


def test_page_out_of_range(tmp_path: Path, renderer: Renderer):
    pdf = make_sheet(tmp_path / "one.pdf", 300, 200, [Marker(10, 10, 10)])
    src = CropSource(pdf, "one", "1", "application/pdf", page=3)
    assert "has 1 page(s); page 3" in render_error(renderer, src)


def test_ghostscript_timeout_stops_the_render(tmp_path: Path, cache):
    renderer = Renderer(cache, ghostscript=Ghostscript(timeout=0.001))
    pdf = make_dense_sheet(tmp_path / "dense.pdf", 1190, 842)
    message = render_error(renderer, pdf_source(pdf))
    assert "within 0.001 s" in message


def test_errors_are_not_cached(tmp_path: Path, renderer: Renderer):
    path = tmp_path / "late.pdf"
    path.write_bytes(b"")
    render_error(renderer, pdf_source(path))
    make_sheet(path, 300, 200, [Marker(10, 10, 10)])
    assert renderer.roi(pdf_source(path), BBox(0, 0, 1, 1)).width > 0


def test_stderr_excerpt_drops_stack_dumps_and_paths():
    stderr = (
        b"   **** Error: Couldn't initialise file.\n"
        b"               Output may be incorrect.\n"
        b"Error: /undefinedfilename in (/srv/app/data/crops/x.pdf)\n"
        b"Operand stack:\n   (/srv/app/data/crops/x.pdf)   (r)\n"
    )
    excerpt = stderr_excerpt(stderr, Path("/srv/app/data/crops/x.pdf"))
    assert excerpt == "Error: Couldn't initialise file.; Error: /undefinedfilename in (<crop>)"
    assert stderr_excerpt(b"GPL Ghostscript 10.0: open /var/lib/secret/a.pdf failed") == (
        "open <path> failed"
    )


@pytest.mark.parametrize("fmt, media_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_truncated_raster(tmp_path: Path, renderer: Renderer, fmt, media_type):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (500, 500), "white").save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[:200])
    message = render_error(renderer, CropSource(path, "t", "1", media_type))
    assert f"{fmt} crop" in message and ("corrupt" in message or "could not" in message)
