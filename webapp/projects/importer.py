"""Importing a drawing set into the embedded projects DB and storage.

A set is a folder with `document.md`, `blocks.json`, `ocr.html` (any of them) and `crops/`.
It lands where the production pipeline puts documents: a document node under a client and a
project, its files under `tree_docs/<document id>/`, one `crop` file row per crop. It is then
added to the cross-document index, so questions without documents find it at once.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webapp.documents.catalog_sync import document_catalog
from webapp.documents.loader import load_document
from webapp.drawings.synthetic_crops import synthesize_crop
from webapp.stores import objects, projects_db

SOURCES = {"result_md": "document.md", "blocks_index": "blocks.json", "ocr_html": "ocr.html"}
STORED_NAMES = {"result_md": "document.md", "blocks_index": "blocks.json", "ocr_html": "ocr.html"}
MIME = {
    "result_md": "text/markdown",
    "blocks_index": "application/json",
    "ocr_html": "text/html",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


class ImportError_(Exception):
    """The folder is not a drawing set we can import."""


@dataclass
class ImportResult:
    document_id: str
    name: str
    blocks: int
    image_blocks: int
    crops: int
    synthesized: int


def _find(folder: Path, name: str) -> Path | None:
    exact = folder / name
    if exact.is_file():
        return exact
    matches = sorted(folder.glob(f"*{name}")) + sorted(folder.glob(f"*_{name}"))
    return matches[0] if matches else None


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_")[:80] or "document"


def import_set(
    folder: Path,
    *,
    name: str | None = None,
    client_id: str = "default",
    project: str = "Импорт",
    document_id: str | None = None,
    synthesize_crops: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    folder = Path(folder)
    sources = {t: _find(folder, n) for t, n in SOURCES.items()}
    sources = {t: p for t, p in sources.items() if p is not None}
    if "result_md" not in sources and "ocr_html" not in sources:
        raise ImportError_(f"{folder} has no document.md or ocr.html")
    texts = {t: p.read_text(encoding="utf-8") for t, p in sources.items()}
    document = load_document(
        texts.get("result_md"), texts.get("blocks_index"), texts.get("ocr_html")
    )
    title = name or document.title or folder.name
    db = projects_db()
    client = _ensure_node(client_id, "client", client_id, None)
    project_node = _ensure_node(client_id, "project", project, client["id"])
    doc_id = document_id or str(uuid.uuid4())
    db.upsert_node(
        id=doc_id,
        client_id=client_id,
        node_type="document",
        name=title,
        code=_code(document.stamp),
        parent_id=project_node["id"],
    )
    prefix = f"tree_docs/{doc_id}"
    stem = _safe_name(title)
    for file_type, text in texts.items():
        key = f"{prefix}/{stem}_{STORED_NAMES[file_type]}"
        data = text.encode("utf-8")
        objects().put(key, data, MIME[file_type])
        db.upsert_node_file(
            node_id=doc_id,
            file_type=file_type,
            r2_key=key,
            file_name=key.rsplit("/", 1)[-1],
            file_size=len(data),
            mime_type=MIME[file_type],
        )
    crops_dir = folder / "crops"
    images = document.image_blocks()
    stored = synthesized = 0
    with tempfile.TemporaryDirectory() as scratch:
        for index, block in enumerate(images, start=1):
            crop = next(
                (
                    crops_dir / f"{block.id}{ext}"
                    for ext in (".pdf", ".png", ".jpg", ".jpeg")
                    if (crops_dir / f"{block.id}{ext}").is_file()
                ),
                None,
            )
            if crop is None and synthesize_crops:
                crop = Path(scratch) / f"{block.id}.pdf"
                synthesize_crop(block, crop, stamp=document.stamp)
                synthesized += 1
            if crop is not None:
                key = f"{prefix}/crops/{block.id}{crop.suffix.lower()}"
                with crop.open("rb") as stream:
                    info = objects().put(key, stream, MIME.get(crop.suffix.lower()))
                db.upsert_node_file(
                    node_id=doc_id,
                    file_type="crop",
                    r2_key=key,
                    file_name=crop.name,
                    file_size=info.size,
                    mime_type=MIME.get(crop.suffix.lower()),
                    metadata={"block_id": block.id, "page": block.page},
                )
                stored += 1
            if progress:
                progress(index, len(images))
    document_catalog().add(doc_id)
    return ImportResult(doc_id, title, len(document.blocks), len(images), stored, synthesized)


def _code(stamp: str | None) -> str | None:
    match = re.search(r"Шифр:\s*([^|]+)", stamp or "")
    return match.group(1).strip() if match else None


def _ensure_node(client_id: str, node_type: str, name: str, parent_id: str | None) -> dict:
    for node in projects_db().list_nodes(
        client_id=client_id, parent_id=parent_id, node_type=node_type
    ):
        if node["name"] == name:
            return node
    return projects_db().upsert_node(
        client_id=client_id, node_type=node_type, name=name, parent_id=parent_id
    )
