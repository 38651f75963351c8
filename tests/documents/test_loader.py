import json

import pytest

from tests.conftest import sample_text
from webapp.documents.loader import load_document
from webapp.documents.model import DocumentFormatError

MARKDOWN = """## СТРАНИЦА 1
### BLOCK [TEXT]: AAAA-0000-001
Смотри →AAAA-0000-002
### BLOCK [IMAGE]: AAAA-0000-002
**[ИЗОБРАЖЕНИЕ]** | Тип: План этажа
### BLOCK [IMAGE]: AAAA-0000-003
**[ИЗОБРАЖЕНИЕ]** | Тип: Разрез
"""
INDEX = json.dumps({"blocks": [
    {"id": "AAAA-0000-002", "page_index": 0, "block_type": "image", "category_code": "plan",
     "crop_url": "crops/AAAA-0000-002.pdf"},
    {"id": "AAAA-0000-009", "page_index": 3, "block_type": "image", "crop_url": "crops/x.pdf"},
]})
HTML = """<html><body>
<div class="block block-type-image"><div class="block-header">Блок #1 (стр. 1) | Тип: image</div>
<div class="block-content"><p>BLOCK: AAAA-0000-002</p>
<p><a href="https://cdn.example/crops/AAAA-0000-002.pdf"><b>Открыть кроп изображения</b></a></p>
</div></div>
<div class="block block-type-image"><div class="block-header">Блок #2 (стр. 1) | Тип: image</div>
<div class="block-content"><p>BLOCK: AAAA-0000-003</p>
<div class="stamp-info"><b>Лист:</b> 7 | <b>Наименование:</b> Разрезы</div>
<p><a href="https://cdn.example/crops/AAAA-0000-003.pdf"><b>Открыть кроп изображения</b></a></p>
<p><b>[ИЗОБРАЖЕНИЕ]</b> | Тип: Разрез</p>
</div></div></body></html>"""


def test_markdown_is_primary_and_index_fills_crops() -> None:
    document = load_document(MARKDOWN, INDEX)
    plan = document.get("AAAA-0000-002")
    assert plan.crop_url == "crops/AAAA-0000-002.pdf" and plan.category_code == "plan"
    assert plan.backlinks == ["AAAA-0000-001"]
    assert "AAAA-0000-009" not in document  # the index does not invent blocks next to markdown
    assert document.get("AAAA-0000-003").crop_url is None


def test_html_fills_missing_crop_links_and_sheets_only() -> None:
    document = load_document(MARKDOWN, INDEX, HTML)
    assert document.get("AAAA-0000-002").crop_url == "crops/AAAA-0000-002.pdf"
    section = document.get("AAAA-0000-003")
    assert section.crop_url == "https://cdn.example/crops/AAAA-0000-003.pdf"
    assert section.sheet == "7" and section.sheet_name == "Разрезы"
    assert section.fields == {"image_type": "Разрез"}


def test_html_alone_provides_the_blocks() -> None:
    document = load_document(None, INDEX, HTML)
    assert [block.id for block in document.blocks] == ["AAAA-0000-002", "AAAA-0000-003"]
    assert document.get("AAAA-0000-002").category_code == "plan"


def test_index_alone_still_lists_crops() -> None:
    document = load_document(None, INDEX)
    assert [block.id for block in document.blocks] == ["AAAA-0000-002", "AAAA-0000-009"]
    assert document.get("AAAA-0000-009").page == 4


def test_version_covers_every_source() -> None:
    versions = {
        load_document(MARKDOWN).version,
        load_document(MARKDOWN, INDEX).version,
        load_document(MARKDOWN, INDEX, HTML).version,
        load_document(MARKDOWN, None, HTML).version,
        load_document(MARKDOWN + " ").version,
    }
    assert len(versions) == 5
    assert load_document(MARKDOWN, INDEX).version == load_document(MARKDOWN, INDEX).version


def test_errors() -> None:
    with pytest.raises(DocumentFormatError):
        load_document(None)
    with pytest.raises(DocumentFormatError):
        load_document(MARKDOWN, "{broken")


def test_ar4_sample_with_index() -> None:
    document = load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json"))
    assert len(document.blocks) == 258 and len(document.image_blocks()) == 135
    assert all(block.crop_url for block in document.image_blocks())
    block = document.get("9M7C-JRQM-LUD")
    assert block.page == 5
    assert block.crop_url == ("https://pub-9530315f35b34246a04e8ad8144e46d5.r2.dev/tree_docs/"
                              "d802aac1-7ba0-4a71-93ae-4885d3b89a6a/crops/9M7C-JRQM-LUD.pdf")
