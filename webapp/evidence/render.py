"""Overview, quadrant and ROI images of a crop, cached and single-flighted.

PDF crops: Ghostscript rasterizes only the requested region at the output resolution, measuring
the page in the same run (no separate probe on a cold render); Wand then adds the grid and encodes
PNG. PNG/JPEG crops: Wand cuts and scales. The dpi is lowered until the output fits both the max
side and the pixel cap.

Rules (documented because they decide what the model sees):
- "scale" of an image = the resolution that was asked for ÷ the resolution delivered (1.0 = full
  detail). Overview and quadrants ask for 150 dpi (the reference server's base render); an ROI asks
  for its clamped dpi. PNG/JPEG crops count as 150 dpi and are never upscaled.
- quadrants are produced when the overview's scale > `quadrant_threshold` (2.5), i.e. the crop at
  150 dpi is more than 2.5× larger (per side) than its overview — the reference server's rule.
- the overview carries the 3×3 grid when its scale > `grid_threshold` (1.5): from there on the
  overview hides small print and the model needs sector names to ask for a zoom. A3 and smaller
  sheets (≤ 1.24 at 2000 px) get no grid; A2 (1.75) and larger do.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

from webapp.evidence.cache import RenderCache, make_cache_key
from webapp.evidence.errors import RenderError
from webapp.evidence.ghostscript import Ghostscript, PdfPage
from webapp.evidence.pngmeta import add_meta, png_intact, png_size, read_meta
from webapp.evidence.policy import apply_imagemagick_policy
from webapp.evidence.pool import RenderPool, SingleFlight
from webapp.evidence.raster import cut_raster, load_wand, ppm_to_png, raster_size
from webapp.evidence.regions import FULL, QUADRANTS, BBox, clamp_dpi

log = logging.getLogger(__name__)
T = TypeVar("T")

RENDERER_VERSION = "gs-region-1"
REFERENCE_DPI = 150.0
RASTER_NOMINAL_DPI = 150.0
KINDS = ("overview", "quadrant", "roi")
MEDIA_TYPES = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
}
GENERIC_MEDIA_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


@dataclass(frozen=True)
class CropSource:
    """A crop as a local file, plus the identity and version that key its renders."""

    path: Path
    source_id: str
    version: str
    media_type: str
    page: int = 1


@dataclass(frozen=True)
class RenderedImage:
    """One PNG handed to the model, with what its caption needs."""

    png: bytes
    width: int
    height: int
    kind: str
    bbox_norm: BBox
    dpi: float
    scale: float
    cache_key: str
    from_cache: bool
    grid: bool = False

    def caption(self, block_id: str) -> str:
        """The text the model reads right before the image."""
        text = (
            f"Block {block_id}: {self.kind}, bbox_norm {self.bbox_norm}, "
            f"{self.width}×{self.height} px at {self.dpi:.0f} dpi, scale {self.scale:.2f}"
        )
        if self.grid:
            text += "; 3×3 grid: columns A–C left→right, rows 1–3 top→bottom (sectors A1…C3)"
        if self.scale > 1.05:
            text += (
                f"; shown {self.scale:.2f}× coarser than full detail: "
                "zoom into a smaller region to read small print"
            )
        return text + "."


@dataclass(frozen=True)
class Geometry:
    """A crop's size in inches at its reference resolution, and what it is."""

    file_type: str  # "pdf" | "png" | "jpeg"
    width_in: float
    height_in: float
    native_dpi: float | None  # None: vector, any resolution; rasters: their nominal dpi

    @property
    def size_points(self) -> tuple[float, float]:
        return self.width_in * 72.0, self.height_in * 72.0


@dataclass(frozen=True)
class OutputPlan:
    width: int
    height: int
    dpi: float
    scale: float


def fit_output(
    geometry: Geometry, box: BBox, dpi: float, max_side: int, max_pixels: int
) -> OutputPlan:
    """Pixel size and dpi of `box` at `dpi`, lowered to fit `max_side` and `max_pixels`."""
    width_in = box.width * geometry.width_in
    height_in = box.height * geometry.height_in
    wanted = min(dpi, geometry.native_dpi or math.inf)
    effective = min(
        wanted,
        max_side / max(width_in, height_in),
        math.sqrt(max_pixels / (width_in * height_in)),
    )
    width = max(1, math.floor(width_in * effective + 1e-6))
    height = max(1, math.floor(height_in * effective + 1e-6))
    return OutputPlan(width=width, height=height, dpi=effective, scale=wanted / effective)


