"""What comes with a question — documents, tree files, files for the model — parsed once.

A message's attachments arrive twice: in the body of `POST /chats/{id}/messages` (stored with the
message) and in the query of `GET /chats/{id}/stream`. Both go through the same parsers into the
same frozen `Attachments`, so the rules (what a tree key may be, what a google file is) exist once
and everything after this edge works with typed values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from webapp.documents.sources import is_tree_key


class AttachmentError(ValueError):
    """An attachment that cannot be understood; `field` names where it was."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class TreeFile:
    """A file of a document folder in storage (`tree_docs/<document id>/…`)."""

    r2_key: str
    file_type: str | None = None


@dataclass(frozen=True)
class GoogleFile:
    """A file uploaded for the model (`POST /files/upload-for-llm`), by its URI."""

    uri: str
    mime_type: str | None = None
    storage_path: str | None = None


@dataclass(frozen=True)
class Attachments:
    document_ids: tuple[str, ...] = ()
    compare_a: tuple[str, ...] = ()
    compare_b: tuple[str, ...] = ()
    tree_files: tuple[TreeFile, ...] = ()
    google_files: tuple[GoogleFile, ...] = ()
    file_ids: tuple[str, ...] = ()
    client_id: str | None = None

    @property
    def compare(self) -> bool:
        return bool(self.compare_a and self.compare_b)

    def stored(self) -> dict[str, Any]:
        """The JSON kept with the message (the reference schema's `attachments` column)."""
        return {
            "file_ids": list(self.file_ids),
            "document_ids": list(self.document_ids),
            "tree_files": [asdict(t) for t in self.tree_files],
            "google_files": [asdict(g) for g in self.google_files],
        }

    def with_query(self, query: Attachments) -> Attachments:
        """These (stored with the message) merged with the stream's query, without repeats."""
        return Attachments(
            document_ids=_unique(self.document_ids, query.document_ids),
            compare_a=query.compare_a,
            compare_b=query.compare_b,
            tree_files=_unique(self.tree_files, query.tree_files),
            google_files=_unique(self.google_files, query.google_files),
            file_ids=self.file_ids,
            client_id=query.client_id or self.client_id,
        )


def _unique(*groups: Iterable) -> tuple:
    return tuple(dict.fromkeys(item for group in groups for item in group))


def ids(values: Iterable[Any]) -> tuple[str, ...]:
    """Non-blank string ids, stripped, without repeats."""
    return _unique(v.strip() for v in values if isinstance(v, str) and v.strip())


def tree_files(items: Iterable[Any], field_name: str = "tree_files") -> tuple[TreeFile, ...]:
    """`[{r2_key, file_type?}]`: every key must be inside a document folder."""
    result = []
    for item in items:
        key = item.get("r2_key") if isinstance(item, dict) else None
        if not isinstance(key, str):
            raise AttachmentError(field_name, f"{field_name} items must be objects with r2_key")
        if not is_tree_key(key):
            raise AttachmentError(field_name, f"{key!r} is not under tree_docs/<document id>/")
        file_type = item.get("file_type")
        result.append(TreeFile(key, file_type if isinstance(file_type, str) else None))
    return _unique(result)


def google_files(items: Iterable[Any], field_name: str = "google_files") -> tuple[GoogleFile, ...]:
    """URI strings or `{uri, mime_type?, storage_path?}` objects."""
    result = []
    for item in items:
        if isinstance(item, str) and item.strip():
            result.append(GoogleFile(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("uri"), str) and item["uri"].strip():
            mime, path = item.get("mime_type"), item.get("storage_path")
            result.append(
                GoogleFile(
                    item["uri"].strip(),
                    mime if isinstance(mime, str) else None,
                    path if isinstance(path, str) else None,
                )
            )
        else:
            raise AttachmentError(
                field_name, f"Each {field_name} item must be a URI string or {{uri, mime_type}}."
            )
    return _unique(result)


def from_stored(stored: dict | None) -> Attachments:
    """The attachments kept with a message (written by `Attachments.stored`)."""
    stored = stored or {}
    return Attachments(
        document_ids=ids(stored.get("document_ids") or []),
        tree_files=tree_files(stored.get("tree_files") or []),
        google_files=google_files(stored.get("google_files") or []),
        file_ids=ids(stored.get("file_ids") or []),
    )


def json_list(raw: str | None, field_name: str) -> list:
    """A query parameter holding a JSON list ("" or absent: empty)."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise AttachmentError(field_name, f"{field_name} must be a JSON list") from None
    if not isinstance(value, list):
        raise AttachmentError(field_name, f"{field_name} must be a JSON list")
    return value


def from_query(args) -> Attachments:
    """The stream's query: `document_ids`, `compare_document_ids_a/_b` (repeated), `tree_files`
    and `google_files` (JSON lists), `client_id`."""
    return Attachments(
        document_ids=ids(args.getlist("document_ids")),
        compare_a=ids(args.getlist("compare_document_ids_a")),
        compare_b=ids(args.getlist("compare_document_ids_b")),
        tree_files=tree_files(json_list(args.get("tree_files"), "tree_files")),
        google_files=google_files(json_list(args.get("google_files"), "google_files")),
        client_id=args.get("client_id") or None,
    )


__all__ = [
    "AttachmentError",
    "Attachments",
    "GoogleFile",
    "TreeFile",
    "from_query",
    "from_stored",
    "google_files",
    "ids",
    "tree_files",
]
