"""A backend that cannot be reached answers 503 with Retry-After, never a 500.

Supabase (PostgREST over httpx) and S3 (botocore) fail with their own transport errors when the
network, the service or its database is down; a client should retry those later, unlike a bug.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g

from webapp.errors import error_response, internal_error

log = logging.getLogger("webapp.stores")
RETRY_AFTER_SECONDS = 15
MESSAGE = "A backend of the server (database or object storage) is unreachable; try again later."
# PostgREST's own "cannot reach the database" answers (it sends them with 503).
POSTGREST_UNAVAILABLE = ("PGRST000", "PGRST001", "PGRST002", "PGRST003")


def unavailable(exc: Exception) -> Response:
    log.warning(
        "backend unavailable request_id=%s: %s: %s",
        getattr(g, "request_id", "-"),
        type(exc).__name__,
        exc,
    )
    return error_response(
        503, MESSAGE, "backend_unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def init_app(app: Flask) -> None:
    """Register the 503 for every backend's transport errors (the more specific handler wins
    over the generic 500 one)."""
    import httpx
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    from postgrest.exceptions import APIError as PostgrestError

    app.register_error_handler(httpx.TransportError, unavailable)
    app.register_error_handler(HTTPClientError, unavailable)  # closed connections, read timeouts
    app.register_error_handler(BotoConnectionError, unavailable)  # refused, connect timeouts

    def postgrest_error(exc: PostgrestError):
        if str(exc.code) in POSTGREST_UNAVAILABLE:
            return unavailable(exc)
        return internal_error(exc)  # anything else is a bug

    app.register_error_handler(PostgrestError, postgrest_error)
