"""Calling the model robustly: retries with backoff for 429/5xx/transport, one repair round for
unparseable output, the run's deadline on every call, then an error a user can act on."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from webapp.llm.base import LLMCall, LLMEngine, LLMError, LLMResult, TextPart
from webapp.metrics import registry
from webapp.pipeline.answer import AnswerFormatError
from webapp.pipeline.prompts import REPAIR
from webapp.pipeline.tokens import AnswerStream
from webapp.runs.errors import UserFacingError
from webapp.runs.request import Deadline, RunTimeout

log = logging.getLogger("webapp.pipeline.calls")
T = TypeVar("T")
MIN_CALL_SECONDS = 1.0  # a call is not started with less time than this left
TRUNCATED = " (ответ обрезан по лимиту длины: сократи answer_markdown)"

RETRY_HINTS = {
    "llm_unavailable": "Try again in a minute.",
    "llm_rate_limited": "The model's quota is exhausted for now; try again in a few minutes.",
    "llm_blocked": "Rephrasing the question may help; asking the same again will not.",
    "llm_auth": "Retrying will not help until the key is fixed.",
    "llm_bad_request": "Retrying will not help; please report this.",
    "llm_file_unavailable": "Upload the file again (POST /files/upload-for-llm) and ask again.",
}


@dataclass
class Caller:
    """How a run calls its engine: retries, the deadline, its dialog log and its answer stream."""

    engine: LLMEngine
    retries: int
    deadline: Deadline
    logger: Callable | None = None
    sleep: Callable[[float], None] = time.sleep

    def generate(
        self, call: LLMCall, stream: AnswerStream | None = None, hold: bool = False
    ) -> LLMResult:
        attempt = 0
        while True:
            model = self.engine.model_name(call.model_role)
            self._check_time()
            timed = replace(call, timeout_s=self.deadline.remaining)
            if stream is not None:
                stream.attempt(call.model_role, hold)
            try:
                result = self.engine.generate(timed, stream)
            except LLMError as exc:
                self._count(model, "error")
                if self.logger:
                    self.logger(call, None, exc)
                if self.deadline.remaining <= 0:
                    raise self.deadline.expired() from exc
                if not exc.retryable or attempt >= self.retries:
                    raise _user_error(exc) from exc
                delay = min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)
                if exc.retry_after:
                    delay = max(delay, exc.retry_after)
                if delay > self.deadline.remaining - MIN_CALL_SECONDS:
                    raise _user_error(exc) from exc
                log.info("LLM call failed (%s); retry %d in %.1fs", exc, attempt + 1, delay)
                self.sleep(delay)
                attempt += 1
                continue
            finally:
                if stream is not None:
                    stream.close_attempt()
            if self.logger:
                self.logger(call, result, None)
            self._count(model, "ok", result)
            return result

    def parsed(
        self,
        call: LLMCall,
        parse: Callable[[str], T],
        stream: AnswerStream | None = None,
        hold: bool = False,
    ) -> tuple[T, LLMResult]:
        """Call and parse; on a format error ask once more with the error shown to the model."""
        result = self.generate(call, stream, hold)
        try:
            return parse(result.text), result
        except AnswerFormatError as exc:
            cut = TRUNCATED if _truncated(result) else ""
            log.info("unparseable model output (%s%s); asking again", exc, cut)
            repair = replace(
                call, parts=[*call.parts, TextPart(REPAIR.format(error=f"{exc}{cut}"))]
            )
            result = self.generate(repair, stream, hold)
            try:
                return parse(result.text), result
            except AnswerFormatError as again:
                raise UserFacingError(
                    f"The language model returned an answer that could not be read ({again}). "
                    "Try asking again, perhaps more specifically.",
                    "llm_bad_output",
                ) from again

    def _check_time(self) -> None:
        if self.deadline.remaining < MIN_CALL_SECONDS:
            raise self.deadline.expired()

    @staticmethod
    def _count(model: str, outcome: str, result: LLMResult | None = None) -> None:
        registry().inc("aizoomdoc_llm_calls_total", "LLM calls.", model=model, outcome=outcome)
        if result is None:
            return
        for kind, count in (
            ("prompt", result.prompt_tokens),
            ("output", result.output_tokens),
            ("thinking", result.thinking_tokens),
            ("cached", result.cached_tokens),
        ):
            if count:
                registry().inc(
                    "aizoomdoc_llm_tokens_total", "LLM tokens.", count, model=model, kind=kind
                )


def _truncated(result: LLMResult) -> bool:
    return (result.finish_reason or "").upper() == "MAX_TOKENS"


def _user_error(exc: LLMError) -> UserFacingError:
    status = f" (HTTP {exc.status})" if exc.status else ""
    code = exc.code or "llm_unavailable"
    hint = RETRY_HINTS.get(code, RETRY_HINTS["llm_unavailable"])
    reason = str(exc).rstrip(". ")
    return UserFacingError(f"The language model failed{status}: {reason}. {hint}", code)


__all__ = ["Caller", "RunTimeout"]
