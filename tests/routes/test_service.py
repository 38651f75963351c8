"""Health, readiness, the index, documentation, and errors of every kind."""

from __future__ import annotations

import logging
import re


def test_health_and_index(client):
    assert client.get("/health").json == {
        "status": "healthy",
        "version": "2.0.0",
        "service": "aizoomdoc-server",
    }
    assert client.get("/").json == {
        "service": "AIZoomDoc Server",
        "version": "2.0.0",
        "docs": "/docs",
        "health": "/health",
    }


def test_ready_names_components(client):
    response = client.get("/health/ready")
    body = response.json
    assert response.status_code == 200 and body["status"] == "ready" and body["down"] == []
    assert all(check["ok"] for check in body["checks"].values()), body
    assert set(body["checks"]) == {
        "chat_db",
        "projects_db",
        "storage",
        "render_cache",
        "renderer",
        "llm",
    }
    assert "local engine" in body["checks"]["llm"]["note"]


def test_ready_503_names_what_is_down(app, client):
    import os

    os.remove(os.path.join(app.config["DATA_DIR"], "projects.db"))
    open(os.path.join(app.config["DATA_DIR"], "projects.db"), "w").close()  # empty: no tables
    response = client.get("/health/ready")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    body = response.json
    assert body["status"] == "degraded" and body["down"] == ["projects_db"]
    assert body["checks"]["projects_db"]["ok"] is False and body["checks"]["projects_db"]["error"]
    assert all(body["checks"][name]["ok"] for name in ("chat_db", "storage", "render_cache"))


def test_docs_cover_every_route(app, client):
    spec = client.get("/openapi.json").json
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule), method)  # converters aside
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if not rule.rule.startswith(("/static", "/docs", "/openapi", "/redoc"))
    }
    documented = {
        (path.replace("{", "<").replace("}", ">"), method.upper())
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert routes == documented
    assert spec["paths"]["/me"]["get"]["security"] == [{"BearerAuth": []}]
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and b"openapi.json" in redoc.data


def test_error_shapes(client, alice):
    cases = [
        (client.get("/no/such/route"), 404, "not_found"),
        (client.put("/chats", headers=alice.headers), 405, "method_not_allowed"),
        (
            client.post("/chats", data="x", content_type="text/plain", headers=alice.headers),
            415,
            "unsupported_media_type",
        ),
        (client.post("/chats", json={"title": 1}, headers=alice.headers), 422, "validation_error"),
    ]
    for response, status, code in cases:
        body = response.json
        assert set(body) == {"error", "message", "details", "detail"}
        assert body["message"] == body["detail"]
        assert response.status_code == status and body["error"] == code
        assert "Traceback" not in response.get_data(as_text=True)
        assert response.headers["X-Request-ID"]


def test_request_id_is_echoed_when_safe(client):
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    other = client.get("/health", headers={"X-Request-ID": "bad id <script>"}).headers[
        "X-Request-ID"
    ]
    assert other != "bad id <script>" and len(other) == 32


def test_500_is_logged_with_request_id_and_hides_details(app, client, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert "secret internals" not in response.get_data(as_text=True)
    assert request_id in response.json["message"]
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_one_log_line_per_request(client, alice, caplog):
    import json
    import time

    with caplog.at_level(logging.INFO, logger="webapp.request"):
        started = time.perf_counter()
        response = client.get("/chats", headers=alice.headers)
        elapsed_ms = (time.perf_counter() - started) * 1000
    lines = [r.getMessage() for r in caplog.records if r.name == "webapp.request"]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["user"] == "alice" and entry["status"] == 200 and entry["path"] == "/chats"
    assert entry["method"] == "GET" and entry["request_id"] == response.headers["X-Request-ID"]
    assert 0 < entry["duration_ms"] <= elapsed_ms + 0.1  # the request's own time, measured


def test_cors(tmp_path):
    from tests.conftest import app_settings
    from webapp import create_app

    app = create_app(app_settings(tmp_path, CORS_ORIGINS=["https://app.example"]))
    client = app.test_client()
    allowed = client.get("/health", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    denied = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert denied.json["status"] == "healthy"  # CORS only withholds the header from browsers
