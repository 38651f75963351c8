"""Loading a document node: its files are checked with `head()` before anything is downloaded,
so a document parsed once is neither downloaded nor parsed again until a file changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.documents.test_search import MARKDOWN
from webapp.documents import sources
from webapp.documents.sources import DOWNLOADED_METRIC, PARSED_METRIC, SourceError, load_node
from webapp.metrics import registry
from webapp.projects.importer import import_set
from webapp.stores import objects


def counts() -> tuple[float, float]:
    return registry().value(PARSED_METRIC), registry().value(DOWNLOADED_METRIC)


@pytest.fixture
def document_id(app, tmp_path: Path) -> str:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "document.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "blocks.json").write_text("[]", encoding="utf-8")
    with app.app_context():
        return import_set(folder, name="Кладка").document_id


def test_unchanged_files_are_neither_downloaded_nor_parsed_again(app, document_id: str) -> None:
    with app.app_context():
        sources.clear_cache()
        before = counts()
        first = load_node(document_id)
        assert counts() == (before[0] + 1, before[1] + 2)  # document.md and blocks.json
        again = load_node(document_id)
        assert counts() == (before[0] + 1, before[1] + 2)
        assert again.document is first.document and again.stamp == first.stamp
        assert first.node is not None and first.node["id"] == document_id


def test_a_changed_file_is_downloaded_and_parsed_again(app, document_id: str) -> None:
    with app.app_context():
        first = load_node(document_id)
        before = counts()
        key = first.keys["result_md"]
        objects().put(key, (MARKDOWN + "\nФундаменты ленточные.\n").encode("utf-8"))
        changed = load_node(document_id)
        assert changed.stamp != first.stamp
        assert counts() == (before[0] + 1, before[1] + 2)
        assert "Фундаменты" in changed.document.blocks[-1].text


def test_a_missing_file_is_a_source_error(app, document_id: str) -> None:
    with app.app_context():
        objects().delete(load_node(document_id).keys["result_md"])
        with pytest.raises(SourceError, match="missing from storage"):
            load_node(document_id)
