import json
import re
from pathlib import Path

from reportlab.lib.pagesizes import A1, A2, landscape

from tests.drawings.conftest import pdf_page_size, pdf_streams, pdftotext
from webapp.documents.blocks_index import parse_blocks_index
from webapp.documents.loader import load_document
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import BLOCK_ID_RE
from webapp.documents.ocr_html import parse_ocr_html
from webapp.documents.search import SearchIndex
from webapp.drawings.demo_set import DemoSet, build_demo_set

SHEET_SIZES = [landscape(A1), landscape(A2)]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_markdown_round_trip(demo_set: DemoSet) -> None:
    document = parse_markdown(demo_set.document_md.read_text(encoding="utf-8"))
    assert tuple(block.id for block in document.blocks) == demo_set.block_ids
    assert all(BLOCK_ID_RE.match(block_id) for block_id in demo_set.block_ids)
    assert tuple(block.id for block in document.image_blocks()) == demo_set.image_block_ids
    assert {demo_set.plan_block_id, demo_set.section_block_id, demo_set.node_block_id} == set(
        demo_set.image_block_ids)
    assert document.get(demo_set.spec_block_id).kind == "table"
    assert document.title == demo_set.title and document.stamp.startswith("Шифр: ")
    plan = document.get(demo_set.plan_block_id)
    assert plan.fields["image_type"] == "План этажа" and plan.fields["axes"] == "1-6/А-Г"
    assert plan.sheet == "2" and plan.sheet_name.startswith("Архитектурные решения. План")
    notes = document.get(demo_set.notes_block_id)
    assert "В3-14" in notes.text and "АР4" in notes.text
    assert demo_set.plan_block_id in notes.links
    assert demo_set.notes_block_id in plan.backlinks
    assert all(link in document for block in document.blocks for link in block.links)


def test_blocks_index_and_html_agree_with_markdown(demo_set: DemoSet) -> None:
    markdown = parse_markdown(demo_set.document_md.read_text(encoding="utf-8"))
    entries = parse_blocks_index(demo_set.blocks_json.read_text(encoding="utf-8"))
    assert tuple(entries) == demo_set.image_block_ids
    for block_id, entry in entries.items():
        assert entry.crop_url == f"crops/{block_id}.pdf"
        assert entry.page == markdown.get(block_id).page
    rows = json.loads(demo_set.blocks_json.read_text(encoding="utf-8"))["blocks"]
    assert rows[0]["page_index"] == 3  # 0-based: the plan is on page 4

    html = parse_ocr_html(demo_set.ocr_html.read_text(encoding="utf-8"))
    assert [(b.id, b.kind, b.page, b.sheet, b.links) for b in html.blocks] == [
        (b.id, b.kind, b.page, b.sheet, b.links) for b in markdown.blocks]
    for block in markdown.image_blocks():
        html_block = html.get(block.id)
        assert html_block.crop_url == f"crops/{block.id}.pdf"
        assert {key: squash(value) for key, value in html_block.fields.items()} == {
            key: squash(value) for key, value in block.fields.items()}
    assert html.title == markdown.title and html.stamp == markdown.stamp


def test_every_image_block_has_a_vector_crop_of_a1_or_a2(demo_set: DemoSet) -> None:
    assert set(demo_set.crops) == set(demo_set.image_block_ids)
    for block_id, path in demo_set.crops.items():
        assert path == demo_set.root / "crops" / f"{block_id}.pdf"
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        width, height = pdf_page_size(data)
        assert any(abs(width - w) < 1 and abs(height - h) < 1 for w, h in SHEET_SIZES), width
        assert b"/Subtype /Image" not in data
        assert any(b" Tf" in stream and b"BT" in stream for stream in pdf_streams(data))
    assert pdf_page_size(demo_set.crops[demo_set.plan_block_id].read_bytes())[0] > 2380  # A1


def test_plan_fact_is_only_in_the_drawing_at_its_bbox(demo_set: DemoSet) -> None:
    fact = demo_set.plan_fact
    assert fact.block_id == demo_set.plan_block_id
    markdown = demo_set.document_md.read_text(encoding="utf-8")
    assert fact.answer not in markdown and fact.answer.split()[0] not in markdown
    x0, y0, x1, y1 = fact.bbox_norm
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and (x1 - x0) * (y1 - y0) < 0.001
    crop = demo_set.crops[fact.block_id]
    region = pdftotext(crop, (x0 - 0.005, y0 - 0.005, x1 + 0.005, y1 + 0.005))
    assert fact.answer in squash(region) and "Кладовая 107" in squash(region)
    page = squash(pdftotext(crop))
    for text in ("План 1-го этажа", "Экспликация помещений", "27000", "С-1", "В3-14"):
        assert text in page
    for axis in ("1", "6", "А", "Г"):
        assert re.search(rf"(^|\s){axis}(\s|$)", page)


def test_node_fact_position(demo_set: DemoSet) -> None:
    fact = demo_set.node_fact
    region = squash(pdftotext(demo_set.crops[fact.block_id], fact.bbox_norm))
    assert fact.answer in region
    assert fact.answer not in demo_set.document_md.read_text(encoding="utf-8")


def test_build_is_deterministic(tmp_path: Path, demo_set: DemoSet) -> None:
    again = build_demo_set(tmp_path / "again")
    for name in ("document.md", "blocks.json", "ocr.html"):
        assert (again.root / name).read_bytes() == (demo_set.root / name).read_bytes()
    for block_id, path in again.crops.items():
        assert path.read_bytes() == demo_set.crops[block_id].read_bytes()
    assert again.plan_fact == demo_set.plan_fact


def test_demo_is_searchable(tmp_path: Path, demo_set: DemoSet) -> None:
    document = load_document(demo_set.document_md.read_text(encoding="utf-8"),
                             demo_set.blocks_json.read_text(encoding="utf-8"))
    index = SearchIndex(tmp_path / "search.db")
    assert index.search(document, "кладовая")[0].block_id == demo_set.plan_block_id
    assert demo_set.spec_block_id in [hit.block_id for hit in index.search(document, "B3-14")]
    assert index.search(document, "узел опирания наружной стены")[0].block_id in (
        demo_set.node_block_id, demo_set.notes_block_id)
