"""Request ids and one structured log line per request."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, g, request

log = logging.getLogger("webapp.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure_logging(level: str) -> None:
    """Plain `time level logger message` lines on stderr (journald adds its own fields)."""
    root = logging.getLogger()
    if not any(getattr(h, "_aizoomdoc", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler._aizoomdoc = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


def init_app(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        if request.path == "/health" and response.status_code == 200:
            return response
        user = getattr(g, "user", None)
        log.info(
            json.dumps(
                {
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "user": user["username"] if user else None,
                    "duration_ms": round(
                        (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1
                    ),
                    "remote": request.headers.get("X-Real-IP") or request.remote_addr,
                },
                ensure_ascii=False,
            )
        )
        return response
