"""The answer to a chat's latest question, as Server-Sent Events."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, request, stream_with_context

from webapp.auth.guard import current_user
from webapp.chats.service import owned_chat
from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import StreamHeaders, StreamQuery
from webapp.runs import events as ev
from webapp.runs.stream import check_resume, open_stream

bp = APIBlueprint("stream", __name__, tag="Chats")

STREAM_DOC = """Runs (or re-attaches to) the answer to the chat's latest user message and streams
its events: `queue_position`, `processing_started`, `phase_started`, `phase_progress`,
`llm_thinking`, `llm_token`, `tool_call`, `image_ready`, `llm_final`, then `completed` or `error`.
Query: `document_ids` (repeated), `compare_document_ids_a` / `_b` (repeated), `tree_files` and
`google_files` (JSON lists), `client_id`, `rerun=1`. Send `Last-Event-ID` to resume. An admin may
follow or replay the answer in another user's chat, but not start one there (`not_chat_owner`).
Problems met once the stream has started (no question, bad attachments) end it with an `error`
event; the status is 200 then."""


EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": ev.NAMES},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "description": "`error`: {message, code}; `llm_final`: {content, ...}",
            },
        },
    },
}


@bp.get("/chats/<chat_id>/stream")
@protected
@bp.input(StreamQuery, location="query", arg_name="query")
@bp.input(StreamHeaders, location="headers", arg_name="headers")
@bp.doc(
    description=STREAM_DOC,
    responses={
        200: {
            "description": "The answer's events (text/event-stream), each as this schema says",
            "content": {"text/event-stream": {"schema": EVENT}},
        },
        **AUTH_RESPONSES,
        404: "Chat not found (or not yours)",
        409: "Last-Event-ID is past the last event of the answer",
    },
)
def stream(chat_id: str, query: dict, headers: dict):
    """Stream the answer to the latest question."""
    user = current_user()
    chat = owned_chat(user, chat_id)
    after = int(headers.get("last_event_id", 0))
    check_resume(chat, request.args, after)
    events = open_stream(user, chat, request.args, after, request.host_url)
    wire = (ev.PING if event is None else ev.format_event(*event) for event in events)
    response = Response(stream_with_context(wire), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Content-Type"] = "text/event-stream; charset=utf-8"
    return response
