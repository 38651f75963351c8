"""Single flight (one render for concurrent identical requests) and rendering off the gevent hub."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from webapp.evidence import BBox, Renderer
from webapp.evidence.ghostscript import Ghostscript
from webapp.evidence.pool import SingleFlight

from .helpers import make_dense_sheet, pdf_source

REPO = Path(__file__).resolve().parents[2]


class WaitingGhostscript(Ghostscript):
    """Real Ghostscript that starts rendering only once a second caller waits for the same image.

    This makes the overlap of the two requests certain instead of a matter of thread timing.
    """

    renderer: Renderer

    def render_fitted(self, *args, **kwargs):
        deadline = time.monotonic() + 20
        while not any(
            self.renderer.flight.followers(key) for key in list(self.renderer.flight._calls)
        ):
            if time.monotonic() > deadline:
                raise AssertionError("the second request never joined the first")
            time.sleep(0.01)
        return super().render_fitted(*args, **kwargs)


def test_two_threads_asking_for_the_same_image_render_once(tmp_path: Path, cache):
    ghostscript = WaitingGhostscript()
    renderer = Renderer(cache, zoom_max_side=800, ghostscript=ghostscript)
    ghostscript.renderer = renderer
    src = pdf_source(make_dense_sheet(tmp_path / "sheet.pdf", 1190, 842))
    results, errors = [], []
    start = threading.Barrier(2)

    def ask():
        start.wait()
        try:
            results.append(renderer.roi(src, BBox(0.2, 0.2, 0.6, 0.6), dpi=200))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    renderer.close()

    assert errors == []
    assert ghostscript.renders == 1
    assert results[0].png == results[1].png
    assert sorted(r.from_cache for r in results) == [False, True]
    assert cache.stats()["entries"] == 1
    assert renderer.flight.in_flight() == 0


def test_single_flight_passes_the_leaders_error_to_followers():
    flight: SingleFlight[int] = SingleFlight()
    entered, release = threading.Event(), threading.Event()
    outcomes = []

    def leader():
        entered.set()
        release.wait(10)
        raise ValueError("boom")

    def run(func):
        try:
            outcomes.append(flight.do("k", func))
        except ValueError as exc:
            outcomes.append(str(exc))

    first = threading.Thread(target=run, args=(leader,))
    first.start()
    entered.wait(10)
    second = threading.Thread(target=run, args=(lambda: 42,))
    second.start()
    while flight.followers("k") == 0:
        time.sleep(0.005)
    release.set()
    first.join(10)
    second.join(10)
    assert outcomes == ["boom", "boom"]
    assert flight.do("k", lambda: 7) == (7, False)  # the failed call is forgotten


GEVENT_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import json, os, sys
import gevent
from pathlib import Path
from webapp.evidence import BBox, CropSource, Renderer
from webapp.evidence.raster import ppm_to_png

renderer = Renderer(None, zoom_max_side=1500)
src = CropSource(Path(sys.argv[1]), "sheet", "v1", "application/pdf")
renderer.page_size_points(src)  # probe first: only the work itself is watched below
ticks = []

def watched(work):
    # How often another greenlet ran while `work` ran in its own greenlet.
    done = []
    def ticker():
        while not done:
            ticks.append(1)
            gevent.sleep(0.005)
    watcher = gevent.spawn(ticker)
    gevent.sleep(0.02)
    before = len(ticks)
    result = gevent.spawn(work).get()
    done.append(1)
    watcher.join()
    return result, len(ticks) - before

image, render_ticks = watched(lambda: renderer.roi(src, BBox(0, 0, 1, 1), dpi=150))
side = 3000  # ImageMagick alone: a noisy 9-MP image to encode, with the grid drawn
ppm = b"P6 %d %d 255\n" % (side, side) + os.urandom(side * side * 3)
png, wand_ticks = watched(
    lambda: renderer.pool.run(ppm_to_png, ppm, grid=True, width=side, height=side)
)
print(json.dumps({
    "render_ticks": render_ticks,
    "wand_ticks": wand_ticks,
    "pool": type(renderer.pool._pool).__module__,
    "width": image.width,
    "png": png[:4].decode("latin-1"),
}))
"""


def test_under_gevent_rendering_does_not_block_the_hub(tmp_path: Path):
    pdf = make_dense_sheet(tmp_path / "sheet.pdf", 1684, 1190)
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT, str(pdf)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pool"] == "gevent.threadpool"
    assert report["width"] == 1500 and report["png"] == "\x89PNG"
    # Other greenlets kept running while Ghostscript (a gevent subprocess) and ImageMagick (a
    # pool thread) worked: a blocked hub would let the ticker run at most once or twice.
    assert report["render_ticks"] >= 5
    assert report["wand_ticks"] >= 5
