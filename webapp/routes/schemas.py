"""Request and response schemas: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, File, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range
from marshmallow import EXCLUDE

MAX_MESSAGE_CHARS = 20_000


class Input(Schema):
    """Request bodies ignore unknown keys."""

    class Meta:
        unknown = EXCLUDE


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
    static_token = String(required=True, validate=Length(1, 512))


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
    selected_role_prompt_id = Integer(allow_none=True, strict=False)
    temperature = Float(validate=Range(0, 2))
    top_p = Float(validate=Range(0, 1))
    thinking_enabled = Boolean()
    thinking_budget = Integer(validate=Range(0, 24576))
    media_resolution = String(validate=OneOf(["low", "medium", "high"]))


class SettingsPatch(SettingsFields):
    """Any subset of the settings; `null` for the role clears it."""


class SettingsOut(SettingsFields):
    """All seven settings as they apply now."""


class MeOut(Schema):
    user = Nested(UserOut)
    settings = Nested(SettingsOut)
    gemini_api_key_configured = Boolean()


class GeminiKeyIn(Input):
    api_key = String(required=True, validate=Length(10, 200))


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
    title = String(allow_none=True, validate=Length(max=500))
    description = String(allow_none=True, validate=Length(max=5000))


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
    before = String(validate=Length(max=64))


class ImageOut(Schema):
    id = String()
    file_id = String(allow_none=True)
    image_type = String(allow_none=True)
    description = String(allow_none=True)
    width = Integer(allow_none=True)
    height = Integer(allow_none=True)
    url = String(allow_none=True)


class ChatMessageOut(Schema):
    id = String()
    chat_id = String()
    role = String()
    content = String()
    message_type = String()
    created_at = String()
    images = List(Nested(ImageOut))


class PostedMessageOut(ChatMessageOut):
    """The message just stored."""


class ChatHistoryOut(ChatOut):
    chat = Nested(ChatOut)
    messages = List(Nested(ChatMessageOut))


class DeleteOut(Schema):
    message = String()
    chat_id = String()


class TreeFileIn(Input):
    r2_key = String(required=True, validate=Length(1, 1024))
    file_type = String(load_default=None, allow_none=True)


class GoogleFileIn(Input):
    uri = String(required=True, validate=Length(1, 2048))
    mime_type = String(load_default=None, allow_none=True)
    storage_path = String(load_default=None, allow_none=True)


class MessageIn(Input):
    content = String(required=True, validate=Length(max=MAX_MESSAGE_CHARS))
    attached_file_ids = List(String(validate=Length(1, 64)), load_default=list)
    attached_document_ids = List(String(validate=Length(1, 64)), load_default=list)
    google_files = List(Raw(), load_default=list)
    google_file_uris = List(String(), load_default=list)
    tree_files = List(Nested(TreeFileIn), load_default=list)


# --- files ------------------------------------------------------------------------------------
class UploadIn(Schema):
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
    client_id = String(load_default=None)
    parent_id = String(load_default=None)
    node_type = String(load_default=None)
    all_nodes = Boolean(load_default=False)
    include_files = Boolean(load_default=False)


class SearchQuery(Input):
    q = String(load_default=None, validate=Length(1, 200))
    query = String(load_default=None, validate=Length(1, 200))
    client_id = String(load_default=None)
    limit = Integer(load_default=20, validate=Range(1, 100))


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
