"""Readiness: each component checked quickly, with what is down named (SPEC §4.2)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from flask import current_app

from webapp.stores import stores


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


def _writable_dir(path: str) -> Callable[[], None]:
    def probe() -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is not writable")

    return probe


def _llm() -> str | None:
    if current_app.config["LLM_PROVIDER"] == "local":
        return "no language model configured: the offline local engine answers"
    if not current_app.config["DEFAULT_GEMINI_API_KEY"]:
        return "no server Gemini key: only users with their own key get answers"
    return None


def readiness() -> dict:
    parts = stores()
    checks = {
        "chat_db": _check(lambda: parts.chat.ping()),
        "projects_db": _check(lambda: parts.projects.ping()),
        "storage": _check(lambda: parts.objects.ping()),
        "render_cache": _check(_writable_dir(current_app.config["EVIDENCE_CACHE_DIR"])),
        "llm": _check(_llm),
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
