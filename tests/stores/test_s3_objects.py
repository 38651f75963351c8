"""What only the S3 store has: multipart streaming with a limit, public or presigned URLs, and
the configuration that picks the public base (moto server on loopback)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import requests

from webapp.stores import build_stores
from webapp.stores.objects.base import ObjectNotFound, ObjectTooLarge
from webapp.stores.objects.s3 import S3ObjectStore, public_base_url

MIB = 1024 * 1024


def _store(bucket, **kwargs) -> S3ObjectStore:
    return S3ObjectStore(
        bucket.endpoint_url,
        bucket.access_key_id,
        bucket.secret_access_key,
        bucket.name,
        **kwargs,
    )


class Chunked(io.RawIOBase):
    """A non-seekable stream (like a request body) that counts what was read from it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read_bytes = data, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.read_bytes + n
        block = self.data[self.read_bytes : end]
        self.read_bytes += len(block)
        return block


def test_large_bodies_go_up_in_parts(s3_bucket):
    store = _store(s3_bucket, part_size=5 * MIB)
    data = os.urandom(11 * MIB + 7)
    info = store.put("uploads/u/big.bin", Chunked(data))
    assert info.size == len(data) and info.etag.endswith("-3")  # three parts
    with store.open("uploads/u/big.bin") as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()


def test_a_body_past_the_limit_aborts_and_leaves_nothing(s3_bucket):
    store = _store(s3_bucket, part_size=5 * MIB)
    source = Chunked(os.urandom(20 * MIB))
    with pytest.raises(ObjectTooLarge):
        store.put("uploads/u/big.bin", source, max_bytes=12 * MIB)
    assert source.read_bytes <= 13 * MIB  # stopped reading soon after the limit
    assert store.head("uploads/u/big.bin") is None
    assert store.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads") is None


def test_listing_pages_through_many_keys(s3_bucket):
    store = _store(s3_bucket)
    store.list_page_size = 2
    keys = [f"chat_images/c/{i:02d}.png" for i in range(7)]
    for key in keys + ["chat_images/d/00.png"]:
        store.put(key, b"p")
    listed = list(store.list("chat_images/c/"))
    assert [o.key for o in listed] == keys
    assert all(o.size == 1 and o.etag and o.last_modified.endswith("+00:00") for o in listed)


def test_urls_are_presigned_or_public(s3_bucket):
    store = _store(s3_bucket)
    store.put("chat_images/c/a b.png", b"\x89PNG", "image/png")
    signed = store.url("chat_images/c/a b.png", 60)
    fetched = requests.get(signed, timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"\x89PNG"
    assert fetched.headers["Content-Type"] == "image/png"
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=60&" in signed
    assert "X-Amz-Expires=604800&" in store.url("chat_images/c/a b.png", 10**9)  # SigV4 cap
    public = _store(s3_bucket, public_base="https://files.example.org/")
    assert public.url("chat_images/c/a b.png", 60) == (
        "https://files.example.org/chat_images/c/a%20b.png"
    )
    assert _store(s3_bucket, presign=False).url("chat_images/c/a b.png", 60) is None
    with pytest.raises(ObjectNotFound):
        store.open("chat_images/c/none.png")


def test_public_base_precedence():
    assert public_base_url({}) is None
    assert public_base_url({"R2_PUBLIC_DOMAIN": "cdn.example.org"}) == "https://cdn.example.org"
    both = {"R2_PUBLIC_DOMAIN": "cdn.example.org", "S3_DEV_URL": "https://pub-1.r2.dev/"}
    assert public_base_url(both) == "https://cdn.example.org"
    assert public_base_url({**both, "USE_S3_DEV_URL": True}) == "https://pub-1.r2.dev"
    assert public_base_url({"USE_S3_DEV_URL": True, "S3_DEV_URL": ""}) is None


def test_build_stores_wires_every_production_backend(
    s3_bucket, supabase_chat_db, supabase_projects_db, tmp_path
):
    config = {
        "DATA_DIR": str(tmp_path),
        "CHAT_DB": "supabase",
        "SUPABASE_URL": supabase_chat_db.url,
        "SUPABASE_SERVICE_KEY": "",
        "SUPABASE_ANON_KEY": supabase_chat_db.key,  # the fallback
        "PROJECTS_DB": "supabase",
        "SUPABASE_PROJECTS_URL": supabase_projects_db.url,
        "SUPABASE_PROJECTS_SERVICE_KEY": supabase_projects_db.key,
        "STORAGE": "s3",
        "R2_ENDPOINT_URL": s3_bucket.endpoint_url,
        "R2_ACCESS_KEY_ID": s3_bucket.access_key_id,
        "R2_SECRET_ACCESS_KEY": s3_bucket.secret_access_key,
        "R2_BUCKET_NAME": s3_bucket.name,
        "R2_PUBLIC_DOMAIN": "",
        "USE_S3_DEV_URL": True,
        "S3_DEV_URL": "https://pub-x.r2.dev",
    }
    stores = build_stores(config)
    assert stores.chat.init_schema() == []
    stores.chat.ping()
    stores.projects.ping()
    stores.objects.ping()
    assert stores.objects.url("tree_docs/d/a.pdf", 60) == "https://pub-x.r2.dev/tree_docs/d/a.pdf"
    with pytest.raises(ValueError, match="R2_ENDPOINT_URL"):
        build_stores({**config, "R2_ENDPOINT_URL": ""})
    with pytest.raises(ValueError, match="SUPABASE_URL"):
        build_stores({**config, "SUPABASE_ANON_KEY": ""})
