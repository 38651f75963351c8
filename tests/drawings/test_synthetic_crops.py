import re
from pathlib import Path

from reportlab.lib.pagesizes import A1, A2, landscape

from tests.conftest import sample_text
from tests.drawings.conftest import pdf_page_size, pdf_streams, pdftotext
from webapp.documents.loader import load_document
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import Block
from webapp.drawings.synthetic_crops import synthesize_crop, synthesize_document_crops

IMAGE_BLOCK = """## СТРАНИЦА 5
**Лист:** 2 (из 12)
**Наименование листа:** Кладочный план 1-го этажа

### BLOCK [IMAGE]: SYNT-0000-001
**[ИЗОБРАЖЕНИЕ]** | Тип: Спецификация | Оси: 1-4/А-Е

**Краткое описание:** Спецификация перемычек 1-го этажа на отметке 0.000.

**Описание:** Таблица с марками перемычек, эскизами и массой.

**Сущности:** В3-14, В4-13, 7,8322, 1400

**Распознанный OCR текст на чертеже:**
Спецификация перемычек 1-го этажа

| Марка перемычки | Длина, мм | Масса ед., кг | Количество, шт |
|---|---|---|---|
| B3-14 | 1400 | 7,8322 | 1 |
| B4-13 | 1400 | 8,8853 | 2 |
"""


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def block() -> Block:
    return parse_markdown(IMAGE_BLOCK).blocks[0]


def test_crop_is_a_vector_a1_sheet_with_the_block_text(tmp_path: Path) -> None:
    out = tmp_path / "crop.pdf"
    synthesize_crop(block(), out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    width, height = pdf_page_size(data)
    assert (round(width), round(height)) == tuple(round(value) for value in landscape(A1))
    assert b"/Subtype /Image" not in data  # no raster anywhere
    assert b"/FontFile2" in data  # embedded TrueType (DejaVu Sans) for Cyrillic
    streams = pdf_streams(data)
    assert any(b"BT" in stream and b" Tf" in stream and b" re" in stream for stream in streams)
    text = squash(pdftotext(out))
    for expected in ("Спецификация перемычек 1-го этажа на отметке 0.000",
                     "Таблица с марками перемычек", "Марка перемычки", "B4-13", "8,8853",
                     "7,8322", "SYNT-0000-001", "Кладочный план 1-го этажа", "Разраб."):
        assert expected in text, expected


def test_table_cells_and_entities_are_laid_out_separately(tmp_path: Path) -> None:
    out = tmp_path / "crop.pdf"
    synthesize_crop(block(), out)
    layout = pdftotext(out)
    # Each table row keeps its cells on one line; decimal commas are not split into two tags.
    assert re.search(r"B3-14\s+1400\s+7,8322\s+1", layout)
    assert "7,8322" in layout and not re.search(r"(^|\s)8322(\s|$)", layout)


def test_small_text_only_in_the_body(tmp_path: Path) -> None:
    out = tmp_path / "crop.pdf"
    synthesize_crop(block(), out)
    sizes = {
        float(size)
        for stream in pdf_streams(out.read_bytes())
        for size in re.findall(rb"/F\d+(?:\+\d+)? ([\d.]+) Tf", stream)
    }
    assert sizes and min(sizes) >= 4 and max(sizes) <= 16
    assert any(4 <= size <= 7 for size in sizes)


def test_a2_and_deterministic_output(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    synthesize_crop(block(), first, sheet="A2")
    synthesize_crop(block(), second, sheet="A2")
    assert first.read_bytes() == second.read_bytes()
    width, height = pdf_page_size(first.read_bytes())
    assert (round(width), round(height)) == tuple(round(value) for value in landscape(A2))


def test_text_block_and_overflowing_block(tmp_path: Path) -> None:
    text_block = Block("TEXT-0000-001", "text", page=1, text="#### Общие указания\n\n1. Кладку "
                       "вести с перевязкой швов.\n2. Раствор М100.")
    synthesize_crop(text_block, tmp_path / "text.pdf")
    assert "Кладку вести с перевязкой швов." in squash(pdftotext(tmp_path / "text.pdf"))

    huge = Block("HUGE-0000-001", "text", text="\n\n".join(
        f"Пункт {number}. " + "Кирпичная кладка стен толщиной 250 мм. " * 12
        for number in range(400)))
    synthesize_crop(huge, tmp_path / "huge.pdf")
    text = squash(pdftotext(tmp_path / "huge.pdf"))
    assert "Пункт 0." in text and "текст блока сокращён" in text


def test_document_crops_for_every_image_block(tmp_path: Path) -> None:
    document = parse_markdown(IMAGE_BLOCK + "\n### BLOCK [TEXT]: SYNT-0000-002\nтекст\n")
    written = synthesize_document_crops(document, tmp_path / "crops")
    assert list(written) == ["SYNT-0000-001"]
    assert written["SYNT-0000-001"] == tmp_path / "crops" / "SYNT-0000-001.pdf"
    assert written["SYNT-0000-001"].read_bytes().startswith(b"%PDF")


def test_ar4_block_with_stamp(tmp_path: Path) -> None:
    document = load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json"))
    out = tmp_path / "crop.pdf"
    synthesize_crop(document.get("TUG3-VG36-DCL"), out, stamp=document.stamp)
    text = squash(pdftotext(out))
    assert "B4-14*" in text and "10,6513" in text and "133/23-ГК-АР4" in text
