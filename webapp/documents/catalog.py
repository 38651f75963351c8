"""The cross-document index: which documents a question without attachments is about.

One row per document node in its own SQLite file (`DATA_DIR/catalog.db`, WAL, shared by the
app's processes; apart from `search.db`, whose schema grows by a table per document version and
whose builds hold its write lock). An FTS5 table holds the document's analyzed terms (the same
analyzer as the block search, so glossary forms and codes match) in four columns weighted
BM25-style: names (node name, code, title, stamp), sheet titles, block headings, and a digest of
its body terms. `catalog_documents` says which node version each row was made from, so a writer
can tell a stale row from a fresh one, and `catalog_claims` lets one process at a time build a
document's row.

Picking candidates: FTS5 finds the documents matching any term of the parsed question among the
allowed ids (the caller's client's documents), BM25 orders them, and the best few are re-ranked
by how many of the question's concepts they cover (a document naming three of four beats one
repeating a single word); candidates far below the best one (a word every document has) are
dropped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from webapp.documents.analysis import ANALYZER_VERSION
from webapp.documents.query import Query, parse_query
from webapp.stores.sqlite import enable_wal

BUSY_TIMEOUT_MS = 30_000
MAX_QUERY_TERMS = 60
COLUMNS = ("names", "sheets", "headings", "digest")
COLUMN_WEIGHTS = (10.0, 4.0, 2.0, 0.5)
RERANK = 30  # best BM25 candidates re-ranked by coverage
COVERAGE_FLOOR = 0.25
SHARE_OF_BEST = 0.2  # a candidate scoring below this share of the best one is noise
CLAIM_SECONDS = 300.0  # a claim older than this is abandoned (its process died)
_BUMP = "UPDATE catalog_generation SET generation = generation + 1"


@dataclass(frozen=True)
class CatalogEntry:
    """One document's row: where it came from and its analyzed terms per column."""

    document_id: str
    client_id: str | None
    name: str
    node_stamp: str  # the node's updated_at when the row was made
    content_stamp: str  # its source files' keys and ETags ("" when they could not be read)
    names: str = ""
    sheets: str = ""
    headings: str = ""
    digest: str = ""


@dataclass(frozen=True)
class Stamp:
    """What a stored row was made from."""

    node_stamp: str
    content_stamp: str
    analyzer: int

    def fresh_for(self, node_stamp: str) -> bool:
        return self.node_stamp == node_stamp and self.analyzer == ANALYZER_VERSION


@dataclass(frozen=True)
class Candidate:
    """A document picked for a question; `score` is higher for better matches."""

    document_id: str
    name: str
    score: float


def _fts_query(terms: Iterable[str]) -> str:
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def coverage(query: Query, terms: set[str]) -> float:
    """Share of the question's concepts (by weight) with an alternative wholly among `terms`."""
    total = sum(concept.weight for concept in query.concepts) or 1.0
    covered = sum(
        concept.weight
        for concept in query.concepts
        if any(all(term in terms for term in alt.terms) for alt in concept.alternatives)
    )
    return covered / total


