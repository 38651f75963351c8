"""Where blocking render work runs, and how concurrent requests for one image share a render.

Under gunicorn's gevent worker a Wand call made from a greenlet blocks the hub (and every other
request) until ImageMagick returns; gevent's thread pool runs it on a real thread instead.
Without gevent, a plain ThreadPoolExecutor bounds concurrency the same way. The choice is made at
first use, after the app had its chance to monkey-patch.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Generic, TypeVar

from webapp.offhub import gevent_threading_patched

T = TypeVar("T")


class RenderPool:
    """A bounded pool of `workers` real threads for CPU/C-library work (Wand)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, int(workers))
        self._pool: Any = None
        self._uses_gevent = False
        self._create_lock = threading.Lock()

    def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `func` on a pool thread and wait for it (cooperatively under gevent)."""
        pool = self._get_pool()
        if self._uses_gevent:
            return pool.apply(func, args, kwargs)
        return pool.submit(func, *args, **kwargs).result()

    def shutdown(self) -> None:
        with self._create_lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._uses_gevent:
            pool.kill()
        else:
            pool.shutdown(wait=True)

    def _get_pool(self) -> Any:
        if self._pool is None:
            with self._create_lock:
                if self._pool is None:
                    if gevent_threading_patched():
                        from gevent.threadpool import ThreadPool

                        self._uses_gevent = True
                        self._pool = ThreadPool(self.workers)
                    else:
                        self._pool = ThreadPoolExecutor(
                            max_workers=self.workers, thread_name_prefix="render"
                        )
        return self._pool


class _Call(Generic[T]):
    def __init__(self) -> None:
        # Looked up at call time: a gevent-patched Event when the app runs under gevent.
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.followers = 0


class SingleFlight(Generic[T]):
    """Collapse concurrent calls with one key into one: followers wait for the leader's result."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call[T]] = {}
        self._lock = threading.Lock()  # held only around dict updates, never while waiting

    def do(self, key: str, func: Callable[[], T]) -> tuple[T, bool]:
        """Return `(result, shared)`: `shared` is True when another caller's render was reused."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = _Call()
                self._calls[key] = call
            else:
                call.followers += 1
        assert call is not None
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result, True  # type: ignore[return-value]
        try:
            call.result = func()
            return call.result, False
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                self._calls.pop(key, None)
            call.done.set()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)

    def followers(self, key: str) -> int:
        """How many callers are waiting on the render of `key` right now."""
        with self._lock:
            call = self._calls.get(key)
            return call.followers if call else 0
