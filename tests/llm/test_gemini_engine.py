"""`GeminiEngine` against the fake Gemini API through the real google-genai SDK.

One test per way a real call can end — and per rule of the context cache — asserting what the
engine returns or raises (`LLMResult` fields, `LLMError` code, retryability, message), what it
reported through `on_delta` before a failure, and what it sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.fake_gemini import API_KEY, OTHER_API_KEY, FakeGemini, Reply
from webapp.config import ConfigError, load_settings
from webapp.llm import gemini
from webapp.llm.base import FilePart, ImagePart, LLMCall, LLMError, TextPart
from webapp.llm.gemini import GeminiEngine

SYSTEM = "Ты инженер-проектировщик. Отвечай по материалам."
MATERIALS = "МАТЕРИАЛЫ ДОКУМЕНТОВ:\n" + "Стена из кирпича М150 на растворе М75. " * 160
PREFIX = '{"answer_markdown": "'
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Caches and clients are per process; each test starts without the others' entries."""
    gemini._caches.clear()
    gemini._clients.clear()
    yield
    gemini._caches.clear()
    gemini._clients.clear()


def engine(
    fake: FakeGemini,
    key: str = API_KEY,
    flash_model: str = "gemini-2.5-flash",
    pro_model: str = "gemini-2.5-pro",
    **options,
) -> GeminiEngine:
    defaults = dict(base_url=fake.url, cache_min_chars=0, timeout_s=60)
    return GeminiEngine(key, flash_model, pro_model, **{**defaults, **options})


def call(cached: str | None = None, **fields) -> LLMCall:
    """An answer call; `cached` text becomes the stable (cacheable) materials."""
    defaults = dict(
        purpose="answer",
        model_role="flash",
        system=SYSTEM,
        parts=[TextPart("Какая марка кирпича?")],
        stream_field="answer_markdown",
        cache_parts=[TextPart(cached)] if cached else [],
    )
    return LLMCall(**{**defaults, **fields})


class Deltas(list):
    """What the engine reported, as (kind, text)."""

    def __call__(self, kind: str, text: str) -> None:
        self.append((kind, text))

    def text(self, kind: str = "token") -> str:
        return "".join(t for k, t in self if k == kind)


def answer(markdown: str) -> Reply:
    return Reply(json={"answer_markdown": markdown}, chunk=10)


def texts(request) -> str:
    """All text of a recorded request's contents."""
    return "".join(p.get("text", "") for c in request.body["contents"] for p in c["parts"])


def failure(run) -> LLMError:
    with pytest.raises(LLMError) as caught:
        run()
    return caught.value


# --- how a call ends ----------------------------------------------------------------------------
def test_max_tokens_returns_the_partial_text_and_says_so(fake_gemini):
    reply = Reply(json={"answer_markdown": "Кирпич М150. " * 20}, finish_reason="MAX_TOKENS")
    fake_gemini.add(reply)
    deltas = Deltas()
    result = engine(fake_gemini).generate(call(), deltas)
    full = reply.body_text()
    assert result.finish_reason == "MAX_TOKENS"
    assert result.text == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.text)  # cut mid-JSON: the pipeline's repair deals with it
    assert deltas.text() == result.text[len(PREFIX) :]


@pytest.mark.parametrize(
    "ending", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "OTHER"]
)
def test_a_filtered_answer_is_llm_blocked_and_keeps_its_deltas(fake_gemini, ending):
    fake_gemini.add(
        Reply(json={"answer_markdown": "a" * 80}, chunk=10, finish_reason=ending, cut=40)
    )
    deltas = Deltas()
    error = failure(lambda: engine(fake_gemini).generate(call(), deltas))
    assert (error.code, error.retryable, error.status) == ("llm_blocked", False, None)
    assert ending in str(error) and "Rephrasing the question may help" in str(error)
    assert "same again will not" in str(error)
    assert deltas.text() == "a" * (40 - len(PREFIX))  # what was streamed stays reported
    assert len(fake_gemini.generations()) == 1  # the engine never retries


def test_a_blocked_prompt_is_llm_blocked(fake_gemini):
    fake_gemini.add(Reply(text="{}", block_reason="PROHIBITED_CONTENT"))
    error = failure(lambda: engine(fake_gemini).generate(call()))
    assert (error.code, error.retryable) == ("llm_blocked", False)
    assert "blocked the prompt (PROHIBITED_CONTENT)" in str(error)
    assert "Rephrasing the question" in str(error)


