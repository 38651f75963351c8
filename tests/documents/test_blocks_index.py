import json

import pytest

from tests.conftest import sample_text
from webapp.documents.blocks_index import parse_blocks_index
from webapp.documents.model import DocumentFormatError


def test_rows_are_keyed_by_canonical_id() -> None:
    text = json.dumps({"blocks": [
        {"id": "аааа-0000-001", "page_index": 4, "block_type": "IMAGE", "category_code": "plan",
         "crop_url": "crops/AAAA-0000-001.pdf"},
        {"id": "not an id", "page_index": 1},
        "garbage",
        {"id": "AAAA-0000-002", "page_index": -3, "crop_url": "  "},
    ]})
    entries = parse_blocks_index(text)
    assert list(entries) == ["AAAA-0000-001", "AAAA-0000-002"]
    first = entries["AAAA-0000-001"]
    assert (first.page_index, first.page, first.block_type) == (4, 5, "image")
    assert first.category_code == "plan" and first.crop_url == "crops/AAAA-0000-001.pdf"
    second = entries["AAAA-0000-002"]
    assert second.page is None and second.crop_url is None


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2", "42", '{"rows": []}', '{"blocks": 5}'])
def test_not_a_blocks_index_is_a_format_error(text: str) -> None:
    with pytest.raises(DocumentFormatError):
        parse_blocks_index(text)


def test_ar4_sample() -> None:
    entries = parse_blocks_index(sample_text("ar4", "blocks.json"))
    assert len(entries) == 135
    entry = entries["9KWW-K9LU-HVG"]
    assert entry.page == 27 and entry.block_type == "image"
    assert entry.crop_url.endswith("/crops/9KWW-K9LU-HVG.pdf")
