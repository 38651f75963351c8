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

log = logging.getLogger("webapp.warmup")


def warm_up(app: Flask) -> None:
    signing_secret(app.config)
    started = time.perf_counter()
    with app.app_context():
        if app.config["LLM_PROVIDER"] == "gemini" or app.config["DEFAULT_GEMINI_API_KEY"]:
            import webapp.llm.gemini  # noqa: F401  (the SDK import is the slow part)
        from webapp.documents.catalog_sync import document_catalog
        from webapp.documents.search import search_index
        from webapp.evidence.service import renderer

        renderer(app).warm_up()
        search_index(app)
        document_catalog(app).start_background()
    log.info("worker warmed up in %.2f s", time.perf_counter() - started)
