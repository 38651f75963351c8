"""The object storage interface: documents under `tree_docs/`, uploads, rendered images.

Keys are relative `/`-separated paths. Every implementation passes
`tests/stores/test_objects_contract.py`.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024


class ObjectNotFound(KeyError):
    """No object under that key."""


class ObjectTooLarge(ValueError):
    """The stream was longer than the limit; nothing was stored."""


class InvalidKey(ValueError):
    """A key that could escape its namespace (absolute, `..`, empty parts)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str
    content_type: str | None = None


def check_key(key: str) -> str:
    """Refuse keys that are absolute, empty, or climb out with `..`."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key {key!r}")
    normal = posixpath.normpath(key)
    if normal != key or normal.startswith("..") or "/../" in f"/{normal}/":
        raise InvalidKey(f"invalid object key {key!r}")
    return key


def iter_chunks(data: bytes | BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), chunk):
            yield bytes(view[start : start + chunk])
        return
    while True:
        block = data.read(chunk)
        if not block:
            return
        yield block


class ObjectStore(ABC):
    @abstractmethod
    def ping(self) -> None:
        """Raise if the storage cannot be reached."""

    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        """Store a stream under `key`, atomically; past `max_bytes` raise ObjectTooLarge and
        leave nothing behind."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object; ObjectNotFound when absent."""

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`."""

    def url(self, key: str, ttl_seconds: int) -> str | None:
        """A URL a client can fetch without our auth headers, or None (then the app serves
        the object itself through a signed `/images/...` link)."""
        return None
