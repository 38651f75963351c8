"""The app's evidence service: its renderer and render cache, built from the configuration.

`init_app` registers an `Evidence` under `app.extensions["aizoomdoc.evidence"]`; `renderer()`
reaches it. The renderer itself (ImageMagick policy, Ghostscript, the cache reconciled with its
folder) is made when first used, so commands that never render start fast.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from webapp.evidence.cache import RenderCache
from webapp.evidence.render import Renderer
from webapp.evidence.shared import PREFIX as SHARED_PREFIX
from webapp.stores import stores
from webapp.stores.objects.base import ObjectNotFound, ObjectStore

EXTENSION = "aizoomdoc.evidence"
SHARED_SOURCE = "(shared)"
log = logging.getLogger("webapp.evidence.service")


class SharedRenderCache:
    """Two levels: this host's disk LRU first, then `render_cache/<key>.png` in the object
    storage every app host shares, so a cluster renders each image once. Keys carry the
    source's version, so a shared entry never needs invalidating: a new version is a new key."""

    PREFIX = SHARED_PREFIX

    def __init__(self, local: RenderCache, store: ObjectStore) -> None:
        self.local = local
        self.store = store

    def get(self, key: str) -> bytes | None:
        data = self.local.get(key)
        if data is not None:
            return data
        try:
            data = self.store.get(f"{self.PREFIX}{key}.png")
        except ObjectNotFound:
            return None
        except Exception:  # the shared level is an optimisation: render rather than fail
            log.warning("shared render cache unavailable", exc_info=True)
            return None
        try:
            self.local.put(key, data, SHARED_SOURCE)
        except OSError:  # a full disk: serve it uncached
            log.warning("render %s not cached on this host", key, exc_info=True)
        return data

    def put(self, key: str, data: bytes, source_id: str) -> None:
        self.local.put(key, data, source_id)
        try:
            self.store.put(f"{self.PREFIX}{key}.png", data, "image/png")
        except Exception:  # as above: a failed share costs one render elsewhere, nothing more
            log.warning("could not share render %s", key, exc_info=True)

    def __getattr__(self, name: str):
        return getattr(self.local, name)  # stats, prune, clear, invalidate: the local level


def build_cache(config: Mapping[str, Any], store: ObjectStore | None = None) -> RenderCache | None:
    if not config["EVIDENCE_CACHE_ENABLED"]:
        return None
    cache = RenderCache(
        Path(config["EVIDENCE_CACHE_DIR"]),
        max_bytes=config["EVIDENCE_CACHE_MAX_MB"] * 1024 * 1024,
        ttl_seconds=config["EVIDENCE_CACHE_TTL_DAYS"] * 86400,
    )
    if store is not None and config["STORAGE"] != "local":
        return SharedRenderCache(cache, store)  # type: ignore[return-value]
    return cache


def build_renderer(config: Mapping[str, Any], store: ObjectStore | None = None) -> Renderer:
    cache = build_cache(config, store)
    if cache is not None:
        cache.reconcile()  # files and index agree again after a crash or a manual cleanup
    return Renderer(
        cache,
        preview_max_side=config["PREVIEW_MAX_SIDE"],
        zoom_max_side=config["ZOOM_PREVIEW_MAX_SIDE"],
        quadrant_threshold=config["AUTO_QUADRANTS_THRESHOLD"],
        max_pixels=config["MAX_RENDER_PIXELS"],
        workers=config["RENDER_WORKERS"],
        gs_timeout=float(config.get("RENDER_TIMEOUT_SECONDS", 60.0)),
    )


class Evidence:
    """Holds the app's renderer, made on first use from the app's settings and object store."""

    def __init__(self, config: Mapping[str, Any], store: Callable[[], ObjectStore]) -> None:
        self.config = config
        self.store = store
        self._renderer: Renderer | None = None
        self._lock = threading.Lock()

    @property
    def renderer(self) -> Renderer:
        with self._lock:
            if self._renderer is None:
                self._renderer = build_renderer(self.config, self.store())
            return self._renderer


def renderer(app: Flask | None = None) -> Renderer:
    """The app's renderer."""
    return (app or current_app).extensions[EXTENSION].renderer


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Evidence(app.config, lambda: stores(app).objects)
