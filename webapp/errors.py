"""One JSON shape for every error, whatever raised it.

`{"error": code, "message": text, "details": obj|null, "detail": text}`: `message` is what the
Python client shows, `detail` keeps FastAPI-style clients working.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, current_app, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("webapp.errors")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


class APIError(HTTPError):
    """An error the API reports on purpose: status, code, a human message and optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: Any = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(status, message, detail=details, headers=headers)
        self.code = code or CODES.get(status, "error")


def error_body(status: int, message: str, code: str | None = None, details: Any = None) -> dict:
    return {
        "error": code or CODES.get(status, "error"),
        "message": message,
        "details": details,
        "detail": message,
    }


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: Any = None,
    headers: dict | None = None,
) -> Response:
    """The JSON response of an error (for handlers outside the error processor)."""
    response = jsonify(error_body(status, message, code, details))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _validation_message(details: Any) -> str:
    """A readable one-line summary of marshmallow field errors."""
    parts: list[str] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(x, str) for x in node):
            parts.append(f"{prefix}: {' '.join(node)}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(f"{prefix}[{index}]", value)
        else:
            parts.append(f"{prefix}: {node}")

    walk("", details)
    return "Invalid request: " + "; ".join(parts) if parts else "Invalid request"


def _describe(exc: HTTPException) -> str:
    """werkzeug's descriptions, with our own words for the common cases."""
    if exc.code == 404:
        return "No such resource."
    if exc.code == 405:
        return "Method not allowed for this URL."
    if exc.code == 413:
        return "Request body too large."
    return exc.description or exc.name


def init_app(app: APIFlask) -> None:
    @app.error_processor
    def to_json(error: HTTPError):
        status = error.status_code
        details = error.detail or None
        code = getattr(error, "code", None)
        message = error.message
        if status == 422 and not isinstance(error, APIError):
            # apiflask nests field errors under the location ("json", "query", "files").
            if isinstance(details, dict) and len(details) == 1:
                details = next(iter(details.values()))
            message = _validation_message(details)
        details = details if isinstance(details, dict) else None
        return error_response(status, message, code, details, error.headers)

    @app.errorhandler(HTTPException)
    def werkzeug_error(exc: HTTPException):
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        messages = (getattr(exc, "data", None) or {}).get("messages") or {}
        if exc.code == 400 and "json" in messages:  # webargs could not decode the body
            return to_json(HTTPError(400, "Request body is not valid JSON.", headers=headers))
        return to_json(HTTPError(exc.code or 500, _describe(exc), headers=headers))

    app.register_error_handler(Exception, internal_error)


def internal_error(exc: Exception) -> Response:
    """A bug: logged with the request id, which the answer quotes (exception text only in DEBUG)."""
    request_id = getattr(g, "request_id", "-")
    log.exception("unhandled error request_id=%s", request_id, exc_info=exc)
    message = "Internal server error; quote request id %s when reporting it." % request_id
    if current_app.config.get("DEBUG"):
        message = f"{type(exc).__name__}: {exc}"
    return error_response(500, message)
