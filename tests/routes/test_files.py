"""Uploads: streamed into storage, size limit while reading, ownership, fetchable URLs."""

from __future__ import annotations

import io
import time
import uuid

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.conftest import TEST_SECRET, app_settings
from tests.support.backends import chat_sql
from tests.support.links import fetch
from webapp import create_app


def _upload(client, user, data: bytes, name="plan.pdf", mime="application/pdf"):
    return client.post(
        "/files/upload", headers=user.headers, data={"file": (io.BytesIO(data), name, mime)}
    )


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert body["error"] == code and body["message"] == body["detail"], body
    return body


def _fetch(client, url: str) -> tuple[int, bytes]:
    status, body, _ = fetch(client, url)
    return status, body


def _keys(app, prefix: str = "") -> list[str]:
    with app.app_context():
        from webapp.stores import objects

        return [info.key for info in objects().list(prefix)]


def test_upload_and_info(app, client, alice):
    response = _upload(client, alice, b"%PDF-1.4 test")
    assert response.status_code == 201
    body = response.json
    assert body["filename"] == "plan.pdf" and body["size_bytes"] == 13
    assert body["mime_type"] == "application/pdf"
    assert body["storage_path"].startswith("uploads/alice/") and body["storage_path"].endswith(
        ".pdf"
    )
    with app.app_context():
        from webapp.stores import objects

        assert objects().get(body["storage_path"]) == b"%PDF-1.4 test"
    info = client.get(f"/files/{body['id']}", headers=alice.headers).json
    assert info["source_type"] == "user_upload" and info["id"] == body["id"]
    # no auth header: the link itself is the capability
    assert _fetch(client, info["external_url"]) == (200, b"%PDF-1.4 test")


def test_upload_keeps_unicode_name_and_sanitises_key(client, alice):
    body = _upload(client, alice, b"x", name="../../план этажа.PDF").json
    assert body["filename"] == "план этажа.PDF"
    assert ".." not in body["storage_path"] and body["storage_path"].endswith(".pdf")


def test_upload_requires_file(client, alice):
    for response in (
        client.post("/files/upload", headers=alice.headers, data={}),
        client.post("/files/upload", headers=alice.headers, json={"file": "x"}),
    ):
        body = _error(response, 422, "validation_error")
        assert body["details"] == {"file": ["Missing data for required field."]}


def test_oversize_upload_413_leaves_nothing(tmp_path):
    app = create_app(app_settings(tmp_path, MAX_FILE_SIZE_MB=1))
    client = app.test_client()
    from webapp.auth.tokens import generate_static_token, hash_token

    token = generate_static_token()
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().create_user("dave", hash_token(token))
    access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    just_over = b"x" * (1024 * 1024 + 1)  # read by the store, which stops past the limit
    way_over = b"x" * (3 * 1024 * 1024)  # refused by werkzeug before the body is read
    for payload, code, message in (
        (just_over, "file_too_large", "File is larger than 1 MB."),
        (way_over, "payload_too_large", "Request body too large."),
    ):
        response = client.post(
            "/files/upload", headers=headers, data={"file": (io.BytesIO(payload), "big.bin")}
        )
        assert _error(response, 413, code)["message"] == message
    assert _keys(app) == []
    assert chat_sql(app.config, "SELECT count(*) FROM storage_files") == [(0,)]
    ok = client.post(
        "/files/upload", headers=headers, data={"file": (io.BytesIO(b"x" * 1024 * 1024), "ok.bin")}
    )
    assert ok.status_code == 201 and ok.json["size_bytes"] == 1024 * 1024
    assert _keys(app) == [ok.json["storage_path"]]


def test_other_users_file_404(client, alice, bob):
    file_id = _upload(client, alice, b"secret").json["id"]
    _error(client.get(f"/files/{file_id}", headers=bob.headers), 404, "file_not_found")
    _error(client.get(f"/files/{uuid.uuid4()}", headers=alice.headers), 404, "file_not_found")
    assert client.get(f"/files/{file_id}", headers=alice.headers).json["id"] == file_id


def test_image_links_reject_tampering(app, client, alice):
    with app.test_request_context():
        from webapp.links import sign_key

        token = sign_key(_upload(client, alice, b"abc").json["storage_path"])
    assert client.get(f"/images/{token}").data == b"abc"
    for path in (f"/images/{token[:-3]}xyz", "/images/garbage"):
        body = _error(client.get(path), 404, "image_not_found")
        assert body["message"] == "Image link is invalid or has expired."


class _HourAgo(TimestampSigner):
    """Signs as if it were an hour ago: the token such a link carries an hour later."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def test_expired_image_link_is_404_over_http(tmp_path):
    """A real link signed with the server's key, older than IMAGE_URL_TTL_SECONDS, fetched over
    HTTP: 404 with the JSON error body (not 500), while a fresh link to the same object works."""
    app = create_app(app_settings(tmp_path, IMAGE_URL_TTL_SECONDS=60))
    client = app.test_client()
    key = "chat_images/11111111-2222-3333-4444-555555555555/plan_overview.png"
    with app.test_request_context():
        from webapp.links import SALT, sign_key
        from webapp.stores import objects

        objects().put(key, b"\x89PNG image", "image/png")
        fresh = sign_key(key)
    old = URLSafeTimedSerializer(TEST_SECRET, salt=SALT, signer=_HourAgo).dumps(key)
    assert old != fresh

    response = client.get(f"/images/{fresh}")
    assert response.status_code == 200 and response.data == b"\x89PNG image"
    assert response.mimetype == "image/png"
    expired = client.get(f"/images/{old}")
    assert expired.mimetype == "application/json"
    body = _error(expired, 404, "image_not_found")
    assert body["message"] == "Image link is invalid or has expired."
    long_lived = create_app(app_settings(tmp_path, IMAGE_URL_TTL_SECONDS=7200))
    assert long_lived.test_client().get(f"/images/{old}").data == b"\x89PNG image"


def test_upload_for_llm_local_engine(client, alice, bob):
    response = client.post(
        "/files/upload-for-llm",
        headers=alice.headers,
        data={"file": (io.BytesIO(b"notes"), "notes.txt", "text/plain")},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["google_file_uri"] == f"aizoomdoc://files/{body['id']}"
    assert body["state"] == "ACTIVE" and body["storage_path"].startswith("llm_uploads/alice/")
    assert body["mime_type"] == "text/plain" and body["size_bytes"] == 5
    info = client.get(f"/files/{body['id']}", headers=alice.headers).json
    assert info["source_type"] == "llm_upload"
    _error(client.get(f"/files/{body['id']}", headers=bob.headers), 404, "file_not_found")


def test_upload_for_llm_limit(client, alice):
    big = io.BytesIO(b"x" * (20 * 1024 * 1024 + 1))
    response = client.post(
        "/files/upload-for-llm", headers=alice.headers, data={"file": (big, "big.bin")}
    )
    body = _error(response, 413, "file_too_large")
    assert body["message"] == "Files for the language model are limited to 20 MB."
    empty = client.post("/files/upload-for-llm", headers=alice.headers, data={})
    assert "file" in _error(empty, 422, "validation_error")["details"]
