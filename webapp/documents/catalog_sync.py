"""Keeping the cross-document index in step with the projects DB, and picking documents from it.

A question without documents lists the caller's document nodes (one query) and compares each
node's `updated_at` with the row the catalog holds for it. Documents never catalogued, or changed
since, are catalogued — at most `AUTO_INDEX_PER_QUESTION` of them inside the question (newest
first), the rest queued. Serving processes drain the queue in the background (started by
`warm_up`); elsewhere the next questions do, within the same budget. Several processes share the
catalog file: a claim in it lets one process build a document's row while the others skip it,
and a claim left by a process that died expires.

A document is also catalogued when it is imported (`flask projects import`, `flask demo`), and
its row is rebuilt whenever a question loads it anyway (attached, or picked) and its files'
ETags are not those the row was made from.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from webapp.documents.catalog import Catalog, Stamp
from webapp.documents.catalog_entry import build_entry, empty_entry
from webapp.documents.search import search_index
from webapp.documents.sources import (
    LoadedDocument,
    SourceError,
    display_name,
    document_nodes,
    load_node,
)
from webapp.metrics import registry
from webapp.offhub import run_blocking
from webapp.stores.chatdb.base import Row

log = logging.getLogger("webapp.catalog")
EXTENSION = "aizoomdoc.catalog"
PRUNE_GRACE_SECONDS = 600.0
PRUNE_EVERY_SECONDS = 60.0  # rows of deleted documents are looked for at most this often
INDEXED_METRIC = "aizoomdoc_catalog_documents_indexed_total"


def node_stamp(node: Row) -> str:
    """The version of a node the catalog compares: its `updated_at`."""
    return str(node.get("updated_at") or "")


@dataclass(frozen=True)
class Pick:
    """Documents picked for a question (node rows, best first, with scores) and the catalog's
    state: rows built during the pick, documents still waiting to be catalogued."""

    candidates: list[tuple[Row, float]]
    indexed: int
    pending: int


class CatalogKeeper:
    """The catalog of one process: its queue of documents to catalogue and its background
    worker."""

    def __init__(self, catalog: Catalog, app: Flask) -> None:
        self.catalog = catalog
        self.app = app
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._queue: OrderedDict[str, Row] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._pruned: dict[str | None, float] = {}  # client id -> when its rows were pruned

    # --- which documents need a row -----------------------------------------------------------
    def stale(self, nodes: list[Row]) -> list[Row]:
        """Nodes without a fresh row: never catalogued first, then changed; newest first."""
        stamps: dict[str, Stamp] = self.catalog.stamps()
        missing, changed = [], []
        for node in nodes:
            stamp = stamps.get(node["id"])
            if stamp is None:
                missing.append(node)
            elif not stamp.fresh_for(node_stamp(node)):
                changed.append(node)
        newest = sorted(missing, key=node_stamp, reverse=True)
        return newest + sorted(changed, key=node_stamp, reverse=True)

    def refresh(self, nodes: list[Row], budget: int, client_id: str | None = None) -> int:
        """Catalogue up to `budget` stale nodes now and queue the rest; forget rows of this
        client's documents that are gone. Returns the rows built."""
        stale = self.stale(nodes)
        built = sum(1 for node in stale[: max(0, budget)] if self.index_node(node))
        self._enqueue(stale[max(0, budget) :])
        now = time.monotonic()
        if now - self._pruned.get(client_id, -PRUNE_EVERY_SECONDS) >= PRUNE_EVERY_SECONDS:
            self._pruned[client_id] = now
            self.catalog.prune(client_id, {node["id"] for node in nodes}, PRUNE_GRACE_SECONDS)
        return built

    # --- building rows ------------------------------------------------------------------------
    def index_node(self, node: Row) -> bool:
        """Build a node's row unless it is fresh or another process is building it."""
        stamp = node_stamp(node)
        if not run_blocking(self.catalog.claim, node["id"], stamp, self.owner):
            return False
        try:
            try:
                loaded = load_node(node["id"], node)
            except SourceError as exc:
                log.info("catalog: %s is catalogued by name only: %s", node["id"], exc)
                entry = empty_entry(node["id"], node.get("client_id"), display_name(node), stamp)
                run_blocking(self.catalog.put, entry)
            else:
                self._put(loaded, stamp)
        except BaseException:
            run_blocking(self.catalog.release, node["id"], self.owner)
            raise
        return True

    def add(self, document_id: str) -> None:
        """Catalogue a document now, whatever its row says: an import has just written it."""
        loaded = load_node(document_id)
        self._put(loaded, node_stamp(loaded.node or {}))

    def _put(self, loaded: LoadedDocument, stamp: str) -> None:
        node = loaded.node or {}
        stats = search_index().stats(loaded.document)
        entry = run_blocking(
            build_entry,
            document_id=loaded.id,
            client_id=node.get("client_id"),
            name=loaded.name,
            code=node.get("code"),
            node_stamp=stamp,
            content_stamp=loaded.stamp,
            document=loaded.document,
            stats=stats,
        )
        run_blocking(self.catalog.put, entry)
        registry().inc(INDEXED_METRIC, "Documents (re)built in the cross-document index.")

    def note_loaded(self, loaded: LoadedDocument) -> None:
        """A document loaded for a question: rebuild its row if its node or files changed since
        the row was made (or it has none)."""
        if loaded.node is None:
            return
        stamp = node_stamp(loaded.node)
        current = run_blocking(self.catalog.stamp, loaded.id)
        if current is not None and current.fresh_for(stamp):
            if current.content_stamp == loaded.stamp:
                return
        self._put(loaded, stamp)

    # --- the queue ----------------------------------------------------------------------------
    def _enqueue(self, nodes: list[Row]) -> None:
        if not nodes:
            return
        with self._lock:
            for node in nodes:
                self._queue[node["id"]] = node
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def drain(self, limit: int | None = None) -> int:
        """Catalogue queued documents (at most `limit`) here and now; returns rows built."""
        built = 0
        while limit is None or limit > 0:
            with self._lock:
                if not self._queue:
                    break
                _, node = self._queue.popitem(last=False)
            try:
                built += self.index_node(node)
            except Exception:  # one bad document must not stop the others
                log.exception("catalog: could not catalogue %s", node["id"])
            if limit is not None:
                limit -= 1
        return built

    def start_background(self) -> None:
        """Drain the queue in a background thread (a greenlet under gevent) from now on,
        starting with every stale document of the projects DB."""
        with self._lock:
            if self._worker is not None:
                return
            self._worker = threading.Thread(target=self._run, name="catalog", daemon=True)
        self._worker.start()

    def stop_background(self) -> None:
        """Let the background thread end after the document it is cataloguing (tests)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._stopping.set()
            self._wake.set()
            worker.join(timeout=30)
            self._stopping.clear()

    def _run(self) -> None:
        with self.app.app_context():
            try:
                self._enqueue(self.stale(document_nodes(None)))
            except Exception:
                log.exception("catalog: could not list the projects DB's documents")
            while not self._stopping.is_set():
                self._wake.wait()
                self._wake.clear()
                while not self._stopping.is_set() and self.pending():
                    self.drain(limit=1)

    # --- picking ------------------------------------------------------------------------------
    def pick(self, question: str, client_id: str | None, limit: int, budget: int) -> Pick:
        """The documents (of `client_id`, when given) that best match `question`, after
        cataloguing at most `budget` stale ones; nothing is parsed unless catalogued now."""
        nodes = document_nodes(client_id)
        built = self.refresh(nodes, budget, client_id)
        by_id = {node["id"]: node for node in nodes}
        found = self.catalog.search(question, by_id.keys(), limit)
        return Pick([(by_id[c.document_id], c.score) for c in found], built, self.pending())


def document_catalog(app: Flask | None = None) -> CatalogKeeper:
    """The app's cross-document index (one SQLite file under DATA_DIR, shared by its
    processes)."""
    return (app or current_app).extensions[EXTENSION]


def init_app(app: Flask) -> None:
    folder = Path(app.config["DATA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    app.extensions[EXTENSION] = CatalogKeeper(Catalog(folder / "catalog.db"), app)
