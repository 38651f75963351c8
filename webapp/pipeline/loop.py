"""One loop for the three answering modes; the differences are `Strategy` data.

simple:  the flash model answers in rounds, asking for images, zoomed regions, blocks and
         searches as it goes.
complex: the flash model first collects (per document, concurrently) blocks, facts and images;
         a coverage step adds linked and best-matching blocks; the pro model answers in rounds.
compare: complex, with blocks labelled DOC_A / DOC_B, each side with half the budgets, and a
         `diff` whose entries cite both sides ("no differences" is a valid answer).

Every call starts with the documents' prefix (the whole short document or its map), so the model
can reach any block by id; the run's answer reaches the client through one `AnswerStream`, and
its citations are checked before it is saved.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app

from webapp.chats.files import llm_file_parts
from webapp.documents.outline import is_whole_document_question
from webapp.llm.base import ImagePart, LLMCall, LLMEngine, TextPart
from webapp.pipeline import prompts
from webapp.pipeline.answer import (
    ANSWER_SCHEMA,
    COLLECT_SCHEMA,
    CORRECTION_SCHEMA,
    IMAGE_ID_PREFIX,
    ROI_SCHEMA,
    Answer,
    RoiRequest,
    parse_answer,
    parse_object,
    parse_rois,
)
from webapp.pipeline.calls import Caller
from webapp.pipeline.citations import CitationChecker
from webapp.pipeline.engines import dialog_logger, engine_for
from webapp.pipeline.evidence import EvidenceDesk
from webapp.pipeline.gather import gather_documents
from webapp.pipeline.intent import Intent, detect_intent
from webapp.pipeline.materials import (
    Prefix,
    Selection,
    add_links,
    collect_selection,
    find_block,
    prefix_for,
    ranked_hits,
    select_for_question,
    write_materials,
)
from webapp.pipeline.sources import LoadedDocument
from webapp.pipeline.tokens import AnswerStream
from webapp.runs import events as ev
from webapp.runs.request import RunRequest, RunTimeout
from webapp.stores import chat_db

log = logging.getLogger("webapp.pipeline")
HISTORY_MESSAGES = 20
COLLECT_BLOCKS = 60
QUERY_HITS = 8  # hits of one model search query per document
QUERY_FULL = 3  # of which the best new ones are sent in full
NOTES_SHOWN = 12
NO_DOCUMENTS_ANSWER = (
    "Не найдено ни одного документа для ответа: прикрепите документ к вопросу "
    "(document_ids) или загрузите документы в проект."
)
TIMEOUT_NOTE = "\n\n*(Ответ не завершён: истекло время на ответ, RUN_TIMEOUT = {seconds} с.)*"


@dataclass(frozen=True)
class Strategy:
    mode: str
    answer_role: str  # which model answers: "flash" or "pro"
    answer_phase: str
    collects: bool  # a flash collection stage before answering
    compare: bool  # documents labelled DOC_A/DOC_B, each side half the budgets


STRATEGIES = {
    "simple": Strategy("simple", "flash", "llm", collects=False, compare=False),
    "complex": Strategy("complex", "pro", "pro_stage", collects=True, compare=False),
    "compare": Strategy("compare", "pro", "pro_stage", collects=True, compare=True),
}


def choose_strategy(request: RunRequest) -> Strategy:
    if request.attachments.compare:
        return STRATEGIES["compare"]
    return STRATEGIES.get(request.settings.get("model_profile") or "simple", STRATEGIES["simple"])


@dataclass
class Run:
    """Everything one answer is worked out from, and what it produced so far."""

    request: RunRequest
    strategy: Strategy
    engine: LLMEngine
    emit: object
    intent: Intent
    caller: Caller
    stream: AnswerStream | None = None
    documents: list[LoadedDocument] = field(default_factory=list)
    prefix: Prefix | None = None
    selection: Selection = field(default_factory=Selection)
    facts: list[str] = field(default_factory=list)
    desk: EvidenceDesk | None = None
    role_text: str | None = None
    file_parts: list = field(default_factory=list)  # the user's own files for the model
    round_notes: list[str] = field(default_factory=list)  # results of the last round's requests
    show_again: list[ImagePart] = field(default_factory=list)  # images the model asked to see
    last_shown: set[str] = field(default_factory=set)  # image keys attached to the last call
    best: Answer | None = None  # the answer to keep: the last one with text

    @property
    def config(self):
        return current_app.config

    @property
    def question(self) -> str:
        return self.request.message["content"]

    def phase(self, phase: str, description: str | None = None) -> None:
        self.emit(
            ev.PHASE_STARTED, {"phase": phase, "description": description or ev.PHASE_TEXT[phase]}
        )

    def progress(self, phase: str, progress: float, message: str) -> None:
        self.emit(
            ev.PHASE_PROGRESS, {"phase": phase, "progress": round(progress, 3), "message": message}
        )

    def note(self, text: str) -> None:
        """Something the model should be told in its next call."""
        self.desk.problems.append(text)


# --- evidence requests -------------------------------------------------------------------------
def request_images(run: Run, block_ids: list[str], reason: str) -> int:
    """Overviews (and quadrants) of image blocks the model asked for; unknown ids reported.
    Ids IMG-n of images already rendered are attached again to the next call."""
    targets, known, again = [], [], 0
    for raw in block_ids:
        if raw.startswith(IMAGE_ID_PREFIX):
            image = run.desk.by_id(raw)
            if image is None:
                run.note(f"{raw}: такого изображения в этом ответе нет")
            elif image not in run.show_again:
                run.show_again.append(image)
                again += image.key not in run.last_shown
            continue
        found = find_block(run.documents, raw)
        if found is None or not found[1].is_image:
            run.note(f"{raw}: нет такого блока-изображения в документах")
            continue
        if found[1].id not in known:
            known.append(found[1].id)
            targets.append(found)
    if not targets:
        return again
    run.emit(
        ev.TOOL_CALL,
        {
            "tool": "request_images",
            "parameters": {"image_ids": [b.id for _, b in targets]},
            "reason": reason,
        },
    )
    run.phase("tool_execution")
    limit, made = run.config["MAX_IMAGES_PER_CALL"], 0
    for index, (document, block) in enumerate(targets, start=1):
        if made >= limit:
            left = ", ".join(b.id for _, b in targets[index - 1 :])
            run.note(f"Не отрисованы (не больше {limit} изображений за раунд): {left}")
            break
        run.request.deadline.check()
        made += len(run.desk.overview(document, block, reason))
        run.progress("tool_execution", index / len(targets), f"Изображение блока {block.id}")
    return made + again


def request_rois(run: Run, rois: list[RoiRequest], reason: str) -> int:
    accepted = []
    for roi in rois[: run.config["MAX_ROIS_PER_ITERATION"]]:
        found = find_block(run.documents, roi.block_id)
        if found is None or not found[1].is_image:
            run.note(f"{roi.block_id}: нет такого блока-изображения")
            continue
        accepted.append((found, roi))
    if not accepted:
        return 0
    run.emit(
        ev.TOOL_CALL,
        {
            "tool": "zoom",
            "parameters": {
                "rois": [{**r.as_event(), "block_id": b.id} for (_, b), r in accepted],
                "count": len(accepted),
            },
            "reason": reason,
        },
    )
    run.phase("tool_execution")
    made = 0
    for index, ((document, block), roi) in enumerate(accepted, start=1):
        run.request.deadline.check()
        made += len(run.desk.roi(document, block, roi))
        run.progress("tool_execution", index / len(accepted), f"Увеличение блока {block.id}")
    return made


def read_blocks(run: Run, block_ids: list[str]) -> int:
    """Full texts of blocks the model asked for by id (from the map)."""
    found, added = [], 0
    for block_id in block_ids:
        located = find_block(run.documents, block_id)
        if located is None:
            run.note(f"{block_id}: нет такого блока в документах (смотри карту)")
            continue
        found.append(located)
    if not found:
        return 0
    run.emit(
        ev.TOOL_CALL,
        {
            "tool": "read_blocks",
            "parameters": {"block_ids": [b.id for _, b in found]},
            "reason": "запрос модели",
        },
    )
    for document, block in found:
        added += run.selection.add(document, block, "requested", full=True)
    run.round_notes.append(
        "Запрошенные блоки добавлены в материалы: " + ", ".join(b.id for _, b in found)
    )
    return added


def search_for_model(run: Run, queries: list[str]) -> int:
    """The model's own search queries: new hits join the materials, the shown ones are named."""
    run.emit(
        ev.TOOL_CALL,
        {"tool": "search", "parameters": {"queries": queries}, "reason": "запрос модели"},
    )
    run.phase("search")
    added = 0
    for query in queries:
        new, shown = [], []
        for document in run.documents:
            full_left = QUERY_FULL
            for hit in ranked_hits(document, query, QUERY_HITS):
                block = document.document.get(hit.block_id)
                entry = run.selection.get(document.id, hit.block_id)
                if block is None:
                    continue
                if entry is not None and entry.full:
                    shown.append(block.id)
                    continue
                full = full_left > 0
                full_left -= full
                if run.selection.add(document, block, "query", hit.score, hit.snippet, full):
                    new.append(block.id)
        added += len(new)
        line = f"Поиск «{query}»: "
        line += ("новые блоки " + ", ".join(new)) if new else "новых блоков нет"
        if shown:
            line += "; уже в материалах: " + ", ".join(shown)
        run.round_notes.append(line)
    return added


