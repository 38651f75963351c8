"""The structured answer the model returns each round (SPEC §8.3), and lenient parsing of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from webapp.llm.jsonstream import first_json_object


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

# Follow-up requests come first, so a round that asks for more evidence says so before it
# writes (and the client is streamed) any answer text.
ANSWER_SCHEMA = _obj(
    {
        "needs_more_evidence": {"type": "boolean"},
        "followup_images": {"type": "array", "items": _STR},
        "followup_rois": {
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
        },
        "answer_markdown": _STR,
        "citations": {
            "type": "array",
            "items": _obj(
                {
                    "block_id": _STR,
                    "kind": {"type": "string", "enum": ["text_block", "image_block", "roi"]},
                    "page_number": {"type": "integer"},
                    "bbox_norm": _BBOX,
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
                    "evidence": {"type": "array", "items": _STR},
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
                    "evidence": {"type": "array", "items": _STR},
                },
                ["item"],
            ),
        },
    },
    ["answer_markdown"],
)

COLLECT_SCHEMA = _obj(
    {
        "selected_block_ids": {"type": "array", "items": _STR},
        "facts": {"type": "array", "items": _STR},
        "followup_images": {"type": "array", "items": _STR},
        "followup_rois": ANSWER_SCHEMA["properties"]["followup_rois"],
    },
    ["selected_block_ids"],
)

ROI_SCHEMA = _obj(
    {"followup_rois": ANSWER_SCHEMA["properties"]["followup_rois"]}, ["followup_rois"]
)


class AnswerFormatError(ValueError):
    """The model's text is not the JSON object the schema asks for."""


@dataclass
class Answer:
    answer_markdown: str = ""
    needs_more_evidence: bool = False
    followup_images: list[str] = field(default_factory=list)
    followup_rois: list[dict] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)
    recommendations: list[dict] = field(default_factory=list)
    diff: list[dict] = field(default_factory=list)

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


def parse_answer(text: str, require_diff: bool = False) -> Answer:
    data = parse_object(text)
    markdown = data.get("answer_markdown")
    if not isinstance(markdown, str):
        raise AnswerFormatError("answer_markdown (a string) is required")
    answer = Answer(
        answer_markdown=markdown,
        needs_more_evidence=bool(data.get("needs_more_evidence")),
        followup_images=[s.strip() for s in _list_of(data.get("followup_images"), str)],
        followup_rois=_list_of(data.get("followup_rois"), dict),
        citations=_list_of(data.get("citations"), dict),
        issues=_list_of(data.get("issues"), dict),
        recommendations=_list_of(data.get("recommendations"), dict),
        diff=_list_of(data.get("diff"), dict),
    )
    if require_diff and not answer.diff and not answer.needs_more_evidence:
        raise AnswerFormatError("diff is required when comparing documents")
    return answer
