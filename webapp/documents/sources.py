"""Documents a run works from: projects DB nodes and tree files, parsed and cached.

A document's files are checked before they are downloaded: `head()` gives each file's ETag, and
a document whose files' ETags this process has parsed already is served from a per-process LRU
without downloading anything. Only a new or changed document is downloaded and parsed (off the
gevent hub). Parsing is not persisted for other processes: it takes about 20 ms for a 258-block
set, no more than reading back a stored parsed form, whereas what is slow to redo — the search
index and its ranking statistics — is kept in `search.db` for every process.
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
from webapp.metrics import registry
from webapp.offhub import run_blocking
from webapp.stores import objects, projects_db
from webapp.stores.chatdb.base import Row
from webapp.stores.objects.base import ObjectNotFound

TREE_PREFIX = re.compile(r"^tree_docs/([0-9a-fA-F-]{36})/[^\x00]+$")
PARSED_METRIC = "aizoomdoc_documents_parsed_total"
DOWNLOADED_METRIC = "aizoomdoc_document_files_downloaded_total"


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
    stamp: str = ""  # the source files' keys and ETags: changes when any file does
    node: Row | None = None  # the projects DB node, when the document has one

    @property
    def folder(self) -> str:
        return f"tree_docs/{self.id}"


def clear_cache() -> None:
    """Forget every parsed document of this process (tests count parses from a clean state)."""
    with _cache_lock:
        _cache.clear()


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


def content_stamp(keys: dict[str, str]) -> str:
    """`key@etag` of each source file, read with `head()` only: nothing is downloaded."""
    store = objects()
    parts = []
    for file_type in SOURCE_TYPES:
        if file_type in keys:
            info = store.head(keys[file_type])
            if info is None:
                raise SourceError(f"file {keys[file_type]} is missing from storage")
            parts.append(f"{keys[file_type]}@{info.etag}")
    return "|".join(parts)


def _download(keys: dict[str, str]) -> dict[str, str]:
    store = objects()
    texts = {}
    for file_type in SOURCE_TYPES:
        if file_type in keys:
            try:
                data = store.get(keys[file_type])
            except ObjectNotFound:
                raise SourceError(f"file {keys[file_type]} is missing from storage") from None
            registry().inc(DOWNLOADED_METRIC, "Document source files downloaded from storage.")
            texts[file_type] = data.decode("utf-8", errors="replace")
    return texts


def _parse(doc_id: str, name: str, keys: dict[str, str], node: Row | None) -> LoadedDocument:
    if "result_md" not in keys and "ocr_html" not in keys:
        raise SourceError(f"document «{name}» has no document.md or ocr.html")
    stamp = content_stamp(keys)
    cache_key = (doc_id, stamp)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return LoadedDocument(doc_id, name, cached, keys, stamp=stamp, node=node)
    texts = _download(keys)
    try:
        document = run_blocking(
            load_document, texts.get("result_md"), texts.get("blocks_index"), texts.get("ocr_html")
        )
    except DocumentFormatError as exc:
        raise SourceError(f"document «{name}» cannot be read: {exc}") from None
    registry().inc(PARSED_METRIC, "Documents downloaded and parsed (not found parsed).")
    with _cache_lock:
        _cache[cache_key] = document
    return LoadedDocument(doc_id, name, document, keys, stamp=stamp, node=node)


def node_keys(document_id: str) -> dict[str, str]:
    """The newest source file of each type of a document node: file type -> storage key."""
    keys: dict[str, str] = {}
    for row in projects_db().list_files([document_id], SOURCE_TYPES):
        keys.setdefault(row["file_type"], row["r2_key"])  # newest first
    return keys


def display_name(node: Row) -> str:
    """How a document is named to the user: its name and, when it has one, its code."""
    return node["name"] + (f" ({node['code']})" if node.get("code") else "")


def load_node(document_id: str, node: Row | None = None) -> LoadedDocument:
    """A projects DB document node with its result files (`node`: its row, if already read)."""
    node = node or projects_db().get_node(document_id)
    if node is None or node.get("node_type") != "document":
        raise SourceError(f"document {document_id} not found")
    return _parse(document_id, display_name(node), node_keys(document_id), node)


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
        loaded.append(_parse(doc_id, name, keys, None))
    return loaded


def document_nodes(client_id: str | None) -> list[Row]:
    """Every document node (of one client, when given)."""
    return projects_db().list_nodes(client_id=client_id, node_type="document", all_nodes=True)


def all_document_ids(client_id: str | None) -> list[str]:
    return [node["id"] for node in document_nodes(client_id)]
