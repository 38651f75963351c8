"""Finding crops and the LLM dialog log."""

from __future__ import annotations

import pytest

from tests.support.chat_session import names
from tests.support.fake_gemini import API_KEY
from webapp.documents.model import Block, Document


@pytest.fixture
def loaded(app):
    from webapp.documents.sources import LoadedDocument

    document = LoadedDocument(
        "11111111-2222-3333-4444-555555555555",
        "Док",
        Document(blocks=[Block("AAAA-BBBB-CCC", "image")]),
    )
    return document


def test_crop_urls_map_back_to_keys(tmp_path, loaded):
    from tests.conftest import app_settings
    from webapp import create_app
    from webapp.evidence.crops import key_for_url

    app = create_app(
        app_settings(
            tmp_path, S3_DEV_URL="https://pub-x.r2.dev", R2_PUBLIC_DOMAIN="files.example.org"
        )
    )
    with app.app_context():
        folder = loaded.folder
        assert key_for_url("crops/AAAA-BBBB-CCC.pdf", loaded) == f"{folder}/crops/AAAA-BBBB-CCC.pdf"
        assert key_for_url(f"{folder}/crops/A.pdf", loaded) == f"{folder}/crops/A.pdf"
        assert (
            key_for_url("https://pub-x.r2.dev/tree_docs/d/crops/%D0%AF.pdf?x=1", loaded)
            == "tree_docs/d/crops/Я.pdf"
        )
        assert key_for_url("https://files.example.org/tree_docs/d/c.png", loaded) == (
            "tree_docs/d/c.png"
        )
        assert key_for_url("https://elsewhere.example/tree_docs/d/c.png", loaded) is None


def test_resolve_prefers_index_then_projects_then_convention(app, loaded):
    from webapp.evidence.crops import CropError, resolve_crop

    block = loaded.document.blocks[0]
    with app.app_context():
        from webapp.stores import objects, projects_db

        with pytest.raises(CropError, match="no crop"):
            resolve_crop(loaded, block)
        objects().put(f"{loaded.folder}/crops/AAAA-BBBB-CCC.png", b"\x89PNG conventional")
        assert resolve_crop(loaded, block).source_id.endswith("AAAA-BBBB-CCC.png")
        projects_db().upsert_node(id=loaded.id, client_id="c", node_type="document", name="d")
        objects().put("tree_docs/elsewhere/aaaa-bbbb-ccc.pdf", b"%PDF-1.4 from projects")
        projects_db().upsert_node_file(
            node_id=loaded.id,
            file_type="crop",
            file_name="x.pdf",
            r2_key="tree_docs/elsewhere/aaaa-bbbb-ccc.pdf",
        )
        assert resolve_crop(loaded, block).source_id == "tree_docs/elsewhere/aaaa-bbbb-ccc.pdf"
        objects().put(f"{loaded.folder}/crops/index.pdf", b"%PDF-1.4 from index")
        block.crop_url = "crops/index.pdf"
        source = resolve_crop(loaded, block)
        assert source.source_id.endswith("crops/index.pdf") and source.media_type == (
            "application/pdf"
        )


def test_foreign_urls_only_from_allowed_public_hosts(tmp_path, loaded):
    from tests.conftest import app_settings
    from webapp import create_app
    from webapp.evidence.crops import CropError, resolve_crop

    app = create_app(app_settings(tmp_path, CROP_FETCH_ALLOWED_HOSTS=["localhost"]))
    block = loaded.document.blocks[0]
    with app.app_context():
        block.crop_url = "https://cdn.example.net/crop.pdf"
        with pytest.raises(CropError, match="not allowed"):
            resolve_crop(loaded, block)
        block.crop_url = "http://localhost/crop.pdf"  # allowed by name, but loopback
        with pytest.raises(CropError, match="not a public address"):
            resolve_crop(loaded, block)
        block.crop_url = "file:///etc/passwd"
        with pytest.raises(CropError, match="not allowed"):
            resolve_crop(loaded, block)


def test_dialog_log_written_without_keys_rotated_and_pruned(make_session, fake_gemini):
    from tests.support.fake_gemini import Reply

    session = make_session(LLM_LOG_ENABLED=True, LLM_LOG_TRUNCATE_CHARS=200)
    fake_gemini.add(Reply(json={"needs_more_evidence": False, "answer_markdown": "Ответ. " * 80}))
    assert names(session.ask("Что в общих указаниях?"))[-1] == "completed"
    from pathlib import Path

    log_dir = Path(session.app.config["LLM_LOG_DIR"])
    log = log_dir / f"llm_dialog_{session.chat_id}.log"
    text = log.read_text(encoding="utf-8")
    assert "--- system ---" in text and "--- response (gemini-2.5-flash) ---" in text
    assert "[cut " in text  # long sections are cut
    assert API_KEY not in text
    result = session.app.test_cli_runner().invoke(args=["logs", "prune", "--days", "0"])
    assert "Removed 1 dialog log" in result.output and not log.exists()


def test_dialog_log_rotates(tmp_path):
    from webapp.llm.base import LLMCall, LLMResult, TextPart
    from webapp.llm.dialog_log import DialogLog

    log = DialogLog(tmp_path, "chat", truncate=10_000, max_mb=0)
    call = LLMCall(purpose="answer", model_role="flash", system="s", parts=[TextPart("x")])
    log(call, LLMResult("r", "m"), None)
    log(call, LLMResult("r", "m"), None)
    assert len(list(tmp_path.glob("llm_dialog_chat*.log"))) == 2
