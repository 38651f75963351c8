"""A whole chat on the production parts: CHAT_DB=supabase, PROJECTS_DB=supabase, STORAGE=s3,
LLM_PROVIDER=gemini — against the PostgREST stand-in over PostgreSQL, moto and the fake Gemini."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import app_settings
from tests.support.chat_session import Session, names, of
from tests.support.fake_gemini import API_KEY, Reply
from tests.support.fixtures import insert_row
from webapp import create_app
from webapp.auth.tokens import generate_static_token, hash_token

PLAN = "DEMO-PLAN-001"


def _settings(data_dir: Path, chat_db, projects_db, bucket, fake) -> dict:
    return app_settings(
        data_dir,
        CHAT_DB="supabase",
        SUPABASE_URL=chat_db.url,
        SUPABASE_SERVICE_KEY=chat_db.key,
        PROJECTS_DB="supabase",
        SUPABASE_PROJECTS_URL=projects_db.url,
        SUPABASE_PROJECTS_SERVICE_KEY=projects_db.key,
        STORAGE="s3",
        R2_ENDPOINT_URL=bucket.endpoint_url,
        R2_ACCESS_KEY_ID=bucket.access_key_id,
        R2_SECRET_ACCESS_KEY=bucket.secret_access_key,
        R2_BUCKET_NAME=bucket.name,
        LLM_PROVIDER="gemini",
        DEFAULT_GEMINI_API_KEY=API_KEY,
        GEMINI_BASE_URL=fake.url,
    )


def _publish_demo(app, projects_db, scratch: Path) -> str:
    """What the OCR pipeline does in production: files in the bucket, rows in the projects DB."""
    from webapp.drawings.demo_set import build_demo_set

    demo = build_demo_set(scratch / "demo")
    document_id = str(uuid.uuid4())
    client = insert_row(
        projects_db.dsn,
        "tree_nodes",
        {"client_id": "acme", "node_type": "client", "name": "Заказчик"},
    )
    insert_row(
        projects_db.dsn,
        "tree_nodes",
        {
            "id": document_id,
            "parent_id": client["id"],
            "client_id": "acme",
            "node_type": "document",
            "name": "Демо АР",
            "code": "01/25-ДМ-АР",
        },
    )
    files = {
        "result_md": demo.document_md,
        "blocks_index": demo.blocks_json,
        "ocr_html": demo.ocr_html,
    }
    files.update({f"crop:{block}": path for block, path in demo.crops.items()})
    with app.app_context():
        from webapp.stores import objects

        for file_type, path in files.items():
            name = f"crops/{path.name}" if file_type.startswith("crop") else path.name
            key = f"tree_docs/{document_id}/{name}"
            objects().put(key, path.read_bytes())
            insert_row(
                projects_db.dsn,
                "node_files",
                {
                    "node_id": document_id,
                    "file_type": file_type.split(":")[0],
                    "r2_key": key,
                    "file_name": path.name,
                    "file_size": path.stat().st_size,
                },
            )
    return document_id


def _user_session(app, document_id: str, fake) -> Session:
    token = generate_static_token()
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().create_user(f"eng-{uuid.uuid4().hex[:6]}", hash_token(token))
    client = app.test_client()
    access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
    return Session(app, client, {"Authorization": f"Bearer {access}"}, document_id, fake)


@pytest.fixture
def production(tmp_path, supabase_chat_db, supabase_projects_db, s3_bucket, fake_gemini):
    settings = _settings(
        tmp_path / "host-a", supabase_chat_db, supabase_projects_db, s3_bucket, fake_gemini
    )
    app = create_app(settings)
    document_id = _publish_demo(app, supabase_projects_db, tmp_path)
    return app, document_id


def _final(text: str) -> Reply:
    return Reply(
        json={
            "needs_more_evidence": False,
            "answer_markdown": text,
            "citations": [{"block_id": PLAN, "kind": "image_block"}],
        }
    )


def test_whole_chat_on_production_backends(production, fake_gemini, tmp_path):
    app, document_id = production
    session = _user_session(app, document_id, fake_gemini)
    upload = session.client.post(
        "/files/upload",
        headers=session.headers,
        data={"file": (io.BytesIO(b"%PDF-1.4 notes"), "notes.pdf")},
    )
    assert upload.status_code == 201
    info = session.client.get(f"/files/{upload.json['id']}", headers=session.headers).json
    assert requests.get(info["external_url"], timeout=10).content == b"%PDF-1.4 notes"

    fake_gemini.add(
        Reply(
            json={
                "needs_more_evidence": True,
                "followup_images": [PLAN],
                "answer_markdown": "Смотрю план.",
            }
        ),
        _final("План этажа показан."),
    )
    events = session.ask("Что на общем виде плана?", attached_file_ids=[upload.json["id"]])
    assert names(events)[-1] == "completed", of(events, "error")
    ready = of(events, "image_ready")
    assert ready and ready[0]["block_id"] == PLAN
    png = requests.get(ready[0]["url"], timeout=10)  # presigned: no auth header needed
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    history = session.history()
    assert history[-1]["content"] == "План этажа показан."
    assert all(requests.get(i["url"], timeout=10).ok for i in history[0]["images"])

    chat_id = session.chat_id
    with app.app_context():
        from webapp.chats.purge import purge_pending
        from webapp.stores import chat_db, objects

        assert list(objects().list(f"chat_images/{chat_id}/"))
        tree_docs = [o.key for o in objects().list("tree_docs/")]
        assert (
            session.client.delete(f"/chats/{chat_id}", headers=session.headers).status_code == 202
        )
        assert purge_pending() == (1, 0)
        assert list(objects().list(f"chat_images/{chat_id}/")) == []
        assert [o.key for o in objects().list("tree_docs/")] == tree_docs
        assert chat_db().chat_render_files(chat_id) == []
        assert chat_db().list_messages(chat_id, 10) == []
        kept = chat_db().get_file(upload.json["id"])  # the user's upload outlives the chat
        assert kept["storage_path"] == upload.json["storage_path"]
        assert objects().get(kept["storage_path"]) == b"%PDF-1.4 notes"


def test_second_host_reuses_the_first_hosts_renders(
    production, fake_gemini, tmp_path, supabase_chat_db, supabase_projects_db, s3_bucket
):
    from webapp.metrics import registry

    app_a, document_id = production
    app_b = create_app(
        _settings(
            tmp_path / "host-b", supabase_chat_db, supabase_projects_db, s3_bucket, fake_gemini
        )
    )

    def renders(app, cache: str) -> float:
        return sum(
            v
            for (name, labels), v in registry(app).counters.items()
            if name == "aizoomdoc_renders_total" and ("cache", cache) in labels
        )

    counted = []
    for app in (app_a, app_b):
        fake_gemini.add(
            Reply(
                json={
                    "needs_more_evidence": True,
                    "followup_images": [PLAN],
                    "answer_markdown": "Смотрю.",
                }
            ),
            _final("Готово."),
        )
        before = renders(app, "hit"), renders(app, "miss")
        events = _user_session(app, document_id, fake_gemini).ask("Что на плане?")
        assert names(events)[-1] == "completed"
        counted.append((renders(app, "hit") - before[0], renders(app, "miss") - before[1]))
    (a_hits, a_misses), (b_hits, b_misses) = counted
    assert a_misses >= 1 and a_hits == 0  # host A rendered, into both levels
    assert b_misses == 0 and b_hits == a_misses  # host B rendered nothing: all from the bucket
    with app_a.app_context():
        from webapp.stores import objects

        shared = [info.key for info in objects().list("render_cache/")]
    assert len(shared) == a_misses
    assert all(re.fullmatch(r"render_cache/[0-9a-f]{64}\.png", key) for key in shared), shared


def test_readiness_names_the_backend_that_is_down(
    tmp_path, supabase_projects_db, s3_bucket, fake_gemini
):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    chat_db = type("Dead", (), {"url": dead, "key": "k" * 40})()
    app = create_app(
        {
            **_settings(tmp_path, chat_db, supabase_projects_db, s3_bucket, fake_gemini),
            "AUTO_INIT_SCHEMA": False,
        }
    )
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.json
    assert body["down"] == ["chat_db"]
    assert body["checks"]["projects_db"]["ok"] and body["checks"]["storage"]["ok"]
    assert body["checks"]["chat_db"]["error"]  # the reason (refused, or no answer in time)


def test_app_moves_onto_a_reference_database(
    postgres_cluster, supabase_projects_db, s3_bucket, fake_gemini, tmp_path
):
    """The reference server's database, migrated: old tokens work after `migrate-tokens`, and
    old chats show in the API with their messages."""
    import psycopg

    from tests.support.fixtures import apply_chat_migrations, postgrest_database
    from tests.support.reference_schema import reference_chat_script, seed_reference_rows

    def reference(dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(reference_chat_script())
        seed_reference_rows(dsn)
        apply_chat_migrations(dsn)

    with postgrest_database(postgres_cluster, reference) as chat_db:
        app = create_app(_settings(tmp_path, chat_db, supabase_projects_db, s3_bucket, fake_gemini))
        client = app.test_client()
        old = {"static_token": "dev-static-token-test-67890"}
        assert client.post("/auth/exchange", json=old).status_code == 401  # not hashed yet
        result = app.test_cli_runner().invoke(args=["users", "migrate-tokens"])
        assert "Hashed 2 token(s)" in result.output and "admin" in result.output
        exchange = client.post("/auth/exchange", json=old)
        assert exchange.status_code == 200
        headers = {"Authorization": f"Bearer {exchange.json['access_token']}"}
        chats = client.get("/chats", headers=headers).json
        assert [c["title"] for c in chats] == ["Старый чат"]
        history = client.get(f"/chats/{chats[0]['id']}", headers=headers).json
        assert [m["content"] for m in history["messages"]] == ["Где ось 1?", "На листе 3."]
        assert history["messages"][1]["images"][0]["image_type"] == "overview"
        me = client.get("/me", headers=headers).json
        assert me["settings"]["model_profile"] == "complex"
        with psycopg.connect(chat_db.dsn) as conn:
            plain = conn.execute("SELECT count(*) FROM users WHERE static_token LIKE 'dev-%'")
            assert plain.fetchone()[0] == 0
