"""The render cache with real SQLite, real files and real concurrent processes."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import sqlite3
from pathlib import Path

import pytest

from webapp.evidence.cache import RenderCache, make_cache_key


class Clock:
    """An injectable clock: tests move time by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def key(name: str) -> str:
    return make_cache_key(name, "v1", 1, "roi", [0, 0, 1, 1], 300, (2000, 40_000_000), "none", "t")


def files_on_disk(directory: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_size for p in directory.glob("??/*.png")}


def test_make_cache_key_covers_every_part():
    base = ["src", "v1", 1, "roi", [0.1, 0.2, 0.3, 0.4], 300, (2000, 40), "none", "r1"]
    reference = make_cache_key(*base)
    assert re.fullmatch(r"[0-9a-f]{64}", reference), reference  # what path_for accepts
    for index, other in enumerate(
        ["src2", "v2", 2, "overview", [0.1, 0.2, 0.3, 0.5], 299, (1999, 40), "grid", "r2"]
    ):
        changed = list(base)
        changed[index] = other
        assert make_cache_key(*changed) != reference, f"part {index} is not in the key"
    assert make_cache_key(*base) == reference


def test_files_are_fanned_out(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    k = key("a")
    cache.put(k, b"x" * 10, "src")
    assert (tmp_path / k[:2] / f"{k}.png").read_bytes() == b"x" * 10
    with pytest.raises(ValueError):
        cache.path_for("../../etc/passwd")


def test_get_returns_what_put_stored_and_counts_hits_and_misses(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    assert cache.get(key("a")) is None
    cache.put(key("a"), b"png-a", "src")
    assert cache.get(key("a")) == b"png-a"
    stats = cache.stats()
    assert (stats["entries"], stats["bytes"], stats["hits"], stats["misses"]) == (1, 5, 1, 1)
    assert stats["max_bytes"] == 10_000


def test_lru_evicts_the_least_recently_accessed(tmp_path: Path):
    clock = Clock()
    cache = RenderCache(tmp_path, max_bytes=300, ttl_seconds=3600, clock=clock)
    for name in ("a", "b", "c"):
        cache.put(key(name), name.encode() * 100, "src")
        clock.tick()
    assert cache.get(key("a")) is not None  # a is now the most recent
    clock.tick()
    cache.put(key("d"), b"d" * 100, "src")
    assert cache.get(key("b")) is None  # b was the oldest access
    assert all(cache.get(key(n)) is not None for n in ("a", "c", "d"))
    assert cache.stats()["bytes"] == 300
    assert sorted(files_on_disk(tmp_path)) == sorted(key(n) for n in "acd")


def test_an_entry_bigger_than_the_cache_is_not_stored(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=100, ttl_seconds=60)
    cache.put(key("small"), b"s" * 50, "src")
    cache.put(key("huge"), b"h" * 101, "src")
    assert cache.get(key("huge")) is None and cache.get(key("small")) == b"s" * 50


def test_replacing_a_key_keeps_the_accounting_exact(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=1000, ttl_seconds=60)
    cache.put(key("a"), b"1" * 100, "src")
    cache.put(key("a"), b"2" * 40, "src")
    assert cache.stats()["bytes"] == 40 and cache.get(key("a")) == b"2" * 40


def test_ttl_counts_from_the_last_access(tmp_path: Path):
    clock = Clock()
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=100, clock=clock)
    cache.put(key("a"), b"a", "src")
    cache.put(key("b"), b"b", "src")
    clock.tick(90)
    assert cache.get(key("a")) == b"a"  # touched at t=90
    clock.tick(20)  # t=110: b (last access t=0) expired, a (t=90) not
    assert cache.get(key("a")) == b"a"  # touched at t=110
    assert cache.get(key("b")) is None
    clock.tick(99)
    assert cache.get(key("a")) == b"a"
    clock.tick(101)
    assert cache.get(key("a")) is None
    assert cache.stats()["entries"] == 0 and files_on_disk(tmp_path) == {}


def test_prune_removes_expired_entries_and_enforces_the_cap(tmp_path: Path):
    clock = Clock()
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=100, clock=clock)
    cache.put(key("old"), b"o" * 10, "src")
    clock.tick(60)
    cache.put(key("new"), b"n" * 10, "src")
    clock.tick(60)  # old: 120 s since access, new: 60 s
    result = cache.prune()
    assert result == {"expired": 1, "evicted": 0, "freed_bytes": 10}
    assert list(files_on_disk(tmp_path)) == [key("new")]
    # A smaller cap (a restart with new settings) is enforced by prune too.
    shrunk = RenderCache(tmp_path, max_bytes=5, ttl_seconds=100, clock=clock)
    assert shrunk.prune()["evicted"] == 1 and shrunk.stats()["entries"] == 0


