"""Acting on what the model asked for: images, zoomed regions, blocks by id, its own searches.

Each request is checked against the run's documents (unknown ids are reported to the model, never
rendered), told to the client as a `tool_call`, carried out, and summed up for the model's next
call. Each returns how much new evidence it brought, so the loop can stop when nothing new comes.
"""

from __future__ import annotations

from webapp.pipeline import prompts
from webapp.pipeline.answer import IMAGE_ID_PREFIX, Answer, RoiRequest
from webapp.pipeline.materials import find_block, ranked_hits
from webapp.pipeline.run import Run
from webapp.runs import events as ev

QUERY_HITS = 8  # hits of one model search query per document
QUERY_FULL = 3  # of which the best new ones are sent in full
ASKED = "запрос модели"


def _tool_call(run: Run, tool: str, parameters: dict, reason: str) -> None:
    run.emit(ev.TOOL_CALL, {"tool": tool, "parameters": parameters, "reason": reason})


def request_images(run: Run, ids: list[str], reason: str) -> int:
    """Overviews (and quadrants) of the image blocks asked for, at most MAX_IMAGES_PER_CALL new
    images a round; ids IMG-n of images already rendered are attached again to the next call."""
    targets, seen, again = [], set(), 0
    for raw in ids:
        if raw.startswith(IMAGE_ID_PREFIX):
            image = run.desk.by_id(raw)
            if image is None:
                run.note(prompts.NOTE_NO_IMAGE.format(image_id=raw))
            elif image not in run.talk.show_again:
                run.talk.show_again.append(image)
                again += image.key not in run.talk.last_shown
            continue
        found = find_block(run.documents, raw)
        if found is None or not found[1].is_image:
            run.note(prompts.NOTE_NO_IMAGE_BLOCK.format(block_id=raw))
        elif found[1].id not in seen:
            seen.add(found[1].id)
            targets.append(found)
    if not targets:
        return again
    _tool_call(run, "request_images", {"image_ids": [b.id for _, b in targets]}, reason)
    run.progress.phase("tool_execution")
    limit, made = run.config["MAX_IMAGES_PER_CALL"], 0
    for index, (document, block) in enumerate(targets, start=1):
        if made >= limit:
            left = ", ".join(b.id for _, b in targets[index - 1 :])
            run.note(prompts.NOTE_NOT_RENDERED.format(limit=limit, block_ids=left))
            break
        run.request.deadline.check()
        made += len(run.desk.overview(document, block, reason))
        run.progress.progress(
            "tool_execution", index / len(targets), f"Изображение блока {block.id}"
        )
    return made + again


def request_rois(run: Run, rois: list[RoiRequest], reason: str) -> int:
    """Zoomed regions of image blocks, at most MAX_ROIS_PER_ITERATION a round."""
    accepted = []
    for roi in rois[: run.config["MAX_ROIS_PER_ITERATION"]]:
        found = find_block(run.documents, roi.block_id)
        if found is None or not found[1].is_image:
            run.note(prompts.NOTE_NO_IMAGE_BLOCK.format(block_id=roi.block_id))
        else:
            accepted.append((found, roi))
    if not accepted:
        return 0
    parameters = {
        "rois": [{**roi.as_event(), "block_id": block.id} for (_, block), roi in accepted],
        "count": len(accepted),
    }
    _tool_call(run, "zoom", parameters, reason)
    run.progress.phase("tool_execution")
    made = 0
    for index, ((document, block), roi) in enumerate(accepted, start=1):
        run.request.deadline.check()
        made += len(run.desk.roi(document, block, roi))
        run.progress.progress(
            "tool_execution", index / len(accepted), f"Увеличение блока {block.id}"
        )
    return made


def read_blocks(run: Run, block_ids: list[str]) -> int:
    """Full texts of blocks the model asked for by id (from the map), for the next call."""
    found = []
    for block_id in block_ids:
        located = find_block(run.documents, block_id)
        if located is None:
            run.note(prompts.NOTE_NO_BLOCK.format(block_id=block_id))
        else:
            found.append(located)
    if not found:
        return 0
    _tool_call(run, "read_blocks", {"block_ids": [b.id for _, b in found]}, ASKED)
    added = sum(run.selection.add(document, block, "requested") for document, block in found)
    run.talk.notes.append(
        prompts.NOTE_BLOCKS_ADDED.format(block_ids=", ".join(b.id for _, b in found))
    )
    return added


def search_for_model(run: Run, queries: list[str]) -> int:
    """The model's own searches: new hits join the materials (the best in full), and the model
    is told which hits it had already been given."""
    _tool_call(run, "search", {"queries": queries}, ASKED)
    run.progress.phase("search")
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
        if new:
            line = prompts.NOTE_SEARCH_NEW.format(query=query, block_ids=", ".join(new))
        else:
            line = prompts.NOTE_SEARCH_NONE.format(query=query)
        if shown:
            line += prompts.NOTE_SEARCH_SHOWN.format(block_ids=", ".join(shown))
        run.talk.notes.append(line)
    return added


def follow_up(run: Run, answer: Answer) -> int:
    """Act on everything the model asked for; returns how much new evidence it brought."""
    for item in answer.ignored:
        run.note(prompts.NOTE_IGNORED.format(item=item))
    new = request_images(run, answer.followup_images, ASKED)
    new += request_rois(run, answer.followup_rois, ASKED)
    if answer.followup_blocks:
        new += read_blocks(run, answer.followup_blocks)
    if answer.search_queries:
        new += search_for_model(run, answer.search_queries)
    return new
