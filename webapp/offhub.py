"""Blocking work off the gevent hub.

Under gunicorn's gevent worker every request and stream of a process shares one OS thread (the
hub); a call that blocks it — a SQLite query, parsing a document, building an index — holds up
every other stream until it returns. `run_blocking` runs such a call on gevent's thread pool and
waits for it cooperatively; without gevent (tests, the CLI, a threaded worker) it simply calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def gevent_threading_patched() -> bool:
    """True when gevent has monkey-patched `threading` (the app runs under a gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def run_blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, on a real thread when the hub must not block."""
    if not gevent_threading_patched():
        return func(*args, **kwargs)
    from gevent import get_hub

    return get_hub().threadpool.apply(func, args, kwargs)
