"""File uploads and file info."""

from __future__ import annotations

import re

from apiflask import APIBlueprint
from flask import current_app, request
from werkzeug.routing import BaseConverter

from webapp.auth.guard import current_user
from webapp.chats import files
from webapp.errors import APIError
from webapp.llm.base import LLMError
from webapp.pipeline.engines import engine_for
from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import FileInfoOut, FileOut, LLMFileOut, UploadIn

bp = APIBlueprint("files", __name__, tag="Files")
RESERVED_NAMES = ("upload", "upload-for-llm")  # /files/<name> of the upload routes
# GET /files/{file_id} never takes an upload route's name (its Allow header would list GET).
FILE_ID_SCHEMA = {"type": "string", "not": {"enum": list(RESERVED_NAMES)}}


class FileIdConverter(BaseConverter):
    """A file id: one path segment, never the name of an upload route."""

    regex = "(?!(?:" + "|".join(re.escape(name) for name in RESERVED_NAMES) + ")$)[^/]+"


MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself


def _limit_body(max_bytes: int) -> None:
    """Make werkzeug stop reading the body past the limit (413), not after buffering it."""
    request.max_content_length = max_bytes + MULTIPART_SLACK


@bp.before_request
def limit_upload_size() -> None:
    if request.method == "POST" and request.endpoint == "files.upload":
        _limit_body(current_app.config["MAX_FILE_SIZE_MB"] * 1024 * 1024)
    elif request.method == "POST" and request.endpoint == "files.upload_for_llm":
        _limit_body(files.LLM_UPLOAD_LIMIT)


@bp.post("/files/upload")
@protected
@bp.input(UploadIn, location="files", arg_name="form")
@bp.output(FileOut, status_code=201)
@bp.doc(responses={**AUTH_RESPONSES, 413: "File larger than MAX_FILE_SIZE_MB"})
def upload(form: dict):
    """Upload a file (multipart field `file`), streamed into storage."""
    limit = current_app.config["MAX_FILE_SIZE_MB"] * 1024 * 1024
    return files.upload_out(files.save_upload(current_user(), form["file"], limit))


@bp.post("/files/upload-for-llm")
@protected
@bp.input(UploadIn, location="files", arg_name="form")
@bp.output(LLMFileOut, status_code=201)
@bp.doc(
    responses={
        **AUTH_RESPONSES,
        413: "File larger than 20 MB",
        502: "The model's file service refused the file",
    }
)
def upload_for_llm(form: dict):
    """Upload a file (≤ 20 MB) for the model: to the Gemini File API, or kept locally."""
    user = current_user()
    try:
        return files.upload_for_llm(user, form["file"], engine_for(user))
    except LLMError as exc:
        raise APIError(
            502, f"The model's file service refused the file: {exc}", "llm_upload_failed"
        ) from None


@bp.get("/files/<file_id:file_id>")
@protected
@bp.output(FileInfoOut)
@bp.doc(
    responses={
        **AUTH_RESPONSES,
        404: "File not found (or not yours)",
        405: "The id is the name of an upload route (POST only)",
    }
)
def file_info(file_id: str):
    """A file's metadata with a URL that fetches it."""
    return files.file_info(current_user(), file_id)
