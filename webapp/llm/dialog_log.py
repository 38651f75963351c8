"""The LLM dialog log: every request and response of a chat, appended to
`LLM_LOG_DIR/llm_dialog_<chat id>.log`, long sections cut, never an API key, rotated by size."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from webapp.llm.base import ImagePart, LLMCall, LLMError, LLMResult, TextPart

_lock = threading.Lock()


def log_path(directory: str | Path, chat_id: str) -> Path:
    return Path(directory) / f"llm_dialog_{chat_id}.log"


class DialogLog:
    def __init__(self, directory: str | Path, chat_id: str, truncate: int, max_mb: int) -> None:
        self.path = log_path(directory, chat_id)
        self.truncate = truncate
        self.max_bytes = max_mb * 1024 * 1024

    def _cut(self, text: str) -> str:
        if len(text) <= self.truncate:
            return text
        return text[: self.truncate] + f"\n…[cut {len(text) - self.truncate} characters]"

    def __call__(self, call: LLMCall, result: LLMResult | None, error: LLMError | None) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        lines = [
            f"===== {stamp} {call.purpose} ({call.model_role}) =====",
            "--- system ---",
            self._cut(call.system),
        ]
        for message in call.history:
            lines += [f"--- history: {message['role']} ---", self._cut(message["content"])]
        for part in call.cache_parts + call.parts:
            if isinstance(part, TextPart):
                lines += ["--- text ---", self._cut(part.text)]
            elif isinstance(part, ImagePart):
                lines.append(f"--- image {part.block_id} {part.kind} ({len(part.png)} bytes) ---")
        if result is not None:
            lines += [f"--- response ({result.model}) ---", self._cut(result.text)]
        if error is not None:
            lines += ["--- error ---", str(error)]
        text = "\n".join(lines) + "\n\n"
        with _lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(text) > self.max_bytes:
                os.replace(self.path, self.path.with_suffix(f".{int(time.time())}.log"))
            with self.path.open("a", encoding="utf-8") as out:
                out.write(text)


def prune_logs(directory: str | Path, days: int) -> int:
    """Remove dialog logs not written to for `days` days; return how many."""
    cutoff = time.time() - days * 86400
    removed = 0
    for path in Path(directory).glob("llm_dialog_*.log"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def delete_chat_logs(directory: str | Path, chat_id: str) -> None:
    for path in Path(directory).glob(f"llm_dialog_{chat_id}*.log"):
        path.unlink(missing_ok=True)
