"""Uploaded files: streamed into storage under `uploads/<username>/`, with a `storage_files` row."""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Iterable
from pathlib import PurePosixPath

from werkzeug.datastructures import FileStorage

from webapp.auth.guard import owns
from webapp.chats.attachments import GoogleFile
from webapp.errors import APIError
from webapp.links import object_url
from webapp.stores import chat_db, objects
from webapp.stores.chatdb.base import Row
from webapp.stores.objects.base import ObjectTooLarge

UPLOAD_FIELDS = ("id", "filename", "mime_type", "size_bytes", "storage_path", "created_at")


def _extension(filename: str) -> str:
    """The name's extension if it is a plain one (`.pdf`), else none: keys stay predictable."""
    suffix = PurePosixPath(filename).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


def _filename(upload: FileStorage) -> str:
    """The client's file name without any folders it may carry (422 if it holds NUL, which
    PostgreSQL cannot store)."""
    if "\x00" in (upload.filename or ""):
        raise APIError(
            422,
            "Invalid request: file: the file name must not contain NUL characters.",
            details={"file": ["the file name must not contain NUL characters"]},
        )
    return PurePosixPath((upload.filename or "").replace("\\", "/")).name.strip() or "file"


def _mime_type(upload: FileStorage, filename: str) -> str:
    declared = upload.mimetype or "application/octet-stream"
    if declared == "application/octet-stream":
        return mimetypes.guess_type(filename)[0] or declared
    return declared


def _owner_folder(user: Row) -> str:
    """The username when it is a safe path segment (it usually is), else the user id."""
    name = user["username"]
    return name if re.fullmatch(r"[\w.@-]{1,64}", name) and name not in (".", "..") else user["id"]


def save_upload(
    user: Row,
    upload: FileStorage,
    max_bytes: int,
    prefix: str = "uploads",
    source_type: str = "user_upload",
) -> Row:
    """Stream the upload into storage (413 past `max_bytes`, leaving nothing behind)."""
    filename = _filename(upload)
    mime_type = _mime_type(upload, filename)
    key = f"{prefix}/{_owner_folder(user)}/{uuid.uuid4()}{_extension(filename)}"
    try:
        info = objects().put(key, upload.stream, mime_type, max_bytes=max_bytes)
    except ObjectTooLarge:
        raise APIError(
            413, f"File is larger than {max_bytes // (1024 * 1024)} MB.", "file_too_large"
        ) from None
    try:
        row = chat_db().add_file(
            {
                "user_id": user["username"],
                "source_type": source_type,
                "storage_path": key,
                "filename": filename[:255],
                "mime_type": mime_type,
                "size_bytes": info.size,
            }
        )
    except BaseException:
        objects().delete(key)  # never leave an object without its row
        raise
    return row


def upload_out(row: Row) -> Row:
    return {key: row.get(key) for key in UPLOAD_FIELDS}


def file_info(user: Row, file_id: str) -> Row:
    row = chat_db().get_file(file_id)
    if not owns(user, row):
        raise APIError(404, "File not found.", "file_not_found")
    external = row.get("external_url") or (
        object_url(row["storage_path"]) if row.get("storage_path") else None
    )
    return {**upload_out(row), "source_type": row["source_type"], "external_url": external}


LLM_UPLOAD_LIMIT = 20 * 1024 * 1024
LOCAL_URI = "aizoomdoc://files/"


def upload_for_llm(user: Row, upload: FileStorage, engine) -> Row:
    """Hand the file to the model's file service (Gemini), or keep it local, and store it."""
    data = upload.stream.read(LLM_UPLOAD_LIMIT + 1)
    if len(data) > LLM_UPLOAD_LIMIT:
        raise APIError(413, "Files for the language model are limited to 20 MB.", "file_too_large")
    filename = _filename(upload)
    mime_type = _mime_type(upload, filename)
    remote = engine.upload_file(data, mime_type, filename)
    file_id = str(uuid.uuid4())
    uri = remote["uri"] or f"{LOCAL_URI}{file_id}"
    key = f"llm_uploads/{_owner_folder(user)}/{file_id}{_extension(filename)}"
    objects().put(key, data, mime_type)
    try:
        row = chat_db().add_file(
            {
                "id": file_id,
                "user_id": user["username"],
                "source_type": "llm_upload",
                "storage_path": key,
                "external_url": uri,
                "filename": filename[:255],
                "mime_type": mime_type,
                "size_bytes": len(data),
            }
        )
    except BaseException:
        objects().delete(key)
        raise
    return {
        **upload_out(row),
        "google_file_uri": uri,
        "google_file_name": remote["name"] or f"files/{file_id}",
        "state": remote["state"],
    }


def llm_file_parts(user: Row, google_files: Iterable[GoogleFile]) -> tuple[list, list[str]]:
    """The caller's own LLM uploads among `google_files` as model parts; others refused."""
    from webapp.llm.base import FilePart

    parts, refused = [], []
    for item in google_files:
        row = chat_db().get_file_by_url(item.uri)
        if row is None or not owns(user, row) or row["source_type"] != "llm_upload":
            refused.append(item.uri)
            continue
        parts.append(
            FilePart(
                item.uri,
                row.get("mime_type") or "application/octet-stream",
                row.get("filename") or "file",
            )
        )
    return parts, refused
