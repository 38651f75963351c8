"""Helpers shared by the Supabase stores, which reach PostgreSQL through PostgREST (supabase-py).

PostgREST takes filters in the URL, so every user value is either passed to the query builder's
`eq/in_/...` (which send it as the whole filter value) or, inside `or=(...)`, double-quoted by
`quote`. LIKE patterns escape `\\`, `%` and `_` so user text matches literally.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar

from postgrest.exceptions import APIError

Row = dict[str, Any]
Method = TypeVar("Method", bound=Callable[..., Any])

# Supabase's API caps a response at `max_rows` (1000 by default): longer reads are paged.
PAGE_SIZE = 1000
# Ids per `in.(...)` filter, so URLs stay far below proxies' limits.
IN_CHUNK = 100
UNIQUE_VIOLATION = "23505"
TIMESTAMP_COLUMNS = frozenset(
    {
        "created_at",
        "updated_at",
        "last_seen_at",
        "deleted_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "uploaded_at",
        "expires_at",
        "added_at",
        "applied_at",
        "pdf_status_updated_at",
    }
)
_FRACTION = re.compile(r"\.(\d+)")


class SchemaMissing(RuntimeError):
    """The Supabase database lacks this server's migrations (DDL cannot go through PostgREST)."""


def create_client(url: str, key: str, setting: str, timeout: float = 30.0) -> Any:
    """A supabase-py client; `setting` names the URL variable for the error message. A
    request that has not answered within `timeout` seconds fails (the route answers 503)."""
    if not url or not key:
        raise ValueError(f"{setting} and its service (or anon) key must be set")
    import httpx
    from supabase import ClientOptions
    from supabase import create_client as supabase_client

    # httpx logs every request URL at INFO, and our filters carry usernames and token hashes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = ClientOptions(
        auto_refresh_token=False,
        persist_session=False,
        httpx_client=httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), follow_redirects=True
        ),
    )
    client = supabase_client(url, key, options)
    client.postgrest  # noqa: B018 - build the REST client once, before threads share it
    return client


def is_uuid(value: Any) -> bool:
    """Ids of uuid columns: anything else cannot match a row (and PostgreSQL would answer 400)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_serial(value: Any) -> bool:
    """Ids of integer (serial) columns; a bool is not one, though Python counts it as an int."""
    return isinstance(value, int) and not isinstance(value, bool)


def only_ids(
    *names: str,
    valid: Callable[[Any], bool] = is_uuid,
    empty: Callable[[], Any] = lambda: None,
) -> Callable[[Method], Method]:
    """Make a store method send no request when one of its id arguments `names` cannot match a
    row (PostgreSQL would answer 400 to the filter): it returns `empty()` instead. An optional
    id (one that defaults to None) may be left None."""

    def decorate(method: Method) -> Method:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(*args, **kwargs).arguments
            for name in names:
                value = arguments.get(name)
                optional = signature.parameters[name].default is None
                if not (value is None and optional) and not valid(value):
                    return empty()
            return method(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def quote(value: str) -> str:
    """A value inside `or=(...)`: always double-quoted, `\\` and `"` escaped (PostgREST rules)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def like_escape(text: str) -> str:
    """Text matched literally by LIKE/ILIKE (PostgreSQL's default escape character is `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    """An ILIKE pattern for "contains `text`". PostgREST turns every `*` into `%` and has no
    escape for it, so a literal `*` becomes `_` (one character) and callers re-check the rows."""
    return "*" + like_escape(text).replace("*", "_") + "*"


def prefix_pattern(text: str) -> str:
    return like_escape(text).replace("*", "_") + "*"


def is_unique_violation(exc: APIError) -> bool:
    return str(exc.code) == UNIQUE_VIOLATION


def parse_timestamp(value: str) -> datetime:
    """PostgreSQL's ISO timestamps drop trailing zeros of the fraction, which Python 3.10's
    `fromisoformat` refuses: pad it to microseconds first."""
    text = value.replace("Z", "+00:00").replace(" ", "T", 1)
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def normalize(row: Row | None) -> Row | None:
    """Timestamps in the same ISO form as the SQLite stores (UTC, `+00:00`, microseconds)."""
    if row is None:
        return None
    for key in TIMESTAMP_COLUMNS.intersection(row):
        value = row[key]
        if isinstance(value, str):
            row[key] = parse_timestamp(value).astimezone(timezone.utc).isoformat()
    return row


def first(response: Any) -> Row | None:
    data = response.data or []
    return normalize(data[0]) if data else None


def rows(response: Any) -> list[Row]:
    return [normalize(r) for r in response.data or []]  # type: ignore[misc]


def chunks(values: Iterable[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def fetch_all(build: Callable[[], Any], page_size: int | None = None) -> list[Row]:
    """Every row of an ordered query, page by page (`build` returns a fresh, ordered builder)."""
    page_size = page_size or PAGE_SIZE
    result: list[Row] = []
    offset = 0
    while True:
        page = rows(build().range(offset, offset + page_size - 1).execute())
        result.extend(page)
        if len(page) < page_size:
            return result
        offset += page_size
