"""The chat database on Supabase, through PostgREST with supabase-py.

The schema is the reference server's plus `migrations/postgres/*.sql` (printed by
`flask db sql`): PostgREST cannot run DDL, so `init_schema` only checks that they were applied.
Each method is one or a few REST calls; multi-call writes are ordered so that a crash in between
leaves nothing pointing at a missing row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from postgrest.exceptions import APIError

from webapp.stores.chatdb import base
from webapp.stores.chatdb.base import ChatStore, Conflict, Row, utcnow
from webapp.stores.postgrest import (
    SchemaMissing,
    chunks,
    create_client,
    fetch_all,
    first,
    is_serial,
    is_unique_violation,
    is_uuid,
    only_ids,
    parse_timestamp,
    prefix_pattern,
    quote,
    rows,
)

MIGRATIONS = Path(__file__).parent / "migrations" / "postgres"
# Rows deleted per round when a chat is purged (below Supabase's max-rows cap).
DELETE_BATCH = 500


def migration_files() -> list[Path]:
    """The PostgreSQL migrations, in the order they apply."""
    return sorted(MIGRATIONS.glob("*.sql"))


def _floats(row: Row | None) -> Row | None:
    """JSON has one number type: give the float columns back as floats (0.0, not 0)."""
    if row is not None:
        for key in base.FLOAT_COLUMNS:
            if row.get(key) is not None:
                row[key] = float(row[key])
    return row


def _one(query: Any) -> Row | None:
    return first(query.limit(1).execute())


def _newest_first(query: Any) -> Any:
    """Newest rows first; the id breaks ties of equal timestamps, so pages never overlap."""
    return query.order("created_at", desc=True).order("id", desc=True)


def _chat_renders(query: Any, chat_id: str) -> Any:
    """`query` on `storage_files` narrowed to the chat's rendered images."""
    return query.eq("source_type", base.CHAT_RENDER).like(
        "storage_path", prefix_pattern(base.render_prefix(chat_id))
    )


@contextmanager
def _conflict_on_duplicate(conflict: str | None = None) -> Iterator[None]:
    """A write whose unique violation is the interface's Conflict: `conflict` says what is
    taken (PostgreSQL's own message when None); other errors pass unchanged."""
    try:
        yield
    except APIError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict(conflict or exc.message or "duplicate key") from exc


