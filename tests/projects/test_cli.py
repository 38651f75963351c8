"""`flask projects import` through the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import samples_dir


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
