"""Full-text search over a document's blocks: SQLite FTS5 with BM25, one table per document version.

The index for a version is built once and shared by every process using the same database file: the
build runs in one IMMEDIATE transaction (WAL, busy timeout), and a version counts as indexed only
once its row in `search_index_meta` is committed together with the table.

A search runs in two stages: FTS5/BM25 picks up to CANDIDATES blocks matching any term of the
parsed question (its words, glossary alternatives and qualified numbers), then
`webapp.documents.ranking` orders them with the per-document statistics. Those statistics are
the slow part of a build (about 0.8 s for a 258-block set), so they are stored with the index
(`search_stats`, compressed JSON) and another process loads them (about 50 ms) instead of
analyzing the document again; each process keeps the recent ones in memory. Builds and loads run
off the gevent hub (`run_blocking`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app

from webapp.documents.analysis import ANALYZER_VERSION, iter_tokens
from webapp.documents.model import Document
from webapp.documents.query import parse_query
from webapp.documents.ranking import DocumentStats, add_related_stems, rank
from webapp.offhub import run_blocking
from webapp.stores.sqlite import enable_wal

BUSY_TIMEOUT_MS = 60_000
MAX_QUERY_TERMS = 60
CANDIDATES = 200
CACHED_DOCUMENTS = 16  # analyzed documents kept in memory per index
SNIPPET_CHARS = 220
# bm25 weights by column: block id, heading (image type, short description), body, sheet title.
COLUMN_WEIGHTS = (8.0, 3.0, 1.0, 0.5)
STATS_FORMAT = 1  # of the stored statistics; with ANALYZER_VERSION, a mismatch means rebuild
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SearchHit:
    """One matching block; `score` is higher for better matches.

    `why` says what matched: "title" (sheet title), "heading", "body", "number" (the asked
    floor/sheet/axis), "abbreviation"/"synonym" (a glossary form of a question word), "phrase"
    (question words together), "document" (a title block for a whole-document question).
    """

    block_id: str
    kind: str
    page: int | None
    score: float
    snippet: str
    why: tuple[str, ...] = ()


def index_version(document: Document) -> str:
    """The key an index is stored under: `document.version`, or a hash of the blocks if unset."""
    if document.version:
        return document.version
    digest = hashlib.sha256()
    for block in document.blocks:
        for part in (
            block.id,
            block.kind,
            str(block.page),
            block.text,
            block.sheet or "",
            block.sheet_name or "",
            *sorted(f"{k}={v}" for k, v in block.fields.items()),
        ):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


def _table_name(version: str) -> str:
    """A safe SQL identifier for a version (versions are sha256 hex; anything else is hashed)."""
    key = version if _HEX64.match(version) else hashlib.sha256(version.encode()).hexdigest()
    return f"fts_a{ANALYZER_VERSION}_{key}"


def _fts_query(terms: Iterable[str]) -> str:
    """An FTS5 OR-query with every term quoted, so user text can never be read as syntax."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    return " OR ".join(quoted)


@lru_cache(maxsize=4096)
def _text_items(text: str) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    """Analyzed items of a block's text (cached: the same blocks come back in many searches)."""
    return tuple(iter_tokens(text))


