"""Gemini through google-genai.

One client per API key; structured output with a response schema; the answer streamed as deltas
of `answer_markdown`; images uploaded to the File API once per run and referenced afterwards,
each after its caption; a context cache for the stable document materials.

Every outcome of the real API ends in one clear result:

- the model stopped normally (`STOP`) or ran out of output tokens (`MAX_TOKENS`): an `LLMResult`
  with the (partial) text and `finish_reason` — parsing and repair are the pipeline's job;
- the model's filters stopped the answer (`SAFETY`, `RECITATION`, `PROHIBITED_CONTENT`,
  `BLOCKLIST`, `SPII`, `OTHER`, …) or blocked the prompt (`promptFeedback.blockReason`):
  `LLMError(code="llm_blocked", retryable=False)`;
- 429: `llm_rate_limited`, retryable (not when the daily quota is gone), `retry_after` from
  `google.rpc.RetryInfo`; 5xx, 408, transport errors and a stream cut midway: `llm_unavailable`,
  retryable; the key refused (400 `API_KEY_INVALID`, 401, 403 on the key): `llm_auth`; a file
  the key may not read (403 on a File API URI): `llm_file_unavailable`; any other 4xx:
  `llm_bad_request`. Messages never contain the API key.

The engine never retries and never re-sends deltas: what `on_delta` reported before a failure
stays reported, and the pipeline owns retries. The SDK's own retries (HTTP retry options,
automatic stream continuation) are off. The one exception is a context cache that Google says is
gone (expired, deleted): the call is redone once without it, which is safe because that refusal
comes before any chunk.

Context caches are keyed by a hash of (API key, endpoint, model, `call.cache_key`, system text,
cached parts), so a cache is never reused for another document set, prompt, model or key. They
are only created when the materials reach the model's minimum (`GEMINI_CACHE_MIN_TOKENS`,
tokens estimated as characters / 4), a failed creation is remembered for a while rather than
retried on every call, and the in-process registry is bounded; evicted caches are deleted on
Google's side best-effort (the TTL deletes them anyway).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpcore  # noqa: F401  (see below)
import httpx
from google import genai
from google.genai import errors, types

from webapp.config import parse_table

# httpx imports httpcore when its first client is made, and httpcore then imports trio if it is
# installed (selenium brings it), which runs `ldconfig` through subprocess. Clients are made off
# the gevent hub, on a plain OS thread, where gevent's subprocess cannot run: so import it here.
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
from webapp.offhub import run_blocking

log = logging.getLogger("webapp.llm.gemini")
MEDIA = {
    "low": types.MediaResolution.MEDIA_RESOLUTION_LOW,
    "medium": types.MediaResolution.MEDIA_RESOLUTION_MEDIUM,
    "high": types.MediaResolution.MEDIA_RESOLUTION_HIGH,
}
TOKENS_PER_FILE = 258  # what Gemini documents for a small image; used for every file part
MIN_CALL_SECONDS = 5.0  # a call gets at least this long, whatever the run has left
CACHE_REGISTRY_SIZE = 256  # caches remembered per process (live and failed ones together)
CACHE_EXPIRY_MARGIN = 30.0  # a cache this close to expiry is not used any more
CACHE_RETRY_TRANSIENT = 60.0  # a creation that failed on 429/5xx/transport is retried after this
AUTH_MESSAGE = (
    "The Gemini API key was refused: check DEFAULT_GEMINI_API_KEY or the key stored with "
    "PUT /me/gemini-key."
)


@dataclass(frozen=True)
class ThinkingRange:
    """The `thinkingBudget`s a model accepts besides -1 (dynamic) and, where allowed, 0 (off)."""

    low: int
    high: int
    can_turn_off: bool


# ai.google.dev/gemini-api/docs/thinking: 2.5 Pro 128–32768 and cannot be off; 2.5 Flash
# 0–24576; 2.5 Flash-Lite 512–24576 or 0. Other models (the 3.x family prefers thinkingLevel
# and still takes a budget) are passed through as the SDK allows. Longest prefix wins.
THINKING_RANGES: dict[str, ThinkingRange] = {
    "gemini-2.5-pro": ThinkingRange(128, 32768, False),
    "gemini-2.5-flash-lite": ThinkingRange(512, 24576, True),
    "gemini-2.5-flash": ThinkingRange(1, 24576, True),
}
DEFAULT_CACHE_MIN_TOKENS = {
    "gemini-2.5-flash": 1024,
    "gemini-2.5-flash-lite": 2048,
    "gemini-2.5-pro": 4096,
    "*": 4096,
}
# finish reasons that mean "the model's filters stopped it": (what happened, in a few words)
BLOCKED_ENDINGS = {
    "SAFETY": "Google's safety filters stopped it",
    "RECITATION": "it would have quoted protected text verbatim",
    "PROHIBITED_CONTENT": "it touched content Google prohibits",
    "BLOCKLIST": "it contained a term on Google's blocklist",
    "SPII": "it contained sensitive personal data",
    "LANGUAGE": "it was in a language the model does not support",
    "OTHER": "Google's filters stopped it for an unspecified reason",
    "IMAGE_SAFETY": "Google's safety filters stopped it",
    "IMAGE_PROHIBITED_CONTENT": "it touched content Google prohibits",
    "IMAGE_RECITATION": "it would have quoted protected content verbatim",
    "IMAGE_OTHER": "Google's filters stopped it for an unspecified reason",
}
_FILE_ID = re.compile(r"File ([A-Za-z0-9_-]+)")
_FILE_URI_ID = re.compile(r"/files/([A-Za-z0-9_-]+)$")

_clients: dict[tuple[str, str], genai.Client] = {}
_lock = threading.Lock()


def _now() -> float:
    """The clock caches are timed with (a function, so tests can move it)."""
    return time.monotonic()


def estimate_tokens(chars: int, files: int = 0) -> int:
    """Characters / 4 plus 258 per file: a rough estimate, the same the test fake uses."""
    return chars // 4 + files * TOKENS_PER_FILE


def _by_prefix(table: dict[str, Any], model: str) -> Any:
    """The entry of the longest key `model` starts with; `*` (or None) when none does."""
    name = model.removeprefix("models/")
    matches = [key for key in table if key != "*" and name.startswith(key)]
    return table[max(matches, key=len)] if matches else table.get("*")


def thinking_budget(model: str, requested: int | None) -> int | None:
    """The budget to send: None (the model decides) for 0/None, else clamped to the model's range.

    The user's setting allows 0–24576 where 0 means "automatic"; a model with a known range gets
    the nearest budget it accepts (2.5 Pro: at least 128, up to 32768; Flash-Lite: at least 512),
    other models get the number as it is.
    """
    if not requested:
        return None
    allowed = _by_prefix(THINKING_RANGES, model)
    if allowed is None:
        return int(requested)
    return max(allowed.low, min(int(requested), allowed.high))


def _client(api_key: str, base_url: str | None, timeout_s: float) -> genai.Client:
    key = (api_key, base_url or "")
    with _lock:
        client = _clients.get(key)
        if client is None:
            options = types.HttpOptions(
                base_url=base_url or None,
                timeout=int(timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),  # the pipeline retries
            )
            # off the hub: the SDK builds two SSL contexts (loading the CA bundle, ~50 ms each)
            client = run_blocking(genai.Client, api_key=api_key, http_options=options)
            _clients[key] = client
        return client


# --- the context cache registry ------------------------------------------------------------------
@dataclass
class _CacheEntry:
    name: str | None  # None: creating it failed; not tried again before `until`
    until: float  # on `_now()`'s clock
    client_key: tuple[str, str]


# digest -> entry, least recently used first; shared by all engines of the process
_caches: OrderedDict[str, _CacheEntry] = OrderedDict()


def _forget_cache(digest: str, name: str | None = None) -> None:
    """Drop a registry entry (only if it still names `name`, when given)."""
    with _lock:
        entry = _caches.get(digest)
        if entry is not None and (name is None or entry.name == name):
            del _caches[digest]


def _remember_cache(digest: str, entry: _CacheEntry) -> _CacheEntry:
    """Store an entry (a live one another call stored meanwhile wins); delete what falls out."""
    now = _now()
    doomed: list[_CacheEntry] = []
    with _lock:
        for key in [k for k, e in _caches.items() if e.until <= now]:
            del _caches[key]  # expired: Google has deleted it already
        current = _caches.get(digest)
        if current is not None and current.name and current.until > now + CACHE_EXPIRY_MARGIN:
            if entry.name:
                doomed.append(entry)  # two calls created the same cache: keep the first
            entry = current
        _caches[digest] = entry
        _caches.move_to_end(digest)
        while len(_caches) > CACHE_REGISTRY_SIZE:
            _, evicted = _caches.popitem(last=False)
            if evicted.name:
                doomed.append(evicted)
    for gone in doomed:
        _delete_cache(gone)
    return entry


def _delete_cache(entry: _CacheEntry) -> None:
    """Delete a cache on Google's side, best-effort (it expires on its own anyway)."""
    client = _clients.get(entry.client_key)
    if client is None or not entry.name:
        return
    try:
        client.caches.delete(
            name=entry.name,
            config=types.DeleteCachedContentConfig(http_options=types.HttpOptions(timeout=5000)),
        )
    except Exception as exc:  # nothing to do: the TTL removes it
        log.debug("could not delete context cache %s: %s", entry.name, type(exc).__name__)


