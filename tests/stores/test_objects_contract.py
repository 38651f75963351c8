"""The object storage contract: streaming puts, limits, reads, listing, keys that cannot escape."""

from __future__ import annotations

import io

import pytest

from webapp.stores.objects.base import InvalidKey, ObjectNotFound, ObjectTooLarge


def test_put_get_head_delete(object_store):
    info = object_store.put("tree_docs/d/crops/A.pdf", b"%PDF-1.4 x", "application/pdf")
    assert info.size == 10 and info.etag
    assert object_store.get("tree_docs/d/crops/A.pdf") == b"%PDF-1.4 x"
    head = object_store.head("tree_docs/d/crops/A.pdf")
    assert head.size == 10 and head.etag == info.etag
    object_store.put("tree_docs/d/crops/A.pdf", b"changed!!!!")
    assert object_store.head("tree_docs/d/crops/A.pdf").etag != info.etag
    object_store.delete("tree_docs/d/crops/A.pdf")
    object_store.delete("tree_docs/d/crops/A.pdf")
    assert object_store.head("tree_docs/d/crops/A.pdf") is None
    with pytest.raises(ObjectNotFound):
        object_store.get("tree_docs/d/crops/A.pdf")


def test_streaming_put_with_limit(object_store):
    big = io.BytesIO(b"x" * (3 * 1024 * 1024 + 5))
    with pytest.raises(ObjectTooLarge):
        object_store.put("uploads/u/big.bin", big, max_bytes=3 * 1024 * 1024)
    assert object_store.head("uploads/u/big.bin") is None
    assert list(object_store.list("uploads/")) == []
    exact = object_store.put("uploads/u/ok.bin", io.BytesIO(b"y" * 1024), max_bytes=1024)
    assert exact.size == 1024


def test_list_by_prefix(object_store):
    for key in ("chat_images/c1/a.png", "chat_images/c1/b.png", "chat_images/c2/a.png"):
        object_store.put(key, b"png")
    assert [o.key for o in object_store.list("chat_images/c1/")] == [
        "chat_images/c1/a.png",
        "chat_images/c1/b.png",
    ]


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "a/./b"])
def test_keys_cannot_escape(object_store, key):
    with pytest.raises(InvalidKey):
        object_store.put(key, b"x")
