"""A question without documents: the cross-document index picks them, and only the picked ones
are loaded and parsed, among the caller's client's documents only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.documents.test_catalog import SETS
from tests.support.chat_session import Session, names, of
from tests.support.drawing_sets import write_set
from webapp.documents import sources
from webapp.documents.sources import PARSED_METRIC
from webapp.metrics import registry
from webapp.projects.importer import import_set


@pytest.fixture
def library(app, tmp_path: Path) -> dict[str, str]:
    """Eight documents of client acme (the sets, each twice) and the roof set of globex."""
    ids = {}
    with app.app_context():
        for copy in ("", " (копия)"):
            for key, (title, code, sheets) in SETS.items():
                folder = write_set(tmp_path / f"{key}{copy}", title + copy, code, sheets)
                result = import_set(folder, client_id="acme", project="P")
                ids[key + copy] = result.document_id
        title, code, sheets = SETS["roof"]
        folder = write_set(tmp_path / "globex", "Кровля склада", code, sheets)
        ids["globex"] = import_set(folder, client_id="globex", project="P").document_id
    return ids


def parses(app) -> float:
    with app.app_context():
        return registry().value(PARSED_METRIC)


def chosen_note(events) -> str:
    notes = [
        e["message"] for e in of(events, "phase_progress") if "выбраны по поиску" in e["message"]
    ]
    assert len(notes) == 1, of(events, "phase_progress")
    return notes[0]


def test_only_the_picked_documents_are_parsed(app, client, alice, library) -> None:
    sources.clear_cache()  # a worker that has parsed none of them
    before = parses(app)
    session = Session(app, client, alice.headers, "")
    events = session.ask(
        "Что показано на плане кровли? Какой парапет?", documents=[], query="?client_id=acme"
    )
    assert names(events)[-1] == "completed"
    note = chosen_note(events)
    assert note.count("«") == 2 and note.count("Архитектурные решения") == 2
    assert parses(app) - before == 2  # of acme's 8 documents, the 2 picked ones
    again = session.ask("А водосточные воронки?", documents=[], query="?client_id=acme")
    assert names(again)[-1] == "completed"
    assert parses(app) - before == 2  # parsed documents are kept


def test_a_client_gets_only_its_own_documents(app, client, alice, library) -> None:
    session = Session(app, client, alice.headers, "")
    everyone = session.ask("Кровля склада", documents=[])  # no client: every document
    assert "«Кровля склада (133/23-ГК-АР)»" in chosen_note(everyone)
    events = session.ask("План кровли", documents=[], query="?client_id=globex")
    assert names(events)[-1] == "completed"
    assert "«Кровля склада (133/23-ГК-АР)»" in chosen_note(events)
    assert "Архитектурные решения" not in chosen_note(events)
