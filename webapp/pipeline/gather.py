"""Which documents a question is answered from.

Named documents (and tree files) are loaded, with a warning for each that cannot be; if a question
names documents and none loads, the run fails rather than letting the model guess. A question
with none is matched against the projects' documents with the search index.
"""

from __future__ import annotations

from flask import current_app

from webapp.documents.search import search_index
from webapp.documents.sources import (
    LoadedDocument,
    SourceError,
    all_document_ids,
    load_node,
    load_tree_files,
)
from webapp.pipeline.run import Progress
from webapp.runs.errors import UserFacingError
from webapp.runs.request import RunRequest

AUTO_SCAN_LIMIT = 200


def _load_all(progress: Progress, ids: list[str], label: str | None) -> list[LoadedDocument]:
    loaded = []
    for document_id in ids:
        try:
            document = load_node(document_id)
        except SourceError as exc:
            progress.progress("search", 0.0, f"Документ не загружен: {exc}")
            continue
        document.label = label
        loaded.append(document)
    return loaded


def _auto_documents(request: RunRequest, progress: Progress) -> list[LoadedDocument]:
    question = request.message["content"]
    scored = []
    for document_id in all_document_ids(request.attachments.client_id)[:AUTO_SCAN_LIMIT]:
        try:
            document = load_node(document_id)
        except SourceError:
            continue
        hits = search_index().search(document.document, question, limit=5)
        score = sum(hit.score for hit in hits)
        if score > 0:
            scored.append((score, document))
    scored.sort(key=lambda pair: -pair[0])
    chosen = [document for _, document in scored[: current_app.config["AUTO_DOCUMENTS"]]]
    if chosen:
        names = ", ".join(f"«{d.name}»" for d in chosen)
        progress.progress("search", 1.0, f"Документы не прикреплены; выбраны по поиску: {names}")
    return chosen


def gather_documents(request: RunRequest, progress: Progress) -> list[LoadedDocument]:
    attachments = request.attachments
    named = bool(attachments.document_ids or attachments.compare or attachments.tree_files)
    if attachments.compare:
        documents = _load_all(progress, attachments.compare_a, "DOC_A")
        documents += _load_all(progress, attachments.compare_b, "DOC_B")
        if not any(d.label == "DOC_A" for d in documents) or not any(
            d.label == "DOC_B" for d in documents
        ):
            raise UserFacingError(
                "Documents to compare could not be loaded (need both sides).",
                "documents_unavailable",
            )
    else:
        documents = _load_all(progress, attachments.document_ids, None)
    if attachments.tree_files:
        try:
            documents += load_tree_files(attachments.tree_files)
        except SourceError as exc:
            progress.progress("search", 0.0, f"Файлы не загружены: {exc}")
    if named and not documents:
        raise UserFacingError(
            "None of the attached documents could be loaded; check that they exist and have "
            "OCR results (document.md).",
            "documents_unavailable",
        )
    if not named:
        documents = _auto_documents(request, progress)
    for document in documents:
        search_index().ensure(document.document)
    return documents
