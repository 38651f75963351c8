"""Liveness, readiness and the service index (no auth)."""

from __future__ import annotations

from apiflask import APIBlueprint

from webapp.config import VERSION as __version__
from webapp.health import readiness
from webapp.routes.schemas import Health, Ready, Root
from webapp.stores.unavailable import RETRY_AFTER_SECONDS

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/health")
@bp.output(Health)
def health():
    """Liveness: the process answers."""
    return {"status": "healthy", "version": __version__, "service": "aizoomdoc-server"}


@bp.get("/health/ready")
@bp.output(Ready)
@bp.doc(responses={503: "A component is down"})
def ready():
    """Readiness: each backend answers (200), or which ones do not (503)."""
    report = readiness()
    if report["status"] == "ready":
        return report, 200
    return report, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


@bp.get("/")
@bp.output(Root)
def index():
    """Where to find the docs and the health check (a browser that prefers `text/html` gets the
    web page here instead)."""
    return {
        "service": "AIZoomDoc Server",
        "version": __version__,
        "docs": "/docs",
        "health": "/health",
    }
