"""The structured answer the model returns each round, and lenient parsing of it.

What the model sends is parsed once, here, into typed values: follow-up requests the loop acts
on, and citations the checker verifies. Entries that cannot be understood are dropped and listed
in `Answer.ignored`, so the model is told about them next round instead of the run failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from webapp.documents.model import normalize_block_id
from webapp.evidence.regions import BBox, RegionError, clamp_dpi, parse_region, sector_bbox
from webapp.llm.jsonstream import first_json_object

MAX_SEARCH_QUERIES = 3
MAX_QUERY_CHARS = 200
MAX_FOLLOWUP_BLOCKS = 20
IMAGE_ID_PREFIX = "IMG-"


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "propertyOrdering": list(properties),
    }
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}
_NUM = {"type": "number"}
_BBOX = {"type": "array", "items": _NUM}
_STRINGS = {"type": "array", "items": _STR}
_ROIS = {
    "type": "array",
    "items": _obj(
        {
            "block_id": _STR,
            "bbox_norm": _BBOX,
            "sector": _STR,
            "dpi": {"type": "integer"},
            "reason": _STR,
        },
        ["block_id"],
    ),
}

# Follow-up requests come first, so a round that asks for more evidence says so before it
# writes (and the client is streamed) any answer text.
ANSWER_SCHEMA = _obj(
    {
        "needs_more_evidence": {"type": "boolean"},
        "followup_images": _STRINGS,
        "followup_rois": _ROIS,
        "followup_blocks": _STRINGS,
        "search_queries": _STRINGS,
        "answer_markdown": _STR,
        "citations": {
            "type": "array",
            "items": _obj(
                {
                    "block_id": _STR,
                    "kind": {"type": "string", "enum": ["text_block", "image_block", "roi"]},
                    "page_number": {"type": "integer"},
                    "bbox_norm": _BBOX,
                    "quote": _STR,
                    "note": _STR,
                },
                ["block_id"],
            ),
        },
        "issues": {
            "type": "array",
            "items": _obj(
                {
                    "issue_type": _STR,
                    "severity": _STR,
                    "description": _STR,
                    "evidence": _STRINGS,
                },
                ["description"],
            ),
        },
        "recommendations": {
            "type": "array",
            "items": _obj({"title": _STR, "details": _STR}, ["title"]),
        },
        "diff": {
            "type": "array",
            "items": _obj(
                {
                    "item": _STR,
                    "before": _STR,
                    "after": _STR,
                    "impact": _STR,
                    "evidence": _STRINGS,
                },
                ["item"],
            ),
        },
    },
    ["answer_markdown"],
)

COLLECT_SCHEMA = _obj(
    {
        "selected_block_ids": _STRINGS,
        "facts": _STRINGS,
        "followup_images": _STRINGS,
        "followup_rois": _ROIS,
    },
    ["selected_block_ids"],
)

ROI_SCHEMA = _obj({"followup_rois": _ROIS}, ["followup_rois"])

CORRECTION_SCHEMA = _obj(
    {
        "corrections": {
            "type": "array",
            "items": _obj({"wrong_id": _STR, "block_id": _STR}, ["wrong_id", "block_id"]),
        }
    },
    ["corrections"],
)


class AnswerFormatError(ValueError):
    """The model's text is not the JSON object the schema asks for."""


@dataclass(frozen=True)
class RoiRequest:
    """A zoomed region the model asked for: a box (0..1 of the crop) or a sector A1…C3."""

    block_id: str
    bbox: BBox | None  # wins over the sector when both are given
    sector: str | None
    dpi: int
    reason: str

    def region(self, margin: float) -> BBox:
        """The region to render; a sector gets `margin` around it."""
        if self.bbox is not None:
            return self.bbox
        return sector_bbox(self.sector or "", margin)

    def as_event(self) -> dict[str, Any]:
        return {
            "block_id": self.block_id,
            "bbox_norm": self.bbox.as_list() if self.bbox else None,
            "sector": self.sector,
            "dpi": self.dpi,
        }


