"""The offline engine: deterministic, no network, the same pipeline end to end.

It plays the model's part with what the pipeline gives it (`LLMCall.facts`): asks for overviews of
the best image blocks so rendering really runs, then answers with a digest of the best blocks —
the search excerpt around the matched words, cited as `[#ID]` with its page — streamed token by
token, saying first that no language model is configured. A question about the whole document is
answered from the title blocks and the outline of the set.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from webapp.llm.base import DeltaSink, LLMCall, LLMEngine, LLMResult, prompt_chars

NOTICE = (
    "> ⚠️ Языковая модель не настроена: это автоматическая сводка найденных фрагментов "
    "документа (локальный режим). Задайте DEFAULT_GEMINI_API_KEY для полноценных ответов."
)
EXCERPT_CHARS = 400
IMAGES_TO_REQUEST = 2


def _excerpt(text: str) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


def _quote(block: dict[str, Any]) -> str:
    """What matched: the search excerpt around the question's words, else the block's start."""
    return block.get("snippet") or _excerpt(block.get("text", ""))


class LocalEngine(LLMEngine):
    name = "local"

    def __init__(self, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay

    def model_name(self, role: str) -> str:
        return f"local-{role}"

    def upload_file(self, data: bytes, mime_type: str, display_name: str) -> dict[str, str]:
        """Files stay in our storage; the caller names them `aizoomdoc://files/<id>`."""
        return {"uri": "", "name": "", "state": "ACTIVE"}

    def generate(self, call: LLMCall, on_delta: DeltaSink | None = None) -> LLMResult:
        handler = {
            "answer": self._answer,
            "collect": self._collect,
            "roi_request": self._roi_request,
            "citation_fix": self._citation_fix,
        }[call.purpose]
        reply = handler(call.facts)
        text = json.dumps(reply, ensure_ascii=False)
        if on_delta and call.stream_field and not reply.get("needs_more_evidence"):
            for token in re.findall(r"\S+\s*|\s+", reply.get(call.stream_field, "")):
                on_delta("token", token)
                if self.token_delay:
                    time.sleep(self.token_delay)
        return LLMResult(
            text=text, model=self.model_name(call.model_role), prompt_chars=prompt_chars(call)
        )

    # --- the three kinds of call --------------------------------------------------------------
    @staticmethod
    def _wanted_images(facts: dict[str, Any]) -> list[str]:
        sent = set(facts.get("images_sent", []))
        return [b for b in facts.get("image_candidates", []) if b not in sent][:IMAGES_TO_REQUEST]

    def _answer(self, facts: dict[str, Any]) -> dict[str, Any]:
        wanted = [] if facts.get("images_requested_once") else self._wanted_images(facts)
        if wanted:
            return {
                "needs_more_evidence": True,
                "followup_images": wanted,
                "followup_rois": [],
                "answer_markdown": "Запрашиваю изображения чертежей.",
            }
        blocks = facts.get("blocks", [])[:5]
        lines = [NOTICE, ""]
        if not blocks:
            lines.append("В документах не нашлось фрагментов, относящихся к вопросу.")
        else:
            lines.append(f"**Вопрос:** {facts.get('question', '').strip()}")
            lines.append("")
            lines.append("Наиболее подходящие фрагменты:")
            for block in blocks:
                page = f", стр. {block['page']}" if block.get("page") else ""
                lines.append("")
                lines.append(f"- [#{block['id']}] ({block['kind']}{page}):")
                lines.append(f"  > {_quote(block)}")
        if facts.get("whole_document") and facts.get("outline"):
            lines.append("")
            lines.append("Состав комплекта по страницам:")
            lines += [f"- {line}" for line in facts["outline"][:40]]
        images = facts.get("images_sent", [])
        if images:
            lines.append("")
            lines.append("Просмотрены изображения блоков: " + ", ".join(images) + ".")
        citations = [
            {
                "block_id": b["id"],
                "kind": "image_block" if b["kind"] == "image" else "text_block",
                "page_number": b.get("page"),
                "quote": _quote(b).strip("…"),
                "note": "фрагмент из сводки",
            }
            for b in blocks
        ]
        diff = []
        if facts.get("compare"):
            diff = [
                {
                    "item": "Сравнение",
                    "before": "DOC_A",
                    "after": "DOC_B",
                    "impact": "Без языковой модели различия не анализируются.",
                    "evidence": [b["id"] for b in blocks[:2]],
                }
            ]
        return {
            "needs_more_evidence": False,
            "followup_images": [],
            "followup_rois": [],
            "answer_markdown": "\n".join(lines),
            "citations": citations,
            "issues": [],
            "recommendations": [],
            "diff": diff,
        }

    def _collect(self, facts: dict[str, Any]) -> dict[str, Any]:
        return {
            "selected_block_ids": [b["id"] for b in facts.get("blocks", [])[:8]],
            "facts": [],
            "followup_images": self._wanted_images(facts),
            "followup_rois": [],
        }

    @staticmethod
    def _citation_fix(facts: dict[str, Any]) -> dict[str, Any]:
        """Without a model there is nothing to ask: unknown references are dropped."""
        return {"corrections": [{"wrong_id": w, "block_id": ""} for w in facts.get("wrong", [])]}

    @staticmethod
    def _roi_request(facts: dict[str, Any]) -> dict[str, Any]:
        targets = facts.get("images_sent", [])[:1]
        return {
            "followup_rois": [
                {"block_id": b, "sector": "B2", "dpi": 200, "reason": "центральная часть чертежа"}
                for b in targets
            ]
        }