def test_an_http_error_after_some_chunks_keeps_exactly_the_streamed_deltas(fake_gemini):
    reply = Reply(json={"answer_markdown": "b" * 100}, chunk=10, status=500, error_after=4)
    fake_gemini.add(reply)
    deltas = Deltas()
    error = failure(lambda: engine(fake_gemini).generate(call(), deltas))
    assert (error.code, error.retryable, error.status) == ("llm_unavailable", True, 500)
    assert deltas.text() == reply.body_text()[len(PREFIX) : 40]
    assert len(fake_gemini.generations()) == 1


def test_a_dropped_connection_after_some_chunks_keeps_exactly_the_streamed_deltas(fake_gemini):
    reply = Reply(json={"answer_markdown": "c" * 100}, chunk=10, drop_after=5)
    fake_gemini.add(reply)
    deltas = Deltas()
    error = failure(lambda: engine(fake_gemini).generate(call(), deltas))
    assert (error.code, error.retryable) == ("llm_unavailable", True)
    assert "RemoteProtocolError" in str(error)
    assert deltas.text() == reply.body_text()[len(PREFIX) : 50]
    assert len(fake_gemini.generations()) == 1


def test_429_is_rate_limited_with_the_retry_delay_google_asked_for(fake_gemini):
    fake_gemini.add(Reply(status=429, retry_delay="7s", quota_id="GenerateRequestsPerMinute"))
    error = failure(lambda: engine(fake_gemini).generate(call()))
    assert (error.code, error.retryable, error.status) == ("llm_rate_limited", True, 429)
    assert error.retry_after == 7.0
    assert len(fake_gemini.generations()) == 1  # the SDK's own retries are off


def test_429_on_the_daily_quota_is_not_retryable(fake_gemini):
    fake_gemini.add(Reply(status=429, retry_delay="30s", quota_id="GenerateRequestsPerDay"))
    error = failure(lambda: engine(fake_gemini).generate(call()))
    assert (error.code, error.retryable, error.retry_after) == ("llm_rate_limited", False, 30.0)
    assert "daily quota" in str(error)


def test_503_is_retryable_unavailable(fake_gemini):
    fake_gemini.add(Reply(status=503))
    error = failure(lambda: engine(fake_gemini).generate(call()))
    assert (error.code, error.retryable, error.status) == ("llm_unavailable", True, 503)
    assert "503 UNAVAILABLE" in str(error) and error.retry_after is None
    assert len(fake_gemini.generations()) == 1


def test_thinking_is_streamed_and_its_tokens_counted(fake_gemini):
    fake_gemini.add(
        Reply(json={"answer_markdown": "Ответ."}, thoughts="Проверю план.", thoughts_tokens=321)
    )
    deltas = Deltas()
    settings = {"thinking_enabled": True, "thinking_budget": 1024}
    result = engine(fake_gemini).generate(call(settings=settings), deltas)
    assert (result.thinking_tokens, result.finish_reason) == (321, "STOP")
    assert deltas.text("thinking") == "Проверю план." and deltas.text() == "Ответ."
    assert result.output_tokens == len(result.text) // 4 and result.prompt_tokens > 0
    sent = fake_gemini.generations()[0].body["generationConfig"]["thinkingConfig"]
    assert sent == {"include_thoughts": True, "thinking_budget": 1024}


# --- thinking budgets ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, requested, sent",
    [
        ("gemini-2.5-pro", 50, 128),  # below 2.5 Pro's minimum
        ("gemini-2.5-pro", 24576, 24576),
        ("gemini-2.5-flash-lite", 100, 512),
        ("gemini-2.5-flash", 100, 100),
        ("gemini-2.5-flash", 24576, 24576),
        ("gemini-3-pro-preview", 100, 100),  # no known range: as the user asked
        ("gemini-2.5-pro", 0, None),  # 0 is "automatic": the model decides
    ],
)
def test_the_thinking_budget_is_clamped_into_the_models_range(fake_gemini, model, requested, sent):
    fake_gemini.add(answer("Ответ."))
    settings = {"thinking_enabled": True, "thinking_budget": requested}
    result = engine(fake_gemini, pro_model=model).generate(
        call(model_role="pro", settings=settings)
    )
    assert result.text  # the fake (like Google) accepted the budget
    thinking = fake_gemini.generations()[0].body["generationConfig"]["thinkingConfig"]
    assert thinking.get("thinking_budget") == sent


