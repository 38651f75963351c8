"""Work a serving process does once, right after it starts, instead of in its first requests.

Importing the Gemini SDK, loading ImageMagick and opening the render cache and search index take
about a second together; done inside a request under gevent, they would hold up every other
stream of the worker. gunicorn calls this from `post_worker_init` (see gunicorn.conf.py). A
serving worker also catalogues, in the background, the documents the cross-document index lacks.

A server signs and verifies tokens and links with JWT_SECRET_KEY from its first request, so a
worker without a usable secret refuses to start here (gunicorn then stops with its message).
"""

from __future__ import annotations

import logging
import time

from flask import Flask

from webapp.config import signing_secret
from webapp.metrics import registry
from webapp.offhub import HubWatch, gevent_threading_patched

log = logging.getLogger("webapp.warmup")


def warm_up(app: Flask) -> None:
    signing_secret(app.config)
    started = time.perf_counter()
    with app.app_context():
        if app.config["LLM_PROVIDER"] != "local" or app.config["DEFAULT_GEMINI_API_KEY"]:
            # the SDK import is the slow part (and must happen here, on the hub's thread)
            from webapp.llm.gemini import GeminiEngine

            if app.config["DEFAULT_GEMINI_API_KEY"]:  # its client: SSL contexts, httpx, h11
                GeminiEngine.from_config(app.config, app.config["DEFAULT_GEMINI_API_KEY"])
        from webapp.documents.catalog_sync import document_catalog
        from webapp.documents.search import search_index
        from webapp.evidence.service import renderer

        renderer(app).warm_up()
        search_index(app)
        document_catalog(app).start_background()
    log.info("worker warmed up in %.2f s", time.perf_counter() - started)


def watch_hub(app: Flask) -> HubWatch | None:
    """With HUB_MONITOR_SECONDS under a gevent worker: count the hub's blocks from now on (after
    the warm-up, which blocks by design before the worker accepts connections) and show them in
    /metrics as `aizoomdoc_hub_blocks` and `aizoomdoc_hub_longest_block_seconds`."""
    threshold = float(app.config["HUB_MONITOR_SECONDS"])
    if threshold <= 0 or not gevent_threading_patched():
        return None
    watch = HubWatch(threshold)
    watch.start()
    metrics = registry(app)
    metrics.gauge(
        "aizoomdoc_hub_blocks",
        "Blocks of this worker's gevent hub longer than HUB_MONITOR_SECONDS.",
        lambda: watch.snapshot().count,
    )
    metrics.gauge(
        "aizoomdoc_hub_longest_block_seconds",
        "The longest of them (a lower bound, in steps of HUB_MONITOR_SECONDS).",
        lambda: watch.snapshot().longest_seconds,
    )
    log.info("hub monitor on: blocks over %.3f s are counted", threshold)
    return watch