@dataclass
class _CacheUse:
    """What the cache step decided for one call: `name` to use, and why (`LLMResult.cache`)."""

    status: str | None
    name: str | None = None
    digest: str = ""


class _CacheGone(Exception):
    """Google refused the call's cache as not found/expired before streaming anything."""


# --- errors --------------------------------------------------------------------------------------
def _details(exc: errors.APIError) -> list[dict]:
    body = exc.details if isinstance(exc.details, dict) else {}
    found = body.get("error", body).get("details") if isinstance(body, dict) else None
    return [d for d in found or [] if isinstance(d, dict)]


def _detail(details: list[dict], kind: str) -> list[dict]:
    return [d for d in details if str(d.get("@type", "")).endswith(f"google.rpc.{kind}")]


def _retry_delay(details: list[dict]) -> float | None:
    """Seconds of a `google.rpc.RetryInfo` detail ("7s", "1.5s" or {"seconds": 7})."""
    for info in _detail(details, "RetryInfo"):
        delay = info.get("retryDelay")
        try:
            if isinstance(delay, str) and delay.endswith("s"):
                return float(delay[:-1])
            if isinstance(delay, dict):
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
        except ValueError:
            continue
    return None


def _is_cache_refusal(exc: errors.APIError) -> bool:
    """The API says the request's cachedContent is gone, someone else's or of another model."""
    message = (exc.message or "").lower()
    return exc.code in (400, 403, 404) and (
        "cachedcontent" in message or "cached content" in message
    )


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
        cache_min_tokens: dict[str, int] | None = None,  # the API's minimum per model
    ) -> None:
        self.client = _client(api_key, base_url, timeout_s)
        self._api_key = api_key
        self._client_key = (api_key, base_url or "")
        self._key_hash = hashlib.sha256(f"{api_key}\x00{base_url or ''}".encode()).hexdigest()
        self.cache_min_chars = cache_min_chars
        self.cache_min_tokens = dict(cache_min_tokens or DEFAULT_CACHE_MIN_TOKENS)
        self.models = {"flash": flash_model, "pro": pro_model}
        self.max_tokens = max_tokens
        self.cache_ttl = cache_ttl
        self.timeout_s = timeout_s
        self._uploaded: dict[str, types.File] = {}  # image key -> uploaded file (this run)
        self._upload_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict, api_key: str) -> GeminiEngine:
        min_tokens = config["GEMINI_CACHE_MIN_TOKENS"]
        if isinstance(min_tokens, str):
            min_tokens = parse_table(min_tokens)
        return cls(
            api_key,
            config["DEFAULT_FLASH_MODEL"],
            config["DEFAULT_PRO_MODEL"],
            base_url=config["GEMINI_BASE_URL"] or None,
            max_tokens=config["MAX_TOKENS"],
            cache_ttl=config["CONTEXT_CACHE_TTL_SECONDS"],
            timeout_s=max(30, min(config["RUN_TIMEOUT"], 600)),
            cache_min_chars=config["CONTEXT_CACHE_MIN_CHARS"],
            cache_min_tokens=min_tokens,
        )

    def model_name(self, role: str) -> str:
        return self.models.get(role, self.models["flash"])

    def _call_seconds(self, call: LLMCall) -> float:
        """How long this call's HTTP requests may take: the run's time left, within bounds.

        Never above the engine's own timeout, never below `MIN_CALL_SECONDS` — a run that is out
        of time is stopped by the pipeline's deadline, not by a call that cannot even start.
        """
        if call.timeout_s is None:
            return self.timeout_s
        return max(MIN_CALL_SECONDS, min(float(call.timeout_s), self.timeout_s))

    @staticmethod
    def _http(seconds: float) -> types.HttpOptions:
        return types.HttpOptions(timeout=max(1000, int(seconds * 1000)))

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    # --- request building ---------------------------------------------------------------------
    def _image(self, image: ImagePart, seconds: float) -> types.Part:
        with self._upload_lock:
            uploaded = self._uploaded.get(image.key)
            if uploaded is None:
                try:
                    uploaded = self.client.files.upload(
                        file=io.BytesIO(image.png),
                        config=types.UploadFileConfig(
                            mime_type="image/png",
                            display_name=f"{image.block_id}_{image.kind}_{image.key[:8]}.png",
                            http_options=self._http(seconds),
                        ),
                    )
                except Exception as exc:
                    raise self._error(exc) from exc
                self._uploaded[image.key] = uploaded
        return types.Part.from_uri(file_uri=uploaded.uri, mime_type="image/png")

    def _parts(self, parts: list, seconds: float) -> list[types.Part]:
        result = []
        for part in parts:
            if isinstance(part, TextPart):
                result.append(types.Part.from_text(text=part.text))
            elif isinstance(part, ImagePart):
                result.append(self._image(part, seconds))
            elif isinstance(part, FilePart):
                result.append(types.Part.from_uri(file_uri=part.uri, mime_type=part.mime_type))
        return result

    def _contents(self, call: LLMCall, cached: bool, seconds: float) -> list[types.Content]:
        contents = [
            types.Content(
                role="model" if m["role"] == "assistant" else "user",
                parts=[types.Part.from_text(text=m["content"])],
            )
            for m in call.history
            if m.get("content")
        ]
        parts = ([] if cached else self._parts(call.cache_parts, seconds)) + self._parts(
            call.parts, seconds
        )
        contents.append(types.Content(role="user", parts=parts))
        return contents

    def _config(
        self, call: LLMCall, model: str, cache_name: str | None, seconds: float
    ) -> types.GenerateContentConfig:
        settings = call.settings
        options: dict[str, Any] = {
            "max_output_tokens": self.max_tokens,
            "http_options": self._http(seconds),
            "automatic_continuation": False,  # one request per call: the pipeline retries
        }
        if settings.get("temperature") is not None:
            options["temperature"] = float(settings["temperature"])
        if settings.get("top_p") is not None:
            options["top_p"] = float(settings["top_p"])
        if settings.get("media_resolution") in MEDIA:
            options["media_resolution"] = MEDIA[settings["media_resolution"]]
        if settings.get("thinking_enabled"):
            options["thinking_config"] = types.ThinkingConfig(
                include_thoughts=True,
                thinking_budget=thinking_budget(model, settings.get("thinking_budget")),
            )
        if call.schema is not None:
            options["response_mime_type"] = "application/json"
            options["response_schema"] = types.Schema.model_validate(call.schema)
        if cache_name:
            options["cached_content"] = cache_name  # the system instruction lives in the cache
        else:
            options["system_instruction"] = call.system
        return types.GenerateContentConfig(**options)

    # --- the context cache --------------------------------------------------------------------
    def _cache_digest(self, call: LLMCall, model: str) -> str:
        pieces = [self._key_hash, model, call.cache_key or "", call.system]
        for part in call.cache_parts:
            if isinstance(part, TextPart):
                pieces.append(part.text)
            elif isinstance(part, ImagePart):
                pieces.append(f"image:{part.key}")
            elif isinstance(part, FilePart):
                pieces.append(f"file:{part.uri}")
        return hashlib.sha256("\x00".join(pieces).encode()).hexdigest()

    def _display_name(self, call: LLMCall, digest: str) -> str:
        label = re.sub(r"[^A-Za-z0-9._-]+", "-", call.cache_key or "")[:60].strip("-")
        return f"aizoomdoc-{label + '-' if label else ''}{digest[:12]}"

    def _cache(self, call: LLMCall, model: str, seconds: float) -> _CacheUse:
        """The cache for the call's stable materials, when there are any and it is worth it."""
        if not call.cache_parts:
            return _CacheUse(None)
        if self.cache_ttl <= 0:
            return _CacheUse("off")
        text_chars = sum(len(p.text) for p in call.cache_parts if isinstance(p, TextPart))
        if text_chars < self.cache_min_chars:
            return _CacheUse("small")
        files = sum(not isinstance(p, TextPart) for p in call.cache_parts)
        tokens = estimate_tokens(len(call.system) + text_chars, files)
        minimum = _by_prefix(self.cache_min_tokens, model)
        if tokens < (4096 if minimum is None else minimum):
            return _CacheUse("below_minimum")
        digest = self._cache_digest(call, model)
        now = _now()
        with _lock:
            found = _caches.get(digest)
            if found is not None and found.until > now + (CACHE_EXPIRY_MARGIN if found.name else 0):
                _caches.move_to_end(digest)
                return _CacheUse("hit" if found.name else "failed", found.name, digest)
        try:
            cache = self.client.caches.create(
                model=model,
                config=types.CreateCachedContentConfig(
                    contents=[
                        types.Content(role="user", parts=self._parts(call.cache_parts, seconds))
                    ],
                    system_instruction=call.system,
                    ttl=f"{self.cache_ttl}s",
                    display_name=self._display_name(call, digest),
                    http_options=self._http(seconds),
                ),
            )
        except Exception as exc:  # caching is an optimisation: carry on without it
            failure = self._error(exc) if not isinstance(exc, LLMError) else exc
            wait = CACHE_RETRY_TRANSIENT if failure.retryable else float(self.cache_ttl)
            log.info("context cache not created (%s); not tried again for %.0fs", failure, wait)
            _remember_cache(digest, _CacheEntry(None, now + wait, self._client_key))
            return _CacheUse("failed", None, digest)
        entry = _remember_cache(
            digest, _CacheEntry(cache.name, now + self.cache_ttl, self._client_key)
        )
        return _CacheUse("created" if entry.name == cache.name else "hit", entry.name, digest)

    # --- the call -----------------------------------------------------------------------------
    def generate(self, call: LLMCall, on_delta: DeltaSink | None = None) -> LLMResult:
        model = self.model_name(call.model_role)
        seconds = self._call_seconds(call)
        deadline = time.monotonic() + seconds
        cache = self._cache(call, model, seconds)
        try:
            return self._stream(call, model, cache, on_delta, deadline)
        except _CacheGone:
            log.info("context cache %s is gone on Google's side; calling without it", cache.name)
            _forget_cache(cache.digest, cache.name)
            left = max(MIN_CALL_SECONDS, deadline - time.monotonic())
            return self._stream(
                call, model, _CacheUse("dropped"), on_delta, time.monotonic() + left
            )

    def _stream(
        self,
        call: LLMCall,
        model: str,
        cache: _CacheUse,
        on_delta: DeltaSink | None,
        deadline: float,
    ) -> LLMResult:
        seconds = max(MIN_CALL_SECONDS, deadline - time.monotonic())
        reader = _Reader(call, on_delta)
        try:
            contents = self._contents(call, cached=cache.name is not None, seconds=seconds)
            config = self._config(call, model, cache.name, seconds)
            stream = self.client.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            for response in stream:
                reader.take(response)
                if time.monotonic() > deadline:
                    stream.close()
                    raise LLMError(
                        f"Gemini did not finish within {seconds:.0f}s",
                        True,
                        None,
                        "llm_unavailable",
                    )
        except LLMError:
            raise
        except errors.APIError as exc:
            if cache.name and _is_cache_refusal(exc):
                if not reader.received:
                    raise _CacheGone() from exc
                _forget_cache(cache.digest, cache.name)  # midway (never seen): a retry goes inline
                raise LLMError(self._api_error(exc, call).args[0], True, exc.code) from exc
            raise self._error(exc, call) from exc
        except Exception as exc:
            raise self._error(exc, call) from exc
        return reader.result(model, call, cache.status)

    # --- errors -------------------------------------------------------------------------------
    def _error(self, exc: Exception, call: LLMCall | None = None) -> LLMError:
        if isinstance(exc, errors.APIError):
            return self._api_error(exc, call)
        if isinstance(exc, errors.UnknownApiResponseError):  # a garbled chunk: the wire's fault
            return LLMError("Gemini sent an unreadable response", True, None, "llm_unavailable")
        if isinstance(exc, (httpx.TransportError, TimeoutError, ConnectionError)):
            return LLMError(f"The connection to Gemini failed ({type(exc).__name__})", True, None)
        if isinstance(exc, (ValueError, TypeError)):  # the SDK refused to build the request
            message = self._scrub(f"Gemini request not valid: {exc}")[:500]
            return LLMError(message, False, None, "llm_bad_request")
        message = self._scrub(f"Gemini call failed: {type(exc).__name__}: {exc}")[:500]
        return LLMError(message, False)

    def _api_error(self, exc: errors.APIError, call: LLMCall | None) -> LLMError:
        code = exc.code
        status = exc.status or ""
        text = self._scrub(str(exc.message or status or "no message"))[:400]
        details = _details(exc)
        reasons = {str(d.get("reason", "")) for d in _detail(details, "ErrorInfo")}
        said = f"Gemini answered {code} {status}: {text}".replace("  ", " ")
        if code == 429:
            quotas = [
                str(v.get("quotaId", ""))
                for failure in _detail(details, "QuotaFailure")
                for v in failure.get("violations") or []
            ]
            daily = any("PerDay" in quota for quota in quotas)
            if daily:
                said += " (the daily quota is used up: try again tomorrow or use another key)"
            return LLMError(said, not daily, code, "llm_rate_limited", _retry_delay(details))
        if "API_KEY_INVALID" in reasons or code == 401:
            return LLMError(AUTH_MESSAGE, False, code, "llm_auth")
        if code == 403 and _FILE_ID.search(exc.message or ""):
            return self._file_error(exc, call)
        if code == 403 and not _is_cache_refusal(exc):  # the key may not use the API
            return LLMError(f"{AUTH_MESSAGE} ({text})", False, code, "llm_auth")
        if code is not None and (code == 408 or code >= 500):
            return LLMError(said, True, code, "llm_unavailable")
        return LLMError(said, False, code, "llm_bad_request")

    def _file_error(self, exc: errors.APIError, call: LLMCall | None) -> LLMError:
        """403 on a File API URI: name the file; forget it if it is one of our own uploads."""
        found = _FILE_ID.search(exc.message or "")
        file_id = found.group(1) if found else "?"
        label = f"files/{file_id}"
        for part in (call.parts + call.cache_parts) if call else []:
            uri_id = _FILE_URI_ID.search(getattr(part, "uri", "") or "")
            if isinstance(part, FilePart) and uri_id and uri_id.group(1) == file_id:
                label = f"«{part.name}» ({label})"
        with self._upload_lock:
            own = [k for k, f in self._uploaded.items() if f.name == f"files/{file_id}"]
            for key in own:
                del self._uploaded[key]  # a retry uploads the image again
        message = (
            f"The file {label} is not available to Gemini any more: uploaded files expire 48 "
            "hours after upload, may have been deleted, and belong to the API key that uploaded "
            "them. Upload it again."
        )
        return LLMError(message, bool(own), exc.code, "llm_file_unavailable")

    # --- files --------------------------------------------------------------------------------
    def upload_file(self, data: bytes, mime_type: str, display_name: str) -> dict[str, str]:
        try:
            uploaded = self.client.files.upload(
                file=io.BytesIO(data),
                config=types.UploadFileConfig(mime_type=mime_type, display_name=display_name),
            )
        except Exception as exc:
            raise self._error(exc) from exc
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


