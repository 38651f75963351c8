"""`webapp.offhub`: blocking calls leave the gevent hub (and carry the caller's context), the
hub watch counts what still blocks it. Under gevent the checks run in a child process, since
monkey-patching the test process would change every other test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

from tests.conftest import ROOT
from webapp.offhub import off_hub, off_hub_methods, on_hub, run_blocking

GEVENT_CHILD = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import contextvars
    import json
    import time

    import gevent
    from gevent.hub import get_thread_ident

    from webapp.offhub import HubWatch, off_hub, off_hub_methods, on_hub, run_blocking

    really_sleep = monkey.get_original("time", "sleep")
    caller = contextvars.ContextVar("caller")
    caller.set("stream-7")
    hub_thread = get_thread_ident()
    watch = HubWatch(0.1)
    watch.start()
    facts = {"on_hub": on_hub()}

    ticks = []

    def ticker(until):
        while time.monotonic() < until:
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    # a blocking call through run_blocking: the other greenlets go on meanwhile
    tick = gevent.spawn(ticker, time.monotonic() + 0.4)
    where = run_blocking(lambda: (really_sleep(0.3), get_thread_ident(), caller.get())[1:])
    tick.join()
    facts["thread_differs"] = where[0] != hub_thread
    facts["context"] = where[1]
    facts["ticks_during_call"] = len(ticks)
    facts["blocks_after_off_hub_call"] = watch.snapshot().count

    @off_hub_methods
    class Store:
        def outer(self):
            return (get_thread_ident(), self.inner(), on_hub())

        def inner(self):
            return get_thread_ident()

        def _private(self):
            return get_thread_ident()

        def rows(self):
            yield get_thread_ident()

    store = Store()
    outer, inner, inside_on_hub = store.outer()
    facts["one_hop_for_nested_calls"] = outer == inner != hub_thread
    facts["on_hub_inside_pool"] = inside_on_hub
    facts["private_in_place"] = store._private() == hub_thread
    facts["generator_in_place"] = next(store.rows()) == hub_thread

    # the same sleep on the hub: one block, lasting at least two checks
    gevent.spawn(lambda: really_sleep(0.35)).join()
    gevent.sleep(0.3)
    blocks = watch.snapshot()
    facts["blocks"] = blocks.count
    facts["longest"] = blocks.longest_seconds
    print(json.dumps(facts))
    """
)


def test_under_gevent_blocking_calls_leave_the_hub_and_the_watch_counts_what_does_not():
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["on_hub"] is True
    assert facts["thread_differs"] and facts["context"] == "stream-7"
    assert facts["ticks_during_call"] >= 10  # the hub kept running the ticker
    assert facts["blocks_after_off_hub_call"] == 0
    assert facts["one_hop_for_nested_calls"] and facts["on_hub_inside_pool"] is False
    assert facts["private_in_place"] and facts["generator_in_place"]
    # in steps of the 0.1 s threshold: a monitor thread starved on a loaded machine sees fewer
    assert facts["blocks"] == 1 and facts["longest"] >= 0.1
    assert "hub blocked for at least 0.1 s" in done.stderr


def test_without_gevent_everything_runs_in_place():
    @off_hub
    def where() -> int:
        return threading.get_ident()

    @off_hub_methods
    class Store:
        def where(self) -> int:
            return threading.get_ident()

    here = threading.get_ident()
    assert not on_hub()
    assert where() == here and Store().where() == here
    assert run_blocking(threading.get_ident) == here
