"""Readiness: each component checked quickly, with what is down named."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from flask import current_app

from webapp.evidence.service import renderer
from webapp.stores import stores

READY_TIMEOUT = 3.0
LOW_DISK_BYTES = 1024 * 1024  # less free space than this in the render cache: renders go uncached


def _check(probe: Callable[[], str | None]) -> dict:
    started = time.perf_counter()
    try:
        note = probe()
        result = {"ok": True}
        if note:
            result["note"] = note
    except Exception as exc:  # a readiness probe reports every failure, whatever it is
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _render_cache(path: str) -> Callable[[], str | None]:
    """The cache folder is writable; a full disk is a note, not a failure: renders are then
    served uncached."""

    def probe() -> str | None:
        Path(path).mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is not writable")
        if shutil.disk_usage(path).free < LOW_DISK_BYTES:
            return "no space left: renders are served without caching them"
        return None

    return probe


def _renderer() -> str | None:
    """Ghostscript starts and answers (the crops of drawings are rendered with it)."""
    renderer().ghostscript.version()
    return None


def _llm() -> str | None:
    if current_app.config["LLM_PROVIDER"] == "local":
        return "no language model configured: the offline local engine answers"
    if not current_app.config["DEFAULT_GEMINI_API_KEY"]:
        return (
            "no server Gemini key: users with their own key get Gemini, the others the "
            "offline local engine"
        )
    return None


def readiness(timeout: float = READY_TIMEOUT) -> dict:
    """Every component checked at once; one that does not answer within `timeout` is down."""
    parts = stores()
    probes: dict[str, Callable[[], str | None]] = {
        "chat_db": parts.chat.ping,
        "projects_db": parts.projects.ping,
        "storage": parts.objects.ping,
        "render_cache": _render_cache(current_app.config["EVIDENCE_CACHE_DIR"]),
        "renderer": _renderer,
        "llm": _llm,
    }
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def in_app(probe: Callable[[], str | None]) -> dict:
        with app.app_context():
            return _check(probe)

    pool = ThreadPoolExecutor(max_workers=len(probes))
    futures = {name: pool.submit(in_app, probe) for name, probe in probes.items()}
    wait(futures.values(), timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    checks = {
        name: (
            future.result()
            if future.done()
            else {"ok": False, "error": f"no answer within {timeout:g} s"}
        )
        for name, future in futures.items()
    }
    down = [name for name, result in checks.items() if not result["ok"]]
    from webapp.runs.manager import runs

    manager = runs()
    queue = {**manager.pool.snapshot(), "runs_here": len(manager.channels)}
    return {
        "status": "degraded" if down else "ready",
        "down": down,
        "checks": checks,
        "queue": queue,
    }
