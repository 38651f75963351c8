"""Prometheus metrics of this process (`/metrics`): requests, runs, queue, renders and
cache hits, LLM calls and tokens. Each gunicorn worker keeps its own; scrape every worker (or
sum them) — the `worker` label says which one answered.

The registry is the app's (`app.extensions["aizoomdoc.metrics"]`, reached with `registry()`);
packages count into it, and those with a state to show (runs: slots, queue) register gauges.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections import defaultdict
from collections.abc import Callable

from apiflask import APIBlueprint
from flask import Flask, Response, current_app, request

from webapp.errors import APIError

LOOPBACK = ("127.0.0.1", "::1")
EXTENSION = "aizoomdoc.metrics"


class Registry:
    """Counters and summaries, and gauges read when scraped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self.help: dict[str, tuple[str, str]] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A value read at every scrape (`read()`), e.g. the runs holding a slot."""
        with self._lock:
            self.gauges[name] = (help_text, read)

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 when never counted)."""
        with self._lock:
            return self.counters.get(self._key(name, labels), 0.0)

    def _key(self, name: str, labels: dict) -> tuple[str, tuple]:
        return name, tuple(sorted(labels.items()))

    def inc(self, name: str, help_text: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.help.setdefault(name, ("counter", help_text))
            self.counters[self._key(name, labels)] += value

    def observe(self, name: str, help_text: str, seconds: float, **labels: str) -> None:
        """A summary: `<name>_sum` and `<name>_count`."""
        with self._lock:
            self.help.setdefault(name, ("summary", help_text))
            self.counters[self._key(name + "_sum", labels)] += seconds
            self.counters[self._key(name + "_count", labels)] += 1

    def render(self) -> str:
        worker = str(os.getpid())
        lines: list[str] = []
        with self._lock:
            items = sorted(self.counters.items())
            described = dict(self.help)
            gauges = {name: (text, read()) for name, (text, read) in self.gauges.items()}
        seen: set[str] = set()
        for (name, labels), value in items:
            base = name.removesuffix("_sum").removesuffix("_count")
            family = base if base in described else name
            if family not in seen and family in described:
                kind, text = described[family]
                lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
                seen.add(family)
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in (*labels, ("worker", worker)))
            lines.append(f"{name}{{{label_text}}} {value:g}")
        for name, (text, value) in gauges.items():
            lines += [
                f"# HELP {name} {text}",
                f"# TYPE {name} gauge",
                f'{name}{{worker="{worker}"}} {value:g}',
            ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def registry(app: Flask | None = None) -> Registry:
    """The app's metrics registry."""
    return (app or current_app).extensions[EXTENSION]


bp = APIBlueprint("metrics", __name__, tag="Health")


def _allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.encode())
    return request.remote_addr in LOOPBACK and "X-Forwarded-For" not in request.headers


@bp.get("/metrics")
@bp.doc(
    security=[{"MetricsToken": []}, {}],
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        404: "Metrics are off or not allowed",
    },
)
def metrics():
    """Prometheus metrics (METRICS_ENABLED; a METRICS_TOKEN bearer token, else loopback only)."""
    if not current_app.config["METRICS_ENABLED"] or not _allowed():
        raise APIError(404, "No such resource.", "not_found")
    return Response(registry().render(), mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Registry()
    app.register_blueprint(bp)

    @app.after_request
    def count_request(response):
        if request.endpoint != "metrics.metrics":
            route = request.url_rule.rule if request.url_rule else "unmatched"
            registry().inc(
                "aizoomdoc_http_requests_total",
                "HTTP requests by route and status.",
                method=request.method,
                route=route,
                status=str(response.status_code),
            )
        return response
