"""The chat database in a SQLite file: the embedded default."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from webapp.offhub import off_hub_methods
from webapp.stores.chatdb import base
from webapp.stores.chatdb.base import ChatStore, Conflict, Row
from webapp.stores.sqlite import SQLiteStore, placeholders, utcnow

MIGRATIONS = Path(__file__).parent / "migrations" / "sqlite"
# A chat's rendered files, with `_render_params`: the path is compared with substr, not LIKE,
# so `_` and `%` in the chat's folder match literally.
RENDER_FILES = "FROM storage_files WHERE source_type = ? AND substr(storage_path, 1, ?) = ?"
ACTIVE_RUN = (
    f"SELECT * FROM chat_runs WHERE chat_id = ? AND status IN ({placeholders(base.RUN_ACTIVE)})"
)


def _row(row: Row | None) -> Row | None:
    """SQLite stores booleans as 0/1 and JSON as text: give them back as Python values."""
    if row is None:
        return None
    for key in base.BOOL_COLUMNS:
        if key in row and row[key] is not None:
            row[key] = bool(row[key])
    for key in base.JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _values(row: Row) -> tuple:
    """Column values as SQLite takes them: JSON columns as text (booleans bind as 0/1)."""
    return tuple(_json(v) if k in base.JSON_COLUMNS else v for k, v in row.items())


def _insert(conn: sqlite3.Connection, table: str, row: Row, on_conflict: str = "") -> int:
    """Insert one row (its keys are the columns); return its rowid."""
    sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({placeholders(row)}) {on_conflict}"
    return conn.execute(sql, _values(row)).lastrowid  # type: ignore[return-value]


def _set(conn: sqlite3.Connection, table: str, fields: Row, key: str, value: Any) -> None:
    """`UPDATE table SET <fields> WHERE key = value`; callers have checked the field names."""
    if fields:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        conn.execute(f"UPDATE {table} SET {assignments} WHERE {key} = ?", (*_values(fields), value))


def _render_params(chat_id: str) -> tuple:
    prefix = base.render_prefix(chat_id)
    return (base.CHAT_RENDER, len(prefix), prefix)


@off_hub_methods  # each public call is one unit of work on a pool thread: one hop
class SQLiteChatStore(SQLiteStore, ChatStore):
    migrations = MIGRATIONS
    ping_writes = True

    def _one(self, sql: str, params: tuple = ()) -> Row | None:
        with self.db.read() as conn:
            return _row(conn.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list[Row]:
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(sql, params).fetchall()]

    def _add(self, table: str, row: Row, conflict: str | None = None) -> Row:
        """Insert a new row and return it as stored (with the schema's defaults filled in)."""
        try:
            with self.db.write() as conn:
                rowid = _insert(conn, table, row)
                stored = conn.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.IntegrityError as exc:
            if conflict is None:
                raise
            raise Conflict(conflict) from exc
        return _row(stored)  # type: ignore[return-value]

    def _add_message(self, message: Row, attachments: list[Row]) -> Row:
        with self.db.write() as conn:
            _insert(conn, "chat_messages", message)
            for attachment in attachments:
                _insert(conn, "message_attachments", attachment)
            _set(conn, "chats", {"updated_at": message["created_at"]}, "id", message["chat_id"])
        return self.get_message(message["id"])  # type: ignore[return-value]

    def _update(self, table: str, row_id: Any, fields: Row) -> None:
        with self.db.write() as conn:
            _set(conn, table, fields, "id", row_id)

    # --- users --------------------------------------------------------------------------------
    def get_user(self, user_id: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def get_user_by_username(self, username: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE username = ?", (username,))

    def get_user_by_token_hash(self, token_hash: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE token_hash = ?", (token_hash,))

    def list_users(self) -> list[Row]:
        return self._all("SELECT * FROM users ORDER BY created_at")

    def update_user(self, user_id: str, **fields: Any) -> Row | None:
        base.check_fields(fields, base.USER_FIELDS, "user fields")
        self._update("users", user_id, fields)
        return self.get_user(user_id)

    # --- revoked access tokens ------------------------------------------------------------------
    def revoke_token(self, jti: str, expires_at: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (utcnow(),))
            conn.execute(
                "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
                (jti, expires_at),
            )

    def is_token_revoked(self, jti: str) -> bool:
        return self._one("SELECT 1 AS x FROM revoked_tokens WHERE jti = ?", (jti,)) is not None

    # --- settings -----------------------------------------------------------------------------
    def get_settings(self, username: str) -> Row | None:
        return self._one("SELECT * FROM settings WHERE user_id = ?", (username,))

    def save_settings(self, username: str, fields: dict[str, Any]) -> Row:
        base.check_fields(fields, base.SETTINGS_FIELDS, "settings")
        row = base.new_settings(username)
        with self.db.write() as conn:
            _insert(conn, "settings", row, "ON CONFLICT (user_id) DO NOTHING")
            if fields:
                changes = {**fields, "updated_at": row["updated_at"]}
                _set(conn, "settings", changes, "user_id", username)
        return self.get_settings(username)  # type: ignore[return-value]

    # --- role prompts -------------------------------------------------------------------------
    def list_roles(self, active_only: bool = True) -> list[Row]:
        where = "WHERE is_active = 1" if active_only else ""
        return self._all(f"SELECT * FROM user_prompts {where} ORDER BY id")

    def get_role(self, role_id: int) -> Row | None:
        return self._one("SELECT * FROM user_prompts WHERE id = ?", (role_id,))

    def set_role_active(self, role_id: int, active: bool) -> Row | None:
        self._update("user_prompts", role_id, base.stamped({"is_active": bool(active)}))
        return self.get_role(role_id)

    # --- chats --------------------------------------------------------------------------------
    def get_chat(self, chat_id: str) -> Row | None:
        return self._one("SELECT * FROM chats WHERE id = ? AND deleted_at IS NULL", (chat_id,))

    def list_chats(self, username: str, limit: int) -> list[Row]:
        return self._all(
            "SELECT * FROM chats WHERE user_id = ? AND is_archived = 0 AND deleted_at IS NULL "
            "ORDER BY updated_at DESC, rowid DESC LIMIT ?",
            (username, limit),
        )

    def touch_chat(self, chat_id: str) -> None:
        self._update("chats", chat_id, base.stamped({}))

    def rename_chat(self, chat_id: str, fields: dict[str, Any]) -> None:
        self._update("chats", chat_id, base.chat_renames(fields))

    def hide_chat(self, chat_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE chats SET deleted_at = ?, is_archived = 1 WHERE id = ? "
                "AND deleted_at IS NULL",
                (utcnow(), chat_id),
            )

    # --- messages -----------------------------------------------------------------------------
    def get_message(self, message_id: str) -> Row | None:
        return self._one("SELECT * FROM chat_messages WHERE id = ?", (message_id,))

    def list_messages(self, chat_id: str, limit: int, before: str | None = None) -> list[Row]:
        params: list[Any] = [chat_id]
        bound = ""
        if before is not None:
            bound = (
                "AND (created_at, rowid) < (SELECT created_at, rowid FROM chat_messages "
                "WHERE id = ? AND chat_id = ?)"
            )
            params += [before, chat_id]
        rows = self._all(
            f"SELECT * FROM chat_messages WHERE chat_id = ? {bound} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (*params, limit),
        )
        return rows[::-1]

    # --- images and files ---------------------------------------------------------------------
    def list_images(self, message_ids: list[str]) -> list[Row]:
        if not message_ids:
            return []
        file_columns = ", ".join(f"f.{column}" for column in base.IMAGE_FILE_COLUMNS)
        return self._all(
            f"SELECT i.*, {file_columns} "
            "FROM chat_images i LEFT JOIN storage_files f ON f.id = i.file_id "
            f"WHERE i.message_id IN ({placeholders(message_ids)}) ORDER BY i.uploaded_at, i.rowid",
            tuple(message_ids),
        )

    def get_file(self, file_id: str) -> Row | None:
        return self._one("SELECT * FROM storage_files WHERE id = ?", (file_id,))

    def get_file_by_url(self, external_url: str) -> Row | None:
        return self._one(
            "SELECT * FROM storage_files WHERE external_url = ? ORDER BY created_at DESC LIMIT 1",
            (external_url,),
        )

    # --- runs ---------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Row | None:
        return self._one("SELECT * FROM chat_runs WHERE id = ?", (run_id,))

    def latest_run(self, message_id: str) -> Row | None:
        return self._one(
            "SELECT * FROM chat_runs WHERE message_id = ? ORDER BY created_at DESC, rowid DESC "
            "LIMIT 1",
            (message_id,),
        )

    def active_run(self, chat_id: str) -> Row | None:
        return self._one(ACTIVE_RUN, (chat_id, *base.RUN_ACTIVE))

    def update_run(self, run_id: str, **fields: Any) -> Row | None:
        base.check_fields(fields, base.RUN_FIELDS, "run fields")
        self._update("chat_runs", run_id, fields)
        return self.get_run(run_id)

    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        return self._all(
            "SELECT seq, event, data, created_at FROM chat_run_events WHERE run_id = ? "
            "AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )

    # --- durable chat deletion ----------------------------------------------------------------
    def enqueue_deletion(self, chat_id: str) -> Row:
        job = base.new_deletion(chat_id)
        with self.db.write() as conn:
            _insert(conn, "chat_deletion_jobs", job, "ON CONFLICT (chat_id) DO NOTHING")
        found = self._one("SELECT * FROM chat_deletion_jobs WHERE chat_id = ?", (chat_id,))
        return found  # type: ignore[return-value]

    def pending_deletions(self, limit: int = 100) -> list[Row]:
        return self._all(
            "SELECT * FROM chat_deletion_jobs WHERE status = ? ORDER BY created_at LIMIT ?",
            (base.DELETION_PENDING, limit),
        )

    def update_deletion(self, job_id: str, **fields: Any) -> None:
        base.check_fields(fields, base.DELETION_FIELDS, "deletion fields")
        self._update("chat_deletion_jobs", job_id, base.stamped(fields))

    def chat_render_files(self, chat_id: str) -> list[Row]:
        return self._all(f"SELECT * {RENDER_FILES}", _render_params(chat_id))

    def delete_chat_part(self, chat_id: str, part: str) -> None:
        if part not in base.DELETION_STEPS:
            raise ValueError(f"unknown part {part!r}")
        statements = {
            "objects": [],
            "images": ["DELETE FROM chat_images WHERE chat_id = ?"],
            "runs": [
                "DELETE FROM chat_run_events WHERE run_id IN "
                "(SELECT id FROM chat_runs WHERE chat_id = ?)",
                "DELETE FROM chat_runs WHERE chat_id = ?",
            ],
            "messages": [
                "DELETE FROM message_attachments WHERE message_id IN "
                "(SELECT id FROM chat_messages WHERE chat_id = ?)",
                "DELETE FROM chat_messages WHERE chat_id = ?",
            ],
            "files": [],
            "chat": ["DELETE FROM chats WHERE id = ?"],
        }[part]
        with self.db.write() as conn:
            for sql in statements:
                conn.execute(sql, (chat_id,))
            if part == "files":
                conn.execute(f"DELETE {RENDER_FILES}", _render_params(chat_id))

    # --- users' own API keys ------------------------------------------------------------------
    def get_api_key(self, username: str) -> str | None:
        row = self._one("SELECT encrypted_key FROM user_api_keys WHERE user_id = ?", (username,))
        return row["encrypted_key"] if row else None

    def set_api_key(self, username: str, encrypted_key: str | None) -> None:
        with self.db.write() as conn:
            if encrypted_key is None:
                conn.execute("DELETE FROM user_api_keys WHERE user_id = ?", (username,))
            else:
                _insert(
                    conn,
                    "user_api_keys",
                    base.new_api_key(username, encrypted_key),
                    "ON CONFLICT (user_id) DO UPDATE SET "
                    "encrypted_key = excluded.encrypted_key, updated_at = excluded.updated_at",
                )