def make_snippet(text: str, query_terms: set[str], width: int = SNIPPET_CHARS) -> str:
    """A short excerpt of the original text around the densest cluster of matching tokens."""
    matches = [
        (start, end, set(terms) & query_terms)
        for start, end, terms in _text_items(text)
        if query_terms.intersection(terms)
    ]
    if not matches:
        excerpt, start, end = text[:width], 0, min(len(text), width)
    else:
        best_start, best_count = matches[0][0], 0
        for index, (start, _, _) in enumerate(matches):
            covered: set[str] = set()
            for other_start, other_end, terms in matches[index:]:
                if other_end - start > width * 0.8:
                    break
                covered |= terms
            if len(covered) > best_count:
                best_start, best_count = start, len(covered)
        start = max(0, best_start - width // 5)
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 and start - space < 20 else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start + width // 2 else end
        excerpt = text[start:end]
    excerpt = re.sub(r"\*\*|(?<=\|)\s*-{3,}\s*(?=\|)", " ", excerpt)
    excerpt = re.sub(r"\s+", " ", excerpt.replace("|", " | ")).strip()
    excerpt = re.sub(r"(?:\s*\|\s*)+", " | ", excerpt).strip(" |")
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return f"{prefix}{excerpt}{suffix}"


class SearchIndex:
    """BM25 search over blocks, persisted in one SQLite file shared by processes."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self.builds = 0  # indexes built by this instance (reuse shows as no increase)
        self.stats_built = 0  # documents analyzed by this instance
        self.stats_loaded = 0  # analyzed documents read back from the file instead
        self._ready: set[str] = set()
        self._stats: OrderedDict[str, DocumentStats] = OrderedDict()
        self._stats_lock = threading.Lock()
        with self._connect() as connection:
            enable_wal(connection)
            connection.execute(
                "CREATE TABLE IF NOT EXISTS search_index_meta ("
                " version TEXT PRIMARY KEY, table_name TEXT NOT NULL, analyzer INTEGER NOT NULL,"
                " blocks INTEGER NOT NULL, built_at REAL NOT NULL, build_seconds REAL NOT NULL)"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS search_stats ("
                " version TEXT PRIMARY KEY, analyzer INTEGER NOT NULL, format INTEGER NOT NULL,"
                " data BLOB NOT NULL, saved_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    def _is_built(self, connection: sqlite3.Connection, version: str) -> bool:
        row = connection.execute(
            "SELECT 1 FROM search_index_meta WHERE version = ? AND analyzer = ? AND table_name = ?",
            (version, ANALYZER_VERSION, _table_name(version)),
        ).fetchone()
        return row is not None

    def is_built(self, version: str) -> bool:
        """Whether an index for this document version is committed (by any process)."""
        connection = self._connect()
        try:
            return self._is_built(connection, version)
        finally:
            connection.close()

    def ensure(self, document: Document) -> None:
        """Build the index for `document.version` unless it exists; safe across processes."""
        version = index_version(document)
        if version in self._ready:
            return
        if self.is_built(version):
            self._ready.add(version)
            return
        run_blocking(self._build, document, version)

    def _build(self, document: Document, version: str) -> None:
        started = time.perf_counter()
        stats, analyzed = self._obtain(document, version)
        rows = stats.fts_rows()
        table = _table_name(version)
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                if self._is_built(connection, version):  # another process won the race
                    connection.execute("COMMIT")
                    self._ready.add(version)
                    return
                connection.execute(f"DROP TABLE IF EXISTS {table}")
                connection.execute(
                    f"CREATE VIRTUAL TABLE {table} USING fts5("
                    " block_id UNINDEXED, kind UNINDEXED, page UNINDEXED,"
                    " id_terms, heading_terms, body_terms, sheet_terms,"
                    " tokenize = \"unicode61 remove_diacritics 0 tokenchars '-/.'\")"
                )
                connection.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                if analyzed:  # stored in the build's transaction: it holds the write lock
                    self._save_stats(connection, version, stats)
                connection.execute(
                    "INSERT OR REPLACE INTO search_index_meta VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        version,
                        table,
                        ANALYZER_VERSION,
                        len(rows),
                        time.time(),
                        time.perf_counter() - started,
                    ),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            self.builds += 1
            self._ready.add(version)
        finally:
            connection.close()

    def _remember(self, version: str, stats: DocumentStats) -> DocumentStats:
        with self._stats_lock:
            self._stats[version] = stats
            self._stats.move_to_end(version)
            while len(self._stats) > CACHED_DOCUMENTS:
                self._stats.popitem(last=False)
        return stats

    def _save_stats(
        self, connection: sqlite3.Connection, version: str, stats: DocumentStats
    ) -> None:
        data = json.dumps(stats.saved_form(), ensure_ascii=False, separators=(",", ":"))
        connection.execute(
            "INSERT OR REPLACE INTO search_stats VALUES (?, ?, ?, ?, ?)",
            (version, ANALYZER_VERSION, STATS_FORMAT, zlib.compress(data.encode(), 1), time.time()),
        )

    def _load_stats(self, document: Document, version: str) -> DocumentStats | None:
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT data FROM search_stats WHERE version = ? AND analyzer = ? AND format = ?",
                (version, ANALYZER_VERSION, STATS_FORMAT),
            ).fetchone()
        finally:
            connection.close()
        if row is None:
            return None
        try:
            stats = DocumentStats.restore(document, json.loads(zlib.decompress(row[0])))
        except (ValueError, TypeError, zlib.error):  # damaged or foreign: analyze again
            return None
        self.stats_loaded += 1
        return stats

    def _obtain(self, document: Document, version: str) -> tuple[DocumentStats, bool]:
        """The statistics from memory, the file, or analyzing; True when analyzed now (and
        not stored yet)."""
        with self._stats_lock:
            stats = self._stats.get(version)
        if stats is not None:
            return stats, False
        stats = self._load_stats(document, version)
        if stats is not None:
            return self._remember(version, stats), False
        self.stats_built += 1
        return self._remember(version, DocumentStats(document)), True

    def _obtain_stored(self, document: Document, version: str) -> DocumentStats:
        stats, analyzed = self._obtain(document, version)
        if analyzed:
            connection = self._connect()
            try:
                self._save_stats(connection, version, stats)
            finally:
                connection.close()
        return stats

    def stats(self, document: Document) -> DocumentStats:
        """The analyzed blocks of a document version: kept in memory for recent versions, else
        read from the file, else analyzed (and stored for the other processes)."""
        version = index_version(document)
        with self._stats_lock:
            stats = self._stats.get(version)
            if stats is not None:
                self._stats.move_to_end(version)
                return stats
        return run_blocking(self._obtain_stored, document, version)

    def _candidates(
        self,
        document: Document,
        terms: list[str],
        kinds: list[str] | None,
    ) -> list[str]:
        table = _table_name(index_version(document))
        sql = (
            f"SELECT block_id, bm25({table}, 0, 0, 0, ?, ?, ?, ?) AS rank"
            f" FROM {table} WHERE {table} MATCH ?"
        )
        params: list[object] = [*COLUMN_WEIGHTS, _fts_query(terms)]
        if kinds is not None:
            sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        sql += " ORDER BY rank LIMIT ?"
        params.append(CANDIDATES)
        connection = self._connect()
        try:
            return [row[0] for row in connection.execute(sql, params).fetchall()]
        finally:
            connection.close()

    def search(
        self,
        document: Document,
        query: str,
        limit: int = 10,
        kinds: Iterable[str] | None = None,
    ) -> list[SearchHit]:
        """Best-matching blocks for free user text; [] when the text has no searchable terms."""
        parsed = parse_query(query if isinstance(query, str) else "")
        if (not parsed.concepts and not parsed.whole_document) or limit <= 0:
            return []
        kind_list = sorted(set(kinds)) if kinds is not None else None
        if kind_list is not None and not kind_list:
            return []
        self.ensure(document)
        stats = self.stats(document)
        add_related_stems(stats, parsed)
        terms = parsed.terms[:MAX_QUERY_TERMS]
        candidates = self._candidates(document, terms, kind_list) if terms else []
        ranked = rank(stats, parsed, candidates)
        if kind_list is not None:
            ranked = [
                item for item in ranked if stats.blocks[item.block_id].block.kind in kind_list
            ]
        snippet_terms = parsed.original_terms or set(terms)
        hits = []
        for item in ranked[: int(limit)]:
            block = stats.blocks[item.block_id].block
            text = block.text or " ".join(filter(None, [block.sheet_name, *block.fields.values()]))
            hits.append(
                SearchHit(
                    block.id,
                    block.kind,
                    block.page,
                    float(item.score),
                    make_snippet(text, snippet_terms),
                    item.why,
                )
            )
        return hits

    def block_count(self, version: str) -> int:
        """Rows indexed for a version (0 when not built)."""
        connection = self._connect()
        try:
            if not self._is_built(connection, version):
                return 0
            return connection.execute(f"SELECT count(*) FROM {_table_name(version)}").fetchone()[0]
        finally:
            connection.close()

    def drop(self, version: str) -> None:
        """Forget a version's index and statistics (e.g. when its document is deleted)."""
        self._ready.discard(version)
        with self._stats_lock:
            self._stats.pop(version, None)
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                tables = [
                    row[0]
                    for row in connection.execute(
                        "SELECT table_name FROM search_index_meta WHERE version = ?", (version,)
                    )
                ]
                for table in {*tables, _table_name(version)}:
                    connection.execute(f'DROP TABLE IF EXISTS "{table}"')
                connection.execute("DELETE FROM search_index_meta WHERE version = ?", (version,))
                connection.execute("DELETE FROM search_stats WHERE version = ?", (version,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()


EXTENSION = "aizoomdoc.search"


def search_index(app: Flask | None = None) -> SearchIndex:
    """The app's search index (one SQLite file under DATA_DIR, shared by its processes)."""
    return (app or current_app).extensions[EXTENSION]


def init_app(app: Flask) -> None:
    folder = Path(app.config["DATA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    app.extensions[EXTENSION] = SearchIndex(folder / "search.db")
