"""Which documents a question is answered from.

Named documents (and tree files) are loaded, with a warning for each that cannot be; if a question
names documents and none loads, the run fails rather than letting the model guess. A question
with none is matched against the caller's documents in the cross-document index
(`documents.catalog`), and only the AUTO_DOCUMENTS it picks are loaded.
"""

from __future__ import annotations

from flask import current_app

from webapp.documents.catalog_sync import document_catalog
from webapp.documents.search import search_index
from webapp.documents.sources import LoadedDocument, SourceError, load_node, load_tree_files
from webapp.offhub import run_blocking
from webapp.pipeline.run import Progress
from webapp.runs.errors import UserFacingError
from webapp.runs.request import RunRequest

SPARE_CANDIDATES = 3  # picked beyond AUTO_DOCUMENTS, in case one cannot be loaded


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
    config = current_app.config
    wanted = config["AUTO_DOCUMENTS"]
    catalog = document_catalog()
    pick = run_blocking(
        catalog.pick,
        request.message["content"],
        request.attachments.client_id,
        wanted + SPARE_CANDIDATES,
        config["AUTO_INDEX_PER_QUESTION"],
    )
    chosen: list[LoadedDocument] = []
    for node, _score in pick.candidates:
        if len(chosen) >= wanted:
            break
        try:
            chosen.append(load_node(node["id"], node))
        except SourceError as exc:
            progress.progress("search", 0.0, f"Документ не загружен: {exc}")
    if pick.pending:
        progress.progress(
            "search", 0.5, f"Индекс документов пополняется: ещё {pick.pending} в очереди"
        )
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
    catalog = document_catalog()
    for document in documents:
        run_blocking(catalog.note_loaded, document)
        search_index().ensure(document.document)
    return documents
