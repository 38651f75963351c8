"""What every request body must be before a route reads it: small, JSON, decodable, shallow.

Checked once, before authentication and validation, so a bad body costs the worker a bounded
read and always gets the same documented answer: 413 (too large), 415 (not JSON), 400 (not valid
UTF-8 JSON, or nested too deeply to parse).
"""

from __future__ import annotations

import json

from flask import current_app, request

from webapp.errors import APIError

MULTIPART_ENDPOINTS = frozenset({"files.upload", "files.upload_for_llm"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
NOT_JSON = "Request body is not valid JSON."
TOO_DEEP = "Request body is nested too deeply."


def json_body_limit() -> int:
    return current_app.config["MAX_JSON_BODY_MB"] * 1024 * 1024


def check_json_body() -> None:
    """Refuse a body a JSON route could not read safely; uploads set their own limit."""
    if request.routing_exception is not None or request.endpoint in MULTIPART_ENDPOINTS:
        return  # 404 and 405 first; uploads limit their own bodies
    request.max_content_length = json_body_limit()  # werkzeug stops reading past it (413)
    if request.method not in BODY_METHODS:
        return
    has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
    if not has_body:
        return
    if not request.is_json:
        raise APIError(415, "Send the request body as JSON (Content-Type: application/json).")
    data = request.get_data(cache=True)  # kept for the route's own parsing
    try:
        json.loads(data.decode("utf-8")) if data else None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise APIError(400, NOT_JSON) from None
    except RecursionError:
        raise APIError(400, TOO_DEEP) from None