def follow_up(run: Run, answer: Answer, reason: str) -> int:
    """Act on what the model asked for; returns how much new evidence it brought."""
    for item in answer.ignored:
        run.note(f"Запрос не понят и пропущен — {item}")
    new = request_images(run, answer.followup_images, reason)
    new += request_rois(run, answer.followup_rois, reason)
    if answer.followup_blocks:
        new += read_blocks(run, answer.followup_blocks)
    if answer.search_queries:
        new += search_for_model(run, answer.search_queries)
    return new


# --- calls -------------------------------------------------------------------------------------
def _history(request: RunRequest) -> list[dict[str, str]]:
    messages = chat_db().list_messages(request.chat["id"], HISTORY_MESSAGES + 1)
    earlier = [
        m
        for m in messages
        if m["id"] != request.message["id"] and m["created_at"] <= request.message["created_at"]
    ]
    return [{"role": m["role"], "content": m["content"]} for m in earlier[-HISTORY_MESSAGES:]]


def _question_text(run: Run, task: str) -> str:
    lines = [task, f"ВОПРОС: {run.question}", f"Намерение: {run.intent.summary}."]
    if run.facts:
        lines.append("Извлечённые факты:\n" + "\n".join(f"- {f}" for f in run.facts[:40]))
    if run.round_notes:
        lines.append("Результаты твоих запросов:\n" + "\n".join(f"- {n}" for n in run.round_notes))
    if run.desk.problems:
        lines.append(
            "Замечания сервера:\n" + "\n".join(f"- {p}" for p in run.desk.problems[-NOTES_SHOWN:])
        )
    return "\n".join(lines)