class SupabaseChatStore(ChatStore):
    def __init__(self, url: str, key: str, timeout: float = 30.0) -> None:
        self.client = create_client(url, key, "SUPABASE_URL", timeout)

    def _table(self, name: str) -> Any:
        return self.client.table(name)

    def _select(self, table: str) -> Any:
        return self._table(table).select("*")

    def _add(self, table: str, row: Row, conflict: str | None = None) -> Row:
        """Insert a new row and return it as stored."""
        with _conflict_on_duplicate(conflict):
            return first(self._table(table).insert(row).execute())  # type: ignore[return-value]

    def _add_message(self, message: Row, attachments: list[Row]) -> Row:
        stored = self._add("chat_messages", message)
        if attachments:
            self._table("message_attachments").insert(attachments, returning="minimal").execute()
        self._update("chats", message["chat_id"], {"updated_at": message["created_at"]})
        return stored

    def _add_once(self, table: str, row: Row, key: str) -> None:
        """Insert the row unless one with the same `key` exists (that one is kept as it is)."""
        self._table(table).upsert(
            row, on_conflict=key, ignore_duplicates=True, returning="minimal"
        ).execute()

    def _find(self, table: str, **equal: Any) -> Row | None:
        """The first row whose columns equal these values."""
        query = self._select(table)
        for column, value in equal.items():
            query = query.eq(column, value)
        return _one(query)

    @only_ids("row_id")
    def _by_id(self, table: str, row_id: str) -> Row | None:
        return self._find(table, id=row_id)

    @only_ids("row_id")
    def _update(
        self, table: str, row_id: str, fields: Row, conflict: str | None = None
    ) -> Row | None:
        """Change one row and return it (as it is when `fields` is empty)."""
        if not fields:
            return self._by_id(table, row_id)
        with _conflict_on_duplicate(conflict):
            return first(self._table(table).update(fields).eq("id", row_id).execute())

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
    def get_user(self, user_id: str) -> Row | None:
        return self._by_id("users", user_id)

    def get_user_by_username(self, username: str) -> Row | None:
        return self._find("users", username=username)

    def get_user_by_token_hash(self, token_hash: str) -> Row | None:
        return self._find("users", token_hash=token_hash)

    def list_users(self) -> list[Row]:
        return fetch_all(lambda: self._select("users").order("created_at").order("id"))

    def update_user(self, user_id: str, **fields: Any) -> Row | None:
        base.check_fields(fields, base.USER_FIELDS, "user fields")
        return self._update("users", user_id, fields)

    # --- revoked access tokens ------------------------------------------------------------------
    def revoke_token(self, jti: str, expires_at: str) -> None:
        self._table("revoked_tokens").delete(returning="minimal").lt(
            "expires_at", utcnow()
        ).execute()
        self._add_once("revoked_tokens", {"jti": jti, "expires_at": expires_at}, "jti")

    def is_token_revoked(self, jti: str) -> bool:
        found = self._table("revoked_tokens").select("jti").eq("jti", jti).limit(1).execute()
        return bool(found.data)

    # --- settings -----------------------------------------------------------------------------
    def get_settings(self, username: str) -> Row | None:
        return _floats(self._find("settings", user_id=username))

    def save_settings(self, username: str, fields: dict[str, Any]) -> Row:
        base.check_fields(fields, base.SETTINGS_FIELDS, "settings")
        row = base.new_settings(username)
        self._add_once("settings", row, "user_id")
        if fields:
            changes = {**fields, "updated_at": row["updated_at"]}
            return _floats(  # type: ignore[return-value]
                first(self._table("settings").update(changes).eq("user_id", username).execute())
            )
        return self.get_settings(username)  # type: ignore[return-value]

    # --- role prompts -------------------------------------------------------------------------
    def list_roles(self, active_only: bool = True) -> list[Row]:
        def build() -> Any:
            query = self._select("user_prompts")
            if active_only:
                query = query.eq("is_active", True)
            return query.order("id")

        return fetch_all(build)

    @only_ids("role_id", valid=is_serial)
    def get_role(self, role_id: int) -> Row | None:
        return self._find("user_prompts", id=role_id)

    @only_ids("role_id", valid=is_serial)
    def set_role_active(self, role_id: int, active: bool) -> Row | None:
        changes = base.stamped({"is_active": bool(active)})
        return first(self._table("user_prompts").update(changes).eq("id", role_id).execute())

    # --- chats --------------------------------------------------------------------------------
    @only_ids("chat_id")
    def get_chat(self, chat_id: str) -> Row | None:
        return _one(self._select("chats").eq("id", chat_id).is_("deleted_at", None))

    def list_chats(self, username: str, limit: int) -> list[Row]:
        query = (
            self._select("chats")
            .eq("user_id", username)
            .not_.is_("is_archived", True)  # the reference column is nullable
            .is_("deleted_at", None)
            .order("updated_at", desc=True)
        )
        return rows(_newest_first(query).limit(limit).execute())

    def touch_chat(self, chat_id: str) -> None:
        self._update("chats", chat_id, base.stamped({}))

    @only_ids("chat_id")
    def rename_chat(self, chat_id: str, fields: dict[str, Any]) -> None:
        changes = base.chat_renames(fields)
        if changes:
            self._table("chats").update(changes, returning="minimal").eq("id", chat_id).execute()

    @only_ids("chat_id")
    def hide_chat(self, chat_id: str) -> None:
        self._table("chats").update(
            {"deleted_at": utcnow(), "is_archived": True}, returning="minimal"
        ).eq("id", chat_id).is_("deleted_at", None).execute()

    # --- messages -----------------------------------------------------------------------------
    def get_message(self, message_id: str) -> Row | None:
        return self._by_id("chat_messages", message_id)

    @only_ids("chat_id", "before", empty=list)
    def list_messages(self, chat_id: str, limit: int, before: str | None = None) -> list[Row]:
        query = self._select("chat_messages").eq("chat_id", chat_id)
        if before is not None:
            bound = self._find("chat_messages", id=before, chat_id=chat_id)
            if bound is None:
                return []
            at, key = quote(bound["created_at"]), quote(bound["id"])
            query = query.or_(f"created_at.lt.{at},and(created_at.eq.{at},id.lt.{key})")
        return rows(_newest_first(query).limit(limit).execute())[::-1]

    # --- images and files ---------------------------------------------------------------------
    def list_images(self, message_ids: list[str]) -> list[Row]:
        images: list[Row] = []
        for batch in chunks(m for m in dict.fromkeys(message_ids) if is_uuid(m)):
            images += fetch_all(
                lambda batch=batch: self._select("chat_images")
                .in_("message_id", batch)
                .order("uploaded_at")
                .order("id")
            )
        files: dict[str, Row] = {}
        file_ids = dict.fromkeys(i["file_id"] for i in images if i.get("file_id"))
        for batch in chunks(file_ids):
            found = (
                self._table("storage_files")
                .select("id," + ",".join(base.IMAGE_FILE_COLUMNS))
                .in_("id", batch)
                .execute()
            )
            files.update({f["id"]: f for f in rows(found)})
        for image in images:
            file = files.get(image.get("file_id") or "", {})
            for column in base.IMAGE_FILE_COLUMNS:
                image[column] = file.get(column)
        images.sort(key=lambda i: (parse_timestamp(i["uploaded_at"]), i["id"]))
        return images

    def get_file(self, file_id: str) -> Row | None:
        return self._by_id("storage_files", file_id)

    def get_file_by_url(self, external_url: str) -> Row | None:
        return _one(_newest_first(self._select("storage_files").eq("external_url", external_url)))

    # --- runs ---------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Row | None:
        return self._by_id("chat_runs", run_id)

    @only_ids("message_id")
    def latest_run(self, message_id: str) -> Row | None:
        return _one(_newest_first(self._select("chat_runs").eq("message_id", message_id)))

    @only_ids("chat_id")
    def active_run(self, chat_id: str) -> Row | None:
        query = self._select("chat_runs").eq("chat_id", chat_id)
        return _one(query.in_("status", list(base.RUN_ACTIVE)))

    def update_run(self, run_id: str, **fields: Any) -> Row | None:
        base.check_fields(fields, base.RUN_FIELDS, "run fields")
        conflict = f"run {run_id}: the chat already has an active run"
        return self._update("chat_runs", run_id, fields, conflict)

    @only_ids("run_id", empty=list)
    def list_events(self, run_id: str, after_seq: int = 0) -> list[Row]:
        return fetch_all(
            lambda: self._table("chat_run_events")
            .select("seq,event,data,created_at")
            .eq("run_id", run_id)
            .gt("seq", after_seq)
            .order("seq")
        )

    # --- durable chat deletion ----------------------------------------------------------------
    def enqueue_deletion(self, chat_id: str) -> Row:
        self._add_once("chat_deletion_jobs", base.new_deletion(chat_id), "chat_id")
        return self._find("chat_deletion_jobs", chat_id=chat_id)  # type: ignore[return-value]

    def pending_deletions(self, limit: int = 100) -> list[Row]:
        query = self._select("chat_deletion_jobs").eq("status", base.DELETION_PENDING)
        return rows(query.order("created_at").order("id").limit(limit).execute())

    def update_deletion(self, job_id: str, **fields: Any) -> None:
        base.check_fields(fields, base.DELETION_FIELDS, "deletion fields")
        self._update("chat_deletion_jobs", job_id, base.stamped(fields))

    @only_ids("chat_id", empty=list)
    def chat_render_files(self, chat_id: str) -> list[Row]:
        return fetch_all(
            lambda: _chat_renders(self._select("storage_files"), chat_id)
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
        if part not in base.DELETION_STEPS:
            raise ValueError(f"unknown part {part!r}")
        self._delete_part(chat_id, part)

    @only_ids("chat_id")
    def _delete_part(self, chat_id: str, part: str) -> None:
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
            deleting = self._table("storage_files").delete(returning="minimal")
            _chat_renders(deleting, chat_id).execute()
        elif part == "chat":
            self._delete_eq("chats", "id", chat_id)

    # --- users' own API keys ------------------------------------------------------------------
    def get_api_key(self, username: str) -> str | None:
        row = self._find("user_api_keys", user_id=username)
        return row["encrypted_key"] if row else None

    def set_api_key(self, username: str, encrypted_key: str | None) -> None:
        if encrypted_key is None:
            self._delete_eq("user_api_keys", "user_id", username)
            return
        row = base.new_api_key(username, encrypted_key)
        # An upsert rewrites every column it sends: created_at stays that of the first save.
        del row["created_at"]
        self._table("user_api_keys").upsert(
            row, on_conflict="user_id", returning="minimal"
        ).execute()
