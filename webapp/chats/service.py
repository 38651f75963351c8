"""Chats and messages for one user, with ownership enforced on every read and write."""

from __future__ import annotations

from webapp.auth.guard import owns
from webapp.chats import attachments
from webapp.chats.attachments import Attachments
from webapp.chats.images import message_images
from webapp.errors import APIError
from webapp.stores import chat_db, projects_db
from webapp.stores.chatdb.base import Row

DEFAULT_TITLE = "Новый чат"
NOT_OWNER = "not_chat_owner"
NOT_OWNER_MESSAGE = "Only the chat's owner can ask questions in it."
CHAT_FIELDS = ("id", "title", "description", "user_id", "created_at", "updated_at")
MESSAGE_FIELDS = ("id", "chat_id", "role", "content", "message_type", "created_at")


def chat_out(chat: Row) -> Row:
    return {key: chat.get(key) for key in CHAT_FIELDS}


def owned_chat(user: Row, chat_id: str) -> Row:
    """The chat if the caller may see it (its owner, or an admin); 404 otherwise (never reveal
    other users' chats)."""
    chat = chat_db().get_chat(chat_id)
    if not owns(user, chat):
        raise APIError(404, "Chat not found.", "chat_not_found")
    return chat  # type: ignore[return-value]


def is_chat_owner(user: Row, chat: Row) -> bool:
    return chat.get("user_id") == user["username"]


def writable_chat(user: Row, chat_id: str) -> Row:
    """The chat if the caller may add to it: its owner only. An admin may read and delete other
    users' chats, but a question posted there would read as the owner's, so that is 403."""
    chat = owned_chat(user, chat_id)
    if not is_chat_owner(user, chat):
        raise APIError(403, NOT_OWNER_MESSAGE, NOT_OWNER)
    return chat


def create_chat(user: Row, title: str | None, description: str | None) -> Row:
    title = (title or "").strip() or DEFAULT_TITLE
    return chat_out(chat_db().create_chat(user["username"], title, description))


def rename_chat(user: Row, chat_id: str, changes: Row) -> Row:
    """Change the title and/or description (its owner only, like any write into a chat); a blank
    title becomes «Новый чат», as when the chat was made."""
    writable_chat(user, chat_id)
    fields = {k: changes[k] for k in ("title", "description") if k in changes}
    if "title" in fields:
        fields["title"] = (fields["title"] or "").strip() or DEFAULT_TITLE
    chat_db().rename_chat(chat_id, fields)
    return chat_out(owned_chat(user, chat_id))


def list_chats(user: Row, limit: int) -> list[Row]:
    return [chat_out(c) for c in chat_db().list_chats(user["username"], limit)]


def messages_out(messages: list[Row]) -> list[Row]:
    """Messages in the client's shape, each with its images (one query for all of them) and,
    for answers, their checked citations."""
    images = message_images([m["id"] for m in messages])
    out = []
    question_images: list[Row] = []
    for m in messages:
        own = images.get(m["id"], [])
        if m.get("role") == "user":
            question_images = own
        out.append(
            {
                **{k: m.get(k) for k in MESSAGE_FIELDS},
                "message_type": m.get("message_type") or "text",
                "images": own,
                "citations": _citations(m, question_images),
            }
        )
    return out


def _citations(message: Row, question_images: list[Row]) -> list[Row]:
    """An answer's citations as its run checked them. Their image links are made anew from the
    images rendered for the question (a run stores its renders with the question it answers),
    since the links stored with the answer expire; a citation whose question is not on this page
    of the history keeps the stored ones."""
    metadata = message.get("metadata") or {}
    stored = metadata.get("citations") if isinstance(metadata, dict) else None
    if message.get("role") != "assistant" or not isinstance(stored, list):
        return []
    fresh: dict[str, list[str]] = {}
    for image in question_images:
        if image.get("description") and image.get("url"):
            fresh.setdefault(image["description"], []).append(image["url"])
    citations = []
    for citation in stored:
        if isinstance(citation, dict) and citation.get("block_id"):
            urls = fresh.get(citation["block_id"]) if question_images else None
            citations.append({**citation, "images": urls or citation.get("images") or []})
    return citations


def history(user: Row, chat_id: str, limit: int, before: str | None) -> Row:
    """The chat's fields at top level, plus `chat` and `messages` (both client shapes)."""
    chat = chat_out(owned_chat(user, chat_id))
    if before is not None:
        anchor = chat_db().get_message(before)
        if anchor is None or anchor["chat_id"] != chat_id:
            raise APIError(
                404, "Message given in 'before' not found in this chat.", "message_not_found"
            )
    messages = chat_db().list_messages(chat_id, limit, before)
    return {**chat, "chat": chat, "messages": messages_out(messages)}


def _check_attachments(user: Row, payload: dict) -> Attachments:
    """The message's attachments, each checked (the caller's files, existing documents, keys
    inside a document folder); every problem is listed in one 422."""
    errors: dict[str, list[str]] = {}
    file_ids = attachments.ids(payload.get("attached_file_ids") or [])
    for file_id in file_ids:
        if not owns(user, chat_db().get_file(file_id)):
            errors.setdefault("attached_file_ids", []).append(f"unknown file {file_id}")
    document_ids = attachments.ids(payload.get("attached_document_ids") or [])
    for document_id in document_ids:
        node = projects_db().get_node(document_id)
        if node is None or node.get("node_type") != "document":
            errors.setdefault("attached_document_ids", []).append(f"unknown document {document_id}")
    parsed: dict[str, tuple] = {}
    for name, parse, items in (
        ("tree_files", attachments.tree_files, payload.get("tree_files") or []),
        (
            "google_files",
            attachments.google_files,
            list(payload.get("google_files") or []) + list(payload.get("google_file_uris") or []),
        ),
    ):
        try:
            parsed[name] = parse(items, name)
        except attachments.AttachmentError as exc:
            errors.setdefault(name, []).append(str(exc))
    if errors:
        message = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
        raise APIError(422, f"Invalid attachments: {message}", details=errors)
    return Attachments(
        document_ids=document_ids,
        tree_files=parsed["tree_files"],
        google_files=parsed["google_files"],
        file_ids=file_ids,
    )


def post_message(user: Row, chat_id: str, payload: dict) -> Row:
    writable_chat(user, chat_id)
    content = payload["content"]
    if not content.strip():
        raise APIError(
            422, "Message content must not be blank.", details={"content": ["must not be blank"]}
        )
    checked = _check_attachments(user, payload)
    message = chat_db().add_message(
        chat_id,
        "user",
        content,
        "text",
        attachments=checked.stored(),
        file_ids=list(checked.file_ids),
    )
    return messages_out([message])[0]


def delete_chat(user: Row, chat_id: str) -> Row:
    """Hide the chat at once; its data is removed for good by the purge. Its owner
    or an admin (moderation) may delete it."""
    owned_chat(user, chat_id)
    chat_db().hide_chat(chat_id)
    chat_db().enqueue_deletion(chat_id)
    return {"message": "Deletion scheduled", "chat_id": chat_id}
