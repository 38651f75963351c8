"""Documents a run works from: projects DB nodes and tree files, parsed and cached.

Parsed documents are kept per process keyed by their objects' ETags, so a chat's second
question does not download and parse the same set again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cachetools import LRUCache

from webapp.documents.loader import load_document
from webapp.documents.model import Document, DocumentFormatError
from webapp.stores import objects, projects_db
from webapp.stores.objects.base import ObjectNotFound

TREE_PREFIX = re.compile(r"^tree_docs/([0-9a-fA-F-]{36})/[^\x00]+$")


def is_tree_key(key: str) -> bool:
    """A storage key inside a document's folder (`tree_docs/<document id>/…`), no way out."""
    return bool(TREE_PREFIX.match(key)) and ".." not in key


SOURCE_TYPES = ("result_md", "blocks_index", "ocr_html")
SUFFIXES = {
    "result_md": ("document.md", ".md"),
    "blocks_index": ("blocks.json", ".json"),
    "ocr_html": ("ocr.html", ".html"),
}

_cache: LRUCache = LRUCache(maxsize=32)
_cache_lock = threading.Lock()


class TreeKey(Protocol):
    """A file of a document folder: its key and, when known, its file type."""

    r2_key: str
    file_type: str | None


class SourceError(Exception):
    """A document could not be loaded; the message is shown to the user as a warning."""


@dataclass
class LoadedDocument:
    id: str  # the document node id (the folder under tree_docs/)
    name: str
    document: Document
    keys: dict[str, str] = field(default_factory=dict)  # file type -> storage key
    label: str | None = None  # DOC_A / DOC_B when comparing

    @property
    def folder(self) -> str:
        return f"tree_docs/{self.id}"


def _file_type_of(key: str, declared: str | None) -> str | None:
    if declared in SOURCE_TYPES:
        return declared
    lowered = key.lower()
    for file_type, suffixes in SUFFIXES.items():
        if lowered.endswith(suffixes[0]):
            return file_type
    for file_type, suffixes in SUFFIXES.items():
        if lowered.endswith(suffixes[1]):
            return file_type
    return None


def _read_text(key: str) -> tuple[str, str]:
    store = objects()
    info = store.head(key)
    if info is None:
        raise SourceError(f"file {key} is missing from storage")
    try:
        return store.get(key).decode("utf-8", errors="replace"), info.etag
    except ObjectNotFound:
        raise SourceError(f"file {key} is missing from storage") from None


def _parse(doc_id: str, name: str, keys: dict[str, str]) -> LoadedDocument:
    if "result_md" not in keys and "ocr_html" not in keys:
        raise SourceError(f"document «{name}» has no document.md or ocr.html")
    texts, etags = {}, []
    for file_type in SOURCE_TYPES:
        if file_type in keys:
            texts[file_type], etag = _read_text(keys[file_type])
            etags.append(f"{keys[file_type]}@{etag}")
    cache_key = (doc_id, tuple(etags))
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return LoadedDocument(doc_id, name, cached, keys)
    try:
        document = load_document(
            texts.get("result_md"), texts.get("blocks_index"), texts.get("ocr_html")
        )
    except DocumentFormatError as exc:
        raise SourceError(f"document «{name}» cannot be read: {exc}") from None
    with _cache_lock:
        _cache[cache_key] = document
    return LoadedDocument(doc_id, name, document, keys)


def load_node(document_id: str) -> LoadedDocument:
    """A projects DB document node with its result files."""
    node = projects_db().get_node(document_id)
    if node is None or node.get("node_type") != "document":
        raise SourceError(f"document {document_id} not found")
    keys: dict[str, str] = {}
    for row in projects_db().list_files([document_id], SOURCE_TYPES):
        keys.setdefault(row["file_type"], row["r2_key"])  # newest first
    name = node["name"] + (f" ({node['code']})" if node.get("code") else "")
    return _parse(document_id, name, keys)


def load_tree_files(items: Iterable[TreeKey]) -> list[LoadedDocument]:
    """Documents from loose `tree_docs/<id>/…` keys, grouped by their folder."""
    groups: dict[str, dict[str, str]] = {}
    for item in items:
        key = item.r2_key
        match = TREE_PREFIX.match(key)
        if not match or not is_tree_key(key):
            raise SourceError(f"{key!r} is not under tree_docs/<document id>/")
        file_type = _file_type_of(key, item.file_type)
        if file_type:
            groups.setdefault(match.group(1), {}).setdefault(file_type, key)
    loaded = []
    for doc_id, keys in groups.items():
        node = projects_db().get_node(doc_id)
        name = node["name"] if node else doc_id
        loaded.append(_parse(doc_id, name, keys))
    return loaded


def all_document_ids(client_id: str | None) -> list[str]:
    nodes = projects_db().list_nodes(client_id=client_id, node_type="document", all_nodes=True)
    return [n["id"] for n in nodes]
