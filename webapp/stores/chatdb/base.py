"""The chat database interface: users, settings, roles, chats, messages, images and files.

Rows are plain dicts with the reference schema's column names; ids are UUID strings (role ids are
integers) and timestamps ISO-8601 UTC strings. Owner keys are usernames, as in the reference.
Every implementation passes `tests/stores/test_chatdb_contract.py`.

What both backends must agree on lives here once: the field lists, the statuses, the rows a new
record starts as (with its defaults), and the methods that only insert such a row. Adding a column
takes a migration per backend plus its name in a field list (or its default in a new row).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from typing import Any

from webapp.stores.sqlite import utcnow

Row = dict[str, Any]

SETTINGS_FIELDS = (
    "model_profile",
    "selected_role_prompt_id",
    "temperature",
    "top_p",
    "thinking_enabled",
    "thinking_budget",
    "media_resolution",
)


USER_FIELDS = ("status", "role", "token_hash", "static_token", "last_seen_at")
FILE_FIELDS = (
    "id",
    "user_id",
    "source_type",
    "storage_path",
    "external_url",
    "filename",
    "mime_type",
    "size_bytes",
    "created_at",
)
DELETION_FIELDS = ("status", "step", "attempts", "error")
DELETION_PENDING = "pending"
RUN_QUEUED = "queued"
RUN_ACTIVE = (RUN_QUEUED, "running")
RUN_FIELDS = ("status", "mode", "error", "worker", "started_at", "finished_at", "heartbeat_at")
DELETION_STEPS = ("objects", "images", "runs", "messages", "files", "chat")
# The `storage_files` columns `list_images` adds to each image.
IMAGE_FILE_COLUMNS = ("storage_path", "external_url", "filename", "source_type")
# `storage_files.source_type` of the images the server renders into a chat's folder.
CHAT_RENDER = "chat_render"

# Columns a backend's driver does not give back as the Python type: SQLite stores booleans as
# 0/1 and JSON as text; PostgREST's JSON has one number type, so 0.0 comes back as 0.
BOOL_COLUMNS = ("is_active", "is_archived", "thinking_enabled")
JSON_COLUMNS = ("attachments", "metadata", "page_settings", "data")
FLOAT_COLUMNS = ("temperature", "top_p")


def check_fields(fields, allowed: tuple[str, ...], what: str) -> None:
    """Refuse names outside `allowed`: store methods build column lists from these keys."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}")


def render_prefix(chat_id: str) -> str:
    """The object-store folder of a chat's rendered images (purged with the chat)."""
    return f"chat_images/{chat_id}/"


# --- new rows -------------------------------------------------------------------------------
# Every backend inserts exactly these rows (and those built in ChatStore's own methods below),
# so ids, timestamps, statuses and JSON defaults are the same everywhere; columns left out take
# the schema's defaults.


def new_id() -> str:
    return str(uuid.uuid4())


def new_settings(username: str) -> Row:
    """The row a user's first saved setting goes into; the other settings stay NULL (unset)."""
    now = utcnow()
    return {
        "id": new_id(),
        "user_id": username,
        "page_settings": {},
        "model_profile": "simple",
        "created_at": now,
        "updated_at": now,
    }


def new_deletion(chat_id: str) -> Row:
    now = utcnow()
    return {
        "id": new_id(),
        "chat_id": chat_id,
        "status": DELETION_PENDING,
        "created_at": now,
        "updated_at": now,
    }


def new_api_key(username: str, encrypted_key: str) -> Row:
    now = utcnow()
    return {
        "user_id": username,
        "encrypted_key": encrypted_key,
        "created_at": now,
        "updated_at": now,
    }


def stamped(fields: dict[str, Any]) -> Row:
    """Changes to a row that keeps an `updated_at`."""
    return {**fields, "updated_at": utcnow()}


CHAT_RENAMABLE = ("title", "description")


def chat_renames(fields: dict[str, Any]) -> Row:
    """The fields a rename may change; any other name is a programming error."""
    unknown = set(fields) - set(CHAT_RENAMABLE)
    if unknown:
        raise ValueError(f"a chat rename cannot change {sorted(unknown)}")
    return dict(fields)


class Conflict(Exception):
    """A unique value is taken (a username; a second active run for one chat)."""


