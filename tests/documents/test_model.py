from webapp.documents.model import BLOCK_ID_RE, Block, Document, normalize_block_id


def test_block_id_format() -> None:
    assert BLOCK_ID_RE.match("7EW4-WCXE-QPW")
    assert not BLOCK_ID_RE.match("7ew4-wcxe-qpw")
    assert not BLOCK_ID_RE.match("7EW4-WCXE-QPWX")
    assert not BLOCK_ID_RE.match("7EW4WCXEQPW")


def test_normalize_block_id_maps_lookalikes_case_and_dashes() -> None:
    # Cyrillic Е, С, Т, Р, М, Н, К, А, В in place of Latin letters, lower case, en dash, spaces.
    assert normalize_block_id("  7еw4–wсхе-qрw ") == "7EW4-WCXE-QPW"
    assert normalize_block_id("ТМНК-АВЕС-123") == "TMHK-ABEC-123"


def test_normalize_block_id_rejects_non_ids() -> None:
    assert normalize_block_id("") is None
    assert normalize_block_id("7EW4-WCXE-QP") is None
    assert normalize_block_id("ЖЖЖЖ-WCXE-QPW") is None  # Ж has no Latin look-alike
    assert normalize_block_id(None) is None
    assert normalize_block_id(1234) is None


def test_document_lookup_pages_and_images() -> None:
    document = Document(blocks=[
        Block("AAAA-BBBB-001", "text", page=1, sheet="1"),
        Block("AAAA-BBBB-002", "image", page=2, sheet="2", sheet_name="План"),
        Block("AAAA-BBBB-003", "image", page=2),
        Block("AAAA-BBBB-004", "text", page=None),
    ])
    assert document.get("аaaa-вввв-002").id == "AAAA-BBBB-002"
    assert "AAAA-BBBB-003" in document
    assert "AAAA-BBBB-999" not in document
    assert 12 not in document
    assert [block.id for block in document.image_blocks()] == ["AAAA-BBBB-002", "AAAA-BBBB-003"]
    pages = document.pages()
    assert [page.number for page in pages] == [1, 2]
    assert pages[1].sheet_name == "План"
    assert pages[1].block_ids == ["AAAA-BBBB-002", "AAAA-BBBB-003"]