def _images_for_call(run: Run) -> list[ImagePart]:
    """Images attached to the next call, counted one by one: those asked for again first, then
    the newest; when comparing, each side gets half the places."""
    limit = run.config["MAX_IMAGES_PER_CALL"]
    chosen = list(run.show_again[:limit])
    newest_first = [i for i in reversed(run.desk.images) if i not in chosen]
    if run.strategy.compare:
        per_side = max(1, limit // 2)
        for side in ("DOC_A", "DOC_B"):
            taken = sum(1 for i in chosen if run.desk.sides.get(i.key) == side)
            for image in newest_first:
                if taken >= per_side or len(chosen) >= limit:
                    break
                if run.desk.sides.get(image.key) == side and image not in chosen:
                    chosen.append(image)
                    taken += 1
    for image in newest_first:
        if len(chosen) >= limit:
            break
        if image not in chosen:
            chosen.append(image)
    return sorted(chosen, key=run.desk.images.index)


def _image_parts(run: Run, images: list[ImagePart]) -> list:
    parts: list = []
    if not run.desk.images:
        return parts
    listed = [
        f"- {run.desk.image_id(i)}{'' if i in images else ' (не приложено, можно запросить)'}: "
        f"{i.caption.split(': ', 1)[-1]}"
        for i in run.desk.images
    ]
    parts.append(TextPart("ИЗОБРАЖЕНИЯ ЭТОГО ОТВЕТА:\n" + "\n".join(listed)))
    for image in images:
        parts += [TextPart(image.caption), image]
    return parts


def _prefix_call(run: Run, purpose: str, model_role: str, parts: list, **options) -> LLMCall:
    """A call that starts with the system prompt and the documents' prefix (cacheable)."""
    prefix = run.prefix
    return LLMCall(
        purpose=purpose,
        model_role=model_role,
        system=prompts.system_prompt(run.role_text),
        cache_parts=[TextPart(prefix.text)] if prefix and prefix.text else [],
        cache_key=f"{prefix.key}:p{prompts.PROMPT_VERSION}" if prefix else None,
        parts=parts,
        settings=run.request.settings,
        **options,
    )


def _budgets(run: Run) -> tuple[int, int]:
    return run.config["MAX_BLOCKS_IN_MATERIALS"], run.config["MAX_CONTEXT_CHARS"]


def answer_call(run: Run, round_no: int) -> LLMCall:
    max_blocks, max_chars = _budgets(run)
    written = write_materials(run.selection, max_blocks, max_chars, len(run.documents) > 1)
    images = _images_for_call(run)
    run.last_shown = {i.key for i in images}
    run.show_again = []
    task = prompts.COMPARE if run.strategy.compare else prompts.ANSWER
    parts: list = [TextPart(_question_text(run, task))]
    if written.text:
        parts.append(TextPart("МАТЕРИАЛЫ ПО ВОПРОСУ:\n" + written.text))
    parts += run.file_parts
    parts += _image_parts(run, images)
    run.round_notes = []
    return _prefix_call(
        run,
        "answer",
        run.strategy.answer_role,
        parts,
        history=_history(run.request),
        schema=ANSWER_SCHEMA,
        stream_field="answer_markdown",
        facts={
            "question": run.question,
            "blocks": written.included,
            "outline": [line for d in run.documents for line in _outline(d)],
            "whole_document": is_whole_document_question(run.question),
            "image_candidates": [b.id for _, b in run.selection.image_blocks()],
            "images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images)),
            "images_requested_once": round_no > 1,
            "compare": run.strategy.compare,
        },
    )


def _outline(document: LoadedDocument) -> list[str]:
    from webapp.documents.docmap import page_lines

    return page_lines(document.document)


# --- stages ------------------------------------------------------------------------------------
def first_materials(run: Run) -> None:
    """Round one's blocks: every document searched (compare: each side with half the budget),
    except documents that are sent whole in the prefix."""
    target = run.config["MATERIALS_TARGET_CHARS"]
    select_for_question(run.selection, run.documents, run.question, target, whole=run.prefix.whole)


def collect(run: Run) -> None:
    """Flash collects per document, concurrently; then coverage adds links and images."""
    run.phase("flash_stage")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    max_chars = run.config["MAX_CONTEXT_CHARS"] // max(1, len(run.documents))

    def one(document: LoadedDocument):
        with app.app_context():
            in_prefix = document.id in run.prefix.whole
            own = collect_selection(document, run.question, in_prefix, COLLECT_BLOCKS)
            written = write_materials(own, COLLECT_BLOCKS, max_chars, multi_document=False)
            task = prompts.COLLECT.format(document=document.name)
            parts = [TextPart(_question_text(run, task))]
            if written.text:
                parts.append(TextPart(f"МАТЕРИАЛЫ ДОКУМЕНТА «{document.name}»:\n" + written.text))
            call = _prefix_call(
                run,
                "collect",
                "flash",
                parts,
                schema=COLLECT_SCHEMA,
                facts={
                    "question": run.question,
                    "blocks": written.included,
                    "image_candidates": [b.id for _, b in own.image_blocks()],
                    "images_sent": [],
                },
            )
            data, _ = run.caller.parsed(call, parse_object)
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
        wanted_images += [str(b) for b in data.get("followup_images") or [] if isinstance(b, str)]
        ignored: list[str] = []
        wanted_rois += parse_rois(data.get("followup_rois"), ignored)
        run.progress("flash_stage", index / len(results), f"Собраны материалы: {document.name}")
    # coverage: linked blocks, then the best search matches, behind what flash chose
    for document in run.documents:
        add_links(collected, document)
    for entry in run.selection.entries:
        collected.add(
            entry.document, entry.block, entry.reason, entry.score, entry.snippet, entry.full
        )
    run.selection = collected
    chosen_images = [b.id for _, b in collected.image_blocks()[:3]]
    new = request_images(run, list(dict.fromkeys(wanted_images + chosen_images)), "материалы")
    new += request_rois(run, wanted_rois, "материалы для ответа")


def quality_gate(run: Run, answer: Answer) -> bool:
    """Visual question, no ROI cited or asked for: ask once for regions, render them."""
    if not run.intent.needs_visual or not run.desk.images:
        return False
    if any(c.get("kind") == "roi" for c in answer.citations) or answer.followup_rois:
        return False
    if any(image.kind == "roi" for image in run.desk.images):
        return False
    limit = run.config["MAX_ROIS_PER_ITERATION"]
    images = _images_for_call(run)
    call = _prefix_call(
        run,
        "roi_request",
        "flash",
        [
            TextPart(_question_text(run, prompts.ROI_REQUEST.format(limit=limit))),
            *_image_parts(run, images),
        ],
        schema=ROI_SCHEMA,
        facts={"images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images))},
    )
    try:
        data, _ = run.caller.parsed(call, parse_object)
    except RunTimeout:
        raise
    except Exception as exc:  # the gate is an extra: its failure keeps the answer we have
        log.info("quality gate skipped: %s", exc)
        return False
    ignored: list[str] = []
    return request_rois(run, parse_rois(data.get("followup_rois"), ignored), "проверка деталей") > 0


def _gate_possible(run: Run) -> bool:
    """Whether the quality gate may follow this round (its tokens are then held back)."""
    images = run.desk.images
    return run.intent.needs_visual and bool(images) and not any(i.kind == "roi" for i in images)


def answer_rounds(run: Run) -> tuple[Answer, str]:
    model = run.engine.model_name(run.strategy.answer_role)
    rounds_without_new, gate_used = 0, False
    for round_no in range(1, run.config["MAX_ITERATIONS"] + 1):
        run.request.deadline.check()
        run.phase(run.strategy.answer_phase)
        call = answer_call(run, round_no)
        last_round = round_no == run.config["MAX_ITERATIONS"]
        hold = not gate_used and not last_round and _gate_possible(run)
        answer, result = run.caller.parsed(call, parse_answer, run.stream, hold)
        model = result.model
        if answer.answer_markdown.strip() or run.best is None:
            run.best = answer
        if not answer.asks_for_more:
            if hold:
                gate_used = True
                if quality_gate(run, answer):
                    continue
            break
        new = follow_up(run, answer, "запрос модели")
        rounds_without_new = 0 if new else rounds_without_new + 1
        if rounds_without_new >= 2:
            break
    assert run.best is not None
    return run.best, model


def correct_citations(run: Run, checker: CitationChecker, answer: Answer) -> None:
    """Ask the model once for the right ids of references to blocks that do not exist."""
    wrong = checker.wrong_ids(answer)
    if not wrong:
        return
    run.progress(
        run.strategy.answer_phase,
        1.0,
        "Модель сослалась на несуществующие блоки (" + ", ".join(wrong) + "): исправляю ссылки",
    )
    call = _prefix_call(
        run,
        "citation_fix",
        "flash",
        [
            TextPart(
                prompts.CORRECT_CITATIONS.format(
                    wrong=", ".join(wrong),
                    context=checker.context_of(answer.answer_markdown, wrong),
                )
            )
        ],
        schema=CORRECTION_SCHEMA,
        facts={"wrong": wrong},
    )
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
        wrong_id, right = str(item.get("wrong_id", "")), str(item.get("block_id", ""))
        target = checker.resolve(right) if right.strip() else None
        for candidate in wrong:
            if candidate == wrong_id.strip().upper() and target:
                checker.corrections[candidate] = target


# --- the whole answer --------------------------------------------------------------------------
def _prepare(request: RunRequest, emit) -> Run:
    strategy = choose_strategy(request)
    engine = engine_for(request.user)
    caller = Caller(
        engine,
        current_app.config["LLM_MAX_RETRIES"],
        request.deadline,
        dialog_logger(request.chat["id"]),
    )
    run = Run(request, strategy, engine, emit, detect_intent(request.message["content"]), caller)
    role_id = request.settings.get("selected_role_prompt_id")
    if role_id is not None:
        role = chat_db().get_role(role_id)
        run.role_text = role["content"] if role and role.get("is_active") else None
    run.desk = EvidenceDesk(
        request.chat["id"],
        request.message["id"],
        request.user["username"],
        emit,
        request.base_url,
        roi_margin=current_app.config["ROI_MARGIN"],
    )
    return run


def build_run_prefix(run: Run) -> None:
    run.prefix = prefix_for(run.documents, run.config, run.strategy.compare, prompts.PROMPT_VERSION)


def answer_question(request: RunRequest, emit) -> None:
    run = _prepare(request, emit)
    run.phase("processing")
    run.phase("search")
    run.documents = gather_documents(run)
    run.file_parts, refused = llm_file_parts(request.user, request.attachments.google_files)
    for uri in refused:
        run.progress("search", 0.0, f"Файл не принят (не ваш или неизвестен): {uri}")
    checker = CitationChecker(run.documents)
    run.stream = AnswerStream(emit, checker.resolve, request.deadline)
    try:
        if not run.documents:
            best, model = Answer(answer_markdown=NO_DOCUMENTS_ANSWER), "none"
        else:
            build_run_prefix(run)
            first_materials(run)
            if run.strategy.collects:
                collect(run)
            best, model = answer_rounds(run)
            correct_citations(run, checker, best)
    except RunTimeout:
        _save_partial(run, run.best)
        raise
    finally:
        run.engine.close()
    checked = checker.check(best, lambda block_id: run.desk.urls.get(block_id, []))
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
    emit(ev.LLM_FINAL, {"content": content, "model": model, **structured, "images": images})


def _save_partial(run: Run, best: Answer | None) -> None:
    """A run stopped by RUN_TIMEOUT keeps what the client saw (or the last answer text)."""
    text = run.stream.partial() if run.stream else ""
    if not text.strip() and best is not None:
        text = best.answer_markdown
    if not text.strip():
        return
    note = TIMEOUT_NOTE.format(seconds=int(run.request.deadline.seconds))
    chat_db().add_message(
        run.request.chat["id"],
        "assistant",
        text + note,
        metadata={"run_id": run.request.run_id, "mode": run.strategy.mode, "partial": True},
    )
