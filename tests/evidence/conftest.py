"""Fixtures for the evidence tests (helpers live in `helpers.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.requirements import require_imagemagick, require_tool
from webapp.evidence import RenderCache, Renderer


@pytest.fixture(autouse=True, scope="session")
def render_tools() -> None:
    """The evidence package renders with Ghostscript and ImageMagick: name them when missing."""
    require_tool("gs", "apt-get install ghostscript")
    require_imagemagick()


@pytest.fixture
def cache(tmp_path: Path) -> RenderCache:
    return RenderCache(tmp_path / "cache", max_bytes=200 * 1024 * 1024, ttl_seconds=3600)


@pytest.fixture
def renderer(cache: RenderCache):
    r = Renderer(cache, preview_max_side=800, zoom_max_side=1200, workers=2)
    yield r
    r.close()
