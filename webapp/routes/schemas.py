"""Request and response schemas: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Dict, File, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import EXCLUDE, ValidationError, pre_load

from webapp.documents.sources import is_tree_key
from webapp.routes.fields import (
    NO_NUL,
    NON_BLANK,
    JSONBoolean,
    JSONInteger,
    JSONNumber,
    LooseId,
    text,
)
from webapp.stores.projectsdb.base import NODE_TYPES

MAX_MESSAGE_CHARS = 20_000
# is_tree_key (documents/sources.py) as a pattern: tree_docs/<document id>/…, no NUL, no "..".
TREE_KEY = r"^tree_docs/[0-9a-fA-F-]{36}/(?:(?:[^.\x00]|\.[^.\x00])+\.?|\.)$"


class Input(Schema):
    """Request bodies ignore unknown keys."""

    class Meta:
        unknown = EXCLUDE


class HTTPError(Schema):
    """The one error body (webapp/errors.py), whatever the status."""

    error = String(required=True, metadata={"description": "A stable code, e.g. chat_not_found"})
    message = String(required=True, metadata={"description": "What went wrong, for people"})
    details = Dict(
        required=True,
        allow_none=True,
        metadata={"description": "Per-field problems (validation), else null"},
    )
    detail = String(
        required=True, metadata={"description": "The same text as `message` (FastAPI clients)"}
    )


# --- health -----------------------------------------------------------------------------------
class Health(Schema):
    status = String()
    version = String()
    service = String()


class Root(Schema):
    service = String()
    version = String()
    docs = String()
    health = String()


class Ready(Schema):
    status = String(metadata={"description": "ready or degraded"})
    down = List(String())
    queue = Dict(metadata={"description": "this worker's run slots: active, waiting, ..."})
    checks = Dict(keys=String(), values=Dict())


# --- auth -------------------------------------------------------------------------------------
class ExchangeIn(Input):
    static_token = text(required=True, min_length=1, max_length=512)


class UserOut(Schema):
    id = String()
    username = String()
    status = String()
    created_at = String()


class ExchangeOut(Schema):
    access_token = String()
    token_type = String()
    expires_in = Integer()
    user = Nested(UserOut)


class MessageOut(Schema):
    message = String()


# --- me ---------------------------------------------------------------------------------------
class SettingsFields(Input):
    model_profile = String(validate=OneOf(["simple", "complex"]))
    selected_role_prompt_id = LooseId(allow_none=True)
    temperature = JSONNumber(validate=Range(0, 2))
    top_p = JSONNumber(validate=Range(0, 1))
    thinking_enabled = JSONBoolean()
    thinking_budget = JSONInteger(validate=Range(0, 24576))
    media_resolution = String(validate=OneOf(["low", "medium", "high"]))


class SettingsPatch(SettingsFields):
    """Any subset of the settings; `null` for the role clears it."""


class SettingsOut(SettingsFields):
    """All seven settings as they apply now."""

    selected_role_prompt_id = Integer(allow_none=True)


class MeOut(Schema):
    user = Nested(UserOut)
    settings = Nested(SettingsOut)
    gemini_api_key_configured = Boolean()


class GeminiKeyIn(Input):
    api_key = text(required=True, min_length=10, max_length=200, blank=False)


class RoleOut(Schema):
    id = Integer()
    name = String()
    content = String()
    description = String(allow_none=True)
    is_active = Boolean()
    version = Integer()
    created_at = String()
    updated_at = String()


# --- chats ------------------------------------------------------------------------------------
class ChatIn(Input):
    title = text(allow_none=True, max_length=500)
    description = text(allow_none=True, max_length=5000)


class ChatPatch(Input):
    """Any of the two; a blank or null title becomes «Новый чат» (as on creation)."""

    title = text(allow_none=True, max_length=500)
    description = text(allow_none=True, max_length=5000)


class ChatOut(Schema):
    id = String()
    title = String()
    description = String(allow_none=True)
    user_id = String()
    created_at = String()
    updated_at = String()


class ChatsQuery(Input):
    limit = Integer(load_default=50, validate=Range(1, 200))


class HistoryQuery(Input):
    limit = Integer(load_default=100, validate=Range(1, 500))
    before = text(max_length=64)


class ImageOut(Schema):
    id = String()
    file_id = String(allow_none=True)
    image_type = String(allow_none=True)
    description = String(allow_none=True)
    width = Integer(allow_none=True)
    height = Integer(allow_none=True)
    url = String(allow_none=True)


class CitationOut(Schema):
    """A block an answer cites, as the run checked it."""

    block_id = String()
    kind = String(metadata={"description": "text_block, image_block or roi"})
    document = String(allow_none=True)
    document_id = String(allow_none=True)
    page_number = Integer(allow_none=True)
    sheet = String(allow_none=True)
    verified = Boolean(allow_none=True)
    quote = String(allow_none=True)
    images = List(String(), metadata={"description": "Links to the images rendered of it"})


class ChatMessageOut(Schema):
    id = String()
    chat_id = String()
    role = String()
    content = String()
    message_type = String()
    created_at = String()
    images = List(Nested(ImageOut))
    citations = List(
        Nested(CitationOut),
        metadata={"description": "An answer's checked citations (empty for questions)"},
    )


class PostedMessageOut(ChatMessageOut):
    """The message just stored."""


class ChatHistoryOut(ChatOut):
    chat = Nested(ChatOut)
    messages = List(Nested(ChatMessageOut))


class DeleteOut(Schema):
    message = String()
    chat_id = String()


def tree_key(value: str) -> None:
    if not is_tree_key(value):
        raise ValidationError("must be a key under tree_docs/<document id>/")


class TreeFileIn(Input):
    r2_key = String(
        required=True, validate=[Length(1, 1024), tree_key], metadata={"pattern": TREE_KEY}
    )
    file_type = text(load_default=None, allow_none=True)


class GoogleFileIn(Input):
    uri = text(required=True, min_length=1, max_length=2048, blank=False)
    mime_type = text(load_default=None, allow_none=True)
    storage_path = text(load_default=None, allow_none=True)


class GoogleFileItem(Raw):
    """A google_files item: a URI string, or `{uri, mime_type?, storage_path?}`."""

    def __init__(self, **kwargs: Any) -> None:
        one_of = [
            {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": NON_BLANK},
            {
                "type": "object",
                "required": ["uri"],
                "properties": {
                    "uri": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 2048,
                        "pattern": NON_BLANK,
                    },
                    "mime_type": {"type": ["string", "null"], "pattern": NO_NUL},
                    "storage_path": {"type": ["string", "null"], "pattern": NO_NUL},
                },
            },
        ]
        super().__init__(metadata={"oneOf": one_of}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return GoogleFileIn().fields["uri"].deserialize(value)
        if isinstance(value, dict):
            return GoogleFileIn().load(value)
        raise ValidationError("must be a URI string or an object with uri")


class MessageIn(Input):
    content = text(required=True, min_length=1, max_length=MAX_MESSAGE_CHARS, blank=False)
    attached_file_ids = List(text(min_length=1, max_length=64), load_default=list)
    attached_document_ids = List(text(min_length=1, max_length=64), load_default=list)
    google_files = List(GoogleFileItem(), load_default=list)
    google_file_uris = List(text(min_length=1, max_length=2048, blank=False), load_default=list)
    tree_files = List(Nested(TreeFileIn), load_default=list)


# --- files ------------------------------------------------------------------------------------
class UploadIn(Input):
    file = File(required=True)


class FileOut(Schema):
    id = String()
    filename = String()
    mime_type = String()
    size_bytes = Integer()
    storage_path = String()
    created_at = String()


class LLMFileOut(FileOut):
    google_file_uri = String()
    google_file_name = String()
    state = String()


class FileInfoOut(FileOut):
    source_type = String()
    external_url = String(allow_none=True)


# --- projects ---------------------------------------------------------------------------------
class TreeQuery(Input):
    client_id = text()
    parent_id = text()
    node_type = String(validate=OneOf(NODE_TYPES, error="unknown node type"))
    all_nodes = Boolean(load_default=False)
    include_files = Boolean(load_default=False)


class SearchQuery(Input):
    q = text(
        required=True,
        min_length=1,
        max_length=200,
        blank=False,
        metadata={"description": "The text to find (older clients may send it as `query`)"},
    )
    client_id = text()
    limit = Integer(load_default=20, validate=Range(1, 100))

    @pre_load
    def legacy_query(self, data: Any, **kwargs: Any) -> Any:
        """`query` is the reference server's name for `q`; it is read when `q` is absent."""
        if "q" in data or "query" not in data:
            return data
        return {**{key: data[key] for key in data}, "q": data["query"]}


