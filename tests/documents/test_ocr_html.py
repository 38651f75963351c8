import pytest

from tests.conftest import sample_text
from webapp.documents.model import DocumentFormatError
from webapp.documents.ocr_html import parse_ocr_html

SMALL = """<!DOCTYPE html><html><head><title>Набор - OCR</title></head><body>
<h1>Проект / КР / 02-КР.pdf</h1><p>Сгенерировано: 2025-01-01</p>
<div class="block block-type-text">
<div class="block-header">Блок #1 (стр. 3) | Тип: text</div>
<div class="block-content">
<p>BLOCK: AAAA-0000-001</p>
<p><b>Linked block:</b> AAAA-0000-002</p>
<p><b>Created:</b> 2025-01-01 10:00:00</p>
<div class="stamp-info"><b>Шифр:</b> 02-КР | <b>Лист:</b> 5 | <b>Наименование:</b> План</div>
<h2>Общие <br/>данные</h2>
<p>Текст со ссылкой →АААА-0000-002</p>
<div><div>незакрытый блок
<table><tr><th colspan="2">Спецификация</th></tr><tr><td>П-1</td><td>486,26</td></tr></table>
</div></div>
<div class="block block-type-image">
<div class="block-header">Блок #2 (стр. 3) | Тип: image | ID: AAAA-0000-002</div>
<div class="block-content">
<p>BLOCK: AAAA-0000-002</p>
<!-- comment -->
<p><a href="https://example.org/crops/AAAA-0000-002.pdf"><b>Открыть кроп изображения</b></a></p>
<p><b>[ИЗОБРАЖЕНИЕ]</b> | Тип: План этажа | Оси: 1-3</p>
<p><b>Краткое описание:</b> План кровли.</p>
<p><b>Сущности:</b> П-1, Ог-1</p>
</div></div>
</body></html>"""


def test_blocks_header_page_kind_and_id() -> None:
    document = parse_ocr_html(SMALL)
    assert [block.id for block in document.blocks] == ["AAAA-0000-001", "AAAA-0000-002"]
    assert [block.kind for block in document.blocks] == ["text", "image"]
    assert [block.page for block in document.blocks] == [3, 3]
    assert document.title == "Проект / КР / 02-КР.pdf"


def test_unbalanced_markup_does_not_swallow_the_next_block() -> None:
    first = parse_ocr_html(SMALL).get("AAAA-0000-001")
    assert "незакрытый блок" in first.text
    assert "| Спецификация |  |" in first.text and "| П-1 | 486,26 |" in first.text
    assert "План кровли" not in first.text
    assert "BLOCK:" not in first.text and "Created" not in first.text and "Шифр" not in first.text


def test_stamp_sheet_links_crop_and_fields() -> None:
    document = parse_ocr_html(SMALL)
    first, image = document.blocks
    assert first.sheet == "5" and first.sheet_name == "План"
    assert first.links == ["AAAA-0000-002"]
    assert image.links == [] and image.backlinks == ["AAAA-0000-001"]
    assert image.crop_url == "https://example.org/crops/AAAA-0000-002.pdf"
    assert image.fields == {"image_type": "План этажа", "axes": "1-3",
                            "short_description": "План кровли.", "entities": "П-1, Ог-1"}
    assert "comment" not in image.text
    assert document.stamp == "Шифр: 02-КР"


def test_linked_block_paragraph_is_a_link() -> None:
    html = SMALL.replace("<p>Текст со ссылкой →АААА-0000-002</p>", "")
    assert parse_ocr_html(html).get("AAAA-0000-001").links == ["AAAA-0000-002"]


def test_empty_and_non_html_input() -> None:
    assert parse_ocr_html("").blocks == []
    assert parse_ocr_html("<html><body><p>нет блоков</p></body></html>").blocks == []
    with pytest.raises(DocumentFormatError):
        parse_ocr_html("just some words, no markup")


def test_krv_sample() -> None:
    document = parse_ocr_html(sample_text("krv", "ocr.html"))
    assert len(document.blocks) == 101
    assert len(document.image_blocks()) == 45
    assert all(block.crop_url for block in document.image_blocks())
    plan = document.get("7RAM-K36Y-9KY")
    assert plan.page == 8 and plan.sheet == "2"
    assert plan.crop_url.endswith("/crops/7RAM-K36Y-9KY.pdf")
    assert plan.fields["image_type"] == "План этажа"
    assert plan.fields["axes"] == "Ж/2.П-14.1/Я.1-Е"
    assert "Вв-17" in plan.fields["entities"]
    spec = document.get("9YFQ-TYGG-PM7")
    assert spec.links == ["KEFV-EG9J-ETX"] and "KEFV-EG9J-ETX" in spec.backlinks
    table = document.get("KEFV-EG9J-ETX")
    assert table.kind == "text" and "| П-1 |" in table.text
    assert document.blocks[-1].text.rstrip().endswith("в том числе от попадания гравия.")