def test_thinking_off_sends_no_thinking_config(fake_gemini):
    fake_gemini.add(answer("Ответ."))
    engine(fake_gemini, pro_model="gemini-2.5-pro").generate(
        call(model_role="pro", settings={"thinking_enabled": False, "thinking_budget": 0})
    )
    assert "thinkingConfig" not in fake_gemini.generations()[0].body["generationConfig"]


# --- errors on the key, the files, the request ---------------------------------------------------
def test_a_refused_key_is_llm_auth_and_never_quoted(fake_gemini):
    error = failure(lambda: engine(fake_gemini, key="wrong-secret-key").generate(call()))
    assert (error.code, error.retryable, error.status) == ("llm_auth", False, 400)
    assert "DEFAULT_GEMINI_API_KEY" in str(error) and "PUT /me/gemini-key" in str(error)
    assert "wrong-secret-key" not in str(error)


@pytest.mark.parametrize(
    "status, message, code",
    [
        (401, "Request had invalid authentication credentials.", "llm_auth"),
        (403, "Requests to this API method are blocked.", "llm_auth"),
        (400, "Request contains an invalid argument.", "llm_bad_request"),
        (413, "Request payload size exceeds the limit.", "llm_bad_request"),
    ],
)
def test_other_client_errors_are_not_retryable(fake_gemini, status, message, code):
    fake_gemini.add(Reply(status=status, text=message))
    error = failure(lambda: engine(fake_gemini).generate(call()))
    assert (error.code, error.retryable, error.status) == (code, False, status)
    assert (message in str(error)) == (status != 401)


def test_a_file_of_another_key_is_llm_file_unavailable_naming_the_file(fake_gemini):
    uploaded = engine(fake_gemini, key=OTHER_API_KEY).upload_file(
        b"%PDF-1.4", "application/pdf", "spec.pdf"
    )
    fake_gemini.add(answer("Ответ."))
    part = FilePart(uploaded["uri"], "application/pdf", "spec.pdf")
    error = failure(lambda: engine(fake_gemini).generate(call(parts=[TextPart("?"), part])))
    assert (error.code, error.retryable, error.status) == ("llm_file_unavailable", False, 403)
    assert f"«spec.pdf» ({uploaded['name']})" in str(error) and "48 hours" in str(error)
    assert len(fake_gemini.script) == 1  # the model never ran


def test_an_expired_image_upload_is_forgotten_so_a_retry_uploads_it_again(fake_gemini):
    image = ImagePart(PNG, "Block P: overview", "k" * 16, "P", "overview")
    runner = engine(fake_gemini)
    fake_gemini.add(answer("Первый."), answer("Второй."))
    runner.generate(call(parts=[TextPart(image.caption), image]))
    fake_gemini.advance(49 * 3600)  # the File API has expired it
    error = failure(lambda: runner.generate(call(parts=[TextPart(image.caption), image])))
    assert (error.code, error.retryable) == ("llm_file_unavailable", True)
    assert runner.generate(call(parts=[TextPart(image.caption), image])).text
    assert len(fake_gemini.of_kind("upload")) == 2


def test_an_unknown_model_is_a_bad_request(fake_gemini):
    error = failure(lambda: engine(fake_gemini, flash_model="gemini-9-ultra").generate(call()))
    assert (error.code, error.retryable, error.status) == ("llm_bad_request", False, 404)
    assert "models/gemini-9-ultra is not found" in str(error)


