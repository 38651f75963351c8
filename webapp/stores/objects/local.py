"""Object storage in a local directory (`DATA_DIR/objects`): the embedded default."""

from __future__ import annotations

import mimetypes
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from webapp.offhub import off_hub, run_blocking
from webapp.stores.objects.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    check_key,
    iter_chunks,
)


class LocalObjectStore(ObjectStore):
    """Files under `root`. Under gevent, whole-file work runs off the hub (`off_hub`): a write
    with its fsync-free rename, a read, a stat. A stream (an upload) is written where it is read,
    since reading the request must stay on the hub."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    @off_hub
    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise OSError(f"{self.root} is not writable")

    def _info(self, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
            last_modified=datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(),
            content_type=mimetypes.guess_type(key)[0],
        )

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return run_blocking(self._put, key, data, max_bytes)
        return self._put(key, data, max_bytes)

    def _put(self, key: str, data: bytes | BinaryIO, max_bytes: int | None) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_chunks(data):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise ObjectTooLarge(f"larger than {max_bytes} bytes")
                    out.write(chunk)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return self._info(key, path)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    @off_hub
    def get(self, key: str) -> bytes:
        return super().get(key)

    @off_hub
    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        return self._info(key, path) if path.is_file() else None

    @off_hub
    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith(".upload-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                yield self._info(key, path)
