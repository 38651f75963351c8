"""The process's renderer and render cache, built once from the configuration."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, current_app

from webapp.evidence.cache import RenderCache
from webapp.evidence.render import Renderer

EXTENSION = "aizoomdoc.renderer"
_lock = threading.Lock()


def build_renderer(config: dict) -> Renderer:
    cache = None
    if config["EVIDENCE_CACHE_ENABLED"]:
        cache = RenderCache(
            Path(config["EVIDENCE_CACHE_DIR"]),
            max_bytes=config["EVIDENCE_CACHE_MAX_MB"] * 1024 * 1024,
            ttl_seconds=config["EVIDENCE_CACHE_TTL_DAYS"] * 86400,
        )
    return Renderer(
        cache,
        preview_max_side=config["PREVIEW_MAX_SIDE"],
        zoom_max_side=config["ZOOM_PREVIEW_MAX_SIDE"],
        quadrant_threshold=config["AUTO_QUADRANTS_THRESHOLD"],
        max_pixels=config["MAX_RENDER_PIXELS"],
        workers=config["RENDER_WORKERS"],
    )


def renderer(app: Flask | None = None) -> Renderer:
    """The renderer of this process (made on first use: start-up stays fast)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(EXTENSION)
    if found is None:
        with _lock:
            found = app.extensions.get(EXTENSION)
            if found is None:
                found = app.extensions[EXTENSION] = build_renderer(app.config)
    return found
