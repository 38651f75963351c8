import pytest

from tests.conftest import sample_text
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import DocumentFormatError

SMALL = """# Проект / АР / 01-АР.pdf

Сгенерировано: 2025-01-01 00:00:00 UTC
**Штамп:** Шифр: 01-АР | Стадия: РД

---

## СТРАНИЦА 1

### BLOCK [TEXT]: AAAA-0000-001
Общие указания. Кладку см. →ВВВВ-0000-002 и -> cccc–0000–003.

## СТРАНИЦА 2
**Лист:** 3 (из 12)
**Наименование листа:** План этажа

### BLOCK [IMAGE]: BBBB-0000-002
**[ИЗОБРАЖЕНИЕ]** | Тип: План этажа | Оси: 1-4/А-Е | Масштаб: 1:100

**Краткое описание:** План 2-го этажа.

**Описание:** Стены и перегородки.
Вторая строка описания.

**Сущности:** В3-14, 0,702

**Распознанный OCR текст на чертеже:**
**Условные обозначения:**
- Стена наружная
| Марка | Длина |
|---|---|
| В3-14 | 1400 |

### BLOCK [TABLE]: CCCC-0000-003
| А | Б |
|---|---|
| 1 | 2 |
Назад к плану →BBBB-0000-002"""


def test_structure_preamble_and_stamp() -> None:
    document = parse_markdown(SMALL)
    assert [block.id for block in document.blocks] == [
        "AAAA-0000-001", "BBBB-0000-002", "CCCC-0000-003"]
    assert [block.kind for block in document.blocks] == ["text", "image", "table"]
    assert document.title == "Проект / АР / 01-АР.pdf"
    assert document.stamp == "Шифр: 01-АР | Стадия: РД"
    assert document.preamble.startswith("# Проект") and "---" not in document.preamble.splitlines()
    assert len(document.version) == 64


def test_pages_and_sheet_lines() -> None:
    document = parse_markdown(SMALL)
    first, image, table = document.blocks
    assert first.page == 1 and first.sheet is None and first.sheet_name is None
    assert image.page == 2 and image.sheet == "3" and image.sheet_name == "План этажа"
    assert table.page == 2 and table.sheet == "3"
    assert "**Лист:**" not in image.text


def test_image_fields_including_marker_line_and_free_form_ocr() -> None:
    fields = parse_markdown(SMALL).get("BBBB-0000-002").fields
    assert fields["image_type"] == "План этажа"
    assert fields["axes"] == "1-4/А-Е"
    assert fields["scale"] == "1:100"
    assert fields["short_description"] == "План 2-го этажа."
    assert fields["description"] == "Стены и перегородки.\nВторая строка описания."
    assert fields["entities"] == "В3-14, 0,702"
    # A bold label inside the OCR text belongs to the drawing, not a new field.
    assert fields["ocr_text"].startswith("**Условные обозначения:**")
    assert "| В3-14 | 1400 |" in fields["ocr_text"]
    assert "uslovnye_oboznacheniya" not in fields


def test_links_with_lookalikes_arrow_forms_and_backlinks() -> None:
    document = parse_markdown(SMALL)
    first = document.get("AAAA-0000-001")
    assert first.links == ["BBBB-0000-002", "CCCC-0000-003"]
    assert document.get("CCCC-0000-003").links == ["BBBB-0000-002"]
    assert document.get("BBBB-0000-002").backlinks == ["AAAA-0000-001", "CCCC-0000-003"]
    assert document.get("CCCC-0000-003").backlinks == ["AAAA-0000-001"]


def test_block_at_end_of_file_keeps_its_last_line() -> None:
    document = parse_markdown(SMALL)
    assert document.blocks[-1].text.endswith("Назад к плану →BBBB-0000-002")


def test_page_header_without_sheet_lines_and_block_before_any_page() -> None:
    document = parse_markdown(
        "### BLOCK [TEXT]: AAAA-0000-001\nдо страниц\n## СТРАНИЦА 7\n"
        "### BLOCK [IMAGE]: AAAA-0000-002\n**Описание:** x\n"
    )
    assert document.blocks[0].page is None
    assert document.blocks[1].page == 7 and document.blocks[1].sheet is None
    assert document.blocks[1].fields == {"description": "x"}


def test_empty_and_blockless_text() -> None:
    assert parse_markdown("").blocks == []
    document = parse_markdown("# Заголовок\n\nпросто текст")
    assert document.blocks == [] and document.title == "Заголовок"


def test_self_links_and_duplicates_are_dropped() -> None:
    document = parse_markdown(
        "## СТРАНИЦА 1\n### BLOCK [TEXT]: AAAA-0000-001\n"
        "→AAAA-0000-001 →AAAA-0000-002 →AAAA-0000-002"
    )
    assert document.blocks[0].links == ["AAAA-0000-002"]
    assert document.blocks[0].backlinks == []


def test_not_text_is_a_format_error() -> None:
    with pytest.raises(DocumentFormatError):
        parse_markdown(b"### BLOCK [TEXT]: AAAA-0000-001")  # type: ignore[arg-type]


def test_ar4_sample_counts_and_fields() -> None:
    document = parse_markdown(sample_text("ar4", "document.md"))
    assert len(document.blocks) == 258
    assert len(document.image_blocks()) == 135
    assert len(document.pages()) == 27
    block = document.get("TUG3-VG36-DCL")
    assert block.kind == "image" and block.page == 5 and block.sheet == "2"
    assert block.sheet_name.startswith("Архитектурные решения. Кладочные планы надземной части.")
    assert block.fields["image_type"] == "Спецификация"
    assert "В3-14" in block.fields["entities"]
    assert block.fields["ocr_text"].startswith("Спецификация перемычек 1-го этажа")
    last = document.get("9KWW-K9LU-HVG")
    assert last.page == 27 and last.fields["axes"] == "1-4/А-Е"
    assert last.text.endswith("8.2, 8.1, 2")
    assert all(block.fields.get("image_type") for block in document.image_blocks())
    assert document.stamp.startswith("Шифр: 133/23-ГК-АР4")
