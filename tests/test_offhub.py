"""`run_blocking` under a real gevent monkey-patch (in a subprocess: patching is process-wide)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import contextvars
    import json

    import gevent
    from gevent.monkey import get_original

    from webapp.offhub import run_blocking

    real_ident = get_original("_thread", "get_ident")
    hub_thread = real_ident()
    request = contextvars.ContextVar("request")


    def inner():
        return real_ident(), request.get()


    def outer():
        return real_ident(), run_blocking(inner)


    def ticker(out):
        for _ in range(5):
            out.append(1)
            gevent.sleep(0.01)


    def slow():
        import time

        time.sleep(0.2)  # a real block, as parsing is: the hub keeps running the ticker
        return real_ident()


    request.set("r-1")
    outer_thread, (inner_thread, seen) = run_blocking(outer)
    ticks = []
    tick = gevent.spawn(ticker, ticks)
    slow_thread = run_blocking(slow)
    tick.join()
    print(json.dumps({
        "off_hub": outer_thread != hub_thread and slow_thread != hub_thread,
        "nested_in_place": inner_thread == outer_thread,
        "context": seen,
        "hub_ran_meanwhile": len(ticks),
    }))
    """
)


def test_run_blocking_under_gevent_keeps_context_and_nests_in_place() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "off_hub": True,
        "nested_in_place": True,
        "context": "r-1",
        "hub_ran_meanwhile": 5,
    }
