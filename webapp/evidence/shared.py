"""The shared level of the render cache: `render_cache/<key>.png` in the bucket every app host
uses (the pipeline reads and fills it behind each host's disk cache), kept within a size cap.

Object storage keeps no access times, so age here is the object's LastModified, i.e. when the
render was shared: `prune()` removes the renders older than the TTL, then the oldest until the
total fits the cap (SHARED_RENDER_CACHE_MAX_MB). A render removed while still in use is rendered
again once and shared again. Keys carry the source's version, so nothing here is ever stale and
there is nothing to invalidate. `flask cache prune` (the hosts' daily timer) runs the pruning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from webapp.stores.objects.base import ObjectInfo, ObjectStore

PREFIX = "render_cache/"


def shared_at(info: ObjectInfo) -> float:
    """When a render was shared (its LastModified; S3 keeps whole seconds), as a timestamp."""
    return datetime.fromisoformat(info.last_modified.replace("Z", "+00:00")).timestamp()


class SharedRenderLevel:
    """Size cap, TTL, statistics and clearing of `render_cache/` in the object storage."""

    def __init__(
        self,
        store: ObjectStore,
        max_bytes: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.max_bytes = int(max_bytes)
        self.ttl_seconds = float(ttl_seconds)
        self.clock = clock

    def entries(self) -> list[ObjectInfo]:
        """Every object under the prefix, oldest first."""
        found = list(self.store.list(PREFIX))
        return sorted(found, key=lambda info: (shared_at(info), info.key))

    def stats(self) -> dict[str, Any]:
        entries = self.entries()
        return {
            "location": PREFIX,
            "entries": len(entries),
            "bytes": sum(info.size for info in entries),
            "max_bytes": self.max_bytes,
            "ttl_seconds": self.ttl_seconds,
            "oldest": entries[0].last_modified if entries else None,
            "newest": entries[-1].last_modified if entries else None,
        }

    def prune(self) -> dict[str, int]:
        """Remove renders older than the TTL, then the oldest until the total fits the cap."""
        cutoff = self.clock() - self.ttl_seconds
        entries = self.entries()
        expired = [info for info in entries if shared_at(info) < cutoff]
        kept = [info for info in entries if shared_at(info) >= cutoff]
        total = sum(info.size for info in kept)
        evicted: list[ObjectInfo] = []
        for info in kept:  # oldest first
            if total <= self.max_bytes:
                break
            evicted.append(info)
            total -= info.size
        for info in (*expired, *evicted):
            self.store.delete(info.key)
        return {
            "expired": len(expired),
            "evicted": len(evicted),
            "freed_bytes": sum(info.size for info in (*expired, *evicted)),
            "entries": len(kept) - len(evicted),
            "bytes": total,
        }

    def clear(self) -> int:
        """Remove every shared render; returns how many."""
        entries = self.entries()
        for info in entries:
            self.store.delete(info.key)
        return len(entries)


def build_shared_level(config: Mapping[str, Any], store: ObjectStore) -> SharedRenderLevel | None:
    """The shared level the app uses: only with the render cache on and a shared (s3) storage."""
    if not config["EVIDENCE_CACHE_ENABLED"] or config["STORAGE"] == "local":
        return None
    return SharedRenderLevel(
        store,
        max_bytes=config["SHARED_RENDER_CACHE_MAX_MB"] * 1024 * 1024,
        ttl_seconds=config["EVIDENCE_CACHE_TTL_DAYS"] * 86400,
    )