@pytest.mark.parametrize("extra", [False, {"type": "string"}])
def test_a_schema_outside_the_subset_is_a_bad_request(fake_gemini, extra):
    """`false` reaches Google and is refused; a schema the SDK refuses itself is never sent."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    schema["additionalProperties"] = extra
    error = failure(lambda: engine(fake_gemini).generate(call(schema=schema)))
    assert (error.code, error.retryable) == ("llm_bad_request", False)
    assert "additional" in str(error).lower()
    assert len(fake_gemini.generations()) == (1 if extra is False else 0)


def test_the_request_timeout_is_the_time_the_run_has_left(fake_gemini):
    fake_gemini.add(answer("1"), answer("2"), answer("3"))
    runner = engine(fake_gemini, timeout_s=30)
    for left in (12.0, 500.0, 0.2):
        runner.generate(call(timeout_s=left))
    sent = [g.headers["X-Server-Timeout"] for g in fake_gemini.generations()]
    assert sent == ["12", "30", "5"]  # never above the engine's, at least MIN_CALL_SECONDS


def test_a_stream_running_past_the_time_left_is_stopped(fake_gemini, monkeypatch):
    monkeypatch.setattr(gemini, "MIN_CALL_SECONDS", 0.25)
    fake_gemini.add(Reply(json={"answer_markdown": "d" * 200}, chunk=10, delay=0.1))
    deltas = Deltas()
    error = failure(lambda: engine(fake_gemini).generate(call(timeout_s=0.25), deltas))
    assert (error.code, error.retryable) == ("llm_unavailable", True)
    assert "did not finish within" in str(error)
    assert 0 < len(deltas.text()) < 200  # stopped midway; what came stays reported


def test_a_silent_model_times_out_as_unavailable(fake_gemini, monkeypatch):
    monkeypatch.setattr(gemini, "MIN_CALL_SECONDS", 1.0)
    fake_gemini.add(Reply(json={"answer_markdown": "e"}, delay=1.5))
    error = failure(lambda: engine(fake_gemini).generate(call(timeout_s=1.0)))
    assert (error.code, error.retryable) == ("llm_unavailable", True)
    assert "Timeout" in str(error)


# --- the context cache --------------------------------------------------------------------------
def test_materials_below_the_models_minimum_are_sent_inline(fake_gemini):
    fake_gemini.add(answer("Первый."), answer("Второй."))
    small = "x" * 3000  # ~760 tokens with the system text: under 2.5 Flash's 1,024
    flash = engine(fake_gemini).generate(call(small))
    pro = engine(fake_gemini).generate(call(MATERIALS, model_role="pro"))  # ~1,600 < 4,096
    assert (flash.cache, pro.cache) == ("below_minimum", "below_minimum")
    assert fake_gemini.of_kind("cache") == []
    for request in fake_gemini.generations():
        assert "cachedContent" not in request.body and "systemInstruction" in request.body


def test_a_cache_is_created_once_and_reused_without_the_system_instruction(fake_gemini):
    fake_gemini.add(answer("Первый."), answer("Второй."))
    runner = engine(fake_gemini)
    first = runner.generate(call(MATERIALS, cache_key="doc-7@v3"))
    second = engine(fake_gemini).generate(call(MATERIALS, cache_key="doc-7@v3"))
    assert (first.cache, second.cache) == ("created", "hit")
    assert len(fake_gemini.caches) == 1
    cache = fake_gemini.caches[0]
    assert cache["displayName"].startswith("aizoomdoc-doc-7-v3-")
    assert cache["systemInstruction"]["parts"][0]["text"] == SYSTEM
    for request in fake_gemini.generations():
        assert request.body["cachedContent"] == cache["name"]
        assert "systemInstruction" not in request.body
        assert MATERIALS not in texts(request)
    assert second.cached_tokens == (len(SYSTEM) + len(MATERIALS)) // 4


def test_the_cache_key_and_the_model_separate_caches(fake_gemini):
    fake_gemini.add(answer("1"), answer("2"), answer("3"))
    runner = engine(fake_gemini, pro_model="gemini-2.5-flash-lite")
    big = MATERIALS * 2  # Flash-Lite's minimum is 2,048 tokens
    runner.generate(call(big, cache_key="doc-7@v3"))
    runner.generate(call(big, cache_key="doc-7@v4"))
    runner.generate(call(big, cache_key="doc-7@v4", model_role="pro"))
    assert len(fake_gemini.caches) == 3
    assert [c["model"] for c in fake_gemini.caches] == [
        "models/gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "models/gemini-2.5-flash-lite",
    ]


def test_a_failed_cache_creation_is_not_retried_on_the_next_call(fake_gemini):
    """Our table says 100 tokens, the API 1,024 (they do disagree): refused once, remembered."""
    fake_gemini.add(answer("Первый."), answer("Второй."))
    runner = engine(fake_gemini, cache_min_tokens={"gemini-2.5-flash": 100})
    small = "y" * 2000
    first = runner.generate(call(small))
    second = runner.generate(call(small))
    assert (first.cache, second.cache) == ("failed", "failed")
    assert (first.text, second.text) != ("", "")
    assert len(fake_gemini.of_kind("cache")) == 1 and fake_gemini.caches == []
    for request in fake_gemini.generations():
        assert "systemInstruction" in request.body and small in texts(request)


def test_a_failed_creation_is_tried_again_after_a_while(fake_gemini, monkeypatch):
    fake_gemini.add(answer("1"), answer("2"))
    runner = engine(fake_gemini, cache_min_tokens={"gemini-2.5-flash": 100}, cache_ttl=600)
    runner.generate(call("y" * 2000))
    later = gemini._now() + 601
    monkeypatch.setattr(gemini, "_now", lambda: later)
    runner.generate(call("y" * 2000))
    assert len(fake_gemini.of_kind("cache")) == 2


@pytest.mark.parametrize("how", ["expired", "deleted"])
def test_a_cache_gone_at_google_is_dropped_and_the_call_redone_inline(fake_gemini, how):
    fake_gemini.add(answer("Первый."), answer("Второй."), answer("Третий."))
    runner = engine(fake_gemini, cache_ttl=300)
    runner.generate(call(MATERIALS))
    name = fake_gemini.caches[0]["name"]
    if how == "expired":
        fake_gemini.advance(301)  # our registry still believes it has minutes left
    else:
        runner.client.caches.delete(name=name)
    deltas = Deltas()
    redone = runner.generate(call(MATERIALS), deltas)
    assert (redone.cache, redone.text, deltas.text()) == (
        "dropped",
        answer("Второй.").body_text(),
        "Второй.",
    )
    refused, inline = fake_gemini.generations()[1:3]
    assert refused.body["cachedContent"] == name and "systemInstruction" not in refused.body
    assert "cachedContent" not in inline.body
    assert inline.body["systemInstruction"]["parts"][0]["text"] == SYSTEM
    assert MATERIALS in texts(inline)
    third = runner.generate(call(MATERIALS))  # the stale entry is gone: a new cache
    assert third.cache == "created" and len(fake_gemini.caches) == 2
    assert fake_gemini.generations()[-1].body["cachedContent"] == fake_gemini.caches[1]["name"]


def test_the_registry_is_bounded_and_deletes_what_it_evicts(fake_gemini, monkeypatch):
    monkeypatch.setattr(gemini, "CACHE_REGISTRY_SIZE", 2)
    fake_gemini.add(*[answer(str(n)) for n in range(3)])
    runner = engine(fake_gemini)
    for n in range(3):
        runner.generate(call(MATERIALS, cache_key=f"doc-{n}"))
    assert len(gemini._caches) == 2
    assert fake_gemini.deleted_caches == [fake_gemini.caches[0]["name"]]


def test_expired_registry_entries_are_pruned(fake_gemini, monkeypatch):
    fake_gemini.add(answer("1"), answer("2"))
    runner = engine(fake_gemini, cache_ttl=300)
    runner.generate(call(MATERIALS, cache_key="a"))
    later = gemini._now() + 301
    monkeypatch.setattr(gemini, "_now", lambda: later)
    runner.generate(call(MATERIALS, cache_key="b"))
    assert len(gemini._caches) == 1 and len(fake_gemini.caches) == 2


# --- configuration ------------------------------------------------------------------------------
def test_the_cache_minimums_are_a_setting(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "DEBUG": "true"}
    values = load_settings(env={**env, "GEMINI_CACHE_MIN_TOKENS": "gemini-2.5-flash=2000,*=5000"})
    assert values["GEMINI_CACHE_MIN_TOKENS"] == {"gemini-2.5-flash": 2000, "*": 5000}
    built = GeminiEngine.from_config({**values, "GEMINI_BASE_URL": "http://127.0.0.1:9"}, "k")
    assert built.cache_min_tokens == {"gemini-2.5-flash": 2000, "*": 5000}
    with pytest.raises(ConfigError, match="GEMINI_CACHE_MIN_TOKENS"):
        load_settings(env={**env, "GEMINI_CACHE_MIN_TOKENS": "gemini-2.5-flash"})
    default = load_settings(env=env)["GEMINI_CACHE_MIN_TOKENS"]
    assert default["gemini-2.5-flash-lite"] == 2048 and default["*"] == 4096
