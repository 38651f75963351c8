"""The pipeline against the fake Gemini server, through the real google-genai SDK.

Each test scripts the model's turns and asserts both what the server sent to the model and the
events the client received.
"""

from __future__ import annotations

import json

from tests.pipeline.replies import PLAN, SECTION, SPEC, final, texts, user_parts, wants
from tests.support.backends import chat_sql
from tests.support.chat_session import names, of
from tests.support.fake_gemini import Reply
from tests.support.links import fetch
from webapp.drawings.demo_set import build_demo_set
from webapp.projects.importer import import_set


def test_simple_with_followup_image(make_session, fake_gemini):
    session = make_session(PREFIX_DOCUMENT_CHARS=0)
    fake_gemini.add(wants(images=[PLAN]), final())
    events = session.ask("Что изображено на общем виде?")
    assert names(events)[0] == "processing_started"
    assert names(events)[-1] == "completed" and names(events).count("completed") == 1
    run_id = of(events, "processing_started")[0]["request_id"]
    with session.app.app_context():
        from webapp.stores import chat_db

        stored = [e["event"] for e in chat_db().list_events(run_id)]
    assert stored[-1] == "completed" and stored.count("completed") + stored.count("error") == 1
    ready = of(events, "image_ready")
    assert [(e["block_id"], e["kind"]) for e in ready][:1] == [(PLAN, "overview")]
    assert len({(e["block_id"], e["kind"], tuple(e["bbox_norm"])) for e in ready}) == len(ready)
    assert of(events, "tool_call")[0] == {
        "tool": "request_images",
        "parameters": {"image_ids": [PLAN]},
        "reason": "запрос модели",
    }
    tokens = of(events, "llm_token")
    assert tokens and all(t["token"] for t in tokens) and tokens[-1]["model"] == "flash"
    assert "".join(t["token"] for t in tokens) == "Ответ: 13,77 м² [#DEMO-PLAN-001]."
    answer = of(events, "llm_final")[0]
    assert answer["content"] == "Ответ: 13,77 м² [#DEMO-PLAN-001]."
    assert answer["model"] == "gemini-2.5-flash" and answer["citations"][0]["block_id"] == PLAN
    # what the model was sent
    first, second = fake_gemini.generations()[:2]
    assert first.body["model"] == "gemini-2.5-flash"
    config = first.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "answer_markdown" in config["responseSchema"]["properties"]
    assert config["temperature"] == 1.0
    parts = user_parts(second)
    image_at = next(i for i, p in enumerate(parts) if "fileData" in p)
    assert parts[image_at - 1]["text"].startswith(f"IMG-1 (запрос модели): Block {PLAN}: overview")
    assert "МАТЕРИАЛЫ ПО ВОПРОСУ" in "".join(texts(second))
    # the saved answer and the images linked to the question
    history = session.history()
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == answer["content"]
    assert len(history[0]["images"]) == len(ready)
    status, body, _ = fetch(session.client, history[0]["images"][0]["url"])
    assert status == 200 and body[:4] == b"\x89PNG"


