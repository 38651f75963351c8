"""Evidence rendering (overview, quadrants, ROI of a block's crop) and the render cache.

Plain library code: the app, the CLI and the pipeline build a `Renderer` and a `RenderCache` from
their configuration. Importing this package does not load ImageMagick.
"""

from webapp.evidence.cache import RenderCache, make_cache_key
from webapp.evidence.errors import RenderError
from webapp.evidence.regions import QUADRANTS, BBox, RegionError, clamp_dpi, parse_region
from webapp.evidence.render import RENDERER_VERSION, CropSource, RenderedImage, Renderer

__all__ = [
    "BBox",
    "CropSource",
    "QUADRANTS",
    "RENDERER_VERSION",
    "RegionError",
    "RenderCache",
    "RenderError",
    "RenderedImage",
    "Renderer",
    "clamp_dpi",
    "make_cache_key",
    "parse_region",
]
