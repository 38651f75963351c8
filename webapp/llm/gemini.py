"""Gemini through google-genai (SPEC §8.5).

One client per API key; structured output with a response schema; the answer streamed as deltas
of `answer_markdown`; images uploaded to the File API once per run and referenced afterwards,
each after its caption; a context cache for the stable document materials, keyed by a hash of the
materials, the system prompt and the model, so it is never reused for another document set.
The SDK's own retries are off: the pipeline's retry policy is the one that counts.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from typing import Any

import httpx
from google import genai
from google.genai import errors, types

from webapp.llm.base import (
    DeltaSink,
    FilePart,
    ImagePart,
    LLMCall,
    LLMEngine,
    LLMError,
    LLMResult,
    TextPart,
    prompt_chars,
)
from webapp.llm.jsonstream import WANTS_MORE, FieldStream

log = logging.getLogger("webapp.llm.gemini")
MEDIA = {
    "low": types.MediaResolution.MEDIA_RESOLUTION_LOW,
    "medium": types.MediaResolution.MEDIA_RESOLUTION_MEDIUM,
    "high": types.MediaResolution.MEDIA_RESOLUTION_HIGH,
}
_clients: dict[tuple[str, str], genai.Client] = {}
# (API key, endpoint, materials hash) -> (cache name, expiry): a cache belongs to one key's project
_caches: dict[tuple[str, str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def _client(api_key: str, base_url: str | None, timeout_s: float) -> genai.Client:
    key = (api_key, base_url or "")
    with _lock:
        client = _clients.get(key)
        if client is None:
            options = types.HttpOptions(
                base_url=base_url or None,
                timeout=int(timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            client = _clients[key] = genai.Client(api_key=api_key, http_options=options)
        return client


def _error(exc: Exception) -> LLMError:
    if isinstance(exc, errors.APIError):
        code = getattr(exc, "code", None)
        retryable = code in (408, 429) or (code is not None and code >= 500)
        message = getattr(exc, "message", None) or str(exc)
        return LLMError(f"Gemini answered {code}: {message}"[:500], retryable, code)
    if isinstance(exc, (httpx.TransportError, TimeoutError, ConnectionError)):
        return LLMError(f"Gemini unreachable: {type(exc).__name__}", True)
    return LLMError(f"Gemini call failed: {type(exc).__name__}: {exc}"[:500], False)


class GeminiEngine(LLMEngine):
    name = "gemini"

    def __init__(
        self,
        api_key: str,
        flash_model: str,
        pro_model: str,
        base_url: str | None = None,
        max_tokens: int = 8192,
        cache_ttl: int = 900,
        timeout_s: float = 300,
        cache_min_chars: int = 16_000,  # below this a context cache costs more than it saves
    ) -> None:
        self.client = _client(api_key, base_url, timeout_s)
        self._client_key = (hashlib.sha256(api_key.encode()).hexdigest(), base_url or "")
        self.cache_min_chars = cache_min_chars
        self.models = {"flash": flash_model, "pro": pro_model}
        self.max_tokens = max_tokens
        self.cache_ttl = cache_ttl
        self._uploaded: dict[str, types.File] = {}  # image key -> uploaded file (this run)
        self._upload_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict, api_key: str) -> GeminiEngine:
        return cls(
            api_key,
            config["DEFAULT_FLASH_MODEL"],
            config["DEFAULT_PRO_MODEL"],
            base_url=config["GEMINI_BASE_URL"] or None,
            max_tokens=config["MAX_TOKENS"],
            cache_ttl=config["CONTEXT_CACHE_TTL_SECONDS"],
            timeout_s=max(30, min(config["RUN_TIMEOUT"], 600)),
            cache_min_chars=config["CONTEXT_CACHE_MIN_CHARS"],
        )

    def model_name(self, role: str) -> str:
        return self.models.get(role, self.models["flash"])

    # --- request building ---------------------------------------------------------------------
    def _image(self, image: ImagePart) -> types.Part:
        with self._upload_lock:
            uploaded = self._uploaded.get(image.key)
            if uploaded is None:
                try:
                    uploaded = self.client.files.upload(
                        file=io.BytesIO(image.png),
                        config=types.UploadFileConfig(
                            mime_type="image/png",
                            display_name=f"{image.block_id}_{image.kind}_{image.key[:8]}.png",
                        ),
                    )
                except Exception as exc:
                    raise _error(exc) from exc
                self._uploaded[image.key] = uploaded
        return types.Part.from_uri(file_uri=uploaded.uri, mime_type="image/png")

    def _parts(self, parts: list) -> list[types.Part]:
        result = []
        for part in parts:
            if isinstance(part, TextPart):
                result.append(types.Part.from_text(text=part.text))
            elif isinstance(part, ImagePart):
                result.append(self._image(part))
            elif isinstance(part, FilePart):
                result.append(types.Part.from_uri(file_uri=part.uri, mime_type=part.mime_type))
        return result

    def _contents(self, call: LLMCall, cached: bool) -> list[types.Content]:
        contents = [
            types.Content(
                role="model" if m["role"] == "assistant" else "user",
                parts=[types.Part.from_text(text=m["content"])],
            )
            for m in call.history
            if m.get("content")
        ]
        parts = ([] if cached else self._parts(call.cache_parts)) + self._parts(call.parts)
        contents.append(types.Content(role="user", parts=parts))
        return contents

    def _cache_name(self, call: LLMCall, model: str) -> str | None:
        """A context cache for the stable materials, when they are big enough to be worth it."""
        text = "".join(p.text for p in call.cache_parts if isinstance(p, TextPart))
        if len(text) < self.cache_min_chars or self.cache_ttl <= 0:
            return None
        digest = hashlib.sha256("\x00".join([model, call.system, text]).encode()).hexdigest()
        slot = (*self._client_key, digest)
        now = time.time()
        with _lock:
            found = _caches.get(slot)
            if found and found[1] > now + 30:
                return found[0]
        try:
            cache = self.client.caches.create(
                model=model,
                config=types.CreateCachedContentConfig(
                    contents=[types.Content(role="user", parts=self._parts(call.cache_parts))],
                    system_instruction=call.system,
                    ttl=f"{self.cache_ttl}s",
                    display_name=f"aizoomdoc-{digest[:16]}",
                ),
            )
        except Exception as exc:  # caching is an optimisation: carry on without it
            log.info("context cache not created: %s", exc)
            return None
        with _lock:
            _caches[slot] = (cache.name, now + self.cache_ttl)
        return cache.name

    def _config(self, call: LLMCall, cache_name: str | None) -> types.GenerateContentConfig:
        settings = call.settings
        options: dict[str, Any] = {"max_output_tokens": self.max_tokens}
        if settings.get("temperature") is not None:
            options["temperature"] = float(settings["temperature"])
        if settings.get("top_p") is not None:
            options["top_p"] = float(settings["top_p"])
        if settings.get("media_resolution") in MEDIA:
            options["media_resolution"] = MEDIA[settings["media_resolution"]]
        if settings.get("thinking_enabled"):
            budget = settings.get("thinking_budget") or None
            options["thinking_config"] = types.ThinkingConfig(
                include_thoughts=True, thinking_budget=budget
            )
        if call.schema is not None:
            options["response_mime_type"] = "application/json"
            options["response_schema"] = types.Schema.model_validate(call.schema)
        if cache_name:
            options["cached_content"] = cache_name
        else:
            options["system_instruction"] = call.system
        return types.GenerateContentConfig(**options)

    # --- the call -----------------------------------------------------------------------------
    def generate(self, call: LLMCall, on_delta: DeltaSink | None = None) -> LLMResult:
        model = self.model_name(call.model_role)
        cache_name = self._cache_name(call, model)
        contents = self._contents(call, cached=cache_name is not None)
        config = self._config(call, cache_name)
        chunks: list[str] = []
        usage = None
        field = FieldStream(call.stream_field) if call.stream_field else None
        try:
            stream = self.client.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            for response in stream:
                usage = response.usage_metadata or usage
                for candidate in response.candidates or []:
                    for part in (candidate.content.parts if candidate.content else None) or []:
                        if not part.text:
                            continue
                        if part.thought:
                            if on_delta:
                                on_delta("thinking", part.text)
                            continue
                        chunks.append(part.text)
                        if field is not None and on_delta:
                            delta = field.feed(part.text)
                            if delta and not WANTS_MORE.search(field.prefix_before_field):
                                on_delta("token", delta)
        except LLMError:
            raise
        except Exception as exc:
            raise _error(exc) from exc
        return LLMResult(
            text="".join(chunks),
            model=model,
            prompt_chars=prompt_chars(call),
            prompt_tokens=getattr(usage, "prompt_token_count", None),
            output_tokens=getattr(usage, "candidates_token_count", None),
        )

    def upload_file(self, data: bytes, mime_type: str, display_name: str) -> dict[str, str]:
        try:
            uploaded = self.client.files.upload(
                file=io.BytesIO(data),
                config=types.UploadFileConfig(mime_type=mime_type, display_name=display_name),
            )
        except Exception as exc:
            raise _error(exc) from exc
        state = getattr(uploaded.state, "value", uploaded.state) or "ACTIVE"
        return {"uri": uploaded.uri, "name": uploaded.name, "state": str(state)}

    def close(self) -> None:
        """Delete this run's uploads (best effort: the File API expires them anyway)."""
        for uploaded in self._uploaded.values():
            try:
                self.client.files.delete(name=uploaded.name)
            except Exception:  # nothing to do if cleanup fails
                log.debug("could not delete uploaded file %s", uploaded.name)
        self._uploaded.clear()