class ChatStore(ABC):
    """The methods that only insert a new row are written here once, on the backend's `_add`;
    the rest each backend writes in its own query language."""

    # --- what the methods written here need from a backend -------------------------------------
    @abstractmethod
    def _add(self, table: str, row: Row, conflict: str | None = None) -> Row:
        """Insert `row` and return it as stored; with `conflict`, a unique violation raises
        Conflict(conflict)."""

    @abstractmethod
    def _add_message(self, message: Row, attachments: list[Row]) -> Row:
        """Insert the message, then its `message_attachments` rows, and set the chat's
        `updated_at` to the message's `created_at`; return the stored message."""

    # --- schema -------------------------------------------------------------------------------
    @abstractmethod
    def init_schema(self) -> list[str]:
        """Create or upgrade the schema; return the migrations applied (idempotent)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    # --- users --------------------------------------------------------------------------------
    def create_user(self, username: str, token_hash: str, role: str = "user") -> Row:
        """Insert a user; raise Conflict when the username exists."""
        user = {
            "id": new_id(),
            "username": username,
            "status": "active",
            "role": role,
            "created_at": utcnow(),
            "token_hash": token_hash,
            # The reference column is NOT NULL UNIQUE; the plain token is never stored.
            "static_token": f"sha256:{token_hash}",
        }
        return self._add("users", user, f"user {username!r} already exists")

    @abstractmethod
    def get_user(self, user_id: str) -> Row | None: ...

    @abstractmethod
    def get_user_by_username(self, username: str) -> Row | None: ...

    @abstractmethod
    def get_user_by_token_hash(self, token_hash: str) -> Row | None: ...

    @abstractmethod
    def list_users(self) -> list[Row]: ...

    @abstractmethod
    def update_user(self, user_id: str, **fields: Any) -> Row | None:
        """Change `status`, `role`, `token_hash`, `static_token` or `last_seen_at`."""

    # --- revoked access tokens ------------------------------------------------------------------
    @abstractmethod
    def revoke_token(self, jti: str, expires_at: str) -> None: ...

    @abstractmethod
    def is_token_revoked(self, jti: str) -> bool: ...

    # --- settings -----------------------------------------------------------------------------
    @abstractmethod
    def get_settings(self, username: str) -> Row | None: ...

    @abstractmethod
    def save_settings(self, username: str, fields: dict[str, Any]) -> Row:
        """Upsert the given settings fields (any of SETTINGS_FIELDS) and return the row."""

    # --- role prompts -------------------------------------------------------------------------
    @abstractmethod
    def list_roles(self, active_only: bool = True) -> list[Row]: ...

    @abstractmethod
    def get_role(self, role_id: int) -> Row | None: ...

    def add_role(self, name: str, content: str, description: str | None = None) -> Row:
        """A new active role prompt; its integer id comes from the database."""
        now = utcnow()
        role = {
            "name": name,
            "content": content,
            "description": description,
            "created_at": now,
            "updated_at": now,
        }
        return self._add("user_prompts", role)

    @abstractmethod
    def set_role_active(self, role_id: int, active: bool) -> Row | None: ...

    # --- chats --------------------------------------------------------------------------------
    def create_chat(self, username: str, title: str, description: str | None) -> Row:
        now = utcnow()
        chat = {"id": new_id(), "user_id": username, "title": title, "description": description}
        return self._add("chats", {**chat, "metadata": {}, "created_at": now, "updated_at": now})

    @abstractmethod
    def get_chat(self, chat_id: str) -> Row | None:
        """The chat, or None when it does not exist or was deleted."""

    @abstractmethod
    def list_chats(self, username: str, limit: int) -> list[Row]:
        """The user's visible chats, most recently active first."""

    @abstractmethod
    def touch_chat(self, chat_id: str) -> None:
        """Mark the chat as active now (bumps `updated_at`)."""

    @abstractmethod
    def rename_chat(self, chat_id: str, fields: dict[str, Any]) -> None:
        """Change the chat's `title` and/or `description` (not its `updated_at`: renaming is not
        activity, so the chat keeps its place in the list)."""

    @abstractmethod
    def hide_chat(self, chat_id: str) -> None:
        """Hide a chat at once (it is then deleted for good by the purge)."""

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
        """Insert a message (and its file attachments) and bump the chat's `updated_at`."""
        now = utcnow()
        message = {
            "id": new_id(),
            "chat_id": chat_id,
            "role": role,
            "content": content,
            "message_type": message_type,
            "attachments": attachments,
            "metadata": metadata,
            "created_at": now,
        }
        links = [
            {"id": new_id(), "message_id": message["id"], "file_id": file_id, "created_at": now}
            for file_id in file_ids or ()
        ]
        return self._add_message(message, links)

    @abstractmethod
    def get_message(self, message_id: str) -> Row | None: ...

    @abstractmethod
    def list_messages(self, chat_id: str, limit: int, before: str | None = None) -> list[Row]:
        """The newest `limit` messages (older than message `before`), in chronological order."""

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
        image = {
            "id": new_id(),
            "chat_id": chat_id,
            "message_id": message_id,
            "file_id": file_id,
            "image_type": image_type,
            "description": description,
            "width": width,
            "height": height,
            "uploaded_at": utcnow(),
        }
        return self._add("chat_images", image)

    @abstractmethod
    def list_images(self, message_ids: list[str]) -> list[Row]:
        """Images of these messages, each with its file's `storage_path`, `external_url`,
        `filename`."""

    def add_file(self, fields: dict[str, Any]) -> Row:
        """Insert a `storage_files` row (user_id, source_type, storage_path, filename, ...)."""
        row = {"id": new_id(), "created_at": utcnow(), **fields}
        check_fields(row, FILE_FIELDS, "storage_files columns")
        return self._add("storage_files", row)

    @abstractmethod
    def get_file(self, file_id: str) -> Row | None: ...

    @abstractmethod
    def get_file_by_url(self, external_url: str) -> Row | None:
        """The `storage_files` row with this `external_url` (a model file URI), if any."""

    # --- runs -----------------------------------------------------------------------
    def create_run(self, chat_id: str, message_id: str, username: str, mode: str | None) -> Row:
        """Insert a queued run; raise Conflict when the chat already has an active run."""
        run = {
            "id": new_id(),
            "chat_id": chat_id,
            "message_id": message_id,
            "user_id": username,
            "status": RUN_QUEUED,
            "mode": mode,
            "created_at": utcnow(),
        }
        return self._add("chat_runs", run, f"chat {chat_id} already has an active run")

    @abstractmethod
    def get_run(self, run_id: str) -> Row | None: ...

    @abstractmethod
    def latest_run(self, message_id: str) -> Row | None:
        """The newest run answering this message."""

    @abstractmethod
    def active_run(self, chat_id: str) -> Row | None:
        """The chat's queued or running run, if any."""

    @abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> Row | None:
        """Change any of RUN_FIELDS."""

    def append_event(self, run_id: str, seq: int, event: str, data: dict[str, Any]) -> None:
        """Persist one event; Conflict when the run already has an event `seq` (so two
        processes closing a dead run cannot both do it)."""
        row = {"run_id": run_id, "seq": seq, "event": event, "data": data, "created_at": utcnow()}
        self._add("chat_run_events", row, f"run {run_id} already has event {seq}")

    @abstractmethod
    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        """Persisted events with `seq` > after_seq, in order; `data` as a dict."""

    # --- durable chat deletion -------------------------------------------------------
    @abstractmethod
    def enqueue_deletion(self, chat_id: str) -> Row:
        """A pending deletion job for the chat (the same job when one exists)."""

    @abstractmethod
    def pending_deletions(self, limit: int = 100) -> list[Row]: ...

    @abstractmethod
    def update_deletion(self, job_id: str, **fields: Any) -> None:
        """Change `status`, `step`, `attempts` or `error`."""

    @abstractmethod
    def chat_render_files(self, chat_id: str) -> list[Row]:
        """`storage_files` rows of the chat's rendered images (source_type chat_render)."""

    @abstractmethod
    def delete_chat_part(self, chat_id: str, part: str) -> None:
        """Delete one part of a chat's rows (`images`, `runs`, `messages`, `files`, `chat`);
        idempotent, and each part leaves no row pointing at a deleted one."""

    # --- users' own API keys --------------------------------------------------------------------
    @abstractmethod
    def get_api_key(self, username: str) -> str | None:
        """The user's encrypted key, if stored."""

    @abstractmethod
    def set_api_key(self, username: str, encrypted_key: str | None) -> None:
        """Store (or with None remove) the user's encrypted key."""


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def is_stale(run: Row, stale_after: float, now: datetime | None = None) -> bool:
    """An active run whose executor stopped beating (its process died)."""
    if run["status"] not in ("queued", "running"):
        return False
    beat = _parse_time(run.get("heartbeat_at")) or _parse_time(run.get("created_at"))
    age = (now or datetime.now(timezone.utc)) - beat if beat else timedelta(0)
    return age > timedelta(seconds=stale_after)
