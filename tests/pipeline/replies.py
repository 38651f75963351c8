"""Scripted model turns for the pipeline tests, and readers of what the server sent."""

from __future__ import annotations

from tests.support.fake_gemini import Reply

PLAN, SECTION, NODE = "DEMO-PLAN-001", "DEMO-SECT-001", "DEMO-NODE-001"
NOTES, NOTES2, SPEC, NODE_NOTES = "DEMO-NOTE-001", "DEMO-NOTE-002", "DEMO-SPEC-001", "DEMO-NOTE-003"


def final(markdown: str = "Ответ: 13,77 м² [#DEMO-PLAN-001].", **extra) -> Reply:
    """A round that answers and asks for nothing more."""
    return Reply(
        json={
            "needs_more_evidence": False,
            "followup_images": [],
            "followup_rois": [],
            "answer_markdown": markdown,
            "citations": [{"block_id": PLAN, "kind": "image_block", "page_number": 4}],
            **extra,
        }
    )


def wants(images=(), rois=(), blocks=(), queries=(), note: str = "Смотрю чертёж", **extra) -> Reply:
    """A round that asks for more evidence."""
    return Reply(
        json={
            "needs_more_evidence": True,
            "followup_images": list(images),
            "followup_rois": list(rois),
            "followup_blocks": list(blocks),
            "search_queries": list(queries),
            "answer_markdown": note,
            **extra,
        }
    )


def texts(request) -> list[str]:
    """Every text part of a generate request (history, prefix, question, captions)."""
    return [p["text"] for c in request.body["contents"] for p in c["parts"] if "text" in p]


def user_parts(request) -> list[dict]:
    """The parts of the request's last (current) user turn."""
    return request.body["contents"][-1]["parts"]


def joined_tokens(events) -> str:
    return "".join(data["token"] for _, name, data in events if name == "llm_token")
