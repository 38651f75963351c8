"""One loop for the three answering modes (SPEC §8.2–8.3); the differences are `Strategy` data.

simple:  the flash model answers in rounds, asking for images and zoomed regions as it goes.
complex: the flash model first collects (per document, concurrently) blocks, facts and images;
         a coverage step adds linked and best-matching blocks; the pro model answers in rounds.
compare: complex, with blocks labelled DOC_A / DOC_B and a required `diff`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app

from webapp.chats.files import llm_file_parts
from webapp.llm.base import ImagePart, LLMCall, LLMEngine, TextPart
from webapp.pipeline import prompts
from webapp.pipeline.answer import (
    ANSWER_SCHEMA,
    COLLECT_SCHEMA,
    ROI_SCHEMA,
    Answer,
    parse_answer,
    parse_object,
)
from webapp.pipeline.calls import call_parsed
from webapp.pipeline.engines import dialog_logger, engine_for
from webapp.pipeline.evidence import EvidenceDesk
from webapp.pipeline.gather import gather_documents
from webapp.pipeline.intent import Intent, detect_intent
from webapp.pipeline.materials import (
    Selection,
    add_links,
    find_block,
    ranked_blocks,
    write_materials,
)
from webapp.pipeline.sources import LoadedDocument
from webapp.runs import events as ev
from webapp.runs.request import RunRequest
from webapp.stores import chat_db

log = logging.getLogger("webapp.pipeline")
HISTORY_MESSAGES = 20
SEARCH_BLOCKS = 40
NO_DOCUMENTS_ANSWER = (
    "Не найдено ни одного документа для ответа: прикрепите документ к вопросу "
    "(document_ids) или загрузите документы в проект."
)


@dataclass(frozen=True)
class Strategy:
    mode: str
    answer_role: str  # which model answers: "flash" or "pro"
    answer_phase: str
    collects: bool  # a flash collection stage before answering
    compare: bool  # documents labelled DOC_A/DOC_B, diff required


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
    documents: list[LoadedDocument] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    facts: list[str] = field(default_factory=list)
    desk: EvidenceDesk | None = None
    role_text: str | None = None
    file_parts: list = field(default_factory=list)  # the user's own files for the model

    @property
    def config(self):
        return current_app.config

    def phase(self, phase: str, description: str | None = None) -> None:
        self.emit(
            ev.PHASE_STARTED, {"phase": phase, "description": description or ev.PHASE_TEXT[phase]}
        )

    def progress(self, phase: str, progress: float, message: str) -> None:
        self.emit(
            ev.PHASE_PROGRESS, {"phase": phase, "progress": round(progress, 3), "message": message}
        )


# --- evidence requests -------------------------------------------------------------------------
def request_images(run: Run, block_ids: list[str], reason: str) -> list[ImagePart]:
    """Overviews (and quadrants) of image blocks the model asked for; unknown ids reported."""
    targets, known = [], []
    for raw in block_ids:
        found = find_block(run.documents, raw)
        if found is None or not found[1].is_image:
            run.desk.problems.append(f"{raw}: нет такого блока-изображения в документах")
            continue
        if found[1].id not in known:
            known.append(found[1].id)
            targets.append(found)
    targets = targets[: run.config["MAX_IMAGES_PER_CALL"]]
    if not targets:
        return []
    run.emit(
        ev.TOOL_CALL,
        {
            "tool": "request_images",
            "parameters": {"image_ids": [b.id for _, b in targets]},
            "reason": reason,
        },
    )
    run.phase("tool_execution")
    images: list[ImagePart] = []
    for index, (document, block) in enumerate(targets, start=1):
        images += run.desk.overview(document, block, reason)
        run.progress("tool_execution", index / len(targets), f"Изображение блока {block.id}")
    return images


def request_rois(run: Run, rois: list[dict], reason: str) -> list[ImagePart]:
    accepted = []
    for roi in rois[: run.config["MAX_ROIS_PER_ITERATION"]]:
        found = find_block(run.documents, str(roi.get("block_id", "")))
        if found is None or not found[1].is_image:
            run.desk.problems.append(f"{roi.get('block_id')}: нет такого блока-изображения")
            continue
        accepted.append((found, roi))
    if not accepted:
        return []
    run.emit(
        ev.TOOL_CALL,
        {
            "tool": "zoom",
            "parameters": {
                "rois": [
                    {
                        "block_id": b.id,
                        "bbox_norm": r.get("bbox_norm"),
                        "sector": r.get("sector"),
                        "dpi": r.get("dpi"),
                    }
                    for (_, b), r in accepted
                ],
                "count": len(accepted),
            },
            "reason": reason,
        },
    )
    run.phase("tool_execution")
    images: list[ImagePart] = []
    for index, ((document, block), roi) in enumerate(accepted, start=1):
        images += run.desk.roi(document, block, roi)
        run.progress("tool_execution", index / len(accepted), f"Увеличение блока {block.id}")
    return images


def follow_up(run: Run, answer_images: list[str], rois: list[dict], reason: str) -> int:
    before = len(run.desk.images)
    request_images(run, answer_images, reason)
    request_rois(run, rois, reason)
    return len(run.desk.images) - before


# --- calls -------------------------------------------------------------------------------------
def _history(request: RunRequest) -> list[dict[str, str]]:
    messages = chat_db().list_messages(request.chat["id"], HISTORY_MESSAGES + 1)
    earlier = [
        m
        for m in messages
        if m["id"] != request.message["id"] and m["created_at"] <= request.message["created_at"]
    ]
    return [{"role": m["role"], "content": m["content"]} for m in earlier[-HISTORY_MESSAGES:]]


def _question_text(run: Run) -> str:
    lines = [f"ВОПРОС: {run.request.message['content']}", f"Намерение: {run.intent.summary}."]
    if run.facts:
        lines.append("Извлечённые факты:\n" + "\n".join(f"- {f}" for f in run.facts[:40]))
    if run.desk.problems:
        lines.append(
            "Замечания сервера по прошлым запросам:\n"
            + "\n".join(f"- {p}" for p in run.desk.problems[-10:])
        )
    return "\n".join(lines)


def _images_for_call(run: Run) -> list[ImagePart]:
    return run.desk.images[-run.config["MAX_IMAGES_PER_CALL"] :]


def answer_call(run: Run, round_no: int) -> LLMCall:
    materials, included = write_materials(
        run.selection,
        run.config["MAX_BLOCKS_IN_MATERIALS"],
        run.config["MAX_CONTEXT_CHARS"],
        multi_document=len(run.documents) > 1,
    )
    images = _images_for_call(run)
    parts: list = [TextPart(_question_text(run)), *run.file_parts]
    for image in images:
        parts.append(TextPart(image.caption))
        parts.append(image)
    extra = prompts.COMPARE if run.strategy.compare else ""
    return LLMCall(
        purpose="answer",
        model_role=run.strategy.answer_role,
        system=prompts.system_prompt(run.role_text, extra),
        cache_parts=[TextPart("МАТЕРИАЛЫ ДОКУМЕНТОВ:\n" + materials)],
        parts=parts,
        history=_history(run.request),
        schema=ANSWER_SCHEMA,
        settings=run.request.settings,
        stream_field="answer_markdown",
        facts={
            "question": run.request.message["content"],
            "blocks": included,
            "image_candidates": [b.id for _, b in run.selection.image_blocks()],
            "images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images)),
            "images_requested_once": round_no > 1,
            "compare": run.strategy.compare,
        },
    )


class TokenSink:
    """Streams the answer's deltas as `llm_token`s — or holds them back while the round may
    still be followed by the quality gate, so a client never sees an answer twice."""

    def __init__(self, run: Run, model_label: str, hold: bool = False) -> None:
        self.run, self.model, self.hold = run, model_label, hold
        self.accumulated = {"token": "", "thinking": ""}
        self.held: list[str] = []

    def __call__(self, kind: str, text: str) -> None:
        if not text:
            return
        self.accumulated[kind] += text
        if kind == "thinking":
            self.run.emit(
                ev.LLM_THINKING,
                {"content": text, "accumulated": self.accumulated["thinking"], "model": self.model},
            )
        elif self.hold:
            self.held.append(text)
        else:
            self._token(text, self.accumulated["token"])

    def _token(self, text: str, accumulated: str) -> None:
        self.run.emit(
            ev.LLM_TOKEN, {"token": text, "accumulated": accumulated, "model": self.model}
        )

    def release(self) -> None:
        """Send what was held back (in a few larger tokens)."""
        sent = ""
        for start in range(0, len(self.held), 8):
            text = "".join(self.held[start : start + 8])
            sent += text
            self._token(text, sent)
        self.held = []


def ask(run: Run, call: LLMCall, parse, sink: TokenSink | None = None):
    return call_parsed(
        run.engine,
        call,
        parse,
        run.config["LLM_MAX_RETRIES"],
        sink,
        dialog_logger(run.request.chat["id"]),
    )


# --- stages ------------------------------------------------------------------------------------
def initial_selection(run: Run) -> None:
    for document in run.documents:
        for block in ranked_blocks(document, run.request.message["content"], SEARCH_BLOCKS):
            run.selection.add(document, block)


def collect(run: Run) -> None:
    """Flash collects per document, concurrently; then coverage adds links and images."""
    run.phase("flash_stage")
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def one(document: LoadedDocument):
        with app.app_context():
            own = Selection()
            for block in ranked_blocks(document, run.request.message["content"], 60):
                own.add(document, block)
            materials, included = write_materials(
                own, 60, run.config["MAX_CONTEXT_CHARS"], multi_document=False
            )
            call = LLMCall(
                purpose="collect",
                model_role="flash",
                system=prompts.system_prompt(run.role_text, prompts.COLLECT),
                cache_parts=[TextPart(f"ДОКУМЕНТ «{document.name}»:\n" + materials)],
                parts=[TextPart(_question_text(run))],
                schema=COLLECT_SCHEMA,
                settings=run.request.settings,
                facts={
                    "question": run.request.message["content"],
                    "blocks": included,
                    "image_candidates": [b.id for _, b in own.image_blocks()],
                    "images_sent": [],
                },
            )
            data, _ = ask(run, call, parse_object)
            return document, data

    with ThreadPoolExecutor(max_workers=min(4, len(run.documents) or 1)) as pool:
        results = list(pool.map(one, run.documents))
    wanted_images, wanted_rois = [], []
    collected = Selection()
    for index, (document, data) in enumerate(results, start=1):
        for block_id in data.get("selected_block_ids") or []:
            collected.add(document, document.document.get(str(block_id)))
        run.facts += [str(f) for f in data.get("facts") or [] if isinstance(f, (str, int))]
        wanted_images += [str(b) for b in data.get("followup_images") or []]
        wanted_rois += [r for r in data.get("followup_rois") or [] if isinstance(r, dict)]
        run.progress("flash_stage", index / len(results), f"Собраны материалы: {document.name}")
    # coverage: linked blocks, then the best search matches, behind what flash chose
    add_links(collected, run.config["MAX_BLOCKS_IN_MATERIALS"])
    for document, block in run.selection.entries:
        collected.add(document, block)
    run.selection = collected
    chosen_images = [b.id for _, b in collected.image_blocks()[:3]]
    follow_up(
        run, list(dict.fromkeys(wanted_images + chosen_images)), wanted_rois, "материалы для ответа"
    )


def quality_gate(run: Run, answer: Answer) -> bool:
    """Visual question, no ROI cited or asked for: ask once for regions, render them."""
    if not run.intent.needs_visual or not run.desk.images:
        return False
    if any(c.get("kind") == "roi" for c in answer.citations) or answer.followup_rois:
        return False
    if any(image.kind == "roi" for image in run.desk.images):
        return False
    limit = run.config["MAX_ROIS_PER_ITERATION"]
    call = LLMCall(
        purpose="roi_request",
        model_role="flash",
        system=prompts.system_prompt(run.role_text, prompts.ROI_REQUEST.format(limit=limit)),
        parts=[
            TextPart(_question_text(run)),
            *[p for image in _images_for_call(run) for p in (TextPart(image.caption), image)],
        ],
        schema=ROI_SCHEMA,
        settings=run.request.settings,
        facts={"images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images))},
    )
    try:
        data, _ = ask(run, call, parse_object)
    except Exception as exc:  # the gate is an extra: its failure keeps the answer we have
        log.info("quality gate skipped: %s", exc)
        return False
    rois = [r for r in data.get("followup_rois") or [] if isinstance(r, dict)]
    return request_rois(run, rois, "проверка деталей") != []


def _gate_possible(run: Run) -> bool:
    return run.intent.needs_visual and not any(i.kind == "roi" for i in run.desk.images)


def answer_rounds(run: Run) -> tuple[Answer, str]:
    best: Answer | None = None
    model = run.engine.model_name(run.strategy.answer_role)
    rounds_without_new, gate_used = 0, False
    for round_no in range(1, run.config["MAX_ITERATIONS"] + 1):
        run.request.deadline.check()
        run.phase(run.strategy.answer_phase)
        call = answer_call(run, round_no)
        last_round = round_no == run.config["MAX_ITERATIONS"]
        sink = TokenSink(
            run,
            run.strategy.answer_role,
            hold=not gate_used and not last_round and _gate_possible(run),
        )
        answer, result = ask(
            run, call, lambda text: parse_answer(text, require_diff=run.strategy.compare), sink
        )
        model = result.model
        if answer.answer_markdown.strip() or best is None:
            best = answer
        if not (answer.followup_images or answer.followup_rois):
            if sink.hold:
                gate_used = True
                if quality_gate(run, answer):
                    continue
                sink.release()
            break
        new = follow_up(run, answer.followup_images, answer.followup_rois, "запрос модели")
        rounds_without_new = 0 if new else rounds_without_new + 1
        if rounds_without_new >= 2:
            break
    assert best is not None
    return best, model


# --- the whole answer --------------------------------------------------------------------------
def answer_question(request: RunRequest, emit) -> None:
    strategy = choose_strategy(request)
    engine = engine_for(request.user)
    intent = detect_intent(request.message["content"])
    run = Run(request, strategy, engine, emit, intent)
    run.phase("processing")
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
    run.phase("search")
    run.documents = gather_documents(run)
    run.file_parts, refused = llm_file_parts(request.user, request.attachments.google_files)
    for uri in refused:
        run.progress("search", 0.0, f"Файл не принят (не ваш или неизвестен): {uri}")
    try:
        if not run.documents:
            answer, model = Answer(answer_markdown=NO_DOCUMENTS_ANSWER), "none"
        else:
            initial_selection(run)
            if strategy.collects:
                collect(run)
            answer, model = answer_rounds(run)
    finally:
        engine.close()
    images = [{"block_id": i.block_id, "kind": i.kind} for i in run.desk.images]
    chat_db().add_message(
        request.chat["id"],
        "assistant",
        answer.answer_markdown,
        metadata={
            "run_id": request.run_id,
            "model": model,
            "mode": strategy.mode,
            **answer.structured(),
            "images": images,
        },
    )
    emit(
        ev.LLM_FINAL,
        {
            "content": answer.answer_markdown,
            "model": model,
            **answer.structured(),
            "images": images,
        },
    )
