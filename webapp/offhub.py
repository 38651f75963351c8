"""Blocking work off the gevent hub, and a watch on the hub that proves it.

Under gunicorn's gevent worker every request and stream of a process shares one OS thread (the
hub); a call that blocks it — a SQLite query, a busy wait on another process's write lock,
parsing a document, encoding a large body — holds up every other stream until it returns.
`run_blocking` runs such a call on one of the process's OS threads and waits for it
cooperatively; without gevent (tests, the CLI, a threaded worker), or when already off the hub
(inside one of those threads), it simply calls it. `off_hub` (a function) and `off_hub_methods`
(every public method of a class) are the same idiom as decorators: one hop per outer call, nested
calls run in place, so a unit of work that makes several queries pays for one hop.

`HubWatch` turns on gevent's monitor thread and counts the blocks it reports (`EventLoopBlocked`:
no greenlet switch for `max_blocking_time`), so a test or a benchmark can assert there are none.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask.json.provider import DefaultJSONProvider

T = TypeVar("T")
C = TypeVar("C", bound=type)
log = logging.getLogger("webapp.offhub")


def gevent_threading_patched() -> bool:
    """True when gevent has monkey-patched `threading` (the app runs under a gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def _hub_to_leave() -> Any:
    """The main hub when the caller is a greenlet of its thread (a hop is due), else None."""
    if not gevent_threading_patched():
        return None
    from gevent import get_hub, getcurrent
    from gevent._hub_local import get_hub_if_exists
    from gevent.hub import MAIN_THREAD_IDENT, get_thread_ident

    hub = get_hub_if_exists()
    if hub is None and get_thread_ident() == MAIN_THREAD_IDENT:
        hub = get_hub()  # the main thread's hub, not made yet (nothing has waited so far)
    if hub is None or not hub.main_hub or getcurrent() is hub:
        return None  # a pool thread (no hub of its own), or the hub itself, which cannot wait
    return hub


def on_hub() -> bool:
    """True when the caller runs on the gevent hub's thread, where blocking holds up everyone."""
    return _hub_to_leave() is not None


def run_blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, on a real thread when the hub must not block. It runs in a copy
    of the caller's context variables, so Flask's app and request contexts are there too."""
    hub = _hub_to_leave()
    if hub is None:
        return func(*args, **kwargs)
    return _threads().call(hub, contextvars.copy_context().run, (func, *args), kwargs)


THREADS = 10  # calls off the hub at once per process (as gevent's own pool); the rest queue


class _Threads:
    """The OS threads `run_blocking` uses, and the way results come back.

    Lighter than gevent's ThreadPool for many short calls (a query is tens of microseconds): a
    call is one put on a native queue, and its result one thread-safe callback on the hub's loop
    that switches back to the waiting greenlet — no watcher, semaphore or async result per call.
    Measured by scripts/bench/offhub."""

    def __init__(self, size: int) -> None:
        import _queue
        from gevent import monkey

        self.pid = os.getpid()
        self._tasks: Any = _queue.SimpleQueue()  # C, never patched: real threads block on it
        self._waiting = 0  # calls in flight (counted on the hub's thread only)
        self._alive: Any = None  # a watcher that keeps the hub's loop running meanwhile
        start = monkey.get_original("_thread", "start_new_thread")
        for _ in range(size):
            start(self._work, ())

    def call(self, hub: Any, func: Callable[..., T], args: tuple, kwargs: dict) -> T:
        from gevent.hub import Waiter

        waiter = Waiter(hub)
        if self._alive is None:
            self._alive = hub.loop.async_()
        if self._waiting == 0:  # without an active watcher the loop would exit while we wait
            self._alive.start(_nothing)
        self._waiting += 1
        try:
            self._tasks.put((hub.loop, waiter, func, args, kwargs))
            return waiter.get()
        finally:
            self._waiting -= 1
            if self._waiting == 0:
                self._alive.stop()

    def _work(self) -> None:
        while True:
            self._run(*self._tasks.get())

    @staticmethod
    def _run(loop: Any, waiter: Any, func: Callable, args: tuple, kwargs: dict) -> None:
        try:
            result = func(*args, **kwargs)
        except BaseException:
            loop.run_callback_threadsafe(waiter.throw, *sys.exc_info())
        else:
            loop.run_callback_threadsafe(waiter.switch, result)


def _nothing() -> None:
    """The keep-alive watcher's callback (it is never signalled)."""


_pool: _Threads | None = None
_pool_lock = threading.Lock()


def _threads() -> _Threads:
    """This process's threads (made at first use, again after a fork: threads do not survive
    one)."""
    global _pool
    pool = _pool
    if pool is None or pool.pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool.pid != os.getpid():
                _pool = _Threads(THREADS)
            pool = _pool
    return pool


def cooperate() -> None:
    """Let the other greenlets run (a switch point in a loop that does no I/O); a no-op off
    the hub."""
    if _hub_to_leave() is not None:
        import gevent

        gevent.sleep(0)


def off_hub(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a function that blocks (I/O, a C library, CPU-heavy work): callers on the hub
    wait for it cooperatively while it runs on gevent's thread pool."""
    if getattr(func, "__off_hub__", False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_blocking(func, *args, **kwargs)

    wrapper.__off_hub__ = True  # type: ignore[attr-defined]
    return wrapper


def off_hub_methods(cls: C) -> C:
    """Decorate a class whose public methods block (a store on a local database): each of them,
    its own or inherited, becomes `off_hub`. Private helpers run where their caller runs, and so
    do generators (a hop would cover only their creation, not the work of each step)."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attribute = inspect.getattr_static(cls, name)
        if inspect.isfunction(attribute) and not inspect.isgeneratorfunction(attribute):
            setattr(cls, name, off_hub(attribute))
    return cls


class OffHubJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with large response bodies encoded off the hub.

    Whether a body is large is estimated by a walk that stops early (at `LARGE_NODES` values or
    `LARGE_CHARS` characters of strings), so a small body pays a few microseconds and is encoded
    in place — cheaper than a hop — while a chat's long history or a big tree hops once."""

    LARGE_NODES = 1000
    LARGE_CHARS = 64 * 1024

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        encode = super().dumps
        if on_hub() and _larger_than(obj, self.LARGE_NODES, self.LARGE_CHARS):
            return run_blocking(encode, obj, **kwargs)
        return encode(obj, **kwargs)


def _larger_than(obj: Any, nodes: int, chars: int) -> bool:
    """True once the walk has met more than `nodes` values or `chars` characters of strings
    (a container's values are counted before they are walked, so a huge one stops it at once)."""
    pending = [obj]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            chars -= len(item)
        elif isinstance(item, (dict, list, tuple)):
            nodes -= len(item)
            if nodes < 0:
                return True
            pending.extend(item.values() if isinstance(item, dict) else item)
        if chars < 0:
            return True
    return False


def native_lock() -> Any:
    """A lock of the OS (not gevent's) for state touched from pool threads as well as from
    greenlets; hold it only around a few Python statements, never across I/O."""
    if gevent_threading_patched():
        from gevent import monkey

        return monkey.get_original("threading", "Lock")()
    return threading.Lock()


# --- watching the hub ----------------------------------------------------------------------------


@dataclass
class HubBlocks:
    """What the monitor saw: blocks longer than `threshold` seconds and the longest of them
    (a lower bound in steps of `threshold`: the monitor checks once per `threshold`)."""

    threshold: float
    count: int = 0
    longest_seconds: float = 0.0
    last_where: str = ""


class HubWatch:
    """gevent's monitor thread, counting the hub's blocks in this process.

    The monitor wakes every `threshold` seconds and reports when no greenlet switch happened since
    its last wake while a greenlet other than the hub ran. Reports in consecutive wakes for one
    greenlet are one block that lasted longer; each block is counted once and logged with the
    hub thread's stack, which names the call that blocked.
    """

    def __init__(self, threshold: float = 0.1) -> None:
        self.blocks = HubBlocks(threshold)
        self._lock = native_lock()
        self._streak: tuple[int, float, int] | None = None  # (greenlet id, report time, reports)
        self._hub: Any = None

    def start(self) -> None:
        """Turn the monitor on in this process (a gevent worker, after the fork)."""
        import gevent
        from gevent import events

        gevent.config.monitor_thread = True
        gevent.config.max_blocking_time = self.blocks.threshold
        gevent.config.print_blocking_reports = False  # our log line is shorter and says enough
        self._hub = gevent.get_hub()
        events.subscribers.append(self._on_event)
        with warnings.catch_warnings():  # "install psutil": memory is not what we watch
            warnings.simplefilter("ignore")
            self._hub.start_periodic_monitoring_thread()

    def snapshot(self) -> HubBlocks:
        with self._lock:
            return HubBlocks(**vars(self.blocks))

    def _on_event(self, event: Any) -> None:
        """Runs on the monitor thread, for every gevent event: count the blocked-loop ones."""
        from gevent.events import EventLoopBlocked

        if not isinstance(event, EventLoopBlocked) or event.hub is not self._hub:
            return  # a pool thread that made a hub of its own is meant to block
        now = time.monotonic()
        threshold = self.blocks.threshold
        with self._lock:
            streak = self._streak
            same = (
                streak is not None
                and streak[0] == id(event.greenlet)
                and now - streak[1] < threshold * 1.9
            )
            reports = streak[2] + 1 if same and streak else 1
            self._streak = (id(event.greenlet), now, reports)
            if not same:
                self.blocks.count += 1
            lasted = reports * threshold
            self.blocks.longest_seconds = max(self.blocks.longest_seconds, lasted)
            where = _hub_stack(event)
            self.blocks.last_where = where
        # logged by the hub once it runs again: the log's locks are gevent's, not this thread's
        self._hub.loop.run_callback_threadsafe(
            log.warning,
            "hub blocked for at least %.1f s by %s at:\n%s",
            lasted,
            str(event.greenlet),
            where,
        )


def _hub_stack(event: Any, frames: int = 8) -> str:
    """Where the block is: the hub thread's innermost frames while the greenlet still runs;
    once it has switched away (the report came late), where it switched from."""
    frame = getattr(event.greenlet, "gr_frame", None)
    if frame is not None:
        stack = traceback.format_stack(frame)[-frames:]
        return "(ended; it then switched at)\n" + "".join(stack).rstrip()
    ident = getattr(event.hub, "thread_ident", None)
    frame = sys._current_frames().get(ident) if ident is not None else None
    if frame is None:
        return "(stack unavailable)"
    return "".join(traceback.format_stack(frame)[-frames:]).rstrip()
