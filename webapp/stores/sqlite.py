"""Small helpers shared by the SQLite stores: connections and versioned migrations."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from webapp.offhub import native_lock


def enable_wal(conn: sqlite3.Connection, seconds: float = 10.0) -> None:
    """Switch the database to write-ahead logging, retrying while another process does too.

    Two processes opening a new file at once (gunicorn's workers booting) both hold a shared lock
    and both want an exclusive one to switch; SQLite then fails one of them at once, without its
    busy wait ("database is locked"), so the wait is here.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def utcnow() -> str:
    """ISO-8601 UTC timestamp with microseconds, the format every store returns."""
    return datetime.now(timezone.utc).isoformat()


def _casefold(value: str | None) -> str | None:
    """Unicode case folding (SQLite's own lower() only folds ASCII, and our data is Cyrillic)."""
    return value.casefold() if isinstance(value, str) else value


def _dict_factory(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {col[0]: row[i] for i, col in enumerate(cursor.description)}


class SQLiteDatabase:
    """A SQLite file with a small pool of open connections.

    Opening a connection and setting it up costs more than most of our queries, so connections
    are reused: one unit of work (a read, or a write transaction) holds one connection, never
    two at once, which keeps this safe across threads and gevent greenlets. The pool is dropped
    after a fork and when the file was replaced or removed. Under gevent the stores run their
    units on gevent's thread pool (`offhub`), so the pool's lock is a lock of the OS.
    """

    POOL_SIZE = 12  # gevent's thread pool runs 10 units at once, plus callers outside it

    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout  # SQLite retries a locked write this long, then fails
        self._idle: list[sqlite3.Connection] = []
        self._lock = native_lock()
        self._owner: tuple[int, int] | None = None  # (pid, inode) the pool belongs to

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = _dict_factory
        conn.create_function("casefold", 1, _casefold, deterministic=True)
        if conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"] != "wal":
            enable_wal(conn, self.busy_timeout)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _identity(self) -> tuple[int, int] | None:
        try:
            return os.getpid(), self.path.stat().st_ino
        except FileNotFoundError:
            return None

    def _acquire(self) -> sqlite3.Connection:
        identity = self._identity()
        with self._lock:
            if identity is None or identity != self._owner:
                stale, self._idle = self._idle, []
                self._owner = identity
                for conn in stale:
                    conn.close()
            elif self._idle:
                return self._idle.pop()
        conn = self.connect()
        if identity is None:
            with self._lock:
                self._owner = self._identity()
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < self.POOL_SIZE and self._owner == self._identity():
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self._acquire()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        else:
            self._release(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that takes the write lock up front, so read-then-write is atomic."""
        conn = self._acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._release(conn)

    def migrate(self, folder: Path) -> list[str]:
        """Apply the `NNN_name.sql` files of `folder` not applied yet; return their names."""
        applied: list[str] = []
        with self.write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r["version"] for r in conn.execute("SELECT version FROM schema_migrations")}
            for script in sorted(folder.glob("*.sql")):
                if script.stem in done:
                    continue
                for statement in _statements(script.read_text(encoding="utf-8")):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (script.stem, utcnow()),
                )
                applied.append(script.stem)
        return applied


class SQLiteStore:
    """A store kept in one SQLite file, with its own migrations folder."""

    migrations: Path
    # A table `ping` reads: it fails until the schema is there.
    ping_table = "schema_migrations"
    # A store the app writes is ready only when it can take its write lock (not held by another
    # process for longer than the busy timeout).
    ping_writes = False

    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        self.db = SQLiteDatabase(path, busy_timeout)

    def init_schema(self) -> list[str]:
        return self.db.migrate(self.migrations)

    def ping(self) -> None:
        with self.db.write() if self.ping_writes else self.db.read() as conn:
            conn.execute(f"SELECT 1 FROM {self.ping_table} LIMIT 1")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (ours have no semicolons inside literals or triggers)."""
    parts, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            parts.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


def placeholders(values: list | tuple) -> str:
    return ",".join("?" for _ in values)