@dataclass
class Answer:
    answer_markdown: str = ""
    needs_more_evidence: bool = False
    followup_images: list[str] = field(default_factory=list)  # block ids or IMG-n
    followup_rois: list[RoiRequest] = field(default_factory=list)
    followup_blocks: list[str] = field(default_factory=list)
    search_queries: list[str] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)
    recommendations: list[dict] = field(default_factory=list)
    diff: list[dict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # what could not be understood, for the model

    @property
    def asks_for_more(self) -> bool:
        return bool(
            self.followup_images
            or self.followup_rois
            or self.followup_blocks
            or self.search_queries
        )

    def structured(self) -> dict[str, Any]:
        return {
            "citations": self.citations,
            "issues": self.issues,
            "recommendations": self.recommendations,
            "diff": self.diff,
        }


def parse_object(text: str) -> dict[str, Any]:
    """The first JSON object in the text, leniently (fences and prose around it are ignored)."""
    candidate = first_json_object(text or "")
    if candidate is None:
        raise AnswerFormatError("the reply contains no JSON object")
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise AnswerFormatError(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AnswerFormatError("the reply is not a JSON object")
    return value


def _list_of(value: Any, kind: type) -> list:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, kind)]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def _ids(value: Any, name: str, ignored: list[str], allow_images: bool = False) -> list[str]:
    """Block ids (and, where allowed, image ids IMG-n) from a list; the rest is reported."""
    result: list[str] = []
    for item in value if isinstance(value, list) else []:
        text = item.strip() if isinstance(item, str) else ""
        image_id = text.upper().replace(" ", "")
        if allow_images and image_id.startswith(IMAGE_ID_PREFIX) and image_id[4:].isdigit():
            canonical = image_id
        else:
            canonical = normalize_block_id(text.strip("[]#() ")) if text else None
        if canonical is None:
            ignored.append(f"{name}: «{_short(item)}» — не id блока")
        elif canonical not in result:
            result.append(canonical)
    return result


def parse_rois(value: Any, ignored: list[str]) -> list[RoiRequest]:
    """The model's ROI requests, each with a block id and a usable box or sector."""
    rois = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            ignored.append(f"followup_rois: «{_short(item)}» — не объект")
            continue
        block_id = normalize_block_id(item.get("block_id"))
        if block_id is None:
            ignored.append(f"followup_rois: «{_short(item)}» — нет block_id")
            continue
        raw_bbox, raw_sector = item.get("bbox_norm"), item.get("sector")
        try:
            region = parse_region(raw_bbox, raw_sector, margin=0.0)
        except RegionError as exc:
            ignored.append(f"followup_rois: {block_id}: {exc}")
            continue
        bbox_given = raw_bbox is not None and not (
            isinstance(raw_bbox, str) and not raw_bbox.strip()
        )
        reason = item.get("reason")
        rois.append(
            RoiRequest(
                block_id,
                region if bbox_given else None,
                None if bbox_given else str(raw_sector).strip().upper(),
                clamp_dpi(item.get("dpi")),
                reason.strip() if isinstance(reason, str) and reason.strip() else "увеличение",
            )
        )
    return rois


def parse_queries(value: Any, ignored: list[str]) -> list[str]:
    """Up to three search queries, each a short non-blank string."""
    queries: list[str] = []
    for item in value if isinstance(value, list) else []:
        text = " ".join(item.split())[:MAX_QUERY_CHARS] if isinstance(item, str) else ""
        if not text:
            ignored.append(f"search_queries: «{_short(item)}» — пустой или не строка")
        elif text not in queries:
            queries.append(text)
    if len(queries) > MAX_SEARCH_QUERIES:
        ignored.append(f"search_queries: выполнены только первые {MAX_SEARCH_QUERIES}")
    return queries[:MAX_SEARCH_QUERIES]


def parse_answer(text: str) -> Answer:
    data = parse_object(text)
    markdown = data.get("answer_markdown")
    if not isinstance(markdown, str):
        raise AnswerFormatError("answer_markdown (a string) is required")
    ignored: list[str] = []
    blocks = _ids(data.get("followup_blocks"), "followup_blocks", ignored)
    if len(blocks) > MAX_FOLLOWUP_BLOCKS:
        ignored.append(f"followup_blocks: прочитаны только первые {MAX_FOLLOWUP_BLOCKS}")
    return Answer(
        answer_markdown=markdown,
        needs_more_evidence=bool(data.get("needs_more_evidence")),
        followup_images=_ids(
            data.get("followup_images"), "followup_images", ignored, allow_images=True
        ),
        followup_rois=parse_rois(data.get("followup_rois"), ignored),
        followup_blocks=blocks[:MAX_FOLLOWUP_BLOCKS],
        search_queries=parse_queries(data.get("search_queries"), ignored),
        citations=_list_of(data.get("citations"), dict),
        issues=_list_of(data.get("issues"), dict),
        recommendations=_list_of(data.get("recommendations"), dict),
        diff=_list_of(data.get("diff"), dict),
        ignored=ignored,
    )