class Catalog:
    """The cross-document index in one SQLite file; every method opens its own connection."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self._stamps: tuple[int, dict[str, Stamp]] | None = None
        connection = self._connect()
        try:
            enable_wal(connection)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS catalog_documents ("
                " id INTEGER PRIMARY KEY, document_id TEXT NOT NULL UNIQUE, client_id TEXT,"
                " name TEXT NOT NULL, node_stamp TEXT NOT NULL, content_stamp TEXT NOT NULL,"
                " analyzer INTEGER NOT NULL, indexed_at REAL NOT NULL)"
            )
            connection.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS catalog_fts USING fts5("
                f" {', '.join(COLUMNS)},"
                " tokenize = \"unicode61 remove_diacritics 0 tokenchars '-/.'\")"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS catalog_claims (document_id TEXT PRIMARY KEY,"
                " owner TEXT NOT NULL, node_stamp TEXT NOT NULL, claimed_at REAL NOT NULL)"
            )
            connection.execute(  # bumped by every change of the rows: readers cache `stamps()`
                "CREATE TABLE IF NOT EXISTS catalog_generation (id INTEGER PRIMARY KEY CHECK"
                " (id = 1), generation INTEGER NOT NULL)"
            )
            connection.execute("INSERT OR IGNORE INTO catalog_generation VALUES (1, 0)")
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    # --- writing ------------------------------------------------------------------------------
    def put(self, entry: CatalogEntry) -> None:
        """Insert or replace a document's row (and drop any claim on it)."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(
                    "SELECT id FROM catalog_documents WHERE document_id = ?", (entry.document_id,)
                ).fetchone()
                values = (
                    entry.client_id,
                    entry.name,
                    entry.node_stamp,
                    entry.content_stamp,
                    ANALYZER_VERSION,
                    time.time(),
                )
                if row is None:
                    rowid = connection.execute(
                        "INSERT INTO catalog_documents (client_id, name, node_stamp,"
                        " content_stamp, analyzer, indexed_at, document_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*values, entry.document_id),
                    ).lastrowid
                else:
                    rowid = row[0]
                    connection.execute("DELETE FROM catalog_fts WHERE rowid = ?", (rowid,))
                    connection.execute(
                        "UPDATE catalog_documents SET client_id = ?, name = ?, node_stamp = ?,"
                        " content_stamp = ?, analyzer = ?, indexed_at = ? WHERE id = ?",
                        (*values, rowid),
                    )
                connection.execute(
                    f"INSERT INTO catalog_fts (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                    (rowid, entry.names, entry.sheets, entry.headings, entry.digest),
                )
                connection.execute(
                    "DELETE FROM catalog_claims WHERE document_id = ?", (entry.document_id,)
                )
                connection.execute(_BUMP)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def remove(self, document_ids: Iterable[str]) -> int:
        """Forget these documents' rows; returns how many there were."""
        ids = json.dumps(list(document_ids))
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                selected = "SELECT id FROM catalog_documents WHERE document_id IN"
                connection.execute(
                    f"DELETE FROM catalog_fts WHERE rowid IN ({selected}"
                    " (SELECT value FROM json_each(?)))",
                    (ids,),
                )
                removed = connection.execute(
                    "DELETE FROM catalog_documents WHERE document_id IN"
                    " (SELECT value FROM json_each(?))",
                    (ids,),
                ).rowcount
                connection.execute(_BUMP)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()
        return removed

    def claim(self, document_id: str, node_stamp: str, owner: str) -> bool:
        """Take the job of building a document's row for `node_stamp`: False when the row is
        fresh already or another owner's claim on it is recent (that process is building it)."""
        now = time.time()
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(
                    "SELECT node_stamp, analyzer FROM catalog_documents WHERE document_id = ?",
                    (document_id,),
                ).fetchone()
                if row is not None and Stamp(row[0], "", row[1]).fresh_for(node_stamp):
                    connection.execute("COMMIT")
                    return False
                held = connection.execute(
                    "SELECT owner, node_stamp, claimed_at FROM catalog_claims"
                    " WHERE document_id = ?",
                    (document_id,),
                ).fetchone()
                if (
                    held is not None
                    and held[0] != owner
                    and held[1] == node_stamp
                    and now - held[2] < CLAIM_SECONDS
                ):
                    connection.execute("COMMIT")
                    return False
                connection.execute(
                    "INSERT OR REPLACE INTO catalog_claims VALUES (?, ?, ?, ?)",
                    (document_id, owner, node_stamp, now),
                )
                connection.execute("COMMIT")
                return True
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def release(self, document_id: str, owner: str) -> None:
        """Give up a claim (the build failed); a successful `put` removes it by itself."""
        connection = self._connect()
        try:
            connection.execute(
                "DELETE FROM catalog_claims WHERE document_id = ? AND owner = ?",
                (document_id, owner),
            )
        finally:
            connection.close()

    def prune(self, client_id: str | None, keep: Collection[str], grace_seconds: float) -> int:
        """Forget rows of `client_id` (every client when None) whose documents are not in
        `keep` any more; rows younger than `grace_seconds` stay (a document imported while the
        caller listed the nodes)."""
        sql = "SELECT document_id FROM catalog_documents WHERE indexed_at < ?"
        params: tuple = (time.time() - grace_seconds,)
        if client_id is not None:
            sql, params = sql + " AND client_id = ?", (*params, client_id)
        connection = self._connect()
        try:
            stored = [row[0] for row in connection.execute(sql, params).fetchall()]
        finally:
            connection.close()
        kept = set(keep)
        gone = [document_id for document_id in stored if document_id not in kept]
        return self.remove(gone) if gone else 0

    # --- reading ------------------------------------------------------------------------------
    def stamps(self) -> dict[str, Stamp]:
        """What every stored row was made from, by document id (read again only when a row
        changed since, in any process: every question compares them with the nodes)."""
        connection = self._connect()
        try:
            connection.execute("BEGIN")  # one snapshot for the generation and the rows
            generation = connection.execute("SELECT generation FROM catalog_generation").fetchone()[
                0
            ]
            cached = self._stamps
            if cached is not None and cached[0] == generation:
                return cached[1]
            rows = connection.execute(
                "SELECT document_id, node_stamp, content_stamp, analyzer FROM catalog_documents"
            ).fetchall()
        finally:
            connection.close()
        stamps = {row[0]: Stamp(row[1], row[2], row[3]) for row in rows}
        self._stamps = (generation, stamps)
        return stamps

    def stamp(self, document_id: str) -> Stamp | None:
        """What one document's row was made from (None: no row)."""
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT node_stamp, content_stamp, analyzer FROM catalog_documents"
                " WHERE document_id = ?",
                (document_id,),
            ).fetchone()
        finally:
            connection.close()
        return Stamp(*row) if row else None

    def search(self, question: str, allowed: Collection[str], limit: int = 10) -> list[Candidate]:
        """The documents among `allowed` best matching the question, best first."""
        query = parse_query(question if isinstance(question, str) else "")
        terms = query.terms[:MAX_QUERY_TERMS]
        if not terms or not allowed or limit <= 0:
            return []
        weights = ", ".join(str(weight) for weight in COLUMN_WEIGHTS)
        connection = self._connect()
        try:
            rows = connection.execute(
                f"SELECT d.document_id, d.name, bm25(catalog_fts, {weights}) AS rank,"
                f" {', '.join('f.' + column for column in COLUMNS)}"
                " FROM catalog_fts f JOIN catalog_documents d ON d.id = f.rowid"
                " WHERE catalog_fts MATCH ?"
                " AND d.document_id IN (SELECT value FROM json_each(?))"
                " ORDER BY rank LIMIT ?",
                (_fts_query(terms), json.dumps(list(allowed)), max(limit, RERANK)),
            ).fetchall()
        finally:
            connection.close()
        scored = []
        for document_id, name, rank, *columns in rows:
            terms_of = set(" ".join(columns).split())
            share = coverage(query, terms_of)
            score = -rank * (COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * share**2)
            scored.append(Candidate(document_id, name, score))
        scored.sort(key=lambda candidate: (-candidate.score, candidate.document_id))
        floor = scored[0].score * SHARE_OF_BEST if scored else 0.0
        return [candidate for candidate in scored[:limit] if candidate.score > floor]

    def count(self) -> int:
        connection = self._connect()
        try:
            return connection.execute("SELECT count(*) FROM catalog_documents").fetchone()[0]
        finally:
            connection.close()
