"""`flask materials`: what the model reads in round one, and why, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import app_settings, samples_dir
from webapp import create_app


def _app(tmp_path: Path, **extra):
    return create_app(app_settings(tmp_path / "data", **extra))


def _import_demo(app) -> str:
    result = app.test_cli_runner().invoke(args=["demo", "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_materials_json_lists_blocks_with_reasons(tmp_path):
    app = _app(tmp_path, PREFIX_DOCUMENT_CHARS=0)  # the demo is short: make it use the map
    demo = _import_demo(app)
    result = app.test_cli_runner().invoke(
        args=["materials", demo, "Какая площадь кладовой 107?", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"blocks", "map_chars", "materials_chars", "total_chars"}
    assert data["blocks"][0]["block_id"] == "DEMO-PLAN-001"
    assert data["blocks"][0]["reason"] == "search" and data["blocks"][0]["score"] > 0
    assert 0 < data["map_chars"] < data["total_chars"]
    assert data["materials_chars"] > 0
    assert data["total_chars"] > data["map_chars"] + data["materials_chars"]  # system, question


def test_materials_text_and_errors(tmp_path):
    app = _app(tmp_path)
    demo = _import_demo(app)
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["materials", demo, "О чём этот документ?"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    first = next(line for line in lines if "DEMO-TITL-001" in line)
    assert "title" in first and "in prefix" in first  # a short document is sent whole
    assert "the whole document" in lines[-1]
    complex_mode = runner.invoke(args=["materials", demo, "кладовая", "--mode", "complex"])
    assert "1 call(s)" in complex_mode.output
    missing = runner.invoke(args=["materials", "00000000-0000-0000-0000-000000000000", "x"])
    assert missing.exit_code != 0 and "not found" in missing.output
    blank = runner.invoke(args=["materials", demo, "   "])
    assert blank.exit_code == 2 and "empty" in blank.output


def test_materials_on_the_ar4_sample(tmp_path):
    ar4 = samples_dir("ar4")
    app = _app(tmp_path)
    imported = app.test_cli_runner().invoke(args=["projects", "import", str(ar4), "--quiet"])
    assert imported.exit_code == 0, imported.output
    document = imported.output.strip().splitlines()[-1]
    result = app.test_cli_runner().invoke(args=["materials", document, "Кто ГИП?", "--json"])
    data = json.loads(result.output)
    by_id = {b["block_id"]: b for b in data["blocks"]}
    assert by_id["96YE-Q63A-JUR"]["reason"] == "title"  # "Главный инженер проектов"
    assert data["map_chars"] < 25_000
    reference = len((ar4 / "document.md").read_text(encoding="utf-8"))
    assert data["total_chars"] < reference / 4  # a tenth of the reference's round, with room


@pytest.mark.parametrize("question", ["на 7-м этаже какие перемычки?", "7-го этажа перемычки"])
def test_materials_put_the_asked_floor_first(tmp_path, question):
    app = _app(tmp_path)
    imported = app.test_cli_runner().invoke(
        args=["projects", "import", str(samples_dir("ar4")), "--quiet"]
    )
    document = imported.output.strip().splitlines()[-1]
    data = json.loads(
        app.test_cli_runner().invoke(args=["materials", document, question, "--json"]).output
    )
    with app.app_context():
        from webapp.documents.sources import load_node

        loaded = load_node(document).document
    pages = [loaded.get(b["block_id"]).page for b in data["blocks"][:5]]
    assert pages and all(page == 9 for page in pages), pages  # sheet 5.1: the 7th floor


def test_review_questions_see_every_sheet(tmp_path):
    app = _app(tmp_path)
    imported = app.test_cli_runner().invoke(
        args=["projects", "import", str(samples_dir("ar4")), "--quiet"]
    )
    document = imported.output.strip().splitlines()[-1]
    data = json.loads(
        app.test_cli_runner()
        .invoke(args=["materials", document, "Какие ошибки есть в проекте?", "--json"])
        .output
    )
    with app.app_context():
        from webapp.documents.sources import load_node

        loaded = load_node(document).document
    pages = {loaded.get(b["block_id"]).page for b in data["blocks"]}
    assert pages == {b.page for b in loaded.blocks}  # every page is represented
    reasons = {b["reason"] for b in data["blocks"]}
    assert {"title", "map"} <= reasons
