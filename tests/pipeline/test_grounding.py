"""What the model can reach and what it cites, through the real SDK against the fake Gemini:
the document map, blocks asked for by id, the model's own searches, checked citations, images
asked for again, exact token streaming after repairs, and the run's deadline."""

from __future__ import annotations

import json

from tests.pipeline.replies import (
    NODE,
    NODE_NOTES,
    NOTES2,
    PLAN,
    SECTION,
    SPEC,
    final,
    joined_tokens,
    texts,
    user_parts,
    wants,
)
from tests.support.chat_session import names, of
from tests.support.fake_gemini import Reply

MAP_MODE = {"PREFIX_DOCUMENT_CHARS": 0}  # the demo set is short: make it go through the map


def _materials(request) -> str:
    return next((t for t in texts(request) if t.startswith("МАТЕРИАЛЫ ПО ВОПРОСУ")), "")


def _question(request) -> str:
    return next(t for t in texts(request) if "ВОПРОС:" in t)


def test_every_call_carries_the_map_of_all_blocks(make_session, fake_gemini):
    session = make_session(**MAP_MODE)
    fake_gemini.add(final())
    session.ask("Какая площадь кладовой 107?")
    request = fake_gemini.generations()[0]
    prefix = next(t for t in texts(request) if t.startswith("КАРТА ДОКУМЕНТА"))
    for block_id in (PLAN, SECTION, NODE, NODE_NOTES, SPEC, NOTES2):
        assert f" {block_id} " in prefix  # every block is listed, found by search or not
    assert all(len(line) <= 100 for line in prefix.splitlines()[3:])


