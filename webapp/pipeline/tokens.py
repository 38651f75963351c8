"""The answer as the client sees it: `llm_token` deltas whose concatenation is the final answer.

The answer text reaches the client through many model calls: retries after a dropped stream,
a repair after unreadable JSON, rounds held back for the quality gate, a citation correction.
The public client shows the joined tokens and ignores `llm_final` once tokens arrived, so the
joined tokens must equal `llm_final.content` exactly, and nothing may be shown twice.

`AnswerStream` keeps what was sent. Every model call is an *attempt*; an attempt streams only
text that continues what was sent (a retry that regenerates the same words streams just the new
ones), and holds back once it diverges or cites a block that does not exist. `finish` sends the
rest of the final answer; if the final answer no longer starts with what was sent (the model
changed its words after a failure), the new answer follows a visible marker and the content is
what the client saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webapp.pipeline.references import Resolver, rewrite, stable_length
from webapp.runs import events as ev
from webapp.runs.request import Deadline

RESTART_MARKER = "\n\n---\n*Ответ переписан после сбоя, полная версия:*\n\n"
RELEASE_CHARS = 80  # held-back text is sent in pieces of about this size


@dataclass
class _Attempt:
    model: str
    hold: bool
    raw: str = ""
    diverged: bool = False


class AnswerStream:
    """Turns the engines' answer deltas into `llm_token` events, exactly once each."""

    def __init__(
        self, emit: Callable[[str, dict], int], resolve: Resolver, deadline: Deadline | None = None
    ) -> None:
        self.emit = emit
        self.resolve = resolve
        self.deadline = deadline
        self.sent = ""
        self.thinking = ""
        self.model = "flash"
        self._attempt: _Attempt | None = None

    # --- attempts -----------------------------------------------------------------------------
    def attempt(self, model: str, hold: bool = False) -> None:
        """A model call starts: its text streams live unless `hold`."""
        self.model = model
        self._attempt = _Attempt(model, hold)

    def close_attempt(self) -> None:
        """Deltas arriving after this belong to no attempt and are ignored."""
        self._attempt = None

    def __call__(self, kind: str, text: str) -> None:
        """The engines' delta sink: ("token" | "thinking", text)."""
        if not text:
            return
        if self.deadline is not None and self.deadline.remaining <= 0:
            raise self.deadline.expired()  # a model still writing past RUN_TIMEOUT is stopped
        if kind == "thinking":
            self.thinking += text
            self.emit(
                ev.LLM_THINKING,
                {"content": text, "accumulated": self.thinking, "model": self.model},
            )
            return
        attempt = self._attempt
        if attempt is None:
            return
        attempt.raw += text
        if attempt.hold or attempt.diverged:
            return
        rewritten = rewrite(attempt.raw[: stable_length(attempt.raw)], self.resolve)
        shown = rewritten.text
        if rewritten.first_unknown_at is not None:
            # the space before the unknown reference waits too: if the reference is dropped,
            # the final text will not have it
            shown = shown[: rewritten.first_unknown_at].rstrip(" \t")
            attempt.hold = True  # the rest waits for the citation check
        self._extend(attempt, shown)

    def _extend(self, attempt: _Attempt, shown: str) -> None:
        """Send what `shown` adds to what was sent, if it continues it."""
        if len(shown) <= len(self.sent):
            if not self.sent.startswith(shown):
                attempt.diverged = True
            return
        if not shown.startswith(self.sent):
            attempt.diverged = True
            return
        self._send(shown[len(self.sent) :])

    def _send(self, text: str) -> None:
        self.sent += text
        self.emit(ev.LLM_TOKEN, {"token": text, "accumulated": self.sent, "model": self.model})

    # --- the end ------------------------------------------------------------------------------
    def finish(self, final_text: str) -> str:
        """Send what the client has not seen of `final_text` (already rewritten); returns the
        content the client now shows, which is what `llm_final` and the message must carry."""
        self._attempt = None
        if not final_text.strip():
            return self.sent  # nothing better to show than what was shown
        if final_text.startswith(self.sent):
            rest = final_text[len(self.sent) :]
        else:
            rest = RESTART_MARKER + final_text
        for piece in _pieces(rest):
            self._send(piece)
        return self.sent

    def partial(self) -> str:
        """What the client has seen so far (a run stopped before its end keeps this)."""
        return self.sent


def _pieces(text: str) -> list[str]:
    """Held-back text in word-aligned pieces of about RELEASE_CHARS characters."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + RELEASE_CHARS)
        if end < len(text):
            space = text.rfind(" ", start + RELEASE_CHARS // 2, end)
            end = space + 1 if space > start else end
        pieces.append(text[start:end])
        start = end
    return pieces