class _Reader:
    """Reads a response stream: reports deltas as they come, then judges how it ended."""

    def __init__(self, call: LLMCall, on_delta: DeltaSink | None) -> None:
        self.on_delta = on_delta
        self.field = FieldStream(call.stream_field) if call.stream_field else None
        self.chunks: list[str] = []
        self.usage: types.GenerateContentResponseUsageMetadata | None = None
        self.finish: str | None = None
        self.block: str | None = None
        self.received = False  # any chunk at all (a cache refusal comes before the first)

    def take(self, response: types.GenerateContentResponse) -> None:
        self.received = True
        self.usage = response.usage_metadata or self.usage
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason:
            self.block = _name(feedback.block_reason)
        for candidate in response.candidates or []:
            if candidate.finish_reason:
                self.finish = _name(candidate.finish_reason)
            for part in (candidate.content.parts if candidate.content else None) or []:
                if not part.text:
                    continue
                if part.thought:
                    if self.on_delta is not None:
                        self.on_delta("thinking", part.text)
                    continue
                self.chunks.append(part.text)
                if self.field is not None and self.on_delta is not None:
                    delta = self.field.feed(part.text)
                    if delta and not WANTS_MORE.search(self.field.prefix_before_field):
                        self.on_delta("token", delta)

    def result(self, model: str, call: LLMCall, cache: str | None) -> LLMResult:
        if self.block:
            raise LLMError(
                f"Gemini refused the question: its content filters blocked the prompt "
                f"({self.block}). Rephrasing the question (or leaving out an attached file) may "
                "help; asking the same again will not.",
                False,
                None,
                "llm_blocked",
            )
        if self.finish in BLOCKED_ENDINGS:
            raise LLMError(
                f"Gemini stopped its answer: {BLOCKED_ENDINGS[self.finish]} ({self.finish}). "
                "Rephrasing the question may help; asking the same again will not.",
                False,
                None,
                "llm_blocked",
            )
        if self.finish is None:  # the stream ended without saying why: it was cut off
            raise LLMError("Gemini's answer stream ended early", True, None, "llm_unavailable")
        usage = self.usage
        return LLMResult(
            text="".join(self.chunks),
            model=model,
            prompt_chars=prompt_chars(call),
            prompt_tokens=getattr(usage, "prompt_token_count", None),
            output_tokens=getattr(usage, "candidates_token_count", None),
            thinking_tokens=getattr(usage, "thoughts_token_count", None),
            cached_tokens=getattr(usage, "cached_content_token_count", None),
            finish_reason=self.finish,
            cache=cache,
        )


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))
