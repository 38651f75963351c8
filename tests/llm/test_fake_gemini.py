"""The fake Gemini API refuses what the real one refuses, the way it does.

Each check of `tests/support/fake_gemini.py` is driven through the real google-genai SDK, and the
tests assert the error class, `code`, `status` and message the SDK raises — so an engine tested
against the fake meets the same outcomes it meets against Google.
"""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support.fake_gemini import API_KEY, OTHER_API_KEY, FakeGemini, Reply

BIG = "Стена из кирпича М150 на растворе М75. " * 160  # ~6,400 characters: ~1,600 tokens


def client(fake: FakeGemini, key: str = API_KEY, **options) -> genai.Client:
    """An SDK client on the fake, with the SDK's retries off (a retry would hide the error)."""
    http = types.HttpOptions(
        base_url=fake.url, retry_options=types.HttpRetryOptions(attempts=1), **options
    )
    return genai.Client(api_key=key, http_options=http)


def stream(sdk: genai.Client, model: str = "gemini-2.5-flash", **config) -> list:
    """All chunks of a streamed call, as the engine reads them."""
    return list(
        sdk.models.generate_content_stream(
            model=model,
            contents="Что на плане?",
            config=types.GenerateContentConfig(automatic_continuation=False, **config),
        )
    )


def make_cache(sdk: genai.Client, text: str = BIG, model: str = "gemini-2.5-flash", **config):
    return sdk.caches.create(
        model=model,
        config=types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=[types.Part.from_text(text=text)])],
            system_instruction="Ты инженер.",
            **config,
        ),
    )


def upload(sdk: genai.Client, data: bytes = b"%PDF-1.4 spec") -> types.File:
    return sdk.files.upload(
        file=io.BytesIO(data), config=types.UploadFileConfig(mime_type="application/pdf")
    )


# --- the API key --------------------------------------------------------------------------------
def test_a_bad_key_is_400_api_key_invalid_not_401(fake_gemini):
    sdk = client(fake_gemini, "not-a-key")
    with pytest.raises(errors.ClientError) as caught:
        stream(sdk)
    error = caught.value
    assert (error.code, error.status) == (400, "INVALID_ARGUMENT")
    assert error.message == "API key not valid. Please pass a valid API key."
    info = [d for d in error.details["error"]["details"] if d["@type"].endswith("ErrorInfo")]
    assert info[0]["reason"] == "API_KEY_INVALID"
    assert info[0]["metadata"]["service"] == "generativelanguage.googleapis.com"


def test_a_missing_key_is_403_unregistered_caller(fake_gemini):
    sdk = client(fake_gemini, headers={"x-goog-api-key": ""})
    with pytest.raises(errors.ClientError) as caught:
        stream(sdk)
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert "unregistered callers" in caught.value.message


def test_a_refused_request_leaves_the_script_alone(fake_gemini):
    fake_gemini.add(Reply(text="{}"))
    with pytest.raises(errors.ClientError):
        stream(client(fake_gemini, "not-a-key"))
    assert len(fake_gemini.script) == 1 and len(fake_gemini.generations()) == 1
    assert "".join(c.text for c in stream(client(fake_gemini))) == "{}"


# --- models -------------------------------------------------------------------------------------
def test_an_unknown_model_is_404_not_found(fake_gemini):
    with pytest.raises(errors.ClientError) as caught:
        stream(client(fake_gemini), model="gemini-9-ultra")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert caught.value.message.startswith(
        "models/gemini-9-ultra is not found for API version v1beta, or is not supported for "
        "streamGenerateContent."
    )


# --- caches -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, minimum",
    [("gemini-2.5-flash", 1024), ("gemini-2.5-flash-lite", 2048), ("gemini-2.5-pro", 4096)],
)
def test_a_cache_below_the_models_minimum_is_400(fake_gemini, model, minimum):
    sdk = client(fake_gemini)
    system = len("Ты инженер.")
    short = "x" * (minimum * 4 - system - 4)  # one token short by characters / 4
    with pytest.raises(errors.ClientError) as caught:
        make_cache(sdk, short, model)
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == (
        f"Cached content is too small. total_token_count={minimum - 1}, "
        f"min_total_token_count={minimum}"
    )
    assert make_cache(sdk, short + "xxxx", model).name.startswith("cachedContents/")
    assert len(fake_gemini.caches) == 1


