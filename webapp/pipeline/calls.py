"""Calling the model robustly (SPEC §8.4): retries with backoff for 429/5xx/transport, one repair
round for unparseable output, then an error a user can act on."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from webapp.llm.base import DeltaSink, LLMCall, LLMEngine, LLMError, LLMResult, TextPart
from webapp.metrics import REGISTRY
from webapp.pipeline.answer import AnswerFormatError
from webapp.pipeline.prompts import REPAIR
from webapp.runs.manager import UserFacingError

log = logging.getLogger("webapp.pipeline.calls")
T = TypeVar("T")


def call_with_retries(
    engine: LLMEngine,
    call: LLMCall,
    retries: int,
    on_delta: DeltaSink | None = None,
    logger=None,
    sleep: Callable[[float], None] = time.sleep,
) -> LLMResult:
    attempt = 0
    while True:
        model = engine.model_name(call.model_role)
        try:
            result = engine.generate(call, on_delta)
            if logger:
                logger(call, result, None)
            REGISTRY.inc("aizoomdoc_llm_calls_total", "LLM calls.", model=model, outcome="ok")
            for kind, count in (("prompt", result.prompt_tokens), ("output", result.output_tokens)):
                if count:
                    REGISTRY.inc(
                        "aizoomdoc_llm_tokens_total", "LLM tokens.", count, model=model, kind=kind
                    )
            return result
        except LLMError as exc:
            REGISTRY.inc("aizoomdoc_llm_calls_total", "LLM calls.", model=model, outcome="error")
            if logger:
                logger(call, None, exc)
            if not exc.retryable or attempt >= retries:
                status = f" (HTTP {exc.status})" if exc.status else ""
                raise UserFacingError(
                    f"The language model is unavailable{status}: {exc}. Try again in a minute.",
                    "llm_unavailable",
                ) from exc
            delay = min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)
            log.info("LLM call failed (%s); retry %d in %.1fs", exc, attempt + 1, delay)
            sleep(delay)
            attempt += 1


def call_parsed(
    engine: LLMEngine,
    call: LLMCall,
    parse: Callable[[str], T],
    retries: int,
    on_delta: DeltaSink | None = None,
    logger=None,
) -> tuple[T, LLMResult]:
    """Call and parse; on a format error ask once more with the error shown to the model."""
    result = call_with_retries(engine, call, retries, on_delta, logger)
    try:
        return parse(result.text), result
    except AnswerFormatError as exc:
        log.info("unparseable model output (%s); asking again", exc)
        repair = LLMCall(
            **{**call.__dict__, "parts": [*call.parts, TextPart(REPAIR.format(error=exc))]}
        )
        result = call_with_retries(engine, repair, retries, on_delta, logger)
        try:
            return parse(result.text), result
        except AnswerFormatError as again:
            raise UserFacingError(
                f"The language model returned an answer that could not be read ({again}). "
                "Try asking again, perhaps more specifically.",
                "llm_bad_output",
            ) from again
