"""What each model call is made of, built in one place.

Every call has the same head — the system prompt and the documents' prefix, cacheable — then its
own parts: the task, the question with what the server has to tell the model, and whatever the
purpose needs (materials, images, the text to correct). `model_call` builds that; the four
purposes (answer, collect, quality gate, citation correction) only say what they add.
"""

from __future__ import annotations

from typing import Any

from webapp.documents.docmap import page_lines
from webapp.documents.outline import is_whole_document_question
from webapp.documents.sources import LoadedDocument
from webapp.llm.base import ImagePart, LLMCall, Part, TextPart
from webapp.pipeline import prompts
from webapp.pipeline.answer import ANSWER_SCHEMA, COLLECT_SCHEMA, CORRECTION_SCHEMA, ROI_SCHEMA
from webapp.pipeline.materials import Written, write_materials
from webapp.pipeline.run import Run
from webapp.runs.request import RunRequest
from webapp.stores import chat_db

HISTORY_MESSAGES = 20
FACTS_SHOWN = 40
NOTES_SHOWN = 12


def history(request: RunRequest) -> list[dict[str, str]]:
    """The newest HISTORY_MESSAGES messages of the chat before the question, oldest first."""
    messages = chat_db().list_messages(request.chat["id"], HISTORY_MESSAGES + 1)
    earlier = [
        m
        for m in messages
        if m["id"] != request.message["id"] and m["created_at"] <= request.message["created_at"]
    ]
    return [{"role": m["role"], "content": m["content"]} for m in earlier[-HISTORY_MESSAGES:]]


def question_text(run: Run, task: str) -> str:
    """The task, the question, and what the server has to tell the model."""
    lines = [
        task,
        prompts.QUESTION.format(question=run.question),
        prompts.INTENT.format(summary=run.intent.summary),
    ]
    if run.facts:
        lines.append(prompts.FACTS + "\n" + "\n".join(f"- {f}" for f in run.facts[:FACTS_SHOWN]))
    if run.talk.notes:
        lines.append(prompts.RESULTS + "\n" + "\n".join(f"- {n}" for n in run.talk.notes))
    if run.desk.problems:
        shown = run.desk.problems[-NOTES_SHOWN:]
        lines.append(prompts.REMARKS + "\n" + "\n".join(f"- {p}" for p in shown))
    return "\n".join(lines)


def images_for_call(run: Run) -> list[ImagePart]:
    """Images attached to the next call, counted one by one: those asked for again first, then
    the newest; when comparing, each side gets half the places."""
    limit = run.config["MAX_IMAGES_PER_CALL"]
    chosen = list(run.talk.show_again[:limit])
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


def image_parts(run: Run, images: list[ImagePart]) -> list[Part]:
    """The list of every image of the run (so none is lost), then the attached ones."""
    if not run.desk.images:
        return []
    listed = [
        f"- {run.desk.image_id(i)}{'' if i in images else prompts.NOTE_IMAGE_NOT_ATTACHED}: "
        f"{i.caption.split(': ', 1)[-1]}"
        for i in run.desk.images
    ]
    parts: list[Part] = [TextPart(prompts.IMAGES + "\n" + "\n".join(listed))]
    for image in images:
        parts += [TextPart(image.caption), image]
    return parts


def model_call(
    run: Run, purpose: str, model_role: str, task: str, extra: list[Part], **options: Any
) -> LLMCall:
    """A call: system prompt and documents' prefix (cacheable), the task and question, `extra`."""
    prefix = run.prefix
    return LLMCall(
        purpose=purpose,
        model_role=model_role,
        system=prompts.system_prompt(run.role_text),
        cache_parts=[TextPart(prefix.text)] if prefix.text else [],
        cache_key=prefix.key,  # documents, budgets and prompt version
        parts=[TextPart(question_text(run, task)), *extra],
        settings=run.request.settings,
        **options,
    )


def answer_call(run: Run, round_no: int) -> LLMCall:
    """A round of the answering model: materials, the user's files, the run's images."""
    written = write_materials(
        run.selection,
        run.config["MAX_BLOCKS_IN_MATERIALS"],
        run.config["MAX_CONTEXT_CHARS"],
        len(run.documents) > 1,
    )
    images = images_for_call(run)
    run.talk.last_shown = {i.key for i in images}
    run.talk.show_again = []
    extra: list[Part] = []
    if written.text:
        extra.append(TextPart(prompts.MATERIALS + "\n" + written.text))
    extra += run.file_parts
    extra += image_parts(run, images)
    task = prompts.COMPARE if run.strategy.compare else prompts.ANSWER
    call = model_call(
        run,
        "answer",
        run.strategy.answer_role,
        task,
        extra,
        history=history(run.request),
        schema=ANSWER_SCHEMA,
        stream_field="answer_markdown",
        facts={
            "question": run.question,
            "blocks": written.included,
            "outline": [line for d in run.documents for line in page_lines(d.document)],
            "whole_document": is_whole_document_question(run.question),
            "image_candidates": [b.id for _, b in run.selection.image_blocks()],
            "images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images)),
            "images_requested_once": round_no > 1,
            "compare": run.strategy.compare,
        },
    )
    run.talk.notes = []  # told once
    return call


def collect_call(run: Run, document: LoadedDocument, written: Written) -> LLMCall:
    """The collecting model's call for one document."""
    extra: list[Part] = []
    if written.text:
        heading = prompts.DOCUMENT_MATERIALS.format(document=document.name)
        extra.append(TextPart(heading + "\n" + written.text))
    return model_call(
        run,
        "collect",
        "flash",
        prompts.COLLECT.format(document=document.name),
        extra,
        schema=COLLECT_SCHEMA,
        facts={
            "question": run.question,
            "blocks": written.included,
            "image_candidates": [i["id"] for i in written.included if i["kind"] == "image"],
            "images_sent": [],
        },
    )


def gate_call(run: Run) -> LLMCall:
    """The quality gate: regions worth a closer look on the images already shown."""
    limit = run.config["MAX_ROIS_PER_ITERATION"]
    return model_call(
        run,
        "roi_request",
        "flash",
        prompts.ROI_REQUEST.format(limit=limit),
        image_parts(run, images_for_call(run)),
        schema=ROI_SCHEMA,
        facts={"images_sent": list(dict.fromkeys(i.block_id for i in run.desk.images))},
    )


def correction_call(run: Run, wrong: list[str], context: str) -> LLMCall:
    """Once per answer: the right ids for references to blocks that do not exist."""
    task = prompts.CORRECT_CITATIONS.format(wrong=", ".join(wrong), context=context)
    return model_call(
        run, "citation_fix", "flash", task, [], schema=CORRECTION_SCHEMA, facts={"wrong": wrong}
    )