def test_a_cache_expires_by_its_ttl_and_can_be_read_and_deleted(fake_gemini):
    sdk = client(fake_gemini)
    cache = make_cache(sdk, ttl="300s", display_name="materials")
    assert cache.expire_time - cache.create_time == timedelta(seconds=300)
    assert cache.model == "models/gemini-2.5-flash" and cache.display_name == "materials"
    assert cache.usage_metadata.total_token_count == (len(BIG) + len("Ты инженер.")) // 4
    assert sdk.caches.get(name=cache.name).expire_time == cache.expire_time
    sdk.caches.delete(name=cache.name)
    assert fake_gemini.deleted_caches == [cache.name]
    with pytest.raises(errors.ClientError) as caught:
        sdk.caches.get(name=cache.name)
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.message == "CachedContent not found (or permission denied)"


@pytest.mark.parametrize("how", ["expired", "deleted", "another key"])
def test_generate_refuses_a_cache_that_is_gone_or_someone_elses(fake_gemini, how):
    sdk = client(fake_gemini)
    cache = make_cache(sdk, ttl="300s")
    user = sdk
    if how == "expired":
        fake_gemini.advance(301)
    elif how == "deleted":
        sdk.caches.delete(name=cache.name)
    else:
        user = client(fake_gemini, OTHER_API_KEY)
    fake_gemini.add(Reply(text="{}"))
    with pytest.raises(errors.ClientError) as caught:
        stream(user, cached_content=cache.name)
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.message == "CachedContent not found (or permission denied)"
    assert len(fake_gemini.script) == 1  # the model never ran


def test_generate_refuses_a_cache_of_another_model(fake_gemini):
    sdk = client(fake_gemini)
    cache = make_cache(sdk)
    with pytest.raises(errors.ClientError) as caught:
        stream(sdk, model="gemini-2.5-pro", cached_content=cache.name)
    assert caught.value.code == 400
    assert caught.value.message == (
        "Model used by GenerateContent request (models/gemini-2.5-pro) and CachedContent "
        "(models/gemini-2.5-flash) has to be the same."
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"system_instruction": "Ты инженер."},
        {"tools": [types.Tool(function_declarations=[types.FunctionDeclaration(name="zoom")])]},
        {
            "tool_config": types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="NONE")
            )
        },
    ],
    ids=["systemInstruction", "tools", "toolConfig"],
)
def test_a_cache_with_system_instruction_tools_or_tool_config_is_400(fake_gemini, extra):
    sdk = client(fake_gemini)
    cache = make_cache(sdk)
    fake_gemini.add(Reply(text="{}"))
    with pytest.raises(errors.ClientError) as caught:
        stream(sdk, cached_content=cache.name, **extra)
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message.startswith(
        "CachedContent can not be used with GenerateContent request setting "
        "system_instruction, tools or tool_config."
    )
    assert "".join(c.text for c in stream(sdk, cached_content=cache.name)) == "{}"


def test_usage_counts_cached_and_thinking_tokens(fake_gemini):
    sdk = client(fake_gemini)
    cache = make_cache(sdk)
    fake_gemini.add(Reply(text='{"a": 1}', thoughts="Думаю.", thoughts_tokens=77))
    chunks = stream(sdk, cached_content=cache.name)
    usage = chunks[-1].usage_metadata
    assert usage.cached_content_token_count == cache.usage_metadata.total_token_count
    assert usage.prompt_token_count > usage.cached_content_token_count  # it includes them
    assert usage.thoughts_token_count == 77
    thoughts = [p.text for c in chunks for p in c.candidates[0].content.parts if p.thought]
    assert thoughts == ["Думаю."]


# --- response schema ----------------------------------------------------------------------------
def test_the_supported_schema_subset_is_accepted_in_both_spellings(fake_gemini):
    """google-genai sends nested fields in snake case (`property_ordering`): the API takes it."""
    schema = {
        "type": "object",
        "title": "Answer",
        "description": "d",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "string", "enum": ["a", "b"], "nullable": True},
                "minItems": 1,
                "maxItems": 3,
            },
            "count": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9,
                "default": 1,
                "format": "int32",
            },
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 9,
                "pattern": "^a",
                "example": "a",
            },
            "either": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            "object": {"type": "object", "minProperties": 0, "maxProperties": 2},
        },
        "required": ["items"],
        "propertyOrdering": ["items", "count", "text", "either", "object"],
    }
    fake_gemini.add(Reply(text="{}"))
    stream(
        client(fake_gemini),
        response_mime_type="application/json",
        response_schema=types.Schema.model_validate(schema),
    )
    sent = fake_gemini.generations()[-1].body["generationConfig"]["responseSchema"]
    assert "property_ordering" in sent  # what the SDK really puts on the wire