def test_images_uploaded_once_and_reused(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(wants(images=[PLAN]), wants(rois=[{"block_id": PLAN, "sector": "B2"}]), final())
    session.ask("Что на плане?")
    uploads = [r for r in fake_gemini.requests if r.kind == "upload"]
    generations = fake_gemini.generations()
    assert len(generations) == 3
    sent_uris = [
        (p["fileData"].get("fileUri") or p["fileData"].get("file_uri"))
        for r in generations
        for p in user_parts(r)
        if "fileData" in p
    ]
    assert len(uploads) == len(set(sent_uris))  # every image uploaded exactly once
    assert len(sent_uris) > len(set(sent_uris))  # and referenced again in later rounds


def test_role_prompt_leads_system_prompt(make_session, fake_gemini):
    session = make_session()
    with session.app.app_context():
        from webapp.stores import chat_db

        role = chat_db().add_role("Сметчик", "Ты опытный сметчик.")
    session.settings(
        selected_role_prompt_id=role["id"],
        temperature=0.2,
        top_p=0.5,
        thinking_enabled=True,
        thinking_budget=512,
    )
    fake_gemini.add(Reply(json=final().json, thoughts="Сначала проверю спецификацию."))
    events = session.ask("Сколько кирпича в спецификации?")
    request = fake_gemini.generations()[0]
    system = request.body["systemInstruction"]["parts"][0]["text"]
    assert system.startswith("Ты опытный сметчик.")
    config = request.body["generationConfig"]
    assert config["temperature"] == 0.2 and config["topP"] == 0.5
    assert json.dumps(config["thinkingConfig"]).count("512") == 1
    thinking = of(events, "llm_thinking")
    assert thinking and thinking[0]["content"] == "Сначала проверю спецификацию."


def test_history_newest_twenty_in_order(make_session, fake_gemini):
    session = make_session()
    chat_id = session.new_chat()
    with session.app.app_context():
        from webapp.stores import chat_db

        for index in range(25):
            chat_db().add_message(
                chat_id, "user" if index % 2 == 0 else "assistant", f"сообщение {index}"
            )
    fake_gemini.add(final())
    session.ask("Текущий вопрос")
    contents = fake_gemini.generations()[0].body["contents"]
    history = contents[:-1]
    assert len(history) == 20
    assert history[0]["parts"][0]["text"] == "сообщение 5"
    assert history[-1]["parts"][0]["text"] == "сообщение 24"
    assert [c["role"] for c in history[:2]] == ["model", "user"]
    assert "Текущий вопрос" in "".join(p.get("text", "") for p in contents[-1]["parts"])
    assert all("Текущий вопрос" not in c["parts"][0]["text"] for c in history)


def test_complex_collects_with_flash_then_answers_with_pro(make_session, fake_gemini):
    session = make_session()
    session.settings(model_profile="complex")
    fake_gemini.add(
        Reply(
            json={
                "selected_block_ids": ["DEMO-SPEC-001", PLAN],
                "facts": ["кладовая 107"],
                "followup_images": [PLAN],
                "followup_rois": [],
            }
        ),
        final("Полный ответ по плану."),
        Reply(json={"followup_rois": []}),  # the quality gate asks; the model proposes none
    )
    events = session.ask("Какие помещения на плане?")
    generations = fake_gemini.generations()
    assert [g.body["model"] for g in generations] == [
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    ]
    assert (
        "selected_block_ids"
        in generations[0].body["generationConfig"]["responseSchema"]["properties"]
    )
    phases = [e["phase"] for e in of(events, "phase_started")]
    assert "flash_stage" in phases and "pro_stage" in phases
    pro_text = "".join(texts(generations[1]))
    assert "DEMO-SPEC-001" in pro_text and "кладовая 107" in pro_text
    assert any("fileData" in p for p in user_parts(generations[1]))
    assert of(events, "llm_token")[-1]["model"] == "pro"
    assert of(events, "llm_final")[0]["model"] == "gemini-2.5-pro"


def _second_version(session, tmp_path) -> str:
    """Version B of the demo set: its own block ids (DEMB-…) and one changed value."""
    root = build_demo_set(tmp_path / "b").root
    for name in ("document.md", "blocks.json", "ocr.html"):
        path = root / name
        text = path.read_text(encoding="utf-8").replace("DEMO-", "DEMB-")
        path.write_text(text.replace("L=1550 мм", "L=1600 мм"), encoding="utf-8")
    for crop in (root / "crops").iterdir():
        crop.rename(crop.with_name(crop.name.replace("DEMO-", "DEMB-")))
    with session.app.app_context():
        return import_set(root, name="Версия Б", client_id="demo").document_id


def _compare(session, tmp_path, question="Сравни документы"):
    second = _second_version(session, tmp_path)
    return session.ask(
        question,
        documents=[],
        query=f"?compare_document_ids_a={session.document_id}&compare_document_ids_b={second}",
    )


def _collect_reply(body) -> Reply:
    return Reply(json={"selected_block_ids": [SPEC, "DEMB-SPEC-001"], "facts": []})


def test_compare_labels_sides_with_half_the_budget_each(make_session, fake_gemini, tmp_path):
    session = make_session(PREFIX_DOCUMENT_CHARS=0, MAX_BLOCKS_IN_MATERIALS=6)
    fake_gemini.add(
        _collect_reply({}),
        _collect_reply({}),
        final(
            "Перемычка поз. 1 длиннее в DOC_B [#DEMO-SPEC-001] [#DEMB-SPEC-001].",
            diff=[
                {
                    "item": "Перемычка поз. 1",
                    "before": "L=1550 мм",
                    "after": "L=1600 мм",
                    "impact": "масса",
                    "evidence": [SPEC, "DEMB-SPEC-001"],
                },
                {"item": "Только одна сторона", "evidence": [SPEC]},
            ],
        ),
    )
    events = _compare(session, tmp_path, "Сравни спецификацию перемычек")
    assert names(events)[-1] == "completed", of(events, "error")
    answer = of(events, "llm_final")[0]
    assert [d["both_sides"] for d in answer["diff"]] == [True, False]
    assert answer["diff"][0]["sides"] == ["DOC_A", "DOC_B"]
    assert {c["side"] for c in answer["citations"]} == {"DOC_A", "DOC_B"}
    answering = [g for g in fake_gemini.generations() if g.body["model"] == "gemini-2.5-pro"]
    sent = "".join(texts(answering[0]))
    assert "КАРТА ДОКУМЕНТА" in sent and "ДОКУМЕНТ DOC_A: «" in sent and "ДОКУМЕНТ DOC_B: «" in sent
    materials = next(t for t in texts(answering[0]) if t.startswith("МАТЕРИАЛЫ ПО ВОПРОСУ"))
    headers = [line for line in materials.splitlines() if line.startswith("### BLOCK")]
    assert sum("(DOC_A" in h for h in headers) == 3 and sum("(DOC_B" in h for h in headers) == 3


def test_compare_accepts_no_differences(make_session, fake_gemini, tmp_path):
    session = make_session()
    fake_gemini.add(
        _collect_reply({}),
        _collect_reply({}),
        final("Существенных различий нет [#DEMO-NOTE-001] [#DEMB-NOTE-001].", diff=[]),
    )
    events = _compare(session, tmp_path, "Есть ли различия в общих указаниях?")
    assert names(events)[-1] == "completed", of(events, "error")
    answer = of(events, "llm_final")[0]
    assert answer["content"].startswith("Существенных различий нет") and answer["diff"] == []
    assert len(fake_gemini.generations()) == 3  # no repair asked for a missing diff
    system = fake_gemini.generations()[2].body["systemInstruction"]["parts"][0]["text"]
    task = next(t for t in texts(fake_gemini.generations()[2]) if "ВОПРОС:" in t)
    assert "СРАВНИ" in task and "СРАВНИ" not in system  # the prefix stays the same for all calls


def test_followup_roi_is_rendered(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        wants(images=[PLAN]),
        wants(
            rois=[
                {
                    "block_id": PLAN,
                    "bbox_norm": [0.15, 0.3, 0.3, 0.45],
                    "dpi": 300,
                    "reason": "кладовая",
                }
            ]
        ),
        final(),
    )
    events = session.ask("Какова площадь кладовой 107?")
    zoom = of(events, "tool_call")[-1]
    assert zoom["tool"] == "zoom" and zoom["parameters"]["count"] == 1
    roi = [e for e in of(events, "image_ready") if e["kind"] == "roi"]
    assert len(roi) == 1 and roi[0]["bbox_norm"] == [0.15, 0.3, 0.3, 0.45]
    assert roi[0]["reason"] == "кладовая"


def test_quality_gate_asks_for_regions_once(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        wants(images=[PLAN]),
        final("Кладовая видна на плане."),  # visual question, no ROI: the gate asks
        Reply(json={"followup_rois": [{"block_id": PLAN, "sector": "a2", "dpi": 250}]}),
        final("Площадь кладовой 13,77 м²."),
    )
    events = session.ask("Какая площадь кладовой на плане?")
    generations = fake_gemini.generations()
    assert len(generations) == 4
    assert (
        "followup_rois" in generations[2].body["generationConfig"]["responseSchema"]["properties"]
    )
    assert [e["kind"] for e in of(events, "image_ready")].count("roi") == 1
    assert of(events, "llm_final")[0]["content"] == "Площадь кладовой 13,77 м²."


def test_invalid_json_then_valid(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(text="Конечно! Вот ответ без JSON."), final("Исправленный ответ."))
    events = session.ask("Что в общих указаниях?")
    assert of(events, "llm_final")[0]["content"] == "Исправленный ответ."
    repair = "".join(texts(fake_gemini.generations()[1]))
    assert "не удалось разобрать" in repair


def test_lenient_parse_of_fenced_json(make_session, fake_gemini):
    session = make_session()
    body = json.dumps(final("Из ограждения").json, ensure_ascii=False)
    fake_gemini.add(Reply(text=f"```json\n{body}\n```"))
    events = session.ask("Что в общих указаниях?")
    assert of(events, "llm_final")[0]["content"] == "Из ограждения"
    assert len(fake_gemini.generations()) == 1


def test_429_then_success(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(status=429, text="quota"), final("После паузы."))
    events = session.ask("Что в общих указаниях?")
    assert names(events)[-1] == "completed"
    assert len(fake_gemini.generations()) == 2


def test_persistent_500_is_an_error_event(make_session, fake_gemini):
    session = make_session(LLM_MAX_RETRIES=2)
    fake_gemini.add(*[Reply(status=500, text="boom") for _ in range(3)])
    events = session.ask("Что в общих указаниях?")
    assert names(events)[-1] == "error" and "completed" not in names(events)
    error = of(events, "error")[0]
    assert error["code"] == "llm_unavailable" and "500" in error["message"]
    assert len(fake_gemini.generations()) == 3
    assert [m["role"] for m in session.history()] == ["user"]


def test_unknown_block_ids_are_reported_not_rendered(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(wants(images=["ZZZZ-ZZZZ-ZZZ", "DEMO-NOTE-001"]), final())
    events = session.ask("Покажи чертёж")
    assert of(events, "image_ready") == []
    told = "".join(texts(fake_gemini.generations()[1]))
    assert "ZZZZ-ZZZZ-ZZZ" in told and "DEMO-NOTE-001" in told


def test_iteration_cap(make_session, fake_gemini):
    session = make_session(MAX_ITERATIONS=3)
    sectors = iter(["A1", "B1", "C1", "A2", "B2"])
    fake_gemini.responder = lambda body: wants(rois=[{"block_id": PLAN, "sector": next(sectors)}])
    events = session.ask("Что на плане?")
    assert len(fake_gemini.generations()) == 3
    assert names(events)[-1] == "completed"
    assert of(events, "llm_final")[0]["content"] == "Смотрю чертёж"  # the last answer is kept


def test_two_rounds_without_new_images_stop(make_session, fake_gemini):
    session = make_session()
    fake_gemini.responder = lambda body: wants(images=[SECTION])
    events = session.ask("Что на разрезе?")
    # round 1 renders the section; rounds 2 and 3 ask for it again and get nothing new
    assert len(fake_gemini.generations()) == 3
    assert names(events)[-1] == "completed"


def test_context_budget(make_session, fake_gemini):
    session = make_session(MAX_CONTEXT_CHARS=800, MAX_BLOCKS_IN_MATERIALS=2)
    fake_gemini.add(final())
    session.ask("общие указания кладка стены")
    materials = next(t for t in texts(fake_gemini.generations()[0]) if t.startswith("МАТЕРИАЛЫ"))
    assert materials.count("### BLOCK") <= 2 and len(materials) < 1200


def test_named_documents_that_cannot_load_fail_clearly(make_session, fake_gemini):
    session = make_session()
    events = session.ask(
        "Вопрос", documents=[], query="?document_ids=00000000-0000-0000-0000-000000000000"
    )
    assert names(events)[-1] == "error"
    warnings = [e["message"] for e in of(events, "phase_progress")]
    assert any("не загружен" in w for w in warnings)
    assert of(events, "error")[0]["code"] == "documents_unavailable"
    assert fake_gemini.generations() == []


def test_document_with_missing_files_fails_clearly(make_session, fake_gemini):
    session = make_session()
    with session.app.app_context():
        from webapp.stores import objects

        for info in list(objects().list(f"tree_docs/{session.document_id}/")):
            if info.key.endswith(("document.md", "ocr.html")):
                objects().delete(info.key)
    events = session.ask("Вопрос")
    assert of(events, "error")[0]["code"] == "documents_unavailable"
    assert "missing" in " ".join(e["message"] for e in of(events, "phase_progress"))


def test_llm_upload_goes_to_the_file_api_and_into_the_question(make_session, fake_gemini):
    session = make_session()
    upload = session.client.post(
        "/files/upload-for-llm",
        headers=session.headers,
        data={"file": (__import__("io").BytesIO(b"%PDF-1.4 spec"), "spec.pdf", "application/pdf")},
    )
    assert upload.status_code == 201, upload.json
    uri = upload.json["google_file_uri"]
    assert uri.startswith(fake_gemini.url) and upload.json["google_file_name"].startswith("files/")
    assert b"%PDF-1.4 spec" in fake_gemini.uploads.values()
    fake_gemini.add(final())
    events = session.ask("Что в приложенном файле?", google_files=[uri])
    assert names(events)[-1] == "completed"
    sent = [p["fileData"] for p in user_parts(fake_gemini.generations()[0]) if "fileData" in p]
    assert any((f.get("fileUri") or f.get("file_uri")) == uri for f in sent)


def test_someone_elses_llm_file_is_refused(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(final())
    events = session.ask(
        "Что в файле?", query="?google_files=" + json.dumps(["https://elsewhere/files/x"])
    )
    warnings = [e["message"] for e in of(events, "phase_progress")]
    assert any("не принят" in w for w in warnings)
    assert not any(
        "fileData" in p
        for p in user_parts(fake_gemini.generations()[0])
        if p.get("fileData", {}).get("fileUri") == "https://elsewhere/files/x"
    )


def test_users_own_key_is_used_first(make_session, fake_gemini):
    session = make_session(DEFAULT_GEMINI_API_KEY="wrong-server-key")
    assert (
        session.client.get("/me", headers=session.headers).json["gemini_api_key_configured"]
        is False
    )
    fake_gemini.add(final("С вашим ключом."))
    stored = session.client.put(
        "/me/gemini-key", headers=session.headers, json={"api_key": fake_gemini_key()}
    )
    assert stored.status_code == 200
    assert session.client.get("/me", headers=session.headers).json["gemini_api_key_configured"]
    events = session.ask("Что в общих указаниях?")
    assert of(events, "llm_final")[0]["content"] == "С вашим ключом."
    ((encrypted,),) = chat_sql(session.app.config, "SELECT encrypted_key FROM user_api_keys")
    assert fake_gemini_key() not in encrypted
    session.client.delete("/me/gemini-key", headers=session.headers)
    fake_gemini.add(final("Не должен прийти."))
    events = session.ask("И ещё вопрос?")
    error = of(events, "error")[0]  # the wrong server key again: refused as the real API does
    assert error["code"] == "llm_auth" and "HTTP 400" in error["message"]
    assert "key" in error["message"] and "wrong-server-key" not in error["message"]


def fake_gemini_key() -> str:
    from tests.support.fake_gemini import API_KEY

    return API_KEY


def test_context_cache_holds_the_documents_and_is_reused(make_session, fake_gemini, tmp_path):
    session = make_session(CONTEXT_CACHE_MIN_CHARS=100)
    fake_gemini.add(final("Первый."), final("Второй."), final("Третий."))
    session.ask("Что в общих указаниях?")
    session.new_chat()
    session.ask("Какая марка кирпича в спецификации перемычек?")  # another chat, another question
    assert len(fake_gemini.caches) == 1  # the same documents, prompt and model: reused
    first, second = fake_gemini.generations()
    assert (
        first.body["cachedContent"] == second.body["cachedContent"] == fake_gemini.caches[0]["name"]
    )
    cached_text = json.dumps(fake_gemini.caches[0], ensure_ascii=False)
    assert "ЦЕЛИКОМ" in cached_text and "крепление к газобетонной кладке" in cached_text
    assert "ВОПРОС:" not in cached_text and "ВОПРОС:" in "".join(texts(second))
    assert "systemInstruction" not in first.body  # it lives in the cache
    second_set = _second_version(session, tmp_path)
    session.new_chat()
    session.ask("Что в общих указаниях?", documents=[second_set])
    assert len(fake_gemini.caches) == 2  # other documents: another cache
    assert fake_gemini.generations()[2].body["cachedContent"] == fake_gemini.caches[1]["name"]


def test_a_new_prompt_version_makes_a_new_context_cache(make_session, fake_gemini, monkeypatch):
    from webapp.pipeline import prompts

    session = make_session(CONTEXT_CACHE_MIN_CHARS=100)
    fake_gemini.add(final("Первый."), final("Второй."))
    session.ask("Что в общих указаниях?")
    monkeypatch.setattr(prompts, "PROMPT_VERSION", prompts.PROMPT_VERSION + "-next")
    session.new_chat()
    session.ask("Что в общих указаниях?")
    assert len(fake_gemini.caches) == 2  # same documents and text, another prompt version
    first, second = fake_gemini.generations()
    assert first.body["cachedContent"] != second.body["cachedContent"]
