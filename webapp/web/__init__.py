"""The web page for engineers: one HTML page and its static ES modules and CSS.

The page uses the public API only (the same routes as any client), so this package adds no data
routes: it answers `GET /` with the page when a browser asks for HTML (API clients keep the JSON
index), and serves the static files under a content-versioned path so they can be cached for
good (nginx serves the same files in a deployment). Every page response carries a strict
Content-Security-Policy: scripts, styles and connections only from this origin, images also from
the object storage that presigned or public links point at.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    send_from_directory,
)

STATIC = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static/web"
IMMUTABLE = "public, max-age=31536000, immutable"

bp = Blueprint("web", __name__, template_folder="templates")


def asset_version(folder: Path = STATIC) -> str:
    """A digest of every static file's path and content: the page links the files under it, so
    a release with changed files gets new URLs and nothing stale is served from a cache."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = asset_version()


def storage_origin(config: dict) -> str | None:
    """The origin of the object storage links the API hands out (public base URL, else the S3
    endpoint presigned URLs point at), which the page must be allowed to show images from; None
    when images come from this server (`/images/...`)."""
    if config.get("STORAGE") != "s3":
        return None
    from webapp.stores.objects.s3 import public_base_url

    base = public_base_url(config) or config.get("R2_ENDPOINT_URL") or ""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(config: dict) -> str:
    """No inline script or style anywhere, nothing from other origins but storage images."""
    images = " ".join(filter(None, ["'self'", storage_origin(config)]))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def wants_page() -> bool:
    """A browser navigating to `/` (HTML preferred over JSON); curl, `*/*` and API clients get
    the JSON index as before."""
    if request.path != "/" or request.method not in ("GET", "HEAD"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


def page() -> Response | None:
    """`before_request` hook: the page for browsers at `/`, nothing (the API route) otherwise."""
    if not wants_page():
        return None
    html = render_template("web/index.html", assets=f"{STATIC_PREFIX}/{ASSET_VERSION}", lang="ru")
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = content_security_policy(current_app.config)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def vary_on_accept(response: Response) -> Response:
    """`/` answers HTML or JSON by the Accept header: caches must keep them apart."""
    if request.path == "/":
        response.vary.add("Accept")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.get(f"{STATIC_PREFIX}/<version>/<path:filename>")
def static_file(version: str, filename: str) -> Response:
    """A static file; cached for a year under the current version, revalidated under any other
    (a page loaded before a release still gets working files)."""
    response = send_from_directory(STATIC, filename, max_age=0)
    if version == ASSET_VERSION:
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.before_request(page)
    app.after_request(vary_on_accept)
    app.register_blueprint(bp)
