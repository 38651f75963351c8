"""The chat database in a SQLite file: the embedded default (SPEC §3)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from webapp.stores.chatdb.base import (
    DELETION_FIELDS,
    DELETION_STEPS,
    FILE_FIELDS,
    RUN_FIELDS,
    SETTINGS_FIELDS,
    USER_FIELDS,
    ChatStore,
    Conflict,
    Row,
    check_fields,
)
from webapp.stores.sqlite import SQLiteStore, placeholders, utcnow

MIGRATIONS = Path(__file__).parent / "migrations" / "sqlite"
BOOL_COLUMNS = ("is_active", "is_archived", "thinking_enabled")
JSON_COLUMNS = ("attachments", "metadata", "page_settings", "data")


def _row(row: Row | None) -> Row | None:
    """SQLite stores booleans as 0/1 and JSON as text: give them back as Python values."""
    if row is None:
        return None
    for key in BOOL_COLUMNS:
        if key in row and row[key] is not None:
            row[key] = bool(row[key])
    for key in JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


class SQLiteChatStore(SQLiteStore, ChatStore):
    migrations = MIGRATIONS

    def _one(self, sql: str, params: tuple = ()) -> Row | None:
        with self.db.read() as conn:
            return _row(conn.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list[Row]:
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(sql, params).fetchall()]

    # --- users --------------------------------------------------------------------------------
    def create_user(self, username: str, token_hash: str, role: str = "user") -> Row:
        user_id = str(uuid.uuid4())
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO users (id, username, static_token, token_hash, status, role, "
                    "created_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
                    (user_id, username, f"sha256:{token_hash}", token_hash, role, utcnow()),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"user {username!r} already exists") from exc
        return self.get_user(user_id)  # type: ignore[return-value]

    def get_user(self, user_id: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def get_user_by_username(self, username: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE username = ?", (username,))

    def get_user_by_token_hash(self, token_hash: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE token_hash = ?", (token_hash,))

    def list_users(self) -> list[Row]:
        return self._all("SELECT * FROM users ORDER BY created_at")

    def _update(self, table: str, row_id: str, fields: dict[str, Any]) -> None:
        """`UPDATE table SET <fields> WHERE id = ?`; callers have checked the field names."""
        if fields:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            with self.db.write() as conn:
                conn.execute(
                    f"UPDATE {table} SET {assignments} WHERE id = ?", (*fields.values(), row_id)
                )

    def update_user(self, user_id: str, **fields: Any) -> Row | None:
        check_fields(fields, USER_FIELDS, "user fields")
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
        check_fields(fields, SETTINGS_FIELDS, "settings")
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO settings (id, user_id, page_settings, model_profile, "
                "created_at, updated_at) VALUES (?, ?, '{}', 'simple', ?, ?)",
                (str(uuid.uuid4()), username, now, now),
            )
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)
                conn.execute(
                    f"UPDATE settings SET {assignments}, updated_at = ? WHERE user_id = ?",
                    (*fields.values(), now, username),
                )
        return self.get_settings(username)  # type: ignore[return-value]

    # --- role prompts -------------------------------------------------------------------------
    def list_roles(self, active_only: bool = True) -> list[Row]:
        where = "WHERE is_active = 1" if active_only else ""
        return self._all(f"SELECT * FROM user_prompts {where} ORDER BY id")

    def get_role(self, role_id: int) -> Row | None:
        return self._one("SELECT * FROM user_prompts WHERE id = ?", (role_id,))

    def add_role(self, name: str, content: str, description: str | None = None) -> Row:
        now = utcnow()
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO user_prompts (name, content, description, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, content, description, now, now),
            )
            role_id = cursor.lastrowid
        return self.get_role(role_id)  # type: ignore[return-value, arg-type]

    def set_role_active(self, role_id: int, active: bool) -> Row | None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE user_prompts SET is_active = ?, updated_at = ? WHERE id = ?",
                (int(active), utcnow(), role_id),
            )
        return self.get_role(role_id)

    # --- chats --------------------------------------------------------------------------------
    def create_chat(self, username: str, title: str, description: str | None) -> Row:
        chat_id, now = str(uuid.uuid4()), utcnow()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO chats (id, title, description, user_id, metadata, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?)",
                (chat_id, title, description, username, now, now),
            )
        return self.get_chat(chat_id)  # type: ignore[return-value]

    def get_chat(self, chat_id: str) -> Row | None:
        return self._one("SELECT * FROM chats WHERE id = ? AND deleted_at IS NULL", (chat_id,))

    def list_chats(self, username: str, limit: int) -> list[Row]:
        return self._all(
            "SELECT * FROM chats WHERE user_id = ? AND is_archived = 0 AND deleted_at IS NULL "
            "ORDER BY updated_at DESC, rowid DESC LIMIT ?",
            (username, limit),
        )

    def touch_chat(self, chat_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (utcnow(), chat_id))

    def hide_chat(self, chat_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE chats SET deleted_at = ?, is_archived = 1 WHERE id = ? "
                "AND deleted_at IS NULL",
                (utcnow(), chat_id),
            )

    # --- messages -----------------------------------------------------------------------------
    def add_message(
        self,
        chat_id: str,
        role: str,
        content: str,
        message_type: str = "text",
        attachments: dict[str, Any] | None = None,
        file_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Row:
        message_id, now = str(uuid.uuid4()), utcnow()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO chat_messages (id, chat_id, role, content, message_type, "
                "attachments, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    chat_id,
                    role,
                    content,
                    message_type,
                    _json(attachments),
                    _json(metadata),
                    now,
                ),
            )
            for file_id in file_ids or ():
                conn.execute(
                    "INSERT INTO message_attachments (id, message_id, file_id, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (str(uuid.uuid4()), message_id, file_id, now),
                )
            conn.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (now, chat_id))
        return self.get_message(message_id)  # type: ignore[return-value]

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
    def add_image(
        self,
        chat_id: str,
        message_id: str,
        file_id: str | None,
        image_type: str,
        description: str | None,
        width: int | None,
        height: int | None,
    ) -> Row:
        image_id = str(uuid.uuid4())
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO chat_images (id, chat_id, message_id, file_id, image_type, "
                "description, width, height, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image_id,
                    chat_id,
                    message_id,
                    file_id,
                    image_type,
                    description,
                    width,
                    height,
                    utcnow(),
                ),
            )
        return self._one("SELECT * FROM chat_images WHERE id = ?", (image_id,))  # type: ignore

    def list_images(self, message_ids: list[str]) -> list[Row]:
        if not message_ids:
            return []
        return self._all(
            "SELECT i.*, f.storage_path, f.external_url, f.filename, f.source_type "
            "FROM chat_images i LEFT JOIN storage_files f ON f.id = i.file_id "
            f"WHERE i.message_id IN ({placeholders(message_ids)}) ORDER BY i.uploaded_at, i.rowid",
            tuple(message_ids),
        )

    def add_file(self, fields: dict[str, Any]) -> Row:
        row = {"id": str(uuid.uuid4()), "created_at": utcnow(), **fields}
        check_fields(row, FILE_FIELDS, "storage_files columns")
        columns = ", ".join(row)
        with self.db.write() as conn:
            conn.execute(
                f"INSERT INTO storage_files ({columns}) VALUES ({placeholders(row)})",
                tuple(row.values()),
            )
        return self.get_file(row["id"])  # type: ignore[return-value]

    def get_file(self, file_id: str) -> Row | None:
        return self._one("SELECT * FROM storage_files WHERE id = ?", (file_id,))

    def get_file_by_url(self, external_url: str) -> Row | None:
        return self._one(
            "SELECT * FROM storage_files WHERE external_url = ? ORDER BY created_at DESC LIMIT 1",
            (external_url,),
        )

    # --- runs ---------------------------------------------------------------------------------
    def create_run(self, chat_id: str, message_id: str, username: str, mode: str | None) -> Row:
        run_id = str(uuid.uuid4())
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO chat_runs (id, chat_id, message_id, user_id, status, mode, "
                    "created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                    (run_id, chat_id, message_id, username, mode, utcnow()),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"chat {chat_id} already has an active run") from exc
        return self.get_run(run_id)  # type: ignore[return-value]

    def get_run(self, run_id: str) -> Row | None:
        return self._one("SELECT * FROM chat_runs WHERE id = ?", (run_id,))

    def latest_run(self, message_id: str) -> Row | None:
        return self._one(
            "SELECT * FROM chat_runs WHERE message_id = ? ORDER BY created_at DESC, rowid DESC "
            "LIMIT 1",
            (message_id,),
        )

    def active_run(self, chat_id: str) -> Row | None:
        return self._one(
            "SELECT * FROM chat_runs WHERE chat_id = ? AND status IN ('queued', 'running')",
            (chat_id,),
        )

    def update_run(self, run_id: str, **fields: Any) -> Row | None:
        check_fields(fields, RUN_FIELDS, "run fields")
        self._update("chat_runs", run_id, fields)
        return self.get_run(run_id)

    def append_event(self, run_id: str, seq: int, event: str, data: dict[str, Any]) -> None:
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO chat_run_events (run_id, seq, event, data, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (run_id, seq, event, _json(data), utcnow()),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"run {run_id} already has event {seq}") from exc

    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        return self._all(
            "SELECT seq, event, data, created_at FROM chat_run_events WHERE run_id = ? "
            "AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )

    # --- durable chat deletion ----------------------------------------------------------------
    def enqueue_deletion(self, chat_id: str) -> Row:
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO chat_deletion_jobs (id, chat_id, status, created_at, updated_at) "
                "VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (chat_id) DO NOTHING",
                (str(uuid.uuid4()), chat_id, now, now),
            )
        return self._one(
            "SELECT * FROM chat_deletion_jobs WHERE chat_id = ?", (chat_id,)
        )  # type: ignore[return-value]

    def pending_deletions(self, limit: int = 100) -> list[Row]:
        return self._all(
            "SELECT * FROM chat_deletion_jobs WHERE status = 'pending' ORDER BY created_at "
            "LIMIT ?",
            (limit,),
        )

    def update_deletion(self, job_id: str, **fields: Any) -> None:
        check_fields(fields, DELETION_FIELDS, "deletion fields")
        self._update("chat_deletion_jobs", job_id, {**fields, "updated_at": utcnow()})

    def chat_render_files(self, chat_id: str) -> list[Row]:
        return self._all(
            "SELECT * FROM storage_files WHERE source_type = 'chat_render' "
            "AND substr(storage_path, 1, ?) = ?",
            (len(f"chat_images/{chat_id}/"), f"chat_images/{chat_id}/"),
        )

    def delete_chat_part(self, chat_id: str, part: str) -> None:
        if part not in DELETION_STEPS:
            raise ValueError(f"unknown part {part!r}")
        prefix = f"chat_images/{chat_id}/"
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
                conn.execute(
                    "DELETE FROM storage_files WHERE source_type = 'chat_render' "
                    "AND substr(storage_path, 1, ?) = ?",
                    (len(prefix), prefix),
                )

    # --- users' own API keys ------------------------------------------------------------------
    def get_api_key(self, username: str) -> str | None:
        row = self._one("SELECT encrypted_key FROM user_api_keys WHERE user_id = ?", (username,))
        return row["encrypted_key"] if row else None

    def set_api_key(self, username: str, encrypted_key: str | None) -> None:
        now = utcnow()
        with self.db.write() as conn:
            if encrypted_key is None:
                conn.execute("DELETE FROM user_api_keys WHERE user_id = ?", (username,))
            else:
                conn.execute(
                    "INSERT INTO user_api_keys (user_id, encrypted_key, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                    "encrypted_key = excluded.encrypted_key, updated_at = excluded.updated_at",
                    (username, encrypted_key, now, now),
                )
