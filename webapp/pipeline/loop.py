"""One loop for the three answering modes; the differences are `Strategy` data.

simple:  the flash model answers in rounds, asking for images, zoomed regions, blocks and
         searches as it goes.
complex: the flash model first collects (per document, concurrently) blocks, facts and images;
         a coverage step adds linked and best-matching blocks; the pro model answers in rounds.
compare: complex, with blocks labelled DOC_A / DOC_B, each side with half the budgets, and a
         `diff` whose entries cite both sides ("no differences" is a valid answer).

`answer_question` reads top to bottom: gather the documents, build the run, choose round one's
materials, collect (complex modes), answer in rounds, check the citations, save and send.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import current_app

from webapp.chats.files import llm_file_parts
from webapp.documents.sources import LoadedDocument
from webapp.pipeline import prompts
from webapp.pipeline.answer import Answer, RoiRequest, parse_answer, parse_object, parse_rois
from webapp.pipeline.calls import Caller
from webapp.pipeline.citations import CitationChecker
from webapp.pipeline.engines import dialog_logger, engine_for
from webapp.pipeline.evidence import EvidenceDesk
from webapp.pipeline.followups import follow_up, request_images, request_rois
from webapp.pipeline.gather import gather_documents
from webapp.pipeline.intent import detect_intent
from webapp.pipeline.materials import (
    Selection,
    add_links,
    collect_selection,
    prefix_for,
    select_for_question,
    write_materials,
)
from webapp.pipeline.messages import answer_call, collect_call, correction_call, gate_call
from webapp.pipeline.run import Progress, Run, choose_strategy
from webapp.pipeline.tokens import AnswerStream
from webapp.runs import events as ev
from webapp.runs.request import RunRequest, RunTimeout
from webapp.stores import chat_db

log = logging.getLogger("webapp.pipeline")
COLLECT_BLOCKS = 60
COLLECT_IMAGES = 3  # image blocks the coverage step shows besides those the collector asked for
NO_DOCUMENTS_ANSWER = (
    "Не найдено ни одного документа для ответа: прикрепите документ к вопросу "
    "(document_ids) или загрузите документы в проект."
)
TIMEOUT_NOTE = "\n\n*(Ответ не завершён: истекло время на ответ, RUN_TIMEOUT = {seconds} с.)*"


# --- building the run ----------------------------------------------------------------------------
def _role_text(request: RunRequest) -> str | None:
    role_id = request.settings.get("selected_role_prompt_id")
    if role_id is None:
        return None
    role = chat_db().get_role(role_id)
    return role["content"] if role and role.get("is_active") else None


def build_run(request: RunRequest, progress: Progress, documents: list[LoadedDocument]) -> Run:
    """Everything the answer needs, complete."""
    config = current_app.config
    strategy = choose_strategy(request)
    engine = engine_for(request.user)
    file_parts, refused = llm_file_parts(request.user, request.attachments.google_files)
    for uri in refused:
        progress.progress("search", 0.0, f"Файл не принят (не ваш или неизвестен): {uri}")
    checker = CitationChecker(documents)
    return Run(
        request=request,
        strategy=strategy,
        intent=detect_intent(request.message["content"]),
        engine=engine,
        caller=Caller(
            engine, config["LLM_MAX_RETRIES"], request.deadline, dialog_logger(request.chat["id"])
        ),
        progress=progress,
        documents=documents,
        prefix=prefix_for(documents, config, strategy.compare, prompts.PROMPT_VERSION),
        desk=EvidenceDesk(
            request.chat["id"],
            request.message["id"],
            request.user["username"],
            progress.emit,
            request.base_url,
            roi_margin=config["ROI_MARGIN"],
        ),
        stream=AnswerStream(progress.emit, checker.resolve, request.deadline),
        checker=checker,
        role_text=_role_text(request),
        file_parts=file_parts,
    )


# --- stages --------------------------------------------------------------------------------------
def first_materials(run: Run) -> None:
    """Round one's blocks: every document searched (each compared side with half the budget),
    documents sent whole in the prefix only named."""
    select_for_question(
        run.selection,
        run.documents,
        run.question,
        run.config["MATERIALS_TARGET_CHARS"],
        whole=run.prefix.whole,
    )


def collect(run: Run) -> None:
    """Flash collects per document, concurrently; then coverage adds links and images."""
    run.progress.phase("flash_stage")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    max_chars = run.config["MAX_CONTEXT_CHARS"] // max(1, len(run.documents))

    def one(document: LoadedDocument) -> tuple[LoadedDocument, dict]:
        with app.app_context():
            own = collect_selection(
                document, run.question, document.id in run.prefix.whole, COLLECT_BLOCKS
            )
            written = write_materials(own, COLLECT_BLOCKS, max_chars, multi_document=False)
            data, _ = run.caller.parsed(collect_call(run, document, written), parse_object)
            return document, data

    with ThreadPoolExecutor(max_workers=min(4, len(run.documents) or 1)) as pool:
        results = list(pool.map(one, run.documents))
    wanted_images: list[str] = []
    wanted_rois: list[RoiRequest] = []
    collected = Selection()
    for index, (document, data) in enumerate(results, start=1):
        for block_id in data.get("selected_block_ids") or []:
            if isinstance(block_id, str):
                collected.add(document, document.document.get(block_id), "collect")
        run.facts += [str(f) for f in data.get("facts") or [] if isinstance(f, (str, int))]
        wanted_images += [b for b in data.get("followup_images") or [] if isinstance(b, str)]
        wanted_rois += parse_rois(data.get("followup_rois"), [])
        run.progress.progress(
            "flash_stage", index / len(results), f"Собраны материалы: {document.name}"
        )
    # coverage: linked blocks, then round one's search matches, behind what flash chose
    for document in run.documents:
        add_links(collected, document)
    for entry in run.selection.entries:
        collected.add(
            entry.document, entry.block, entry.reason, entry.score, entry.snippet, entry.full
        )
    run.selection = collected
    chosen = [b.id for _, b in collected.image_blocks()[:COLLECT_IMAGES]]
    request_images(run, list(dict.fromkeys(wanted_images + chosen)), "материалы")
    request_rois(run, wanted_rois, "материалы для ответа")


def quality_gate(run: Run, answer: Answer) -> bool:
    """Visual question, no ROI cited or asked for: ask once for regions, render them."""
    if not run.intent.needs_visual or not run.desk.images:
        return False
    if any(c.get("kind") == "roi" for c in answer.citations) or answer.followup_rois:
        return False
    if any(image.kind == "roi" for image in run.desk.images):
        return False
    try:
        data, _ = run.caller.parsed(gate_call(run), parse_object)
    except RunTimeout:
        raise
    except Exception as exc:  # the gate is an extra: its failure keeps the answer we have
        log.info("quality gate skipped: %s", exc)
        return False
    return request_rois(run, parse_rois(data.get("followup_rois"), []), "проверка деталей") > 0


def _gate_possible(run: Run) -> bool:
    """Whether the quality gate may follow this round (its tokens are then held back)."""
    images = run.desk.images
    return run.intent.needs_visual and bool(images) and not any(i.kind == "roi" for i in images)


@dataclass
class Rounds:
    """The round loop's own state."""

    number: int = 0
    without_new: int = 0  # rounds in a row that brought no new evidence
    gate_used: bool = False


