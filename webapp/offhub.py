"""Blocking work off the gevent hub.

Under gunicorn's gevent worker every request and stream of a process shares one OS thread (the
hub); a call that blocks it — a SQLite query, parsing a document, building an index — holds up
every other stream until it returns. `run_blocking` runs such a call on gevent's thread pool and
waits for it cooperatively; without gevent (tests, the CLI, a threaded worker) it simply calls it.

The call keeps the caller's context variables (Flask's app context lives in one), and a call made
from inside a blocking call runs in place: it is on a pool thread already, and waiting for another
pool thread from there could only tie up a second one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_off_hub: contextvars.ContextVar[bool] = contextvars.ContextVar("offhub.off_hub", default=False)


def gevent_threading_patched() -> bool:
    """True when gevent has monkey-patched `threading` (the app runs under a gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def _marked(func: Callable[..., T], args: tuple, kwargs: dict) -> T:
    _off_hub.set(True)
    return func(*args, **kwargs)


def run_blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, on a real thread when the hub must not block."""
    if _off_hub.get() or not gevent_threading_patched():
        return func(*args, **kwargs)
    from gevent import get_hub

    context = contextvars.copy_context()
    return get_hub().threadpool.apply(context.run, (_marked, func, args, kwargs))