@pytest.mark.parametrize(
    "schema, name, path",
    [
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": False,
            },
            "additionalProperties",
            "generation_config.response_schema",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
            "$ref",
            "generation_config.response_schema.properties[0].value",
        ),
        (
            {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
            "oneOf",
            "generation_config.response_schema.items",
        ),
    ],
)
def test_schema_fields_outside_the_subset_are_400(fake_gemini, schema, name, path):
    # extra_body puts the schema on the wire as it is (the SDK would rewrite or refuse some)
    sdk = client(fake_gemini, extra_body={"generationConfig": {"responseSchema": schema}})
    with pytest.raises(errors.ClientError) as caught:
        stream(sdk, response_mime_type="application/json")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == (
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
    )
    violation = caught.value.details["error"]["details"][0]
    assert violation["@type"].endswith("google.rpc.BadRequest")
    assert violation["fieldViolations"][0]["field"] == path


def test_additional_properties_false_goes_through_the_sdk_and_is_refused(fake_gemini):
    """The SDK only refuses a truthy additionalProperties itself; `false` reaches the API (in
    snake case, as google-genai writes nested fields)."""
    schema = types.Schema.model_validate(
        {"type": "object", "properties": {"a": {"type": "string"}}, "additional_properties": False}
    )
    with pytest.raises(errors.ClientError) as caught:
        stream(client(fake_gemini), response_mime_type="application/json", response_schema=schema)
    assert caught.value.message == (
        'Invalid JSON payload received. Unknown name "additional_properties" at '
        "'generation_config.response_schema': Cannot find field."
    )


# --- thinking -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, budget, message",
    [
        ("gemini-2.5-pro", 0, "Budget 0 is invalid. This model only works in thinking mode."),
        ("gemini-2.5-pro", 127, "The thinking budget (127) is invalid."),
        ("gemini-2.5-pro", 32769, "The thinking budget (32769) is invalid."),
        ("gemini-2.5-flash", 24577, "The thinking budget (24577) is invalid."),
        ("gemini-2.5-flash-lite", 511, "The thinking budget (511) is invalid."),
        ("gemini-2.5-flash", -2, "The thinking budget (-2) is invalid."),
    ],
)
def test_a_thinking_budget_outside_the_models_range_is_400(fake_gemini, model, budget, message):
    with pytest.raises(errors.ClientError) as caught:
        stream(
            client(fake_gemini), model, thinking_config=types.ThinkingConfig(thinking_budget=budget)
        )
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        400,
        "INVALID_ARGUMENT",
        message,
    )


@pytest.mark.parametrize(
    "model, budget",
    [
        ("gemini-2.5-pro", 128),
        ("gemini-2.5-pro", 32768),
        ("gemini-2.5-pro", -1),
        ("gemini-2.5-flash", 0),
        ("gemini-2.5-flash", 24576),
        ("gemini-2.5-flash-lite", 0),
        ("gemini-2.5-flash-lite", 512),
    ],
)
def test_thinking_budgets_inside_the_range_are_accepted(fake_gemini, model, budget):
    fake_gemini.add(Reply(text="{}"))
    config = types.ThinkingConfig(thinking_budget=budget)
    assert "".join(c.text for c in stream(client(fake_gemini), model, thinking_config=config))
    assert fake_gemini.generations()[-1].body["generationConfig"]["thinkingConfig"] == {
        "thinking_budget": budget
    }


def test_a_thinking_level_on_a_2_5_model_is_400(fake_gemini):
    level = types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)
    with pytest.raises(errors.ClientError) as caught:
        stream(client(fake_gemini), "gemini-2.5-flash", thinking_config=level)
    assert caught.value.code == 400
    fake_gemini.add(Reply(text="{}"))
    assert stream(client(fake_gemini), "gemini-3-pro-preview", thinking_config=level)


# --- files --------------------------------------------------------------------------------------
def test_an_uploaded_file_expires_after_48_hours(fake_gemini):
    sdk = client(fake_gemini)
    uploaded = upload(sdk)
    assert uploaded.expiration_time - uploaded.create_time == timedelta(hours=48)
    assert uploaded.mime_type == "application/pdf" and uploaded.uri == fake_gemini.file_uri(
        uploaded.name.split("/")[1]
    )
    assert sdk.files.get(name=uploaded.name).name == uploaded.name
    fake_gemini.advance(48 * 3600 + 1)
    with pytest.raises(errors.ClientError) as caught:
        sdk.files.get(name=uploaded.name)
    file_id = uploaded.name.split("/")[1]
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.message == (
        f"You do not have permission to access the File {file_id} or it may not exist."
    )