def answer_rounds(run: Run) -> tuple[Answer, str]:
    """Answer, follow up on what the model asks for, answer again — until it asks for nothing
    new, MAX_ITERATIONS rounds, or two rounds in a row bring nothing new."""
    model = run.engine.model_name(run.strategy.answer_role)
    rounds = Rounds()
    limit = run.config["MAX_ITERATIONS"]
    while rounds.number < limit:
        rounds.number += 1
        run.request.deadline.check()
        run.progress.phase(run.strategy.answer_phase)
        call = answer_call(run, rounds.number)
        hold = not rounds.gate_used and rounds.number < limit and _gate_possible(run)
        answer, result = run.caller.parsed(call, parse_answer, run.stream, hold)
        model = result.model
        if answer.answer_markdown.strip() or run.talk.best is None:
            run.talk.best = answer
        if not answer.asks_for_more:
            if hold:
                rounds.gate_used = True
                if quality_gate(run, answer):
                    continue
            break
        rounds.without_new = 0 if follow_up(run, answer) else rounds.without_new + 1
        if rounds.without_new >= 2:
            break
    assert run.talk.best is not None
    return run.talk.best, model


def correct_citations(run: Run, answer: Answer) -> None:
    """Ask the model once for the right ids of references to blocks that do not exist."""
    checker = run.checker
    wrong = checker.wrong_ids(answer)
    if not wrong:
        return
    run.progress.progress(
        run.strategy.answer_phase,
        1.0,
        "Модель сослалась на несуществующие блоки (" + ", ".join(wrong) + "): исправляю ссылки",
    )
    call = correction_call(run, wrong, checker.context_of(answer.answer_markdown, wrong))
    try:
        data, _ = run.caller.parsed(call, parse_object)
    except RunTimeout:
        raise
    except Exception as exc:  # the check is an extra: unknown references are dropped anyway
        log.info("citation correction skipped: %s", exc)
        return
    for item in data.get("corrections") or []:
        if not isinstance(item, dict):
            continue
        wrong_id = str(item.get("wrong_id", "")).strip().upper()
        right = str(item.get("block_id", ""))
        target = checker.resolve(right) if right.strip() else None
        if wrong_id in wrong and target:
            checker.corrections[wrong_id] = target