class Renderer:
    """Renders crops for the model; plain library code (no Flask), configured by arguments."""

    def __init__(
        self,
        cache: RenderCache | None = None,
        preview_max_side: int = 2000,
        zoom_max_side: int = 2000,
        quadrant_threshold: float = 2.5,
        max_pixels: int = 40_000_000,
        workers: int = 2,
        *,
        grid_threshold: float = 1.5,
        gs_timeout: float = 60.0,
        antialias: bool = True,
        max_source_pixels: int = 250_000_000,
        ghostscript: Ghostscript | None = None,
    ) -> None:
        apply_imagemagick_policy()  # as early as possible: before anything loads Wand
        self.cache = cache
        self.preview_max_side = int(preview_max_side)
        self.zoom_max_side = int(zoom_max_side)
        self.quadrant_threshold = float(quadrant_threshold)
        self.grid_threshold = float(grid_threshold)
        self.max_pixels = int(max_pixels)
        self.max_source_pixels = int(max_source_pixels)
        self.ghostscript = ghostscript or Ghostscript(timeout=gs_timeout, antialias=antialias)
        self.pool = RenderPool(workers)
        self.flight: SingleFlight[RenderedImage] = SingleFlight()
        self._geometries: _Memo[Geometry] = _Memo()
        self._overview_scales: _Memo[float] = _Memo()  # from overviews already made (or cached)

    # -- public API -------------------------------------------------------------------------------

    def overview(self, src: CropSource) -> RenderedImage:
        """The whole crop, long side ≤ preview_max_side; the A1…C3 grid when it hides detail."""
        image = self._image(
            src,
            "overview",
            FULL,
            REFERENCE_DPI,
            self.preview_max_side,
            f"grid>{self.grid_threshold}",
        )
        self._overview_scales.put(_memo_key(src), image.scale)
        return image

    def quadrants(self, src: CropSource) -> list[RenderedImage]:
        """TL, TR, BL, BR (overlapping by 10 %) when the crop needs them, else []."""
        if not self.needs_quadrants(src):
            return []
        return [
            self._image(src, "quadrant", box, REFERENCE_DPI, self.zoom_max_side, "none")
            for box in QUADRANTS.values()
        ]

    def roi(self, src: CropSource, region: BBox, dpi: float = 300) -> RenderedImage:
        """`region` of the crop at `dpi` (clamped to 72–400, lowered to fit the size caps)."""
        return self._image(src, "roi", region, clamp_dpi(dpi), self.zoom_max_side, "none")

    def needs_quadrants(self, src: CropSource) -> bool:
        return self.overview_scale(src) > self.quadrant_threshold

    def overview_scale(self, src: CropSource) -> float:
        """How much coarser the overview is than the crop at 150 dpi (per side)."""
        known = self._overview_scales.get(_memo_key(src))
        if known is not None:
            return known  # no Ghostscript probe when the overview was just served from the cache
        plan = fit_output(
            self._geometry(src), FULL, REFERENCE_DPI, self.preview_max_side, self.max_pixels
        )
        return plan.scale

    def page_size_points(self, src: CropSource) -> tuple[float, float]:
        """Displayed page size in points (PNG/JPEG: pixels at the nominal 150 dpi)."""
        return self._geometry(src).size_points

    def cache_key(
        self, src: CropSource, kind: str, box: BBox, dpi: float, max_side: int, overlay: str
    ) -> str:
        return make_cache_key(
            src.source_id,
            src.version,
            src.page,
            kind,
            box,
            dpi,
            (max_side, self.max_pixels),
            overlay,
            f"{RENDERER_VERSION};aa={int(self.ghostscript.antialias)}",
        )

    def warm_up(self) -> None:
        """Load ImageMagick and its PPM/PNG coders now (e.g. at worker start), not in a request."""
        load_wand()
        self.pool.run(ppm_to_png, b"P6 1 1 255\n\xff\xff\xff", grid=False, width=1, height=1)

    def close(self) -> None:
        self.pool.shutdown()

    # -- internals --------------------------------------------------------------------------------

    def _image(
        self, src: CropSource, kind: str, box: BBox, dpi: float, max_side: int, overlay: str
    ) -> RenderedImage:
        key = self.cache_key(src, kind, box, dpi, max_side, overlay)
        cached = self._from_cache(key, kind, box)
        if cached is not None:
            return cached
        image, shared = self.flight.do(
            key, lambda: self._render_and_store(key, src, kind, box, dpi, max_side)
        )
        return replace(image, from_cache=True) if shared else image

    def _render_and_store(
        self, key: str, src: CropSource, kind: str, box: BBox, dpi: float, max_side: int
    ) -> RenderedImage:
        load_wand()  # on this thread: see load_wand()
        geometry = self._geometries.get(_memo_key(src))
        file_type = geometry.file_type if geometry else detect_file_type(src.path, src.media_type)
        if file_type == "pdf":
            fitted = self.ghostscript.render_fitted(
                src.path, src.page, box, dpi, max_side, self.max_pixels
            )
            self._remember_page(src, fitted.page)
            plan = OutputPlan(fitted.width, fitted.height, fitted.dpi, dpi / fitted.dpi)
            grid = kind == "overview" and plan.scale > self.grid_threshold
            png = self.pool.run(
                ppm_to_png, fitted.ppm, grid=grid, width=plan.width, height=plan.height
            )
        else:
            geometry = self._geometry(src)
            plan = fit_output(geometry, box, dpi, max_side, self.max_pixels)
            grid = kind == "overview" and plan.scale > self.grid_threshold
            png = self.pool.run(
                cut_raster,
                _read(src.path),
                geometry.file_type,
                box,
                width=plan.width,
                height=plan.height,
                grid=grid,
            )
        meta = {
            "kind": kind,
            "bbox": box.as_list(6),
            "dpi": round(plan.dpi, 3),
            "scale": round(plan.scale, 4),
            "grid": grid,
            "renderer": RENDERER_VERSION,
        }
        png = add_meta(png, meta)
        if self.cache is not None:
            try:
                self.cache.put(key, png, src.source_id)
            except Exception:  # a full disk must not fail the answer
                log.warning("render cache put failed for %s", key, exc_info=True)
        return RenderedImage(
            png=png,
            width=plan.width,
            height=plan.height,
            kind=kind,
            bbox_norm=box,
            dpi=plan.dpi,
            scale=plan.scale,
            cache_key=key,
            from_cache=False,
            grid=grid,
        )

    def _remember_page(self, src: CropSource, page: PdfPage) -> None:
        """Keep the page size Ghostscript measured while rendering: no separate probe later."""
        self._geometries.put(
            _memo_key(src), Geometry("pdf", page.width_pt / 72.0, page.height_pt / 72.0, None)
        )

    def _from_cache(self, key: str, kind: str, box: BBox) -> RenderedImage | None:
        if self.cache is None:
            return None
        try:
            png = self.cache.get(key)
        except Exception:
            log.warning("render cache get failed for %s", key, exc_info=True)
            return None
        if png is None:
            return None
        if not png_intact(png):  # damaged on disk: rendered again, and the entry replaced
            log.warning("render cache entry %s is damaged on disk; it is rendered again", key)
            return None
        meta = read_meta(png)
        if meta.get("kind") != kind:
            return None  # not one of ours (or damaged): render again
        width, height = png_size(png)
        return RenderedImage(
            png=png,
            width=width,
            height=height,
            kind=kind,
            bbox_norm=box,
            dpi=float(meta.get("dpi", 0.0)),
            scale=float(meta.get("scale", 1.0)),
            cache_key=key,
            from_cache=True,
            grid=bool(meta.get("grid", False)),
        )

    def _geometry(self, src: CropSource) -> Geometry:
        found = self._geometries.get(_memo_key(src))
        if found is None:
            found = self._measure(src)
            self._geometries.put(_memo_key(src), found)
        return found

    def _measure(self, src: CropSource) -> Geometry:
        file_type = detect_file_type(src.path, src.media_type)
        if file_type == "pdf":
            page = self.ghostscript.probe(src.path, src.page)
            return Geometry("pdf", page.width_pt / 72.0, page.height_pt / 72.0, None)
        load_wand()
        width, height = self.pool.run(raster_size, _read(src.path), file_type)
        if width < 1 or height < 1:
            raise RenderError(f"The {file_type.upper()} crop is corrupt (no image size).")
        if width * height > self.max_source_pixels:
            raise RenderError(
                f"The {file_type.upper()} crop is too large to render ({width}×{height} px)."
            )
        return Geometry(
            file_type, width / RASTER_NOMINAL_DPI, height / RASTER_NOMINAL_DPI, RASTER_NOMINAL_DPI
        )


