"""What the question needs, from keywords: cheap, deterministic, never fails the run."""

from __future__ import annotations

import re
from dataclasses import dataclass

VISUAL = re.compile(
    r"(размер|толщин|отметк|высот|ширин|длин|узел|узл|разрез|сечени|схем|план|чертеж|чертёж|"
    r"где\b|покаж|расположен|ос[иья]\b|осям|привязк|армирован|диаметр|шаг|марк|проём|проем|"
    r"уклон|площад|dimension|drawing|where)",
    re.IGNORECASE,
)
COMPARE = re.compile(r"(сравн|отлич|разниц|измени|compare|differ)", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    needs_visual: bool
    comparison: bool
    summary: str


def detect_intent(question: str) -> Intent:
    visual = bool(VISUAL.search(question))
    comparison = bool(COMPARE.search(question))
    kinds = [k for k, on in (("визуальная проверка", visual), ("сравнение", comparison)) if on]
    return Intent(visual, comparison, ", ".join(kinds) or "текстовый вопрос")
