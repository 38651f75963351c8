"""Uploads: streamed into storage, size limit while reading, ownership, fetchable URLs."""

from __future__ import annotations

import io
import urllib.parse
import uuid
from pathlib import Path

from tests.conftest import app_settings
from webapp import create_app


def _upload(client, user, data: bytes, name="plan.pdf", mime="application/pdf"):
    return client.post(
        "/files/upload", headers=user.headers, data={"file": (io.BytesIO(data), name, mime)}
    )


def test_upload_and_info(app, client, alice):
    response = _upload(client, alice, b"%PDF-1.4 test")
    assert response.status_code == 201
    body = response.json
    assert body["filename"] == "plan.pdf" and body["size_bytes"] == 13
    assert body["mime_type"] == "application/pdf"
    assert body["storage_path"].startswith("uploads/alice/") and body["storage_path"].endswith(
        ".pdf"
    )
    stored = Path(app.config["DATA_DIR"]) / "objects" / body["storage_path"]
    assert stored.read_bytes() == b"%PDF-1.4 test"
    info = client.get(f"/files/{body['id']}", headers=alice.headers).json
    assert info["source_type"] == "user_upload" and info["id"] == body["id"]
    url = urllib.parse.urlsplit(info["external_url"])
    fetched = client.get(url.path)  # no auth header: the link itself is the capability
    assert fetched.status_code == 200 and fetched.data == b"%PDF-1.4 test"


def test_upload_keeps_unicode_name_and_sanitises_key(client, alice):
    body = _upload(client, alice, b"x", name="../../план этажа.PDF").json
    assert body["filename"] == "план этажа.PDF"
    assert ".." not in body["storage_path"] and body["storage_path"].endswith(".pdf")


def test_upload_requires_file(client, alice):
    assert client.post("/files/upload", headers=alice.headers, data={}).status_code == 422
    response = client.post("/files/upload", headers=alice.headers, json={"file": "x"})
    assert response.status_code in (415, 422)


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
    just_over = b"x" * (1024 * 1024 + 1)
    way_over = b"x" * (3 * 1024 * 1024)
    for payload in (just_over, way_over):
        response = client.post(
            "/files/upload", headers=headers, data={"file": (io.BytesIO(payload), "big.bin")}
        )
        assert response.status_code == 413, response.json
        assert response.json["error"] in ("file_too_large", "payload_too_large")
    objects = Path(app.config["DATA_DIR"]) / "objects"
    assert not objects.exists() or [p for p in objects.rglob("*") if p.is_file()] == []
    import sqlite3

    with sqlite3.connect(Path(app.config["DATA_DIR"]) / "chat.db") as conn:
        assert conn.execute("SELECT count(*) FROM storage_files").fetchone()[0] == 0
    ok = client.post(
        "/files/upload", headers=headers, data={"file": (io.BytesIO(b"x" * 1024 * 1024), "ok.bin")}
    )
    assert ok.status_code == 201


def test_other_users_file_404(client, alice, bob):
    file_id = _upload(client, alice, b"secret").json["id"]
    assert client.get(f"/files/{file_id}", headers=bob.headers).status_code == 404
    assert client.get(f"/files/{uuid.uuid4()}", headers=alice.headers).status_code == 404


def test_image_links_reject_tampering(client, alice):
    info = client.get(
        f"/files/{_upload(client, alice, b'abc').json['id']}", headers=alice.headers
    ).json
    path = urllib.parse.urlsplit(info["external_url"]).path
    assert client.get(path[:-3] + "xyz").status_code == 404
    assert client.get("/images/garbage").status_code == 404


def test_image_links_expire(tmp_path, monkeypatch):
    app = create_app(app_settings(tmp_path, IMAGE_URL_TTL_SECONDS=60))
    with app.test_request_context():
        from webapp.links import sign_key, unsign_key

        token = sign_key("chat_images/x.png")
        assert unsign_key(token) == "chat_images/x.png"
        import itsdangerous.timed

        real = itsdangerous.timed.TimestampSigner.get_timestamp
        monkeypatch.setattr(
            itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 3600
        )
        assert unsign_key(token) is None


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
    assert client.get(f"/files/{body['id']}", headers=bob.headers).status_code == 404


def test_upload_for_llm_limit(client, alice):
    big = io.BytesIO(b"x" * (20 * 1024 * 1024 + 1))
    response = client.post(
        "/files/upload-for-llm", headers=alice.headers, data={"file": (big, "big.bin")}
    )
    assert response.status_code == 413
    assert client.post("/files/upload-for-llm", headers=alice.headers, data={}).status_code == 422