def test_short_document_is_sent_whole_in_the_prefix(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(final())
    session.ask("Какая площадь кладовой 107?")
    request = fake_gemini.generations()[0]
    whole = next(t for t in texts(request) if "ЦЕЛИКОМ" in t)
    assert "крепление к газобетонной кладке не допускается" in whole  # DEMO-NOTE-003's text
    assert "КАРТА ДОКУМЕНТА" not in "".join(texts(request))
    assert "полный текст в документе выше" in _materials(request)  # search hits only named


def test_followup_blocks_are_read_in_the_next_round(make_session, fake_gemini):
    session = make_session(MATERIALS_TARGET_CHARS=1, **MAP_MODE)  # round one: excerpts only
    fake_gemini.add(
        wants(blocks=[NODE_NOTES, "ZZZZ-ZZZZ-ZZZ", 42, "что-то"], note="Читаю примечания"),
        final("Кронштейны крепят к торцу плиты [#DEMO-NOTE-003]."),
    )
    events = session.ask("Как крепить кронштейны НФС?")
    assert names(events)[-1] == "completed"
    first, second = fake_gemini.generations()
    ending = "Узел относится к стенам С-1 по всему периметру здания"
    assert ending not in _materials(first)
    assert ending in _materials(second)
    read = [c for c in of(events, "tool_call") if c["tool"] == "read_blocks"]
    assert read == [
        {
            "tool": "read_blocks",
            "parameters": {"block_ids": [NODE_NOTES]},
            "reason": "запрос модели",
        }
    ]
    told = _question(second)
    assert "ZZZZ-ZZZZ-ZZZ: нет такого блока" in told
    assert "«42» — не id блока" in told and "«что-то» — не id блока" in told


def test_search_queries_run_and_say_what_was_already_shown(make_session, fake_gemini):
    session = make_session(MATERIALS_TARGET_CHARS=1, **MAP_MODE)
    fake_gemini.add(
        wants(queries=["кронштейны НФС", "", 7], note="Ищу"),
        wants(queries=["кронштейны НФС"], note="Ищу ещё"),
        final("Кронштейны — к торцу плиты [#DEMO-NOTE-003]."),
    )
    events = session.ask("Какая площадь кладовой 107?")
    assert names(events)[-1] == "completed"
    searches = [c for c in of(events, "tool_call") if c["tool"] == "search"]
    assert [s["parameters"]["queries"] for s in searches] == [["кронштейны НФС"]] * 2
    first, second, third = fake_gemini.generations()
    assert "Кронштейны НФС крепить к торцу плиты перекрытия" not in _materials(first)
    assert "Кронштейны НФС крепить к торцу плиты перекрытия" in _materials(second)
    assert f"Поиск «кронштейны НФС»: новые блоки {NODE_NOTES}" in _question(second)
    assert "search_queries: «» — пустой или не строка" in _question(second)
    assert "search_queries: «7» — пустой или не строка" in _question(second)
    again = _question(third)
    assert "Поиск «кронштейны НФС»: новых блоков нет; уже в материалах:" in again
    assert NODE_NOTES in again.split("уже в материалах:")[1]


def test_unknown_citation_is_removed_and_repaired_once(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        final(
            "Стена С-1 опирается на перекрытие [#ZZZZ-ZZZZ-ZZZ], кронштейны крепят к торцу "
            "плиты [#DEMO-NOTE-003].",
            citations=[{"block_id": "ZZZZ-ZZZZ-ZZZ"}, {"block_id": NODE_NOTES}],
        ),
        Reply(json={"corrections": [{"wrong_id": "ZZZZ-ZZZZ-ZZZ", "block_id": NODE}]}),
    )
    events = session.ask("Как стена С-1 опирается на перекрытие?")
    assert names(events)[-1] == "completed"
    expected = (
        "Стена С-1 опирается на перекрытие [#DEMO-NODE-001], кронштейны крепят к торцу плиты "
        "[#DEMO-NOTE-003]."
    )
    answer = of(events, "llm_final")[0]
    assert answer["content"] == expected == joined_tokens(events)
    assert "ZZZZ" not in joined_tokens(events)  # the wrong id never reached the client
    assert [c["block_id"] for c in answer["citations"]] == [NODE, NODE_NOTES]
    assert any("ZZZZ-ZZZZ-ZZZ" in p["message"] for p in of(events, "phase_progress"))
    correction = fake_gemini.generations()[1]
    assert "corrections" in correction.body["generationConfig"]["responseSchema"]["properties"]
    assert "ZZZZ-ZZZZ-ZZZ" in _question_or_all(correction)
    assert len(fake_gemini.generations()) == 2  # asked once
    assert session.history()[-1]["content"] == expected


def _question_or_all(request) -> str:
    return "".join(texts(request))


def test_unknown_citation_without_a_correction_is_dropped(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        final("Стена опирается на плиту [#ZZZZ-ZZZZ-ZZZ], см. узел [#DEMO-NODE-001]."),
        Reply(json={"corrections": [{"wrong_id": "ZZZZ-ZZZZ-ZZZ", "block_id": ""}]}),
    )
    events = session.ask("Как стена опирается на плиту?")
    answer = of(events, "llm_final")[0]
    assert answer["content"] == "Стена опирается на плиту, см. узел [#DEMO-NODE-001]."
    assert joined_tokens(events) == answer["content"]
    assert answer["removed_citations"] == ["ZZZZ-ZZZZ-ZZZ"]


def test_citations_are_checked_and_enriched(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        wants(images=[PLAN]),
        final(
            "Крепление к газобетону запрещено [#DEMO-NOTE-003]; перемычки 5ПБ [#DEMO-SPEC-001]; "
            "план [DEMO-PLAN-001].",
            citations=[
                {
                    "block_id": NODE_NOTES,
                    "quote": "крепление к  ГАЗОБЕТОННОЙ кладке не допускается",
                },
                {"block_id": SPEC, "quote": "Перемычка 5ПБ 99-9"},
                {"block_id": "demo-plan-001", "kind": "image_block"},
            ],
        ),
    )
    events = session.ask("Можно ли крепить кронштейны к кладке?")
    answer = of(events, "llm_final")[0]
    assert answer["content"].endswith("план [#DEMO-PLAN-001].")
    by_id = {c["block_id"]: c for c in answer["citations"]}
    assert list(by_id) == [NODE_NOTES, SPEC, PLAN]
    assert by_id[NODE_NOTES]["verified"] is True and by_id[NODE_NOTES]["quote_found"] is True
    assert by_id[SPEC]["verified"] is False and by_id[SPEC]["quote_found"] is False
    assert by_id[PLAN]["verified"] is True and by_id[PLAN]["quote_found"] is None
    assert by_id[NODE_NOTES]["page_number"] == 6 and by_id[NODE_NOTES]["sheet"] == "4"
    assert by_id[NODE_NOTES]["kind"] == "text_block" and by_id[NODE_NOTES]["images"] == []
    plan_urls = [e["url"] for e in of(events, "image_ready") if e["block_id"] == PLAN]
    assert plan_urls and by_id[PLAN]["images"] == plan_urls
    assert by_id[PLAN]["document_id"] == session.document_id
    stored = session.history()[-1]
    assert stored["content"] == answer["content"]


def _uploads_by_uri(fake) -> dict[str, str]:
    """File URI → the display name it was uploaded with (starts and finishes pair up in order:
    uploads run one at a time)."""
    started = [r.body["file"] for r in fake.requests if r.kind == "upload_start"]
    finished = [r.body["file_id"] for r in fake.requests if r.kind == "upload"]
    return {
        f"{fake.url}/v1beta/files/{file_id}": meta.get("displayName") or meta.get("display_name")
        for meta, file_id in zip(started, finished)
    }


def _sent_images(fake, request) -> list[str]:
    names_by_uri = _uploads_by_uri(fake)
    return [
        names_by_uri[p["fileData"].get("fileUri") or p["fileData"].get("file_uri")]
        for p in user_parts(request)
        if "fileData" in p
    ]


def test_an_image_can_be_asked_for_again_after_it_left_the_cap(make_session, fake_gemini):
    session = make_session(MAX_IMAGES_PER_CALL=1)
    fake_gemini.add(
        wants(images=[PLAN]),
        wants(images=[SECTION]),
        wants(images=["IMG-1", "IMG-99"]),
        final(),
    )
    events = session.ask("Что на этих листах?")  # not a visual question: no quality gate
    assert names(events)[-1] == "completed"
    ready = of(events, "image_ready")
    assert [e["block_id"] for e in ready] == [PLAN, SECTION]  # each image once for the client
    second, third, fourth = fake_gemini.generations()[1:]
    assert [n.split("_")[0] for n in _sent_images(fake_gemini, second)] == [PLAN]
    assert [n.split("_")[0] for n in _sent_images(fake_gemini, third)] == [SECTION]
    catalogue = next(t for t in texts(third) if t.startswith("ИЗОБРАЖЕНИЯ ЭТОГО ОТВЕТА"))
    assert "IMG-1 (не приложено, можно запросить)" in catalogue and "- IMG-2:" in catalogue
    assert [n.split("_")[0] for n in _sent_images(fake_gemini, fourth)] == [PLAN]
    assert "IMG-99: такого изображения в этом ответе нет" in _question(fourth)
    assert len([r for r in fake_gemini.requests if r.kind == "upload"]) == 2  # uploaded once


def test_repair_after_a_cut_reply_never_repeats_the_streamed_text(make_session, fake_gemini):
    """The doubled answer ("Стена 400 ммСтена 400 мм."): tokens of a reply cut mid-JSON were
    streamed, then the repair's answer was streamed again from its start."""
    session = make_session()
    fake_gemini.add(
        Reply(
            text='{"needs_more_evidence": false, "followup_images": [], '
            '"answer_markdown": "Стена 400 мм из газобетона D500',
            chunk=12,
        ),
        final("Стена 400 мм из газобетона D500 [#DEMO-NODE-001]."),
    )
    events = session.ask("Из какого материала наружные стены?")
    answer = of(events, "llm_final")[0]
    assert answer["content"] == "Стена 400 мм из газобетона D500 [#DEMO-NODE-001]."
    assert joined_tokens(events) == answer["content"]
    assert len(of(events, "llm_token")) > 1  # the first reply was streamed live
    assert len(fake_gemini.generations()) == 2


def test_a_repair_with_other_words_follows_a_marker(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        Reply(text='{"answer_markdown": "Толщина стены составляет', chunk=8),
        final("Стена 400 мм [#DEMO-NODE-001]."),
    )
    events = session.ask("Из какого материала наружные стены?")
    answer = of(events, "llm_final")[0]
    assert joined_tokens(events) == answer["content"] == session.history()[-1]["content"]
    assert answer["content"].startswith("Толщина стены")
    assert answer["content"].endswith("Стена 400 мм [#DEMO-NODE-001].")
    assert answer["content"].count("Стена 400 мм") == 1


def test_run_timeout_during_a_model_call(make_session, fake_gemini):
    session = make_session(RUN_TIMEOUT=3)
    slow = final("Кладка наружных стен из газобетонных блоков D500 толщиной 400 мм. " * 6)
    fake_gemini.add(Reply(json=slow.json, delay=0.25, chunk=12))
    events = session.ask("Из чего наружные стены?")
    assert names(events)[-1] == "error" and names(events).count("error") == 1
    assert "completed" not in names(events) and "llm_final" not in names(events)
    error = of(events, "error")[0]
    assert error["code"] == "run_timeout" and "RUN_TIMEOUT" in error["message"]
    streamed = joined_tokens(events)
    assert streamed.startswith("Кладка наружных стен")
    saved = session.history()[-1]
    assert saved["role"] == "assistant"
    assert saved["content"].startswith(streamed) and "RUN_TIMEOUT = 3" in saved["content"]


def test_image_budget_counts_images_not_blocks(make_session, fake_gemini):
    session = make_session(MAX_IMAGES_PER_CALL=2)
    fake_gemini.add(wants(images=[PLAN, SECTION, NODE]), wants(images=[NODE]), final())
    events = session.ask("Что на этих листах?")
    assert [e["block_id"] for e in of(events, "image_ready")] == [PLAN, SECTION, NODE]
    second, third = fake_gemini.generations()[1:]
    assert f"не больше 2 изображений за раунд): {NODE}" in _question(second)
    assert len(_sent_images(fake_gemini, second)) == 2
    assert [n.split("_")[0] for n in _sent_images(fake_gemini, third)] == [SECTION, NODE]
    catalogue = next(t for t in texts(third) if t.startswith("ИЗОБРАЖЕНИЯ ЭТОГО ОТВЕТА"))
    assert catalogue.count("\n- IMG-") == 3  # every image stays listed
    assert "- IMG-1 (не приложено, можно запросить)" in catalogue


def test_garbage_followups_are_ignored_with_a_note(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        Reply(
            json={
                "needs_more_evidence": True,
                "followup_images": [None, {"x": 1}],
                "followup_rois": ["B2", {"block_id": PLAN}, {"block_id": PLAN, "bbox_norm": [0.5]}],
                "followup_blocks": "DEMO-PLAN-001",
                "search_queries": ["a" * 500, "b", "c", "d"],
                "answer_markdown": "…",
            }
        ),
        final(),
    )
    events = session.ask("Что на плане?")
    assert names(events)[-1] == "completed"
    told = _question(fake_gemini.generations()[1])
    assert "followup_rois: «B2» — не объект" in told
    assert "bbox_norm must have exactly 4 numbers" in told
    assert "search_queries: выполнены только первые 3" in told
    searched = [c for c in of(events, "tool_call") if c["tool"] == "search"][0]
    assert [len(q) for q in searched["parameters"]["queries"]] == [200, 1, 1]


def test_final_answer_carries_structured_fields_as_json(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        final(issues=[{"description": "нет узла", "evidence": [PLAN, "ZZZZ-ZZZZ-ZZZ"]}])
    )
    fake_gemini.add(Reply(json={"corrections": []}))
    events = session.ask("Какие ошибки есть в проекте?")
    answer = of(events, "llm_final")[0]
    assert answer["issues"][0]["evidence"] == [PLAN]
    json.dumps(answer, ensure_ascii=False)  # everything in the event is plain JSON
