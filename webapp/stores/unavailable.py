"""A backend that cannot be reached answers 503 with Retry-After, never a 500.

Supabase (PostgREST over httpx) and S3 (botocore) fail with their own transport errors when the
network, the service or its database is down; a SQLite store fails with "database is locked"
once another process has held its write lock longer than SQLITE_BUSY_TIMEOUT_SECONDS (SQLite
retries until then). A client should retry those later, unlike a bug.
"""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, g

from webapp.errors import error_response, internal_error

log = logging.getLogger("webapp.stores")
RETRY_AFTER_SECONDS = 15
MESSAGE = "A backend of the server (database or object storage) is unreachable; try again later."
# PostgREST's own "cannot reach the database" answers (it sends them with 503).
POSTGREST_UNAVAILABLE = ("PGRST000", "PGRST001", "PGRST002", "PGRST003")
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def _transport_errors() -> tuple[type[BaseException], ...]:
    import httpx
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    # httpx: refused, reset, timed out; botocore: closed connections and read timeouts
    # (HTTPClientError), refused and connect timeouts (ConnectionError)
    return (httpx.TransportError, HTTPClientError, BotoConnectionError)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says a backend is out of reach for now, not a bug."""
    from postgrest.exceptions import APIError as PostgrestError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _transport_errors()):
            return True
        if isinstance(exc, PostgrestError) and str(exc.code) in POSTGREST_UNAVAILABLE:
            return True
        if isinstance(exc, sqlite3.OperationalError) and str(exc) in SQLITE_BUSY:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


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
    from postgrest.exceptions import APIError as PostgrestError

    for error in _transport_errors():
        app.register_error_handler(error, unavailable)

    def postgrest_error(exc: PostgrestError):
        if is_unavailable(exc):
            return unavailable(exc)
        return internal_error(exc)  # anything else is a bug

    def sqlite_error(exc: sqlite3.OperationalError):
        if is_unavailable(exc):
            return unavailable(exc)  # locked longer than the busy timeout: retried, in vain
        return internal_error(exc)

    app.register_error_handler(PostgrestError, postgrest_error)
    app.register_error_handler(sqlite3.OperationalError, sqlite_error)
