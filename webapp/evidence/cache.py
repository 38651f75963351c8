"""The render cache: a disk LRU of PNG files indexed in SQLite, shared by several processes.

Several gunicorn workers use one directory. Every change to the set of final files (rename into
place, eviction, invalidation, reconciliation) happens inside one SQLite write transaction
(`BEGIN IMMEDIATE`), so the index and the files agree and the total size is exact under concurrent
writers. Reads take no write lock until they touch the entry's last-access time.

Under gevent every public method runs off the hub (`offhub.off_hub`): its SQLite transaction may
wait on another process's write lock, and the files are read and written in the same unit.

Layout: `<dir>/index.sqlite3` and `<dir>/ab/abcdef….png` (fanned out by the key's first
2 hex chars).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from webapp.offhub import off_hub
from webapp.stores.sqlite import enable_wal

log = logging.getLogger(__name__)

INDEX_NAME = "index.sqlite3"
TEMP_PREFIX = ".tmp-"
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_FANOUT_RE = re.compile(r"^[0-9a-f]{2}$")
_EVICT_BATCH = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    accessed REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_accessed ON entries (accessed);
CREATE INDEX IF NOT EXISTS entries_source ON entries (source_id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def make_cache_key(
    source_id: str,
    version: str,
    page: int,
    kind: str,
    bbox: Any,
    dpi: float,
    out_size: Any,
    overlay: str,
    renderer_version: str,
) -> str:
    """sha256 hex of everything that decides the pixels of a render."""
    if hasattr(bbox, "as_list"):
        bbox = bbox.as_list(6)
    elif bbox is not None:
        bbox = [round(float(v), 6) for v in bbox]
    if isinstance(out_size, (list, tuple)):
        out_size = [int(v) for v in out_size]
    parts = [
        str(source_id),
        str(version),
        int(page),
        str(kind),
        bbox,
        round(float(dpi), 3),
        out_size,
        str(overlay),
        str(renderer_version),
    ]
    canonical = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RenderCache:
    """Disk LRU of PNG renders; TTL counted from the last access; safe across processes."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self.ttl_seconds = float(ttl_seconds)
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.directory.mkdir(parents=True, exist_ok=True)
        self.index_path = self.directory / INDEX_NAME
        with self._connection() as conn:
            enable_wal(conn, self.busy_timeout)
            conn.executescript(SCHEMA)

    # -- public API -------------------------------------------------------------------------------

    @off_hub
    def get(self, key: str) -> bytes | None:
        """The cached PNG, or None; a hit moves the entry to the young end of the LRU."""
        path = self.path_for(key)
        now = self.clock()
        with self._connection() as conn:
            row = conn.execute(
                "SELECT size, accessed FROM entries WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            self._bump("misses")
            return None
        size, accessed = row
        if now - accessed > self.ttl_seconds:
            self._drop_if(key, "accessed = ?", accessed)
            self._bump("misses")
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        if data is None or len(data) != size:
            # Evicted by another process meanwhile, or removed by hand: the row goes too.
            self._drop_if(key, "size = ?", size, check_file=True)
            self._bump("misses")
            return None

        with self._write() as conn:
            conn.execute("UPDATE entries SET accessed = MAX(accessed, ?) WHERE key = ?", (now, key))
            self._bump_in(conn, "hits")
        return data

    @off_hub
    def put(self, key: str, data: bytes, source_id: str) -> None:
        """Store `data` under `key` atomically, then evict LRU entries until the total fits."""
        final = self.path_for(key)
        if len(data) > self.max_bytes:
            log.info(
                "render %s (%d bytes) is larger than the whole cache; not stored", key, len(data)
            )
            return
        final.parent.mkdir(exist_ok=True)
        temp = final.parent / f"{TEMP_PREFIX}{key[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            temp.write_bytes(data)  # a full disk fails here: the partial temp file goes below
            now = self.clock()
            with self._write() as conn:
                os.replace(temp, final)
                conn.execute(
                    "INSERT INTO entries (key, source_id, size, created, accessed) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "source_id = excluded.source_id, size = excluded.size, "
                    "accessed = excluded.accessed",
                    (key, source_id, len(data), now, now),
                )
                self._evict_to_cap(conn, keep=key)
        except FileNotFoundError:
            # Our temp file was swept by a concurrent reconcile(): nothing was stored.
            log.warning("render %s not cached: its temp file disappeared", key)
        finally:
            if temp.exists():
                temp.unlink()

    @off_hub
    def prune(self) -> dict[str, int]:
        """Remove entries not accessed within the TTL, then enforce the size cap."""
        cutoff = self.clock() - self.ttl_seconds
        with self._write() as conn:
            expired = conn.execute(
                "SELECT key, size FROM entries WHERE accessed < ?", (cutoff,)
            ).fetchall()
            self._delete(conn, expired)
            evicted = self._evict_to_cap(conn)
        return {
            "expired": len(expired),
            "evicted": len(evicted),
            "freed_bytes": sum(size for _, size in expired) + sum(size for _, size in evicted),
        }

    @off_hub
    def clear(self) -> int:
        """Remove every entry and file; returns the number of entries removed."""
        with self._write() as conn:
            rows = conn.execute("SELECT key, size FROM entries").fetchall()
            self._delete(conn, rows)
            for path in self._cache_files():
                _unlink(path)
        return len(rows)

    @off_hub
    def invalidate(self, source_id: str) -> int:
        """Remove every render of exactly `source_id` (no pattern matching); returns the count."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT key, size FROM entries WHERE source_id = ?", (source_id,)
            ).fetchall()
            self._delete(conn, rows)
        return len(rows)

    @off_hub
    def stats(self) -> dict[str, Any]:
        with self._connection() as conn:
            entries, total, oldest, newest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accessed), MAX(accessed) FROM entries"
            ).fetchone()
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        hits, misses = counters.get("hits", 0), counters.get("misses", 0)
        return {
            "directory": str(self.directory),
            "entries": entries,
            "bytes": total,
            "max_bytes": self.max_bytes,
            "ttl_seconds": self.ttl_seconds,
            "hits": hits,
            "misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "oldest_access": oldest,
            "newest_access": newest,
        }

    @off_hub
    def reconcile(self, temp_grace_seconds: float = 300.0) -> dict[str, int]:
        """Make index and files agree (run at start-up).

        Rows whose file is missing are dropped, files without a row are removed, temp files older
        than `temp_grace_seconds` (left by a crash; younger ones may belong to a live writer in
        another process) are removed, sizes are re-read from disk, and the cap is enforced.
        """
        wall_now = time.time()
        with self._write() as conn:
            rows = dict(conn.execute("SELECT key, size FROM entries").fetchall())
            rows_dropped = 0
            for key, size in rows.items():
                path = self.path_for(key)
                try:
                    actual = path.stat().st_size
                except FileNotFoundError:
                    conn.execute("DELETE FROM entries WHERE key = ?", (key,))
                    rows_dropped += 1
                    continue
                if actual != size:
                    conn.execute("UPDATE entries SET size = ? WHERE key = ?", (actual, key))
            files_removed = temp_removed = 0
            for path in self._cache_files():
                if path.name.startswith(TEMP_PREFIX):
                    try:
                        age = wall_now - path.stat().st_mtime
                    except FileNotFoundError:
                        continue
                    if age >= temp_grace_seconds:
                        temp_removed += _unlink(path)
                elif path.stem not in rows or path.suffix != ".png":
                    files_removed += _unlink(path)
            evicted = self._evict_to_cap(conn)
        return {
            "rows_dropped": rows_dropped,
            "files_removed": files_removed,
            "temp_removed": temp_removed,
            "evicted": len(evicted),
        }

    def path_for(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise ValueError("cache keys are lowercase hex digests (see make_cache_key)")
        return self.directory / key[:2] / f"{key}.png"

    # -- internals --------------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection: safe across fork (gunicorn), threads and greenlets."""
        conn = sqlite3.connect(self.index_path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so that read-then-write cannot race."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _evict_to_cap(self, conn: sqlite3.Connection, keep: str | None = None) -> list[tuple]:
        total = conn.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0]
        evicted: list[tuple] = []
        while total > self.max_bytes:
            batch = conn.execute(
                "SELECT key, size FROM entries WHERE key != ? ORDER BY accessed ASC, rowid ASC "
                "LIMIT ?",
                (keep or "", _EVICT_BATCH),
            ).fetchall()
            if not batch:
                break
            victims = []
            for key, size in batch:
                if total <= self.max_bytes:
                    break
                victims.append((key, size))
                total -= size
            self._delete(conn, victims)
            evicted.extend(victims)
        return evicted

    def _delete(self, conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
        for key, _size in rows:
            conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            _unlink(self.path_for(key))

    def _drop_if(self, key: str, condition: str, value: Any, check_file: bool = False) -> None:
        """Drop `key` if its row still matches what we saw (another process may have re-put it)."""
        with self._write() as conn:
            row = conn.execute(
                f"SELECT 1 FROM entries WHERE key = ? AND {condition}", (key, value)
            ).fetchone()
            if row is None:
                return
            path = self.path_for(key)
            if check_file and path.exists() and path.stat().st_size == value:
                return
            conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            _unlink(path)

    def _bump(self, name: str) -> None:
        with self._write() as conn:
            self._bump_in(conn, name)

    @staticmethod
    def _bump_in(conn: sqlite3.Connection, name: str) -> None:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (name,),
        )

    def _cache_files(self) -> Iterator[Path]:
        for sub in self.directory.iterdir():
            if sub.is_dir() and _FANOUT_RE.match(sub.name):
                yield from (path for path in sub.iterdir() if path.is_file())


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
