"""One answer being worked out: what it starts from, and the little state its rounds share.

A `Run` is complete when built — the request, the strategy, the engine and how it is called, the
documents with their prefix, the evidence desk, the answer stream and the citation checker — so
no stage has to wonder whether a field is set yet. What changes while it runs is grouped: the
selection of blocks, the facts the collector found, and `Conversation` (what the model asked for
and what it should be told next).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from webapp.documents.sources import LoadedDocument
from webapp.llm.base import FilePart, ImagePart, LLMEngine
from webapp.pipeline.answer import Answer
from webapp.pipeline.calls import Caller
from webapp.pipeline.citations import CitationChecker
from webapp.pipeline.evidence import EvidenceDesk
from webapp.pipeline.intent import Intent
from webapp.pipeline.materials import Prefix, Selection
from webapp.pipeline.tokens import AnswerStream
from webapp.runs import events as ev
from webapp.runs.request import RunRequest


@dataclass(frozen=True)
class Strategy:
    """What distinguishes the three modes; the loop is the same."""

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


@dataclass(frozen=True)
class Progress:
    """The run's `phase_started` / `phase_progress` events."""

    emit: ev.Emit

    def phase(self, phase: str, description: str | None = None) -> None:
        self.emit(
            ev.PHASE_STARTED, {"phase": phase, "description": description or ev.PHASE_TEXT[phase]}
        )

    def progress(self, phase: str, fraction: float, message: str) -> None:
        self.emit(
            ev.PHASE_PROGRESS, {"phase": phase, "progress": round(fraction, 3), "message": message}
        )


@dataclass
class Conversation:
    """What passes between rounds: the model's requests and what it is told about them."""

    notes: list[str] = field(default_factory=list)  # results of the last round's requests
    show_again: list[ImagePart] = field(default_factory=list)  # images asked to be seen again
    last_shown: set[str] = field(default_factory=set)  # image keys attached to the last call
    best: Answer | None = None  # the answer to keep: the last one with text


@dataclass
class Run:
    """Everything one answer is worked out from, and what it produced so far."""

    request: RunRequest
    strategy: Strategy
    intent: Intent
    engine: LLMEngine
    caller: Caller
    progress: Progress
    documents: list[LoadedDocument]
    prefix: Prefix
    desk: EvidenceDesk
    stream: AnswerStream
    checker: CitationChecker
    role_text: str | None
    file_parts: list[FilePart]
    selection: Selection = field(default_factory=Selection)
    facts: list[str] = field(default_factory=list)
    talk: Conversation = field(default_factory=Conversation)

    @property
    def config(self) -> Mapping[str, Any]:
        return current_app.config

    @property
    def question(self) -> str:
        return self.request.message["content"]

    @property
    def emit(self) -> ev.Emit:
        return self.progress.emit

    def note(self, text: str) -> None:
        """Something the model should be told in its next calls (kept, the newest shown)."""
        self.desk.problems.append(text)
