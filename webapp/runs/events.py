"""The event catalogue and the Server-Sent Events wire format."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

QUEUE_POSITION = "queue_position"
PROCESSING_STARTED = "processing_started"
PHASE_STARTED = "phase_started"
PHASE_PROGRESS = "phase_progress"
LLM_THINKING = "llm_thinking"
LLM_TOKEN = "llm_token"
TOOL_CALL = "tool_call"
IMAGE_READY = "image_ready"
LLM_FINAL = "llm_final"
COMPLETED = "completed"
ERROR = "error"

NAMES = [
    QUEUE_POSITION,
    PROCESSING_STARTED,
    PHASE_STARTED,
    PHASE_PROGRESS,
    LLM_THINKING,
    LLM_TOKEN,
    TOOL_CALL,
    IMAGE_READY,
    LLM_FINAL,
    COMPLETED,
    ERROR,
]

Emit = Callable[[str, dict[str, Any]], int]  # (event name, data) → its sequence number


class Event(NamedTuple):
    """One event of a run as streams receive it; streams also get `None` for "nothing new for a
    while" (the route sends a heartbeat comment then)."""

    seq: int
    name: str
    data: dict[str, Any]


LIVE_ONLY = frozenset({LLM_TOKEN, LLM_THINKING})
TERMINAL = frozenset({COMPLETED, ERROR})

PHASE_TEXT = {
    "processing": "Подготовка запроса",
    "search": "Поиск по документам",
    "llm": "Анализ моделью",
    "flash_stage": "Сбор материалов (Flash)",
    "tool_execution": "Подготовка изображений",
    "pro_stage": "Формирование ответа (Pro)",
}
COMPLETED_MESSAGE = "Обработка завершена"


def format_event(seq: int | None, event: str, data: dict[str, Any]) -> str:
    """One SSE event: `id`, `event`, one-line JSON `data` (UTF-8, non-ASCII unescaped).

    A live event reaches every stream attached to its run as the same `data` object, so its
    text is remembered for the next streams: a run followed by a thousand streams is encoded
    once per event, not a thousand times (its tokens carry the whole answer so far)."""
    key = (seq, event, id(data))
    with _encoded_lock:
        found = _encoded.get(key)
    if found is not None and found[0] is data:
        return found[1]
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {seq}\n" if seq is not None else ""
    text = f"{head}event: {event}\ndata: {payload}\n\n"
    with _encoded_lock:
        _encoded[key] = (data, text)  # holding `data` keeps its id from being reused meanwhile
        while len(_encoded) > ENCODED_KEPT:
            _encoded.popitem(last=False)
    return text


ENCODED_KEPT = 512  # the newest events of all runs: enough for every stream to catch up
_encoded: OrderedDict[tuple[int | None, str, int], tuple[dict[str, Any], str]] = OrderedDict()
_encoded_lock = threading.Lock()


PING = ": ping\n\n"
