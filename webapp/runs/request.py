"""What a run answers: the question, who asks, and which documents and files come with it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from webapp.chats.attachments import Attachments, from_query, from_stored
from webapp.stores.chatdb.base import Row


class RunTimeout(Exception):
    """The run took longer than RUN_TIMEOUT."""


@dataclass
class Deadline:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> RunTimeout:
        return RunTimeout(
            f"The answer took longer than RUN_TIMEOUT ({int(self.seconds)} s) and was stopped; "
            "what was written so far is saved. Ask a narrower question or ask again."
        )

    def check(self) -> None:
        if self.remaining <= 0:
            raise self.expired()


@dataclass
class RunRequest:
    run_id: str
    user: Row
    chat: Row
    message: Row
    settings: dict[str, Any]
    attachments: Attachments
    deadline: Deadline
    base_url: str = ""  # where the client reached us: image links are made absolute with it


def parse_attachments(args, stored: dict | None) -> Attachments:
    """The stream's query parameters merged with what was stored with the message; raises
    `AttachmentError` (its message is for the client) for a query that cannot be understood."""
    return from_stored(stored).with_query(from_query(args))
