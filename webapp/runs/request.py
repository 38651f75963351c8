"""What a run answers: the question, who asks, and which documents and files come with it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

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
class Attachments:
    document_ids: list[str] = field(default_factory=list)
    compare_a: list[str] = field(default_factory=list)
    compare_b: list[str] = field(default_factory=list)
    tree_files: list[dict] = field(default_factory=list)
    google_files: list[dict] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    client_id: str | None = None

    @property
    def compare(self) -> bool:
        return bool(self.compare_a and self.compare_b)


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


class BadStreamQuery(ValueError):
    """A stream query parameter that cannot be understood."""


def _json_list(raw: str | None, name: str) -> list:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise BadStreamQuery(f"{name} must be a JSON list") from None
    if not isinstance(value, list):
        raise BadStreamQuery(f"{name} must be a JSON list")
    return value


def parse_attachments(args, stored: dict | None) -> Attachments:
    """The stream's query parameters merged with what was stored with the message."""
    stored = stored or {}
    tree_files = [t for t in _json_list(args.get("tree_files"), "tree_files")]
    for item in tree_files:
        if not isinstance(item, dict) or not isinstance(item.get("r2_key"), str):
            raise BadStreamQuery("tree_files items must be objects with r2_key")
    google = []
    for item in _json_list(args.get("google_files"), "google_files"):
        if isinstance(item, str):
            google.append({"uri": item, "mime_type": None, "storage_path": None})
        elif isinstance(item, dict) and isinstance(item.get("uri"), str):
            google.append(
                {
                    "uri": item["uri"],
                    "mime_type": item.get("mime_type"),
                    "storage_path": item.get("storage_path"),
                }
            )
        else:
            raise BadStreamQuery("google_files items must be URIs or {uri, mime_type}")

    def merged(*lists: list) -> list:
        seen, result = set(), []
        for items in lists:
            for item in items:
                key = json.dumps(item, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    result.append(item)
        return result

    return Attachments(
        document_ids=merged(stored.get("document_ids", []), args.getlist("document_ids")),
        compare_a=merged(args.getlist("compare_document_ids_a")),
        compare_b=merged(args.getlist("compare_document_ids_b")),
        tree_files=merged(stored.get("tree_files", []), tree_files),
        google_files=merged(stored.get("google_files", []), google),
        file_ids=list(stored.get("file_ids", [])),
        client_id=args.get("client_id") or None,
    )
