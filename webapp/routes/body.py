"""What every request must be before a route reads it: a query of a sane size, and a body that
is small, JSON, decodable and shallow.

Checked once, before authentication and validation, so bad input costs the worker a bounded
read and always gets the same documented answer: 400 (too many query parameters; a body that is
not valid UTF-8 JSON, or nested too deeply to parse), 413 (too large), 415 (not JSON).
"""

from __future__ import annotations

import json

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.errors import APIError

MULTIPART_ENDPOINTS = frozenset({"files.upload", "files.upload_for_llm"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
NOT_JSON = "Request body is not valid JSON."
TOO_DEEP = "Request body is nested too deeply."
MAX_QUERY_PARAMETERS = 100  # no route reads more than a dozen (repeated ids included)


def check_query() -> None:
    """Refuse a query of more parameters than any route reads, before werkzeug parses them."""
    count = request.query_string.count(b"&") + 1 if request.query_string else 0
    if count > MAX_QUERY_PARAMETERS and request.routing_exception is None:
        raise APIError(400, f"Too many query parameters ({count}; at most {MAX_QUERY_PARAMETERS}).")


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
    if request.content_length is None and len(data) >= json_body_limit():
        # a chunked body: werkzeug stops at the limit without a word (a Content-Length over it
        # was refused with 413 already, by get_data)
        raise RequestEntityTooLarge()
    try:
        json.loads(data.decode("utf-8")) if data else None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise APIError(400, NOT_JSON) from None
    except RecursionError:
        raise APIError(400, TOO_DEEP) from None
