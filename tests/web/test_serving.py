"""How the page and its files are served: content negotiation at `/`, the Content-Security-
Policy, cache headers. Flask's test client; the browser tests are in test_browser.py."""

from __future__ import annotations

import re

import pytest

from webapp.web import ASSET_VERSION, STATIC, asset_version, content_security_policy

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/web/[^"]+)"', html)


def test_browsers_get_the_page_and_api_clients_the_json_index(client):
    page = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<div id="app"' in html and 'lang="ru"' in html
    assert '<script type="module" src="/static/web/' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP forbids it
    assert page.headers["Cache-Control"] == "no-cache"
    assert "Accept" in page.headers["Vary"]
    for accept in (None, "*/*", "application/json", "application/json, text/html"):
        headers = {"Accept": accept} if accept else {}
        index = client.get("/", headers=headers)
        assert index.status_code == 200 and index.json["docs"] == "/docs", accept
        assert "Accept" in index.headers["Vary"]
    assert client.head("/", headers={"Accept": BROWSER_ACCEPT}).mimetype == "text/html"
    # only `/` is negotiated: other routes answer JSON whatever a browser sends
    assert client.get("/health", headers={"Accept": BROWSER_ACCEPT}).json["status"] == "healthy"


def test_the_page_has_a_strict_content_security_policy(client):
    policy = client.get("/", headers={"Accept": "text/html"}).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in policy


@pytest.mark.parametrize(
    "settings, origin",
    [
        (
            {"STORAGE": "s3", "R2_ENDPOINT_URL": "https://acc.r2.cloudflarestorage.com"},
            "https://acc.r2.cloudflarestorage.com",
        ),
        (
            {
                "STORAGE": "s3",
                "R2_ENDPOINT_URL": "https://e.example",
                "R2_PUBLIC_DOMAIN": "files.example.com/sub",
            },
            "https://files.example.com",
        ),
        (
            {"STORAGE": "s3", "USE_S3_DEV_URL": True, "S3_DEV_URL": "http://127.0.0.1:9000/b/"},
            "http://127.0.0.1:9000",
        ),
        ({"STORAGE": "local", "R2_ENDPOINT_URL": "https://unused.example"}, None),
    ],
)
def test_images_may_come_from_the_configured_storage_only(settings, origin):
    """Presigned or public storage links are the only images from another origin."""
    policy = content_security_policy(settings)
    images = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert images == "img-src 'self'" + (f" {origin}" if origin else "")


def test_static_files_are_versioned_and_cached_for_good(client):
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assets = _assets(html)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"favicon.svg", "style.css", "app.js"}
    for url in assets:
        assert f"/static/web/{ASSET_VERSION}/" in url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    module = client.get(f"/static/web/{ASSET_VERSION}/app.js")
    assert module.mimetype == "text/javascript"
    # a page from before a release asks for the old version: it gets today's files, revalidated
    old = client.get("/static/web/000000000000/markdown.js")
    assert old.status_code == 200 and old.headers["Cache-Control"] == "no-cache"
    assert client.get(f"/static/web/{ASSET_VERSION}/nope.js").status_code == 404
    assert client.get(f"/static/web/{ASSET_VERSION}/../__init__.py").status_code == 404


def test_asset_version_follows_the_files(tmp_path):
    (tmp_path / "a.js").write_text("one")
    first = asset_version(tmp_path)
    (tmp_path / "a.js").write_text("two")
    assert asset_version(tmp_path) != first
    assert asset_version(STATIC) == ASSET_VERSION


def test_every_ui_string_lives_in_strings_js():
    """Russian text belongs in strings.js: the other modules show it only through `T`."""
    cyrillic = re.compile(r"[А-Яа-яЁё]")
    for path in STATIC.glob("*.js"):
        if path.name == "strings.js":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("//", 1)[0]
            if path.name == "app.js" and "DEFAULT_TITLE" in code:
                continue  # the server's default chat title, compared with, not shown
            assert not cyrillic.search(code), f"{path.name}:{number}: {line.strip()}"
