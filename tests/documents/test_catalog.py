"""The cross-document index: documents found by title, sheet title, abbreviation and text, per
client, kept up to date when a document changes, built lazily within a budget, shared by
processes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.drawing_sets import write_set
from webapp.documents.catalog import Catalog
from webapp.documents.catalog_sync import CatalogKeeper, document_catalog
from webapp.documents.sources import document_nodes
from webapp.projects.importer import import_set
from webapp.stores import objects, projects_db

SETS = {
    "masonry": (
        "Кладочные планы надземной части",
        "133/23-ГК-АР4",
        [
            ("Кладочный план 2-го этажа", ["Кладка стен из кирпича КР-р-по 250х120х65."]),
            ("Спецификация перемычек", ["Перемычки В3-14 над проемами."]),
        ],
    ),
    "heating": (
        "Отопление и вентиляция",
        "133/23-ГК-04",  # no "ОВ" in its code: only the glossary links the two
        [
            ("Схема систем отопления", ["Радиаторы стальные панельные, теплоноситель 80-60."]),
            ("План вентиляции подвала", ["Воздуховоды из оцинкованной стали."]),
        ],
    ),
    "roof": (
        "Архитектурные решения",
        "133/23-ГК-АР",
        [
            ("План кровли", ["Водосточные воронки, парапет высотой 1,2 м."]),
            ("Фасады в осях 1-9", ["Навесная фасадная система с облицовкой керамогранитом."]),
        ],
    ),
    "water": (
        "Раздел ВК",
        "133/23-ГК-ВК",
        [("Ведомость листов", ["Трубопроводы из полипропилена, стояки Ст1-Ст4."])],
    ),
}


@pytest.fixture
def imported(app, tmp_path: Path) -> dict[str, str]:
    """The sets above imported (each is catalogued by the import): name -> document id."""
    ids = {}
    with app.app_context():
        for key, (title, code, sheets) in SETS.items():
            folder = write_set(tmp_path / key, title, code, sheets)
            ids[key] = import_set(folder, client_id="acme", project="P").document_id
    return ids


def picked(question: str, client_id: str | None = None, budget: int = 0) -> list[str]:
    pick = document_catalog().pick(question, client_id, limit=4, budget=budget)
    return [node["id"] for node, _ in pick.candidates]


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Покажи кладочные планы", "masonry"),  # the document's title
        ("АР4", "masonry"),  # its code
        ("Что показано на плане кровли?", "roof"),  # a sheet title
        ("Где схема систем отопления?", "heating"),  # a sheet title of another
        ("Какие воздуховоды?", "heating"),  # its text
        ("Раздел ОВ", "heating"),  # an abbreviation of its title
        ("водопровод и канализация", "water"),  # the expansion of "ВК" in its title
        ("Какая навесная фасадная система?", "roof"),  # text, also as НФС
        ("Где указана НФС?", "roof"),  # the abbreviation of text in the document
    ],
)
def test_candidates_found(app, imported, question: str, expected: str) -> None:
    with app.app_context():
        assert picked(question)[0] == imported[expected]


def test_a_question_matching_nothing_picks_nothing(app, imported) -> None:
    with app.app_context():
        assert picked("Какая марка бетона фундаментов?") == []


def test_client_filter(app, imported, tmp_path: Path) -> None:
    title, code, sheets = SETS["roof"]
    with app.app_context():
        other = import_set(
            write_set(tmp_path / "other", title, code, sheets), client_id="globex", project="P"
        ).document_id
        assert picked("План кровли", "acme") == [imported["roof"]]
        assert picked("План кровли", "globex") == [other]
        assert set(picked("План кровли")) == {imported["roof"], other}
        assert picked("План кровли", "nobody") == []


def test_a_new_version_replaces_the_old_one(app, imported, tmp_path: Path) -> None:
    """Imported again (the node's updated_at changes), then a file replaced in storage with
    the node untouched (its ETag changes): each time the row follows the document."""
    folder = write_set(
        tmp_path / "v2", "Кладочные планы надземной части", "133/23-ГК-АР4",
        [("Кладочный план 2-го этажа", ["Армирование кладки сетками из проволоки Вр-I."])],
    )  # fmt: skip
    with app.app_context():
        import_set(folder, client_id="acme", project="P", document_id=imported["masonry"])
        assert picked("армирование сетками") == [imported["masonry"]]
        assert picked("перемычки над проемами") == []
        node = projects_db().get_node(imported["heating"])
        key = projects_db().list_files([node["id"]], ("result_md",))[0]["r2_key"]
        title, code, sheets = SETS["heating"]
        text = (tmp_path / "heating" / "document.md").read_text(encoding="utf-8")
        objects().put(key, text.replace("Воздуховоды", "Дефлекторы").encode("utf-8"))
        assert picked("дефлекторы") == []  # nothing told the catalog yet
        keeper = document_catalog()
        from webapp.documents.sources import load_node

        keeper.note_loaded(load_node(node["id"]))  # a question loaded it: its ETag changed
        assert picked("дефлекторы") == [imported["heating"]]
        assert picked("воздуховоды") == []


def test_documents_not_catalogued_are_catalogued_within_the_budget(app, imported) -> None:
    with app.app_context():
        keeper = document_catalog()
        keeper.catalog.remove(imported.values())  # e.g. documents the production DB already had
        pick = keeper.pick("План кровли", None, limit=4, budget=1)
        assert (pick.indexed, pick.pending) == (1, 3)
        assert keeper.drain() == 3 and keeper.pending() == 0
        assert picked("План кровли") == [imported["roof"]]
        assert keeper.stale(document_nodes(None)) == []


def test_a_changed_node_is_catalogued_again(app, imported) -> None:
    with app.app_context():
        node = projects_db().get_node(imported["water"])
        projects_db().upsert_node(**{k: node[k] for k in ("id", "client_id", "node_type",
                                                          "parent_id", "code")},
                                  name="Водоснабжение и канализация")  # fmt: skip
        keeper = document_catalog()
        assert [n["id"] for n in keeper.stale(document_nodes(None))] == [imported["water"]]
        assert picked("водоснабжение", budget=1) == [imported["water"]]
        assert keeper.stale(document_nodes(None)) == []


def test_a_document_that_cannot_be_read_is_catalogued_by_name(app, imported) -> None:
    with app.app_context():
        key = projects_db().list_files([imported["water"]], ("result_md",))[0]["r2_key"]
        objects().delete(key)
        keeper = document_catalog()
        keeper.catalog.remove([imported["water"]])
        assert picked("Раздел ВК", budget=5) == [imported["water"]]
        assert keeper.stale(document_nodes(None)) == []  # not tried again until it changes


def test_processes_share_the_catalog_and_one_catalogues_each_document(
    app, imported, tmp_path: Path
) -> None:
    """Two keepers on one file (two workers): a document claimed by one is skipped by the
    other until the claim is abandoned."""
    with app.app_context():
        first = document_catalog()
        second = CatalogKeeper(Catalog(first.catalog.db_path), app)
        first.catalog.remove([imported["roof"]])
        node = projects_db().get_node(imported["roof"])
        stamp = str(node["updated_at"])
        assert first.catalog.claim(node["id"], stamp, first.owner)  # first is building it
        assert second.index_node(node) is False
        assert imported["roof"] not in picked("План кровли")
        with sqlite3.connect(first.catalog.db_path) as connection:
            connection.execute("UPDATE catalog_claims SET claimed_at = claimed_at - 3600")
        assert node["id"] not in first.catalog.stamps()  # (kept by the first one, too)
        assert second.index_node(node) is True  # the first one died: taken over
        assert node["id"] in first.catalog.stamps()  # a row another process wrote is seen
        assert first.index_node(node) is False  # fresh now
        assert picked("План кровли") == [imported["roof"]]


def test_deleted_documents_are_pruned(app, imported) -> None:
    with app.app_context():
        catalog = document_catalog().catalog
        keep = [imported["roof"], imported["water"]]
        assert catalog.prune("acme", keep, grace_seconds=3600) == 0  # too recent
        assert catalog.prune("globex", keep, grace_seconds=0) == 0  # another client's
        assert catalog.prune("acme", keep, grace_seconds=0) == 2
        assert set(catalog.stamps()) == set(keep)


def test_a_serving_worker_catalogues_in_the_background(app, imported) -> None:
    """What a worker does from warm-up on: catalogue every stale document of the projects DB,
    then whatever questions queue."""
    with app.app_context():
        keeper = document_catalog()
        keeper.catalog.remove(imported.values())
        keeper.start_background()
        try:
            deadline = time.monotonic() + 60
            while keeper.stale(document_nodes(None)):
                assert time.monotonic() < deadline, "the background worker did not catalogue"
                time.sleep(0.05)
            assert picked("Раздел ОВ")[0] == imported["heating"]
        finally:
            keeper.stop_background()
