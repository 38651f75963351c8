"""The shared render cache (`render_cache/` in the bucket) on a moto S3 server: its size cap and
TTL go by LastModified, and `flask cache stats / prune / clear` report on both levels."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import app_settings
from webapp import create_app
from webapp.evidence.shared import PREFIX, SharedRenderLevel, build_shared_level, shared_at
from webapp.stores.objects.s3 import S3ObjectStore

KIB = 1024


def _store(bucket) -> S3ObjectStore:
    return S3ObjectStore(
        bucket.endpoint_url, bucket.access_key_id, bucket.secret_access_key, bucket.name
    )


def _key(name: str) -> str:
    return f"{PREFIX}{name * 64}.png"


def _keys(store: S3ObjectStore, prefix: str = "") -> list[str]:
    return sorted(info.key for info in store.list(prefix))


@pytest.fixture
def aged(s3_bucket):
    """Renders shared at three moments (S3's LastModified has one-second steps), an unrelated
    object outside the prefix, and the time each group was written."""
    store = _store(s3_bucket)
    written = []
    for group in (("a", "b"), ("c",), ("d",)):
        if written:
            time.sleep(1.1)
        written.append(time.time())
        for name in group:
            store.put(_key(name), b"x" * (10 * KIB), "image/png")
    store.put("tree_docs/doc/crops/A.pdf", b"%PDF" * 10_000)  # never the cache's business
    return store, written


def test_prune_evicts_the_oldest_beyond_the_cap(aged):
    store, _ = aged
    level = SharedRenderLevel(store, max_bytes=25 * KIB, ttl_seconds=3600)
    assert [info.key for info in level.entries()] == [_key(n) for n in "abcd"]  # oldest first
    before = level.stats()
    assert (before["entries"], before["bytes"], before["max_bytes"]) == (4, 40 * KIB, 25 * KIB)
    assert before["oldest"] < before["newest"]

    result = level.prune()

    assert result == {
        "expired": 0,
        "evicted": 2,
        "freed_bytes": 20 * KIB,
        "entries": 2,
        "bytes": 20 * KIB,
    }
    assert _keys(store, PREFIX) == [_key("c"), _key("d")]
    assert _keys(store, "tree_docs/") == ["tree_docs/doc/crops/A.pdf"]
    assert level.prune() == {
        "expired": 0,
        "evicted": 0,
        "freed_bytes": 0,
        "entries": 2,
        "bytes": 20 * KIB,
    }


def test_prune_removes_renders_shared_longer_ago_than_the_ttl(aged):
    store, _ = aged
    ttl = 100.0
    shared = {info.key: shared_at(info) for info in SharedRenderLevel(store, 1, ttl).entries()}
    second, third = shared[_key("c")], shared[_key("d")]
    assert second < third  # S3 keeps whole seconds: the groups were written seconds apart
    # seen `ttl` after a moment between the second and the third group: the first two are too old
    level = SharedRenderLevel(store, 10**9, ttl, clock=lambda: (second + third) / 2 + ttl)
    assert level.prune() == {
        "expired": 3,
        "evicted": 0,
        "freed_bytes": 30 * KIB,
        "entries": 1,
        "bytes": 10 * KIB,
    }
    assert _keys(store, PREFIX) == [_key("d")]


def test_clear_and_the_embedded_storage(s3_bucket, tmp_path):
    store = _store(s3_bucket)
    for name in "ab":
        store.put(_key(name), b"png", "image/png")
    store.put("chat_images/c/x.png", b"png", "image/png")
    assert SharedRenderLevel(store, 0, 60).clear() == 2
    assert _keys(store) == ["chat_images/c/x.png"]
    config = create_app(app_settings(tmp_path, STORAGE="local")).config
    assert build_shared_level(config, store) is None  # one host: nothing is shared
    assert build_shared_level({**config, "STORAGE": "s3"}, store).max_bytes == 10_000 * 1024**2
    off = {**config, "STORAGE": "s3", "EVIDENCE_CACHE_ENABLED": False}
    assert build_shared_level(off, store) is None


def _s3_app(tmp_path, bucket, **extra):
    return create_app(
        app_settings(
            tmp_path / "host",
            STORAGE="s3",
            R2_ENDPOINT_URL=bucket.endpoint_url,
            R2_ACCESS_KEY_ID=bucket.access_key_id,
            R2_SECRET_ACCESS_KEY=bucket.secret_access_key,
            R2_BUCKET_NAME=bucket.name,
            **extra,
        )
    )


def test_cache_commands_act_on_both_levels(tmp_path, s3_bucket):
    """Renders fill this host's cache and the bucket's; each command reports on both."""
    app = _s3_app(tmp_path, s3_bucket, SHARED_RENDER_CACHE_MAX_MB=0)
    runner = app.test_cli_runner()
    demo = runner.invoke(args=["demo", "--quiet"])
    assert demo.exit_code == 0, demo.output
    document = demo.output.strip().splitlines()[-1]
    for sector in ("A1", "B2"):
        out = tmp_path / f"{sector}.png"
        rendered = runner.invoke(
            args=["render", document, "DEMO-PLAN-001", "--sector", sector, "--out", str(out)]
        )
        assert rendered.exit_code == 0, rendered.output
    store = _store(s3_bucket)
    shared = _keys(store, PREFIX)
    assert len(shared) == 2

    numbers = json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)
    assert numbers["entries"] == 2 and numbers["shared"]["entries"] == 2
    assert numbers["shared"]["bytes"] == sum(info.size for info in store.list(PREFIX)) > 0
    local_text, shared_text = runner.invoke(args=["cache", "stats"]).output.splitlines()
    assert local_text.startswith(f"{app.config['EVIDENCE_CACHE_DIR']}: 2 entries, ")
    assert local_text.endswith(" of 2000.0 MB; hits 0, misses 2 (0% hits)")  # both rendered
    assert shared_text.startswith("shared render_cache/: 2 entries, ")
    assert shared_text.endswith(" of 0.0 MB")

    pruned = runner.invoke(args=["cache", "prune"])
    assert pruned.exit_code == 0, pruned.output
    local_line, shared_line = pruned.output.strip().splitlines()
    assert local_line.startswith('Pruned: {"expired": 0, "evicted": 0, "freed_bytes": 0}')
    report = json.loads(shared_line.removeprefix("Pruned shared render_cache/: ").rstrip("."))
    assert report["evicted"] == 2 and report["entries"] == 0  # a cap of 0 MB keeps nothing
    assert _keys(store, PREFIX) == []
    assert json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)["entries"] == 2

    store.put(_key("e"), b"png", "image/png")
    cleared = runner.invoke(args=["cache", "clear", "--yes"]).output.strip().splitlines()
    assert cleared == [
        "Removed 2 entries from this host's cache.",
        "Removed 1 shared renders from render_cache/.",
    ]
    assert _keys(store, PREFIX) == [] and _keys(store, "tree_docs/")  # documents stay
