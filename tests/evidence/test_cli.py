"""`flask demo`, `flask projects import`, `flask search`, `flask render` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wand.image import Image

from tests.conftest import samples_dir


@pytest.fixture
def demo(app):
    result = app.test_cli_runner().invoke(args=["demo", "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_demo_is_idempotent(app, demo):
    again = app.test_cli_runner().invoke(args=["demo", "--quiet"])
    assert again.output.strip().splitlines()[-1] == demo
    with app.app_context():
        from webapp.stores import projects_db

        documents = projects_db().list_nodes(node_type="document", all_nodes=True)
        crops = projects_db().list_files([demo], ("crop",))
    assert [d["id"] for d in documents] == [demo]
    assert len(crops) == 3 and all(
        c["r2_key"].startswith(f"tree_docs/{demo}/crops/") for c in crops
    )


def test_search_command(app, demo):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["search", demo, "кладовая 107", "--json", "--limit", "3"])
    hits = json.loads(listed.output)
    assert hits[0]["block_id"] == "DEMO-PLAN-001" and hits[0]["score"] > 0
    assert len(hits) <= 3 and {"block_id", "score", "kind", "page", "snippet"} <= set(hits[0])
    table = runner.invoke(args=["search", demo, "перемычки"])
    assert "DEMO-SPEC-001" in table.output
    missing = runner.invoke(args=["search", "00000000-0000-0000-0000-000000000000", "x"])
    assert missing.exit_code != 0 and "not found" in missing.output


def test_render_command(app, demo, tmp_path):
    runner = app.test_cli_runner()
    overview = tmp_path / "plan.png"
    result = runner.invoke(args=["render", demo, "DEMO-PLAN-001", "--out", str(overview)])
    assert result.exit_code == 0, result.output
    assert "grid" in result.output
    with Image(filename=str(overview)) as image:
        assert max(image.size) == 2000
    roi = tmp_path / "roi.png"
    result = runner.invoke(
        args=["render", demo, "DEMO-PLAN-001", "--sector", "b2", "--dpi", "200", "--out", str(roi)]
    )
    assert result.exit_code == 0 and "roi" in result.output and roi.exists()
    bad = runner.invoke(
        args=[
            "render",
            demo,
            "DEMO-PLAN-001",
            "--bbox",
            "0.5,0.5,0.5,0.9",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert bad.exit_code != 0 and not (tmp_path / "x.png").exists()
    unknown = runner.invoke(args=["render", demo, "ZZZZ-ZZZZ-ZZZ", "--out", str(roi)])
    assert unknown.exit_code != 0 and "not in the document" in unknown.output


def test_import_real_sample_with_synthesized_crops(app, tmp_path):
    folder = samples_dir("ar4")
    result = app.test_cli_runner().invoke(
        args=["projects", "import", str(folder), "--synthesize-crops", "--client", "olimp"]
    )
    assert result.exit_code == 0, result.output
    document_id = result.output.strip().splitlines()[-1]
    assert "258 blocks, 135 image blocks, 135 crops (135 synthesized)" in result.output
    with app.app_context():
        from webapp.stores import objects, projects_db

        node = projects_db().get_node(document_id)
        files = projects_db().list_files([document_id])
        crop = next(f for f in files if f["file_type"] == "crop")
        assert objects().get(crop["r2_key"]).startswith(b"%PDF")
    assert node["client_id"] == "olimp" and node["code"] == "133/23-ГК-АР4"
    assert {f["file_type"] for f in files} == {"result_md", "blocks_index", "crop"}


def test_import_rejects_a_folder_without_a_document(app, tmp_path):
    (tmp_path / "empty").mkdir()
    result = app.test_cli_runner().invoke(args=["projects", "import", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "no document.md" in result.output
    assert Path(tmp_path / "empty").exists()


OFF = "shared render_cache/: not used (STORAGE=local)"


def test_cache_commands(app, demo, tmp_path):
    """On the session's backends: with STORAGE=s3 the renders are shared in the bucket too, and
    every command reports on both levels."""
    shared = app.config["STORAGE"] != "local"
    runner = app.test_cli_runner()
    for sector in ("A1", "B2"):
        rendered = runner.invoke(
            args=[
                "render",
                demo,
                "DEMO-PLAN-001",
                "--sector",
                sector,
                "--out",
                str(tmp_path / f"{sector}.png"),
            ]
        )
        assert rendered.exit_code == 0, rendered.output
    node = runner.invoke(args=["render", demo, "DEMO-NODE-001", "--out", str(tmp_path / "n.png")])
    assert node.exit_code == 0, node.output
    numbers = json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)
    assert numbers["entries"] == 3 and numbers["bytes"] > 0
    assert (numbers["shared"] or {}).get("entries") == (3 if shared else None)
    text = runner.invoke(args=["cache", "stats"]).output.splitlines()
    assert "3 entries" in text[0]
    assert text[1].startswith("shared render_cache/: 3 entries" if shared else OFF)
    plan_key = f"tree_docs/{demo}/crops/DEMO-PLAN-001.pdf"
    wildcard = runner.invoke(args=["cache", "invalidate", f"tree_docs/{demo}/crops/%"])
    assert "Removed 0 renders" in wildcard.output  # no wildcard surprises
    assert "Removed 2 renders" in runner.invoke(args=["cache", "invalidate", plan_key]).output
    pruned = runner.invoke(args=["cache", "prune"]).output.strip().splitlines()
    assert pruned[0].startswith('Pruned: {"expired": 0, "evicted": 0, "freed_bytes": 0}')
    shared_pruned = 'Pruned shared render_cache/: {"expired": 0, "evicted": 0, "freed_bytes": 0'
    assert pruned[1].startswith(shared_pruned if shared else OFF)
    cleared = runner.invoke(args=["cache", "clear", "--yes"]).output.strip().splitlines()
    assert cleared[0] == "Removed 1 entries from this host's cache."
    assert cleared[1] == ("Removed 3 shared renders from render_cache/." if shared else OFF)
    assert json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)["entries"] == 0
