"""Finding a block's crop and making it a local file the renderer can read.

Order: the blocks index's `crop_url` (a storage key, or a public URL of our bucket mapped back to
its key), then the projects DB's `crop` files, then the OCR HTML's link. Other URLs are fetched
only from allow-listed hosts, never from private or loopback addresses, with size and time limits.
"""

from __future__ import annotations

import hashlib
import ipaddress
import mimetypes
import socket
import urllib.parse
from pathlib import Path

import requests
from flask import current_app

from webapp.documents.model import Block
from webapp.documents.sources import LoadedDocument
from webapp.evidence.render import CropSource
from webapp.stores import objects, projects_db

CROP_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg")
MAX_FETCH_BYTES = 64 * 1024 * 1024
FETCH_TIMEOUT = 20


class CropError(Exception):
    """No crop could be found or fetched; the message is reported to the model."""


def _public_bases() -> list[str]:
    config = current_app.config
    bases = []
    for name in ("S3_DEV_URL", "S3_PROJECTS_DEV_URL", "R2_PUBLIC_DOMAIN"):
        value = (config.get(name) or "").strip().rstrip("/")
        if value:
            bases.append(value if "://" in value else f"https://{value}")
    return bases


def key_for_url(url: str, document: LoadedDocument) -> str | None:
    """The storage key a crop URL points at, when it is one of ours."""
    if "://" not in url:
        relative = url.lstrip("/")
        return relative if relative.startswith("tree_docs/") else f"{document.folder}/{relative}"
    for base in _public_bases():
        if url.startswith(base + "/"):
            return urllib.parse.unquote(url[len(base) + 1 :].split("?", 1)[0])
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/")
    if path.startswith("tree_docs/") and objects().head(path) is not None:
        return path  # a public link to a bucket we also hold
    return None


def _check_public_host(host: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise CropError(f"crop host {host} cannot be resolved") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            raise CropError(f"crop host {host} is not a public address")


def fetch_url(url: str, destination: Path) -> None:
    """Download an allow-listed crop URL to `destination`, within size and time limits."""
    parts = urllib.parse.urlsplit(url)
    allowed = {h.lower() for h in current_app.config["CROP_FETCH_ALLOWED_HOSTS"]}
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or host not in allowed:
        raise CropError(f"crop URL host {host or '?'} is not allowed")
    _check_public_host(host)
    try:
        with requests.get(url, stream=True, timeout=FETCH_TIMEOUT, allow_redirects=False) as reply:
            if reply.status_code != 200:
                raise CropError(f"crop URL answered {reply.status_code}")
            size = 0
            temp = destination.with_suffix(destination.suffix + ".part")
            with temp.open("wb") as out:
                for chunk in reply.iter_content(256 * 1024):
                    size += len(chunk)
                    if size > MAX_FETCH_BYTES:
                        temp.unlink(missing_ok=True)
                        raise CropError("crop file is too large")
                    out.write(chunk)
            temp.replace(destination)
    except requests.RequestException as exc:
        raise CropError(f"crop URL could not be fetched: {type(exc).__name__}") from None


def _local_copy(key: str) -> tuple[Path, str]:
    """A readable local file for a storage key, and its version (ETag)."""
    store = objects()
    info = store.head(key)
    if info is None:
        raise CropError(f"crop {key} is missing from storage")
    root = getattr(store, "root", None)
    if root is not None:  # the local directory store: read in place
        return Path(root) / key, info.etag
    cache_dir = Path(current_app.config["DATA_DIR"]) / "crops"
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{key}@{info.etag}".encode()).hexdigest()[:32]
    path = cache_dir / f"{digest}{Path(key).suffix.lower()}"
    if not path.exists():
        temp = path.with_suffix(path.suffix + ".part")
        with store.open(key) as stream, temp.open("wb") as out:
            while chunk := stream.read(1024 * 1024):
                out.write(chunk)
        temp.replace(path)
    return path, info.etag


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _projects_crop_key(document: LoadedDocument, block: Block) -> str | None:
    for row in projects_db().list_files([document.id], ("crop",)):
        stem = Path(row["r2_key"]).stem.upper()
        if stem == block.id:
            return row["r2_key"]
    return None


def resolve_crop(document: LoadedDocument, block: Block) -> CropSource:
    candidates: list[str] = []
    if block.crop_url:
        key = key_for_url(block.crop_url, document)
        if key:
            candidates.append(key)
    projects_key = _projects_crop_key(document, block)
    if projects_key:
        candidates.append(projects_key)
    candidates += [f"{document.folder}/crops/{block.id}{ext}" for ext in CROP_EXTENSIONS]
    for key in dict.fromkeys(candidates):
        if objects().head(key) is not None:
            path, version = _local_copy(key)
            return CropSource(path, key, version, _media_type(key))
    if block.crop_url and "://" in block.crop_url:
        cache_dir = Path(current_app.config["DATA_DIR"]) / "crops"
        cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(block.crop_url.encode()).hexdigest()[:32]
        suffix = Path(urllib.parse.urlsplit(block.crop_url).path).suffix.lower() or ".pdf"
        path = cache_dir / f"url-{digest}{suffix}"
        if not path.exists():
            fetch_url(block.crop_url, path)
        content = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return CropSource(path, block.crop_url, content, _media_type(path.name))
    raise CropError(f"no crop file for block {block.id}")
