"""Bad input gets a documented 4xx in the one error shape, and the app serves the next request as
before: oversized, deep, undecodable or NUL-carrying bodies, odd Last-Event-IDs, huge queries,
and backends that cannot be reached (503 with Retry-After)."""

from __future__ import annotations

import io
import socket

import pytest

from tests.conftest import app_settings
from tests.support.chat_session import parse_sse
from webapp import create_app
from webapp.links import sign_key


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert set(body) == {"error", "message", "details", "detail"}, body
    assert body["error"] == code and body["message"] == body["detail"], body
    return body


def _still_serving(client, user) -> None:
    """The same app answers a good request right after."""
    assert client.post("/chats", json={"title": "ok"}, headers=user.headers).status_code == 201


def _json(client, user, raw: bytes, path: str = "/chats"):
    return client.post(path, data=raw, content_type="application/json", headers=user.headers)


def test_ten_megabytes_of_json_is_413(client, alice):
    raw = b'{"title": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    body = _error(_json(client, alice, raw), 413, "payload_too_large")
    assert "too large" in body["message"]
    anonymous = client.post("/auth/exchange", data=raw, content_type="application/json")
    _error(anonymous, 413, "payload_too_large")
    _still_serving(client, alice)


def test_a_chunked_body_past_the_limit_is_413(client, alice):
    """Without Content-Length werkzeug stops reading at the limit: that is a 413 too."""

    def send(raw: bytes):
        return client.post(
            "/chats",
            input_stream=io.BytesIO(raw),
            content_type="application/json",
            headers={**alice.headers, "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},  # gunicorn de-chunks the body
        )

    _error(send(b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'), 413, "payload_too_large")
    small = send(b'{"title": "chunked"}')
    assert small.status_code == 201 and small.json["title"] == "chunked"


def test_the_json_limit_is_a_setting(tmp_path):
    app = create_app(app_settings(tmp_path / "small", MAX_JSON_BODY_MB=1))
    client = app.test_client()
    just_under = b'{"title": null, "pad": "' + b"x" * (1024 * 1024 - 100) + b'"}'
    response = client.post("/auth/exchange", data=just_under, content_type="application/json")
    assert response.status_code == 422  # read and validated: static_token is missing
    over = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    _error(
        client.post("/auth/exchange", data=over, content_type="application/json"),
        413,
        "payload_too_large",
    )


def test_deeply_nested_json_is_400(client, alice):
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        body = _error(_json(client, alice, raw), 400, "bad_request")
        assert body["message"] == "Request body is nested too deeply."
    _still_serving(client, alice)


def test_invalid_utf8_and_broken_json_are_400(client, alice):
    for raw in (b'{"title": "\xff\xfe"}', b'{"title": "a', b"\x00", b'{"title": "\xed\xa0\x80"}'):
        body = _error(_json(client, alice, raw), 400, "bad_request")
        assert body["message"] == "Request body is not valid JSON."
    _still_serving(client, alice)


def test_nul_in_strings_is_422(client, alice):
    chat = client.post("/chats", json={"title": "nul"}, headers=alice.headers).json
    cases = [
        ("/chats", {"title": "a\x00b"}, "title"),
        (f"/chats/{chat['id']}/messages", {"content": "стены\x00"}, "content"),
        (f"/chats/{chat['id']}/messages", {"content": "ok", "attached_file_ids": ["\x00"]}, None),
        ("/auth/exchange", {"static_token": "\x00"}, "static_token"),
    ]
    for path, body, field in cases:
        details = _error(
            client.post(path, json=body, headers=alice.headers), 422, "validation_error"
        )["details"]
        assert field is None or field in details, details
    for query in ("/projects/tree?client_id=%00", "/projects/search?q=a%00", "/chats/x?before=%00"):
        _error(client.get(query, headers=alice.headers), 422, "validation_error")
    history = client.get(f"/chats/{chat['id']}", headers=alice.headers).json
    assert history["messages"] == []
    _still_serving(client, alice)


def test_nul_in_an_upload_filename_is_422_and_stores_nothing(client, alice):
    for path in ("/files/upload", "/files/upload-for-llm"):
        response = client.post(
            path,
            data={"file": (io.BytesIO(b"%PDF-1.4 test"), "plan\x00.pdf")},
            headers=alice.headers,
        )
        body = _error(response, 422, "validation_error")
        assert "file" in body["details"]
    ok = client.post(
        "/files/upload", data={"file": (io.BytesIO(b"text"), "plan.txt")}, headers=alice.headers
    )
    assert ok.status_code == 201 and ok.json["filename"] == "plan.txt"


def test_ten_thousand_query_parameters_are_400(client, alice):
    query = "&".join(f"p{i}={i}" for i in range(10_000))
    body = _error(client.get(f"/chats?{query}", headers=alice.headers), 400, "bad_request")
    assert "Too many query parameters" in body["message"]
    hundred = "&".join(f"p{i}={i}" for i in range(99))
    assert client.get(f"/chats?limit=5&{hundred}", headers=alice.headers).status_code == 200


@pytest.fixture
def answered(client, alice) -> tuple[str, int]:
    """A chat whose question has been answered (offline engine): (chat id, last event id)."""
    chat = client.post("/chats", json={}, headers=alice.headers).json
    posted = client.post(
        f"/chats/{chat['id']}/messages", json={"content": "Толщина стен?"}, headers=alice.headers
    )
    assert posted.status_code == 201
    events = parse_sse(
        client.get(f"/chats/{chat['id']}/stream", headers=alice.headers).get_data(as_text=True)
    )
    assert events[-1][1] in ("completed", "error")
    return chat["id"], events[-1][0]


def test_last_event_id_must_be_a_number(client, alice, answered):
    chat_id, _ = answered
    for value in ("abc", "-1", "1.5", "1e3", "9" * 16, " "):
        response = client.get(
            f"/chats/{chat_id}/stream", headers={**alice.headers, "Last-Event-ID": value}
        )
        body = _error(response, 422, "validation_error")
        assert "Last-Event-ID" in body["details"], body


def test_last_event_id_in_the_future_is_409(client, alice, answered):
    chat_id, last = answered
    ahead = client.get(
        f"/chats/{chat_id}/stream", headers={**alice.headers, "Last-Event-ID": str(last + 1)}
    )
    assert f"({last})" in _error(ahead, 409, "last_event_id_ahead")["message"]
    resumed = client.get(
        f"/chats/{chat_id}/stream", headers={**alice.headers, "Last-Event-ID": str(last - 1)}
    )
    assert [seq for seq, _, _ in parse_sse(resumed.get_data(as_text=True))] == [last]
    rerun = client.get(
        f"/chats/{chat_id}/stream?rerun=1",
        headers={**alice.headers, "Last-Event-ID": str(last + 50)},
    )
    assert rerun.status_code == 200  # a new answer starts from its first event
    assert parse_sse(rerun.get_data(as_text=True))[0][0] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: connections are refused


def test_an_unreachable_chat_database_is_503_with_retry_after(tmp_path):
    app = create_app(
        app_settings(
            tmp_path / "down",
            CHAT_DB="supabase",
            SUPABASE_URL=f"http://127.0.0.1:{_closed_port()}",
            SUPABASE_SERVICE_KEY="service-key",
            AUTO_INIT_SCHEMA=False,
        )
    )
    client = app.test_client()
    response = client.post("/auth/exchange", json={"static_token": "azd_anything"})
    body = _error(response, 503, "backend_unavailable")
    assert int(response.headers["Retry-After"]) > 0 and "try again" in body["message"]


def test_unreachable_object_storage_is_503_with_retry_after(tmp_path):
    app = create_app(
        app_settings(
            tmp_path / "down",
            STORAGE="s3",
            R2_ENDPOINT_URL=f"http://127.0.0.1:{_closed_port()}",
            R2_ACCESS_KEY_ID="key",
            R2_SECRET_ACCESS_KEY="secret",
            R2_BUCKET_NAME="bucket",
            AUTO_INIT_SCHEMA=False,
        )
    )
    with app.app_context():
        token = sign_key("renders/plan.png")
    response = app.test_client().get(f"/images/{token}")
    _error(response, 503, "backend_unavailable")
    assert int(response.headers["Retry-After"]) > 0
