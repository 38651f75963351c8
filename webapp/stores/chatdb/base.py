"""The chat database interface: users, settings, roles, chats, messages, images and files.

Rows are plain dicts with the reference schema's column names; ids are UUID strings (role ids are
integers) and timestamps ISO-8601 UTC strings. Owner keys are usernames, as in the reference.
Every implementation passes `tests/stores/test_chatdb_contract.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

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
RUN_ACTIVE = ("queued", "running")
RUN_FIELDS = ("status", "mode", "error", "worker", "started_at", "finished_at", "heartbeat_at")
DELETION_STEPS = ("objects", "images", "runs", "messages", "files", "chat")


def check_fields(fields, allowed: tuple[str, ...], what: str) -> None:
    """Refuse names outside `allowed`: store methods build column lists from these keys."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}")


class Conflict(Exception):
    """A unique value is taken (a username; a second active run for one chat)."""


class ChatStore(ABC):
    # --- schema -------------------------------------------------------------------------------
    @abstractmethod
    def init_schema(self) -> list[str]:
        """Create or upgrade the schema; return the migrations applied (idempotent)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    # --- users --------------------------------------------------------------------------------
    @abstractmethod
    def create_user(self, username: str, token_hash: str, role: str = "user") -> Row:
        """Insert a user; raise Conflict when the username exists."""

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

    @abstractmethod
    def add_role(self, name: str, content: str, description: str | None = None) -> Row: ...

    @abstractmethod
    def set_role_active(self, role_id: int, active: bool) -> Row | None: ...

    # --- chats --------------------------------------------------------------------------------
    @abstractmethod
    def create_chat(self, username: str, title: str, description: str | None) -> Row: ...

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
    def hide_chat(self, chat_id: str) -> None:
        """Hide a chat at once (it is then deleted for good by the purge)."""

    # --- messages -----------------------------------------------------------------------------
    @abstractmethod
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

    @abstractmethod
    def get_message(self, message_id: str) -> Row | None: ...

    @abstractmethod
    def list_messages(self, chat_id: str, limit: int, before: str | None = None) -> list[Row]:
        """The newest `limit` messages (older than message `before`), in chronological order."""

    # --- images and files ---------------------------------------------------------------------
    @abstractmethod
    def add_image(
        self,
        chat_id: str,
        message_id: str,
        file_id: str | None,
        image_type: str,
        description: str | None,
        width: int | None,
        height: int | None,
    ) -> Row: ...

    @abstractmethod
    def list_images(self, message_ids: list[str]) -> list[Row]:
        """Images of these messages, each with its file's `storage_path`, `external_url`,
        `filename`."""

    @abstractmethod
    def add_file(self, fields: dict[str, Any]) -> Row:
        """Insert a `storage_files` row (user_id, source_type, storage_path, filename, ...)."""

    @abstractmethod
    def get_file(self, file_id: str) -> Row | None: ...

    @abstractmethod
    def get_file_by_url(self, external_url: str) -> Row | None:
        """The `storage_files` row with this `external_url` (a model file URI), if any."""

    # --- runs (SPEC §5) -----------------------------------------------------------------------
    @abstractmethod
    def create_run(self, chat_id: str, message_id: str, username: str, mode: str | None) -> Row:
        """Insert a queued run; raise Conflict when the chat already has an active run."""

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

    @abstractmethod
    def append_event(self, run_id: str, seq: int, event: str, data: dict[str, Any]) -> None:
        """Persist one event; Conflict when the run already has an event `seq` (so two
        processes closing a dead run cannot both do it)."""

    @abstractmethod
    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        """Persisted events with `seq` > after_seq, in order; `data` as a dict."""

    # --- durable chat deletion (SPEC §10) -------------------------------------------------------
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