class NodeFileOut(Schema):
    id = String()
    job_id = String(allow_none=True)
    file_type = String()
    r2_key = String()
    file_name = String()
    file_size = Integer(allow_none=True)
    created_at = String()


class TreeNodeOut(Schema):
    id = String()
    parent_id = String(allow_none=True)
    client_id = String(allow_none=True)
    node_type = String()
    name = String()
    code = String(allow_none=True)
    version = Integer(allow_none=True)
    status = String(allow_none=True)
    attributes = Dict()
    sort_order = Integer(allow_none=True)
    created_at = String()
    updated_at = String()
    files = List(Nested(NodeFileOut))


class DocumentFileOut(NodeFileOut):
    """A node file, also under the reference client's FileInfo names."""

    mime_type = String(allow_none=True)
    external_url = String(allow_none=True)
    filename = String()
    size_bytes = Integer(allow_none=True)
    storage_path = String()
    source_type = String()


class DocumentResultsOut(Schema):
    document_node_id = String()
    files = List(Nested(DocumentFileOut))


class BlockOut(Schema):
    document_id = String()
    document_name = String()
    block_id = String()
    kind = String(metadata={"description": "text, image or table"})
    page_number = Integer(allow_none=True)
    sheet = String(allow_none=True)
    sheet_name = String(allow_none=True)
    heading = String(metadata={"description": "One line saying what the block is about"})
    text = String(metadata={"description": "The block's markdown as in document.md"})
    links = List(String(), metadata={"description": "Blocks this one refers to"})


# --- stream -----------------------------------------------------------------------------------
class StreamQuery(Input):
    """What the stream's query may add to the question's attachments. Bad values do not fail the
    request: the stream then ends with an `error` event (code `bad_request`)."""

    document_ids = List(text(), metadata={"description": "Documents to answer from"})
    compare_document_ids_a = List(text(), metadata={"description": "Compare mode: side A"})
    compare_document_ids_b = List(text(), metadata={"description": "Compare mode: side B"})
    tree_files = text(metadata={"description": "A JSON list of {r2_key, file_type?}"})
    google_files = text(metadata={"description": "A JSON list of URIs or {uri, mime_type?}"})
    client_id = text()
    rerun = text(metadata={"description": "1, true or yes: answer the question again"})


class StreamHeaders(Input):
    last_event_id = String(
        data_key="Last-Event-ID",
        validate=Regexp(r"^[0-9]{1,15}$", error="must be an event id (a whole number)"),
        metadata={
            "description": "Resume after this event (the `id` of the last one received); 409 "
            "if it is past the answer's last event"
        },
    )