class _Memo(Generic[T]):
    """A small thread-safe LRU of facts about sources (their identity includes the version)."""

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[tuple, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple) -> T | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple, value: T) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _memo_key(src: CropSource) -> tuple:
    return (src.source_id, src.version, src.page)


def detect_file_type(path: Path, media_type: str) -> str:
    """ "pdf", "png" or "jpeg" from the file's first bytes; the declared type only words errors."""
    declared = (media_type or "").split(";")[0].strip().lower()
    if declared not in MEDIA_TYPES and declared not in GENERIC_MEDIA_TYPES:
        raise RenderError(f"Unsupported crop type {declared[:60]!r}: PDF, PNG or JPEG expected.")
    head = _read(path, 1024)
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if not head:
        raise RenderError("The crop file is empty.")
    expected = MEDIA_TYPES.get(declared)
    if expected:
        raise RenderError(
            f"The crop is not a valid {expected.upper()} file (corrupt or truncated)."
        )
    raise RenderError("Unsupported crop file: PDF, PNG or JPEG expected.")


def _read(path: Path, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except FileNotFoundError:
        raise RenderError("The crop file is missing on the server.") from None
    except IsADirectoryError:
        raise RenderError("The crop file is missing on the server.") from None
    except OSError as exc:
        raise RenderError(f"The crop file cannot be read ({exc.strerror}).") from None


__all__ = [
    "CropSource",
    "RenderedImage",
    "Renderer",
    "RenderError",
    "Geometry",
    "OutputPlan",
    "fit_output",
    "detect_file_type",
]
