"""The chat database on Supabase, through PostgREST with supabase-py (SPEC §3).

The schema is the reference server's plus `migrations/postgres/*.sql` (printed by
`flask db sql`): PostgREST cannot run DDL, so `init_schema` only checks that they were applied.
Each method is one or a few REST calls; multi-call writes are ordered so that a crash in between
leaves nothing pointing at a missing row.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from postgrest.exceptions import APIError

from webapp.stores.chatdb.base import (
    DELETION_FIELDS,
    DELETION_STEPS,
    FILE_FIELDS,
    RUN_ACTIVE,
    RUN_FIELDS,
    SETTINGS_FIELDS,
    USER_FIELDS,
    ChatStore,
    Conflict,
    Row,
    check_fields,
)
from webapp.stores.postgrest import (
    SchemaMissing,
    chunks,
    create_client,
    fetch_all,
    first,
    is_unique_violation,
    is_uuid,
    parse_timestamp,
    prefix_pattern,
    quote,
    rows,
    utcnow,
)

MIGRATIONS = Path(__file__).parent / "migrations" / "postgres"
FLOAT_SETTINGS = ("temperature", "top_p")
IMAGE_FILE_COLUMNS = ("storage_path", "external_url", "filename", "source_type")
# Rows deleted per round when a chat is purged (below Supabase's max-rows cap).
DELETE_BATCH = 500


def migration_files() -> list[Path]:
    """The PostgreSQL migrations, in the order they apply."""
    return sorted(MIGRATIONS.glob("*.sql"))


def _settings(row: Row | None) -> Row | None:
    """JSON has one number type: give the float settings back as floats (0.0, not 0)."""
    if row is not None:
        for key in FLOAT_SETTINGS:
            if row.get(key) is not None:
                row[key] = float(row[key])
    return row


class SupabaseChatStore(ChatStore):
    def __init__(self, url: str, key: str) -> None:
        self.client = create_client(url, key, "SUPABASE_URL")

    def _table(self, name: str) -> Any:
        return self.client.table(name)

    def _insert(self, table: str, row: Row) -> Row:
        try:
            return first(self._table(table).insert(row).execute())  # type: ignore[return-value]
        except APIError as exc:
            if is_unique_violation(exc):
                raise Conflict(exc.message or "duplicate key") from exc
            raise

    def _by_id(self, table: str, row_id: Any) -> Row | None:
        if not is_uuid(row_id):
            return None
        return first(self._table(table).select("*").eq("id", row_id).limit(1).execute())

    # --- schema -------------------------------------------------------------------------------
    def init_schema(self) -> list[str]:
        """Check the migrations are applied; DDL has to be run by the operator."""
        wanted = [path.stem for path in migration_files()]
        try:
            applied = {
                r["version"]
                for r in rows(self._table("schema_migrations").select("version").execute())
            }
        except APIError as exc:
            if str(exc.code) not in ("PGRST205", "42P01", "404"):
                raise
            applied = set()
        missing = [name for name in wanted if name not in applied]
        if missing:
            raise SchemaMissing(
                "The Supabase chat database lacks migrations "
                + ", ".join(missing)
                + ": run `flask db sql` and paste its output into the Supabase SQL editor "
                "(or pipe it to psql); every migration is safe to run again."
            )
        return []

    def ping(self) -> None:
        self._table("schema_migrations").select("version").limit(1).execute()

    # --- users --------------------------------------------------------------------------------
    def create_user(self, username: str, token_hash: str, role: str = "user") -> Row:
        try:
            return self._insert(
                "users",
                {
                    "id": str(uuid.uuid4()),
                    "username": username,
                    # The reference column is NOT NULL UNIQUE; the plain token is never stored.
                    "static_token": f"sha256:{token_hash}",
                    "token_hash": token_hash,
                    "status": "active",
                    "role": role,
                    "created_at": utcnow(),
                },
            )
        except Conflict as exc:
            raise Conflict(f"user {username!r} already exists") from exc

    def get_user(self, user_id: str) -> Row | None:
        return self._by_id("users", user_id)

    def get_user_by_username(self, username: str) -> Row | None:
        return first(self._table("users").select("*").eq("username", username).limit(1).execute())

    def get_user_by_token_hash(self, token_hash: str) -> Row | None:
        return first(
            self._table("users").select("*").eq("token_hash", token_hash).limit(1).execute()
        )

    def list_users(self) -> list[Row]:
        return fetch_all(lambda: self._table("users").select("*").order("created_at").order("id"))

    def update_user(self, user_id: str, **fields: Any) -> Row | None:
        check_fields(fields, USER_FIELDS, "user fields")
        if not fields or not is_uuid(user_id):
            return self.get_user(user_id)
        try:
            return first(self._table("users").update(fields).eq("id", user_id).execute())
        except APIError as exc:
            if is_unique_violation(exc):
                raise Conflict(exc.message or "duplicate key") from exc
            raise

    # --- revoked access tokens ------------------------------------------------------------------
    def revoke_token(self, jti: str, expires_at: str) -> None:
        self._table("revoked_tokens").delete(returning="minimal").lt(
            "expires_at", utcnow()
        ).execute()
        self._table("revoked_tokens").upsert(
            {"jti": jti, "expires_at": expires_at},
            on_conflict="jti",
            ignore_duplicates=True,
            returning="minimal",
        ).execute()

    def is_token_revoked(self, jti: str) -> bool:
        found = self._table("revoked_tokens").select("jti").eq("jti", jti).limit(1).execute()
        return bool(found.data)

    # --- settings -----------------------------------------------------------------------------
    def get_settings(self, username: str) -> Row | None:
        return _settings(
            first(self._table("settings").select("*").eq("user_id", username).limit(1).execute())
        )

    def save_settings(self, username: str, fields: dict[str, Any]) -> Row:
        check_fields(fields, SETTINGS_FIELDS, "settings")
        now = utcnow()
        self._table("settings").upsert(
            {
                "id": str(uuid.uuid4()),
                "user_id": username,
                "page_settings": {},
                "model_profile": "simple",
                "created_at": now,
                "updated_at": now,
            },
            on_conflict="user_id",
            ignore_duplicates=True,
            returning="minimal",
        ).execute()
        if fields:
            return _settings(  # type: ignore[return-value]
                first(
                    self._table("settings")
                    .update({**fields, "updated_at": now})
                    .eq("user_id", username)
                    .execute()
                )
            )
        return self.get_settings(username)  # type: ignore[return-value]

    # --- role prompts -------------------------------------------------------------------------
    def list_roles(self, active_only: bool = True) -> list[Row]:
        def build() -> Any:
            query = self._table("user_prompts").select("*")
            if active_only:
                query = query.eq("is_active", True)
            return query.order("id")

        return fetch_all(build)

    def get_role(self, role_id: int) -> Row | None:
        if not isinstance(role_id, int) or isinstance(role_id, bool):
            return None
        return first(self._table("user_prompts").select("*").eq("id", role_id).limit(1).execute())

    def add_role(self, name: str, content: str, description: str | None = None) -> Row:
        now = utcnow()
        return self._insert(
            "user_prompts",
            {
                "name": name,
                "content": content,
                "description": description,
                "created_at": now,
                "updated_at": now,
            },
        )

    def set_role_active(self, role_id: int, active: bool) -> Row | None:
        if not isinstance(role_id, int) or isinstance(role_id, bool):
            return None
        return first(
            self._table("user_prompts")
            .update({"is_active": bool(active), "updated_at": utcnow()})
            .eq("id", role_id)
            .execute()
        )

    # --- chats --------------------------------------------------------------------------------
    def create_chat(self, username: str, title: str, description: str | None) -> Row:
        now = utcnow()
        return self._insert(
            "chats",
            {
                "id": str(uuid.uuid4()),
                "title": title,
                "description": description,
                "user_id": username,
                "metadata": {},
                "created_at": now,
                "updated_at": now,
            },
        )

    def get_chat(self, chat_id: str) -> Row | None:
        if not is_uuid(chat_id):
            return None
        return first(
            self._table("chats")
            .select("*")
            .eq("id", chat_id)
            .is_("deleted_at", None)
            .limit(1)
            .execute()
        )

    def list_chats(self, username: str, limit: int) -> list[Row]:
        return rows(
            self._table("chats")
            .select("*")
            .eq("user_id", username)
            .not_.is_("is_archived", True)  # the reference column is nullable
            .is_("deleted_at", None)
            .order("updated_at", desc=True)
            .order("created_at", desc=True)
            .order("id", desc=True)
            .limit(limit)
            .execute()
        )

    def touch_chat(self, chat_id: str) -> None:
        if is_uuid(chat_id):
            self._table("chats").update({"updated_at": utcnow()}, returning="minimal").eq(
                "id", chat_id
            ).execute()

    def hide_chat(self, chat_id: str) -> None:
        if is_uuid(chat_id):
            self._table("chats").update(
                {"deleted_at": utcnow(), "is_archived": True}, returning="minimal"
            ).eq("id", chat_id).is_("deleted_at", None).execute()

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
        now = utcnow()
        message = self._insert(
            "chat_messages",
            {
                "id": str(uuid.uuid4()),
                "chat_id": chat_id,
                "role": role,
                "content": content,
                "message_type": message_type,
                "attachments": attachments,
                "metadata": metadata,
                "created_at": now,
            },
        )
        if file_ids:
            self._table("message_attachments").insert(
                [
                    {
                        "id": str(uuid.uuid4()),
                        "message_id": message["id"],
                        "file_id": file_id,
                        "created_at": now,
                    }
                    for file_id in file_ids
                ],
                returning="minimal",
            ).execute()
        self._table("chats").update({"updated_at": now}, returning="minimal").eq(
            "id", chat_id
        ).execute()
        return message

    def get_message(self, message_id: str) -> Row | None:
        return self._by_id("chat_messages", message_id)

    def list_messages(self, chat_id: str, limit: int, before: str | None = None) -> list[Row]:
        if not is_uuid(chat_id):
            return []
        query = self._table("chat_messages").select("*").eq("chat_id", chat_id)
        if before is not None:
            if not is_uuid(before):
                return []
            bound = first(
                self._table("chat_messages")
                .select("id,created_at")
                .eq("id", before)
                .eq("chat_id", chat_id)
                .limit(1)
                .execute()
            )
            if bound is None:
                return []
            at, key = quote(bound["created_at"]), quote(bound["id"])
            query = query.or_(f"created_at.lt.{at},and(created_at.eq.{at},id.lt.{key})")
        found = rows(
            query.order("created_at", desc=True).order("id", desc=True).limit(limit).execute()
        )
        return found[::-1]

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
        return self._insert(
            "chat_images",
            {
                "id": str(uuid.uuid4()),
                "chat_id": chat_id,
                "message_id": message_id,
                "file_id": file_id,
                "image_type": image_type,
                "description": description,
                "width": width,
                "height": height,
                "uploaded_at": utcnow(),
            },
        )

    def list_images(self, message_ids: list[str]) -> list[Row]:
        images: list[Row] = []
        for batch in chunks(m for m in dict.fromkeys(message_ids) if is_uuid(m)):
            images += fetch_all(
                lambda batch=batch: self._table("chat_images")
                .select("*")
                .in_("message_id", batch)
                .order("uploaded_at")
                .order("id")
            )
        files: dict[str, Row] = {}
        file_ids = dict.fromkeys(i["file_id"] for i in images if i.get("file_id"))
        for batch in chunks(file_ids):
            found = (
                self._table("storage_files")
                .select("id," + ",".join(IMAGE_FILE_COLUMNS))
                .in_("id", batch)
                .execute()
            )
            files.update({f["id"]: f for f in rows(found)})
        for image in images:
            file = files.get(image.get("file_id") or "", {})
            for column in IMAGE_FILE_COLUMNS:
                image[column] = file.get(column)
        images.sort(key=lambda i: (parse_timestamp(i["uploaded_at"]), i["id"]))
        return images

    def add_file(self, fields: dict[str, Any]) -> Row:
        row = {"id": str(uuid.uuid4()), "created_at": utcnow(), **fields}
        check_fields(row, FILE_FIELDS, "storage_files columns")
        return self._insert("storage_files", row)

    def get_file(self, file_id: str) -> Row | None:
        return self._by_id("storage_files", file_id)

    def get_file_by_url(self, external_url: str) -> Row | None:
        return first(
            self._table("storage_files")
            .select("*")
            .eq("external_url", external_url)
            .order("created_at", desc=True)
            .order("id", desc=True)
            .limit(1)
            .execute()
        )

    # --- runs ---------------------------------------------------------------------------------
    def create_run(self, chat_id: str, message_id: str, username: str, mode: str | None) -> Row:
        try:
            return self._insert(
                "chat_runs",
                {
                    "id": str(uuid.uuid4()),
                    "chat_id": chat_id,
                    "message_id": message_id,
                    "user_id": username,
                    "status": "queued",
                    "mode": mode,
                    "created_at": utcnow(),
                },
            )
        except Conflict as exc:
            raise Conflict(f"chat {chat_id} already has an active run") from exc

    def get_run(self, run_id: str) -> Row | None:
        return self._by_id("chat_runs", run_id)

    def latest_run(self, message_id: str) -> Row | None:
        if not is_uuid(message_id):
            return None
        return first(
            self._table("chat_runs")
            .select("*")
            .eq("message_id", message_id)
            .order("created_at", desc=True)
            .order("id", desc=True)
            .limit(1)
            .execute()
        )

    def active_run(self, chat_id: str) -> Row | None:
        if not is_uuid(chat_id):
            return None
        return first(
            self._table("chat_runs")
            .select("*")
            .eq("chat_id", chat_id)
            .in_("status", list(RUN_ACTIVE))
            .limit(1)
            .execute()
        )

    def update_run(self, run_id: str, **fields: Any) -> Row | None:
        check_fields(fields, RUN_FIELDS, "run fields")
        if not fields or not is_uuid(run_id):
            return self.get_run(run_id)
        try:
            return first(self._table("chat_runs").update(fields).eq("id", run_id).execute())
        except APIError as exc:
            if is_unique_violation(exc):
                raise Conflict(f"run {run_id}: the chat already has an active run") from exc
            raise

    def append_event(self, run_id: str, seq: int, event: str, data: dict[str, Any]) -> None:
        try:
            self._table("chat_run_events").insert(
                {
                    "run_id": run_id,
                    "seq": seq,
                    "event": event,
                    "data": data,
                    "created_at": utcnow(),
                },
                returning="minimal",
            ).execute()
        except APIError as exc:
            if is_unique_violation(exc):
                raise Conflict(f"run {run_id} already has event {seq}") from exc
            raise

    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        if not is_uuid(run_id):
            return []
        return fetch_all(
            lambda: self._table("chat_run_events")
            .select("seq,event,data,created_at")
            .eq("run_id", run_id)
            .gt("seq", after_seq)
            .order("seq")
        )

    # --- durable chat deletion ----------------------------------------------------------------
    def enqueue_deletion(self, chat_id: str) -> Row:
        now = utcnow()
        self._table("chat_deletion_jobs").upsert(
            {
                "id": str(uuid.uuid4()),
                "chat_id": chat_id,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            },
            on_conflict="chat_id",
            ignore_duplicates=True,
            returning="minimal",
        ).execute()
        return first(  # type: ignore[return-value]
            self._table("chat_deletion_jobs").select("*").eq("chat_id", chat_id).execute()
        )

    def pending_deletions(self, limit: int = 100) -> list[Row]:
        return rows(
            self._table("chat_deletion_jobs")
            .select("*")
            .eq("status", "pending")
            .order("created_at")
            .order("id")
            .limit(limit)
            .execute()
        )

    def update_deletion(self, job_id: str, **fields: Any) -> None:
        check_fields(fields, DELETION_FIELDS, "deletion fields")
        if is_uuid(job_id):
            self._table("chat_deletion_jobs").update(
                {**fields, "updated_at": utcnow()}, returning="minimal"
            ).eq("id", job_id).execute()

    def chat_render_files(self, chat_id: str) -> list[Row]:
        if not is_uuid(chat_id):
            return []
        return fetch_all(
            lambda: self._table("storage_files")
            .select("*")
            .eq("source_type", "chat_render")
            .like("storage_path", prefix_pattern(f"chat_images/{chat_id}/"))
            .order("created_at")
            .order("id")
        )

    def _ids(self, table: str, column: str, value: str) -> list[str]:
        found = self._table(table).select("id").eq(column, value).limit(DELETE_BATCH).execute()
        return [r["id"] for r in found.data or []]

    def _delete_in(self, table: str, column: str, values: list[str]) -> None:
        self._table(table).delete(returning="minimal").in_(column, values).execute()

    def _delete_eq(self, table: str, column: str, value: str) -> None:
        self._table(table).delete(returning="minimal").eq(column, value).execute()

    def delete_chat_part(self, chat_id: str, part: str) -> None:
        if part not in DELETION_STEPS:
            raise ValueError(f"unknown part {part!r}")
        if not is_uuid(chat_id):
            return
        if part == "images":
            self._delete_eq("chat_images", "chat_id", chat_id)
        elif part == "runs":
            # Children first, a batch at a time: a crash leaves no event without its run.
            while run_ids := self._ids("chat_runs", "chat_id", chat_id):
                self._delete_in("chat_run_events", "run_id", run_ids)
                self._delete_in("chat_runs", "id", run_ids)
        elif part == "messages":
            # search_results is a reference table that points at messages too.
            self._delete_eq("search_results", "chat_id", chat_id)
            while message_ids := self._ids("chat_messages", "chat_id", chat_id):
                self._delete_in("message_attachments", "message_id", message_ids)
                self._delete_in("chat_messages", "id", message_ids)
        elif part == "files":
            self._table("storage_files").delete(returning="minimal").eq(
                "source_type", "chat_render"
            ).like("storage_path", prefix_pattern(f"chat_images/{chat_id}/")).execute()
        elif part == "chat":
            self._delete_eq("chats", "id", chat_id)

    # --- users' own API keys ------------------------------------------------------------------
    def get_api_key(self, username: str) -> str | None:
        row = first(
            self._table("user_api_keys")
            .select("encrypted_key")
            .eq("user_id", username)
            .limit(1)
            .execute()
        )
        return row["encrypted_key"] if row else None

    def set_api_key(self, username: str, encrypted_key: str | None) -> None:
        if encrypted_key is None:
            self._delete_eq("user_api_keys", "user_id", username)
            return
        now = utcnow()
        # Upsert merges only the columns sent; created_at is set by the default on insert.
        self._table("user_api_keys").upsert(
            {"user_id": username, "encrypted_key": encrypted_key, "updated_at": now},
            on_conflict="user_id",
            returning="minimal",
        ).execute()
