"""The offline engine answers the demo document end to end: retrieval, rendering, tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TEST_SECRET
from tests.support.chat_session import names, of
from tests.support.links import fetch


def test_local_engine_answers_over_http(make_session):
    session = make_session(gemini=False)
    events = session.ask("С каким шагом ставятся анкеры крепления кронштейнов НФС в узле 1?")
    assert names(events)[-1] == "completed"
    answer = of(events, "llm_final")[0]
    assert answer["content"].startswith("> ⚠️ Языковая модель не настроена")
    cited = [c["block_id"] for c in answer["citations"]]
    assert "DEMO-NODE-001" in cited or "DEMO-NOTE-003" in cited
    ready = of(events, "image_ready")
    assert ready and all(r["url"] and r["width"] > 0 for r in ready)
    status, body, content_type = fetch(session.client, ready[0]["url"])
    assert status == 200 and content_type == "image/png" and body[:4] == b"\x89PNG"
    tokens = of(events, "llm_token")
    assert "".join(t["token"] for t in tokens) == answer["content"]
    assert tokens[-1]["accumulated"] == answer["content"]
    # it quotes what matched (the words of the question), cited as [#ID], and says so
    assert "[#DEMO-NOTE-003]" in answer["content"] and "анкер" in answer["content"].lower()
    note = next(c for c in answer["citations"] if c["block_id"] == "DEMO-NOTE-003")
    assert note["verified"] is True and note["quote_found"] is True
    history = session.history()
    assert history[-1]["content"] == answer["content"] and history[0]["images"]


def test_question_without_documents_picks_them_by_search(make_session):
    session = make_session(gemini=False)
    events = session.ask("Какая площадь кладовой 107?", documents=[])
    notes = [e["message"] for e in of(events, "phase_progress")]
    assert any("выбраны по поиску" in n for n in notes)
    assert names(events)[-1] == "completed"


def test_no_documents_at_all_says_so(tmp_path):
    from tests.conftest import app_settings
    from tests.support.chat_session import Session
    from webapp import create_app
    from webapp.auth.tokens import generate_static_token, hash_token

    app = create_app(app_settings(tmp_path))
    token = generate_static_token()
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().create_user("u", hash_token(token))
    client = app.test_client()
    access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
    session = Session(app, client, {"Authorization": f"Bearer {access}"}, "")
    events = session.ask("Что в документах?", documents=[])
    assert names(events)[-1] == "completed"
    content = of(events, "llm_final")[0]["content"]
    assert content.startswith("Не найдено ни одного документа")
    assert "".join(e["token"] for e in of(events, "llm_token")) == content


def test_flask_ask_shows_the_run(tmp_path):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET_KEY": TEST_SECRET,
        "HOME": str(tmp_path),
        "AIZOOMDOC_ENV_FILE": "",
    }
    flask = str(Path(sys.executable).parent / "flask")
    demo = subprocess.run(
        [flask, "demo", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    document_id = demo.stdout.strip().splitlines()[-1]
    result = subprocess.run(
        [flask, "ask", document_id, "Какие наружные стены на плане?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "Языковая модель не настроена" in result.stdout
    assert "▶" in result.stderr and "Источники: DEMO-" in result.stderr
    shown = [line for line in result.stderr.splitlines() if "🖼 DEMO-" in line]
    assert shown and Path(shown[0].rsplit(": ", 1)[-1]).is_file()  # a local PNG to open
    missing = subprocess.run(
        [flask, "ask", "00000000-0000-0000-0000-000000000000", "?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "no document" in missing.stderr


def test_local_engine_answers_whole_document_questions_from_the_outline(make_session):
    session = make_session(gemini=False)
    events = session.ask("О чём этот документ? Какой состав комплекта?")
    answer = of(events, "llm_final")[0]["content"]
    assert "[#DEMO-TITL-001]" in answer and "[#DEMO-LIST-001]" in answer
    assert "Состав комплекта по страницам:" in answer and "лист 2 · " in answer


def test_questions_that_match_nothing_get_a_clear_answer(make_session):
    session = make_session(gemini=False)
    for question in ("?!… — ;;;", "и в на по что как это", "x" * 20000):
        events = session.ask(question)
        assert names(events)[-1] == "completed", question[:20]
        answer = of(events, "llm_final")[0]["content"]
        assert answer.startswith("> ⚠️ Языковая модель не настроена")
        assert "".join(e["token"] for e in of(events, "llm_token")) == answer
    too_long = session.client.post(
        f"/chats/{session.chat_id}/messages", json={"content": "x" * 20001}, headers=session.headers
    )
    assert too_long.status_code == 422 and "20000" in json.dumps(too_long.json)


def test_offline_engine_takes_its_token_delay_from_the_settings(app):
    """LOCAL_TOKEN_DELAY slows the offline engine so a page can be watched writing an answer."""
    from webapp.llm.local import LocalEngine
    from webapp.pipeline.engines import engine_for

    user = {"id": "u1", "username": "alice"}
    with app.app_context():
        assert engine_for(user).token_delay == 0.0
        app.config["LOCAL_TOKEN_DELAY"] = 0.25
        engine = engine_for(user)
    assert isinstance(engine, LocalEngine) and engine.token_delay == 0.25


def test_without_a_server_key_a_users_own_key_gets_gemini(tmp_path):
    """With no server key and no provider set, users who stored their own Gemini key are
    answered by Gemini with it; the others by the offline engine."""
    from tests.conftest import app_settings
    from webapp import create_app
    from webapp.accounts.keys import store_user_key
    from webapp.llm.gemini import GeminiEngine
    from webapp.llm.local import LocalEngine
    from webapp.pipeline.engines import engine_for
    from webapp.stores import chat_db

    settings = {**app_settings(tmp_path / "data"), "LLM_PROVIDER": "", "DEFAULT_GEMINI_API_KEY": ""}
    app = create_app(settings)
    assert app.config["LLM_PROVIDER"] == "auto"
    with app.app_context():
        with_key = chat_db().create_user("keyed", "a" * 64)
        without = chat_db().create_user("plain", "b" * 64)
        store_user_key(with_key, "users-own-key")
        assert isinstance(engine_for(with_key), GeminiEngine)
        assert isinstance(engine_for(without), LocalEngine)
        app.config["LLM_PROVIDER"] = "local"  # chosen explicitly: nobody gets Gemini
        assert isinstance(engine_for(with_key), LocalEngine)
