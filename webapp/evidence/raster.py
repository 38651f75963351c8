"""Wand/ImageMagick work: PNG encoding, grid overlay, cutting and scaling PNG/JPEG crops.

These functions block for tens to hundreds of milliseconds: the renderer runs them in its bounded
pool, never on the gevent hub. Input formats are fixed by the caller (from the file's magic bytes),
so ImageMagick never guesses a coder from untrusted content.
"""

from __future__ import annotations

import io
import math
from typing import Any

from webapp.evidence.errors import RenderError
from webapp.evidence.grid import draw_grid
from webapp.evidence.policy import apply_imagemagick_policy
from webapp.evidence.regions import BBox

RASTER_FORMATS = {"png": "png", "jpeg": "jpeg"}
SWAPPING_ORIENTATIONS = {"left_top", "right_top", "right_bottom", "left_bottom"}


def load_wand() -> None:
    """Import Wand on the calling thread, before any pool thread needs it.

    Wand's import looks for libMagick with `ctypes.util.find_library`, which runs `ldconfig` as a
    subprocess; under gevent that subprocess must start from the hub's thread (a pool thread
    cannot watch a child process and the import hangs). Cheap after the first call.
    """
    apply_imagemagick_policy()
    import wand.drawing  # noqa: F401
    import wand.image  # noqa: F401


def _image_class() -> Any:
    apply_imagemagick_policy()
    from wand.image import Image

    return Image


def _wand_error() -> type[Exception]:
    apply_imagemagick_policy()
    from wand.exceptions import WandException

    return WandException


def encode_png(image: Any) -> bytes:
    """PNG bytes without date chunks, so equal renders give equal bytes.

    zlib level 3: on dense drawings 2–3× faster than ImageMagick's default (level 7) for PNGs
    10–30 % larger, a good trade for images made on request.
    """
    image.options["png:exclude-chunks"] = "date,time"
    image.options["png:compression-level"] = "3"
    image.format = "png"
    return image.make_blob()


def ppm_to_png(ppm: bytes, *, grid: bool, width: int, height: int) -> bytes:
    """Ghostscript's PPM → PNG, with the grid when asked and a resize only if sizes differ."""
    Image = _image_class()
    try:
        with Image(blob=ppm, format="ppm") as image:
            if (image.width, image.height) != (width, height):
                image.resize(width, height)
            if grid:
                draw_grid(image)
            return encode_png(image)
    except _wand_error() as exc:
        raise RenderError(
            f"ImageMagick could not encode the rendered region ({_short(exc)})."
        ) from None


def raster_size(data: bytes, fmt: str) -> tuple[int, int]:
    """Pixel size of a PNG/JPEG crop without decoding its pixels."""
    Image = _image_class()
    try:
        with Image.ping(file=io.BytesIO(data), format=RASTER_FORMATS[fmt]) as image:
            if image.orientation in SWAPPING_ORIENTATIONS:  # auto_orient() will turn it
                return image.height, image.width
            return image.width, image.height
    except _wand_error() as exc:
        raise RenderError(f"The {fmt.upper()} crop is corrupt ({_short(exc)}).") from None


def cut_raster(data: bytes, fmt: str, box: BBox, *, width: int, height: int, grid: bool) -> bytes:
    """Cut `box` out of a PNG/JPEG crop and scale it to `width`×`height`, then encode PNG."""
    Image = _image_class()
    try:
        with Image(file=io.BytesIO(data), format=RASTER_FORMATS[fmt]) as image:
            image.auto_orient()
            if image.colorspace in ("cmyk", "cmy"):  # PNG has no CMYK
                image.transform_colorspace("srgb")
            image.depth = 8
            left = min(image.width - 1, math.floor(box.x1 * image.width))
            top = min(image.height - 1, math.floor(box.y1 * image.height))
            right = max(left + 1, min(image.width, math.ceil(box.x2 * image.width)))
            bottom = max(top + 1, min(image.height, math.ceil(box.y2 * image.height)))
            if (left, top, right, bottom) != (0, 0, image.width, image.height):
                image.crop(left=left, top=top, right=right, bottom=bottom)
            image.page = (image.width, image.height, 0, 0)
            if (image.width, image.height) != (width, height):
                image.resize(width, height)
            if image.alpha_channel:
                image.background_color = "white"
                image.alpha_channel = "remove"
            if grid:
                draw_grid(image)
            return encode_png(image)
    except _wand_error() as exc:
        raise RenderError(
            f"The {fmt.upper()} crop could not be rendered ({_short(exc)})."
        ) from None


def _short(exc: Exception) -> str:
    """ImageMagick's reason without file names; Wand's own wrapper messages say nothing useful."""
    text = str(exc).split(" @ ")[0]
    if "Magick" in text and "returns false" in text:
        return "unreadable image data"
    for marker in ("`", "'"):
        text = text.split(marker)[0]
    return text.strip().rstrip(":")[:160] or type(exc).__name__
