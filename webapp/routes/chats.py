"""Chats and their messages."""

from __future__ import annotations

from apiflask import APIBlueprint

from webapp.auth.guard import current_user
from webapp.chats import service
from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import (
    ChatHistoryOut,
    ChatIn,
    ChatOut,
    ChatPatch,
    ChatsQuery,
    DeleteOut,
    HistoryQuery,
    MessageIn,
    PostedMessageOut,
)

bp = APIBlueprint("chats", __name__, tag="Chats")
NOT_FOUND = {**AUTH_RESPONSES, 404: "Chat not found (or not yours)"}
NOT_WRITABLE = {
    **NOT_FOUND,
    403: "User blocked or inactive, or an admin posting into another user's chat",
    422: "Validation error, or an attachment that does not exist (or is not yours)",
}


@bp.post("/chats")
@protected
@bp.input(ChatIn, arg_name="body")
@bp.output(ChatOut, status_code=201)
@bp.doc(responses=AUTH_RESPONSES)
def create_chat(body: dict):
    """Create a chat (an empty title becomes «Новый чат»)."""
    return service.create_chat(current_user(), body.get("title"), body.get("description"))


@bp.get("/chats")
@protected
@bp.input(ChatsQuery, location="query", arg_name="query")
@bp.output(ChatOut(many=True))
@bp.doc(responses=AUTH_RESPONSES)
def list_chats(query: dict):
    """The caller's chats, most recently active first."""
    return service.list_chats(current_user(), query["limit"])


@bp.get("/chats/<chat_id>")
@protected
@bp.input(HistoryQuery, location="query", arg_name="query")
@bp.output(ChatHistoryOut)
@bp.doc(responses=NOT_FOUND)
def get_chat(chat_id: str, query: dict):
    """The chat (its fields, and again as `chat`) with its newest messages in order."""
    return service.history(current_user(), chat_id, query["limit"], query.get("before"))


@bp.patch("/chats/<chat_id>")
@protected
@bp.input(ChatPatch, arg_name="body")
@bp.output(ChatOut)
@bp.doc(
    responses={
        **NOT_FOUND,
        403: "User blocked or inactive, or an admin renaming another user's chat",
    }
)
def rename_chat(chat_id: str, body: dict):
    """Rename a chat or change its description (its owner only); `{}` changes nothing."""
    return service.rename_chat(current_user(), chat_id, body)


@bp.delete("/chats/<chat_id>")
@protected
@bp.output(DeleteOut, status_code=202)
@bp.doc(responses=NOT_FOUND)
def delete_chat(chat_id: str):
    """Delete a chat (its owner, or an admin): hidden at once, its data removed for good in the
    background."""
    return service.delete_chat(current_user(), chat_id)


@bp.post("/chats/<chat_id>/messages")
@protected
@bp.input(MessageIn, arg_name="body")
@bp.output(PostedMessageOut, status_code=201)
@bp.doc(responses=NOT_WRITABLE)
def post_message(chat_id: str, body: dict):
    """Add the user's question (with its attachments) to the chat (its owner only)."""
    return service.post_message(current_user(), chat_id, body)