@pytest.mark.parametrize("how", ["another key", "deleted", "expired"])
def test_generate_refuses_a_file_the_key_cannot_read(fake_gemini, how):
    owner = client(fake_gemini, OTHER_API_KEY if how == "another key" else API_KEY)
    uploaded = upload(owner)
    if how == "deleted":
        owner.files.delete(name=uploaded.name)
        assert fake_gemini.deleted == [uploaded.name]
    elif how == "expired":
        fake_gemini.advance(48 * 3600 + 1)
    fake_gemini.add(Reply(text="{}"))
    user = client(fake_gemini)
    with pytest.raises(errors.ClientError) as caught:
        user.models.generate_content(
            model="gemini-2.5-flash",
            contents=[types.Part.from_uri(file_uri=uploaded.uri, mime_type="application/pdf")],
        )
    file_id = uploaded.name.split("/")[1]
    assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
    assert caught.value.message == (
        f"You do not have permission to access the File {file_id} or it may not exist."
    )
    assert len(fake_gemini.script) == 1


def test_generate_reads_the_keys_own_file(fake_gemini):
    sdk = client(fake_gemini)
    uploaded = upload(sdk)
    fake_gemini.add(Reply(text="{}"))
    part = types.Part.from_uri(file_uri=uploaded.uri, mime_type="application/pdf")
    assert sdk.models.generate_content(model="gemini-2.5-flash", contents=[part]).text == "{}"


# --- scripted endings ---------------------------------------------------------------------------
def test_max_tokens_cuts_the_text_mid_json(fake_gemini):
    body = {"answer_markdown": "Площадь кладовой 13,77 м². " * 4}
    fake_gemini.add(Reply(json=body, finish_reason="MAX_TOKENS", chunk=10))
    chunks = stream(client(fake_gemini))
    text = "".join(c.text or "" for c in chunks)
    full = Reply(json=body).body_text()
    assert text == full[: len(full) // 2]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert [c.candidates[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)


def test_a_safety_ending_has_ratings_and_partial_text(fake_gemini):
    fake_gemini.add(Reply(text="x" * 50, finish_reason="SAFETY", cut=20, chunk=10))
    chunks = stream(client(fake_gemini))
    assert "".join(c.text or "" for c in chunks) == "x" * 20
    last = chunks[-1].candidates[0]
    assert last.finish_reason == types.FinishReason.SAFETY and last.content is None
    blocked = [r for r in last.safety_ratings if r.blocked]
    assert [r.category for r in blocked] == [types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT]


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT"])
def test_a_blocked_prompt_has_feedback_and_no_candidates(fake_gemini, reason):
    fake_gemini.add(Reply(text="{}", block_reason=reason))
    chunks = stream(client(fake_gemini))
    assert len(chunks) == 1 and not chunks[0].candidates
    assert chunks[0].prompt_feedback.block_reason == types.BlockedReason(reason)
    assert chunks[0].usage_metadata.prompt_token_count > 0


def test_an_error_event_after_some_chunks(fake_gemini):
    fake_gemini.add(Reply(text="y" * 100, chunk=10, status=503, error_after=3))
    seen: list[str] = []
    sdk = client(fake_gemini)
    with pytest.raises(errors.ServerError) as caught:
        for chunk in sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="?"):
            seen.append(chunk.text)
    assert seen == ["y" * 10] * 3
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert caught.value.message == "The model is overloaded. Please try again later."


def test_a_dropped_connection_after_some_chunks(fake_gemini):
    fake_gemini.add(Reply(text="z" * 100, chunk=10, drop_after=2))
    seen: list[str] = []
    sdk = client(fake_gemini)
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="?"):
            seen.append(chunk.text)
    assert seen == ["z" * 10] * 2
    assert fake_gemini.chunks_sent == 2


def test_429_carries_retry_info_and_quota_failure(fake_gemini):
    fake_gemini.add(Reply(status=429, retry_delay="7s", quota_id="GenerateRequestsPerMinute"))
    with pytest.raises(errors.ClientError) as caught:
        stream(client(fake_gemini))
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.message.startswith("You exceeded your current quota")
    details = {d["@type"].rsplit(".", 1)[1]: d for d in caught.value.details["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "7s"
    assert details["QuotaFailure"]["violations"][0]["quotaId"] == "GenerateRequestsPerMinute"


def test_503_is_a_server_error(fake_gemini):
    fake_gemini.add(Reply(status=503))
    with pytest.raises(errors.ServerError) as caught:
        stream(client(fake_gemini))
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert len(fake_gemini.generations()) == 1