def test_invalidate_matches_the_source_id_exactly(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    ids = ["doc_1%/crop", "docX1%/crop", "doc_1X/crop", "doc_1%/crop2", "DOC_1%/CROP"]
    for index, source_id in enumerate(ids):
        cache.put(key(f"k{index}"), b"x", source_id)
    cache.put(key("k-again"), b"x", "doc_1%/crop")
    assert cache.invalidate("doc_1%/crop") == 2
    assert cache.invalidate("doc_%") == 0
    assert cache.invalidate("%") == 0
    assert cache.stats()["entries"] == 4
    assert cache.get(key("k0")) is None and cache.get(key("k1")) == b"x"


def test_clear_removes_everything(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    for name in "abc":
        cache.put(key(name), b"x", "src")
    (tmp_path / "ab").mkdir(exist_ok=True)
    (tmp_path / "ab" / ".tmp-left-over").write_bytes(b"t")
    assert cache.clear() == 3
    assert cache.stats()["entries"] == 0 and list(tmp_path.glob("??/*")) == []


def test_reconcile_after_files_and_rows_were_removed_by_hand(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    for name in "abcd":
        cache.put(key(name), name.encode() * 10, "src")
    cache.path_for(key("a")).unlink()  # row without file
    with sqlite3.connect(tmp_path / "index.sqlite3") as conn:  # file without row
        conn.execute("DELETE FROM entries WHERE key = ?", (key("b"),))
    crash_temp = cache.path_for(key("c")).parent / ".tmp-crashed-123"
    crash_temp.write_bytes(b"half a png")
    stray = tmp_path / "ff" / ("f" * 64 + ".png")
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"stray")

    result = cache.reconcile(temp_grace_seconds=0)

    assert result == {"rows_dropped": 1, "files_removed": 2, "temp_removed": 1, "evicted": 0}
    assert sorted(files_on_disk(tmp_path)) == sorted([key("c"), key("d")])
    assert not crash_temp.exists()
    assert cache.stats()["entries"] == 2 and cache.stats()["bytes"] == 20
    assert cache.get(key("c")) == b"c" * 10


def test_reconcile_spares_young_temp_files_of_live_writers(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    live = tmp_path / "ab" / ".tmp-live-writer"
    live.parent.mkdir()
    live.write_bytes(b"being written")
    assert cache.reconcile(temp_grace_seconds=300)["temp_removed"] == 0
    assert live.exists()


def test_a_file_removed_behind_the_cache_is_a_miss_and_drops_the_row(tmp_path: Path):
    cache = RenderCache(tmp_path, max_bytes=10_000, ttl_seconds=60)
    cache.put(key("a"), b"a" * 10, "src")
    cache.path_for(key("a")).unlink()
    assert cache.get(key("a")) is None
    assert cache.stats()["entries"] == 0


def _writer(directory: str, seed: int, rounds: int, max_bytes: int, failures) -> None:
    cache = RenderCache(Path(directory), max_bytes=max_bytes, ttl_seconds=3600)
    rng = random.Random(seed)
    for i in range(rounds):
        size = rng.randint(200, 3000)
        cache.put(key(f"{seed}-{i}"), os.urandom(size), f"src-{seed}")
        if i % 3 == 0:
            cache.get(key(f"{seed}-{rng.randint(0, i)}"))
        total = cache.stats()["bytes"]
        if total > max_bytes:
            failures.put(f"writer {seed}: {total} bytes after put {i}")


def test_size_cap_holds_with_two_processes_writing_at_once(tmp_path: Path):
    max_bytes = 20_000
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    RenderCache(tmp_path, max_bytes=max_bytes, ttl_seconds=3600)  # create the index first
    writers = [
        context.Process(target=_writer, args=(str(tmp_path), seed, 150, max_bytes, failures))
        for seed in (1, 2)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    reported = []
    while not failures.empty():
        reported.append(failures.get())
    assert reported == []

    cache = RenderCache(tmp_path, max_bytes=max_bytes, ttl_seconds=3600)
    on_disk = files_on_disk(tmp_path)
    stats = cache.stats()
    assert stats["bytes"] == sum(on_disk.values()) <= max_bytes
    assert stats["entries"] == len(on_disk) > 3
    assert list(tmp_path.glob("??/.tmp-*")) == []
    assert cache.reconcile(temp_grace_seconds=0) == {
        "rows_dropped": 0,
        "files_removed": 0,
        "temp_removed": 0,
        "evicted": 0,
    }
