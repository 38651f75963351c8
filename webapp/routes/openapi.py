"""The OpenAPI document made exact: one error body, the security schemes, and the answers every
route of a kind can give whatever its own code does (a bad body, a backend that is down).

Clients are generated from `/openapi.json`, and tests/server/test_contract.py fuzzes the server
against it, so a status missing here is a bug like a wrong field.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask

from webapp.routes.body import MAX_QUERY_PARAMETERS
from webapp.routes.files import FILE_ID_SCHEMA
from webapp.routes.schemas import HTTPError

ERROR_REF = {"$ref": "#/components/schemas/HTTPError"}
BODY_METHODS = ("post", "put", "patch")
# Routes that read no store: nothing behind them can be down (/health/ready reports it itself).
STORELESS = {("get", "/"), ("get", "/health"), ("get", "/health/ready"), ("get", "/metrics")}
SECURITY_SCHEMES = {
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access_token of POST /auth/exchange.",
    },
    "MetricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "METRICS_TOKEN of the server (without one, /metrics answers loopback only).",
    },
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
TOO_MANY_PARAMETERS = f"More than {MAX_QUERY_PARAMETERS} query parameters"
# gunicorn refuses a request line over 4094 bytes itself (limit_request_line), before the app.
URI_TOO_LONG = {
    "description": "The request line (method, path and query) is longer than 4094 bytes; "
    "gunicorn answers, in HTML",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
BODY_ERRORS = {
    "400": "The body is not valid JSON (or not UTF-8, or nested too deeply); or "
    + TOO_MANY_PARAMETERS.lower(),
    "413": "The body is larger than MAX_JSON_BODY_MB",
    "415": "The body is not sent as application/json",
}
# Path parameters whose values the routing narrows (apiflask documents every one as a string).
PATH_PARAMETERS = {("/files/{file_id}", "file_id"): FILE_ID_SCHEMA}
UNAVAILABLE = "A backend (database or object storage) is unreachable; try again after Retry-After"


def error_response(description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


def _has_required(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """The body schema (or the component it refers to) has required fields: no body is a 422."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return bool(schema.get("required"))


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the shared answers to every operation that can give them (never replacing one a
    route documented itself)."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                narrowed = PATH_PARAMETERS.get((path, parameter["name"]))
                if narrowed is not None and parameter["in"] == "path":
                    parameter["schema"] = dict(narrowed)
            responses = operation["responses"]
            body = operation.get("requestBody", {}).get("content", {})
            if any(_has_required(spec, media.get("schema", {})) for media in body.values()):
                operation["requestBody"]["required"] = True
            if method in BODY_METHODS and "multipart/form-data" not in body:
                for status, description in BODY_ERRORS.items():
                    responses.setdefault(status, error_response(description))
            responses.setdefault("400", error_response(TOO_MANY_PARAMETERS))
            responses.setdefault("414", dict(URI_TOO_LONG))
            if (method, path) not in STORELESS:
                responses.setdefault("503", error_response(UNAVAILABLE, RETRY_AFTER))
    return spec


def init_app(app: APIFlask) -> None:
    app.config.update(
        AUTO_AUTH_ERROR_RESPONSE=False,  # each route documents its own 401 (or has none)
        HTTP_ERROR_SCHEMA=HTTPError,
        VALIDATION_ERROR_SCHEMA=HTTPError,
        SECURITY_SCHEMES=SECURITY_SCHEMES,
    )
    app.spec_processor(complete)
