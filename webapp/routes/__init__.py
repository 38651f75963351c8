"""HTTP routes: one thin blueprint per resource; the logic lives in the service packages."""

from __future__ import annotations

from apiflask import APIFlask
from flask import request

from webapp.errors import APIError
from webapp.routes import (
    auth,
    chats,
    docs,
    files,
    health,
    images,
    me,
    projects,
    prompts,
    stream,
)

BLUEPRINTS = (health, auth, me, prompts, chats, stream, files, projects, images, docs)


MULTIPART_ENDPOINTS = {"files.upload", "files.upload_for_llm"}


def require_json_body() -> None:
    """A body sent to a JSON route must be JSON (415), rather than silently read as empty."""
    if request.method not in ("POST", "PUT", "PATCH") or request.endpoint in MULTIPART_ENDPOINTS:
        return
    has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
    if has_body and not request.is_json:
        raise APIError(415, "Send the request body as JSON (Content-Type: application/json).")


def init_app(app: APIFlask) -> None:
    app.before_request(require_json_body)
    app.security_schemes = {
        "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
