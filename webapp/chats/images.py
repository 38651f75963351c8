"""Images attached to messages, with URLs a client can fetch without auth headers."""

from __future__ import annotations

from webapp.links import object_url
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row


def image_url(row: Row) -> str | None:
    if row.get("external_url"):
        return row["external_url"]
    if row.get("storage_path"):
        return object_url(row["storage_path"])
    return None


def message_images(message_ids: list[str]) -> dict[str, list[Row]]:
    by_message: dict[str, list[Row]] = {}
    for row in chat_db().list_images(message_ids):
        by_message.setdefault(row["message_id"], []).append(
            {
                "id": row["id"],
                "file_id": row.get("file_id"),
                "image_type": row.get("image_type"),
                "description": row.get("description"),
                "width": row.get("width"),
                "height": row.get("height"),
                "url": image_url(row),
            }
        )
    return by_message
