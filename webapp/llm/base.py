"""The engine interface: one call in (system text, parts, schema, settings), text out.

The pipeline never talks to an SDK directly; an engine turns an `LLMCall` into a request to its
model and reports deltas of the answer markdown (and thinking) while it streams.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class LLMError(Exception):
    """A call failed; `retryable` when trying again may help (429, 5xx, transport).

    `code` is the run's `error` event code when this ends the run (`llm_unavailable`,
    `llm_rate_limited`, `llm_blocked`, `llm_bad_request`, `llm_auth`, `llm_file_unavailable`);
    `retry_after` is the wait the API asked for (429 `RetryInfo`), in seconds.
    """

    def __init__(
        self,
        message: str,
        retryable: bool = False,
        status: int | None = None,
        code: str = "llm_unavailable",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after


@dataclass
class TextPart:
    text: str


@dataclass
class ImagePart:
    """A rendered image; `key` identifies it so an engine uploads it once per run."""

    png: bytes
    caption: str
    key: str
    block_id: str
    kind: str


@dataclass
class FilePart:
    """A file the user uploaded for the model (`POST /files/upload-for-llm`)."""

    uri: str
    mime_type: str
    name: str


Part = TextPart | ImagePart | FilePart


@dataclass
class LLMCall:
    purpose: str  # "answer", "collect", "roi_request"
    model_role: str  # "flash" or "pro"
    system: str
    parts: list[Part]
    history: list[dict[str, str]] = field(default_factory=list)  # [{role, content}] oldest first
    schema: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    stream_field: str | None = None  # stream deltas of this top-level string field
    cache_parts: list[Part] = field(default_factory=list)  # a stable prefix worth caching
    # what `cache_parts` + `system` are made of (documents' versions, prompt version); the engine
    # adds its model and key. None: the engine hashes the text itself.
    cache_key: str | None = None
    timeout_s: float | None = None  # the time the run has left for this call
    facts: dict[str, Any] = field(default_factory=dict)  # structured view (the local engine)


@dataclass
class LLMResult:
    text: str
    model: str
    prompt_chars: int = 0
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    thinking_tokens: int | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None  # "STOP", "MAX_TOKENS", … as the model reported it
    # what happened to the call's context cache (None: no cache_parts, or an engine without
    # caches): "hit", "created", "failed" (creation refused now or recently: sent inline),
    # "small" / "below_minimum" (not worth it / under the model's minimum), "off", or "dropped"
    # (Google said the cache was gone; the call was redone once with the materials inline)
    cache: str | None = None


DeltaSink = Callable[[str, str], None]  # (kind: "token" | "thinking", text)


class LLMEngine(ABC):
    name = "engine"

    @abstractmethod
    def model_name(self, role: str) -> str: ...

    @abstractmethod
    def generate(self, call: LLMCall, on_delta: DeltaSink | None = None) -> LLMResult:
        """Run the call; report deltas of `call.stream_field` (and thinking) as they arrive."""

    def close(self) -> None:
        """Free per-run resources (uploaded files, caches)."""

    def upload_file(self, data: bytes, mime_type: str, display_name: str) -> dict[str, str]:
        """Make a user's file available to the model: {uri, name, state}."""
        raise LLMError(f"{self.name} engine cannot take files")


def prompt_chars(call: LLMCall) -> int:
    """Characters of text sent in a call (system, history, parts): the prompt-size measure."""
    text = len(call.system) + sum(len(m.get("content", "")) for m in call.history)
    parts = call.cache_parts + call.parts
    return text + sum(
        len(p.text) if isinstance(p, TextPart) else len(getattr(p, "caption", "")) for p in parts
    )