# --- the whole answer ----------------------------------------------------------------------------
def answer_question(request: RunRequest, emit: ev.Emit) -> None:
    progress = Progress(emit)
    progress.phase("processing")
    progress.phase("search")
    documents = gather_documents(request, progress)
    run = build_run(request, progress, documents)
    try:
        if not run.documents:
            best, model = Answer(answer_markdown=NO_DOCUMENTS_ANSWER), "none"
        else:
            first_materials(run)
            if run.strategy.collects:
                collect(run)
            best, model = answer_rounds(run)
            correct_citations(run, best)
    except RunTimeout:
        _save_partial(run)
        raise
    finally:
        run.engine.close()
    _finish(run, best, model)


def _finish(run: Run, best: Answer, model: str) -> None:
    """Checked citations, the rest of the answer streamed, the message saved, `llm_final`."""
    checked = run.checker.check(best, lambda block_id: run.desk.urls.get(block_id, []))
    content = run.stream.finish(checked.markdown)
    images = [
        {"id": run.desk.image_id(i), "block_id": i.block_id, "kind": i.kind}
        for i in run.desk.images
    ]
    structured = {
        "citations": checked.citations,
        "issues": checked.issues,
        "recommendations": best.recommendations,
        "diff": checked.diff,
    }
    if checked.wrong:
        structured["removed_citations"] = checked.wrong
    request = run.request
    chat_db().add_message(
        request.chat["id"],
        "assistant",
        content,
        metadata={
            "run_id": request.run_id,
            "model": model,
            "mode": run.strategy.mode,
            **structured,
            "images": images,
        },
    )
    run.emit(ev.LLM_FINAL, {"content": content, "model": model, **structured, "images": images})


def _save_partial(run: Run) -> None:
    """A run stopped by RUN_TIMEOUT keeps what the client saw (or the last answer text)."""
    text = run.stream.partial()
    if not text.strip() and run.talk.best is not None:
        text = run.talk.best.answer_markdown
    if not text.strip():
        return
    note = TIMEOUT_NOTE.format(seconds=int(run.request.deadline.seconds))
    chat_db().add_message(
        run.request.chat["id"],
        "assistant",
        text + note,
        metadata={"run_id": run.request.run_id, "mode": run.strategy.mode, "partial": True},
    )
