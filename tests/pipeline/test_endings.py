"""Every way a model turn can end, through the real SDK against the fake Gemini: the client either
sees tokens that join to exactly `llm_final.content`, or the run ends with one `error` that says
what happened and whether asking again helps."""

from __future__ import annotations

from tests.pipeline.replies import final, joined_tokens, texts
from tests.support.chat_session import names, of
from tests.support.fake_gemini import Reply

ANSWER = "Наружные стены из газобетонных блоков D500 толщиной 400 мм [#DEMO-NODE-001]."
QUESTION = "Из какого материала наружные стены?"  # not visual: tokens stream live


def _exact(events) -> str:
    assert names(events)[-1] == "completed", of(events, "error")
    content = of(events, "llm_final")[0]["content"]
    assert joined_tokens(events) == content
    return content


def _one_error(events) -> dict:
    assert names(events)[-1] == "error" and names(events).count("error") == 1
    assert "completed" not in names(events) and "llm_final" not in names(events)
    return of(events, "error")[0]


def test_max_tokens_mid_json_is_repaired_without_repeating_text(make_session, fake_gemini):
    session = make_session()
    cut = final(ANSWER)
    fake_gemini.add(Reply(json=cut.json, finish_reason="MAX_TOKENS", chunk=10), final(ANSWER))
    events = session.ask(QUESTION)
    assert _exact(events) == ANSWER
    assert len(of(events, "llm_token")) > 1  # the cut reply streamed before the repair
    repair = "".join(texts(fake_gemini.generations()[1]))
    assert "обрезан по лимиту длины" in repair


def test_error_event_mid_stream_then_retry(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(
        Reply(json=final(ANSWER).json, status=500, error_after=8, chunk=16), final(ANSWER)
    )
    events = session.ask(QUESTION)
    assert _exact(events) == ANSWER
    first = of(events, "llm_token")[0]["token"]
    assert ANSWER.startswith(first) and len(first) < len(ANSWER)  # streamed before the failure
    assert joined_tokens(events).count("Наружные стены") == 1


def test_dropped_connection_then_retry_with_the_same_words(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(json=final(ANSWER).json, drop_after=8, chunk=16), final(ANSWER))
    events = session.ask(QUESTION)
    assert _exact(events) == ANSWER
    first = of(events, "llm_token")[0]["token"]
    assert ANSWER.startswith(first) and len(first) < len(ANSWER)
    assert len(fake_gemini.generations()) == 2


def test_dropped_connection_then_retry_with_other_words(make_session, fake_gemini):
    session = make_session()
    other = "Стены выполнены из газобетона [#DEMO-NODE-001]."
    fake_gemini.add(Reply(json=final(ANSWER).json, drop_after=8, chunk=16), final(other))
    events = session.ask(QUESTION)
    content = _exact(events)
    assert content.endswith(other) and content.count(other) == 1
    assert content.startswith("Наружные стены")  # what was shown stays, the new answer follows
    assert session.history()[-1]["content"] == content


def test_safety_stop_is_one_clear_error(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(json=final(ANSWER).json, finish_reason="SAFETY"))
    error = _one_error(session.ask(QUESTION))
    assert error["code"] == "llm_blocked" and "Rephras" in error["message"]
    assert len(fake_gemini.generations()) == 1  # not retried: the same would be refused again


def test_blocked_prompt_is_one_clear_error(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(block_reason="PROHIBITED_CONTENT"))
    error = _one_error(session.ask(QUESTION))
    assert error["code"] == "llm_blocked"
    assert [m["role"] for m in session.history()] == ["user"]  # the question stays, nothing else


def test_rate_limit_with_retry_info_is_waited_out(make_session, fake_gemini):
    session = make_session()
    fake_gemini.add(Reply(status=429, retry_delay="1s"), final(ANSWER))
    events = session.ask(QUESTION)
    assert _exact(events) == ANSWER
    assert len(fake_gemini.generations()) == 2


def test_rate_limit_longer_than_the_run_may_wait_fails_at_once(make_session, fake_gemini):
    session = make_session(RUN_TIMEOUT=20)
    fake_gemini.add(Reply(status=429, retry_delay="120s"), final(ANSWER))
    error = _one_error(session.ask(QUESTION))
    assert error["code"] == "llm_rate_limited" and "few minutes" in error["message"]
    assert len(fake_gemini.generations()) == 1


def test_persistent_503_ends_with_unavailable(make_session, fake_gemini):
    session = make_session(LLM_MAX_RETRIES=1)
    fake_gemini.add(Reply(status=503), Reply(status=503))
    error = _one_error(session.ask(QUESTION))
    assert error["code"] == "llm_unavailable" and "HTTP 503" in error["message"]


def _counter(app, kind: str) -> float:
    from webapp.metrics import registry

    return registry(app).value("aizoomdoc_llm_tokens_total", kind=kind, model="gemini-2.5-flash")


def test_thinking_tokens_are_counted(make_session, fake_gemini):
    session = make_session()
    before = _counter(session.app, "thinking")
    fake_gemini.add(Reply(json=final(ANSWER).json, thoughts="Проверяю узел.", thoughts_tokens=57))
    events = session.ask(QUESTION)
    _exact(events)
    assert _counter(session.app, "thinking") - before == 57
    assert of(events, "llm_thinking")[0]["content"] == "Проверяю узел."


def test_cache_gone_on_googles_side_is_recreated(make_session, fake_gemini):
    session = make_session(CONTEXT_CACHE_MIN_CHARS=100, CONTEXT_CACHE_TTL_SECONDS=60)
    fake_gemini.add(final("Первый."), final("Второй."), final("Третий."))
    _exact(session.ask(QUESTION))
    assert len(fake_gemini.caches) == 1
    fake_gemini.advance(3600)  # the cache expired at Google, the server still remembers it
    events = session.ask("А перемычки?")
    assert _exact(events) == "Второй."
    assert names(events).count("error") == 0
    generations = fake_gemini.generations()
    assert generations[1].body.get("cachedContent")  # tried with the cache, refused
    assert "cachedContent" not in generations[2].body  # then inline, with the system prompt
    assert "systemInstruction" in generations[2].body
