"""Evidence for one run: renders the images the model asks for, stores them with the chat,
and tells the client (`tool_call`, `image_ready`), each image once per run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from webapp.documents.model import Block
from webapp.documents.sources import LoadedDocument
from webapp.evidence.crops import CropError, resolve_crop
from webapp.evidence.errors import RenderError
from webapp.evidence.regions import RegionError
from webapp.evidence.render import RenderedImage
from webapp.evidence.service import renderer
from webapp.links import object_url
from webapp.llm.base import ImagePart
from webapp.metrics import registry
from webapp.pipeline.answer import IMAGE_ID_PREFIX, RoiRequest
from webapp.runs import events as ev
from webapp.stores import chat_db, objects

log = logging.getLogger("webapp.pipeline.evidence")


def _timed(kind: str, started: float) -> None:
    registry().observe(
        "aizoomdoc_render_seconds",
        "Time spent rendering (cache hits included).",
        time.perf_counter() - started,
        kind=kind,
    )


@dataclass
class EvidenceDesk:
    chat_id: str
    message_id: str
    username: str
    emit: Callable[[str, dict], int]
    base_url: str
    roi_margin: float = 0.05
    images: list[ImagePart] = field(default_factory=list)  # every image rendered this run
    _sent_keys: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # what the model should be told
    urls: dict[str, list[str]] = field(default_factory=dict)  # block id → its images' URLs
    sides: dict[str, str | None] = field(default_factory=dict)  # image key → DOC_A/DOC_B

    def image_id(self, image: ImagePart) -> str:
        """The id the model uses to ask for an image again: IMG-n, n its place in the run."""
        return f"{IMAGE_ID_PREFIX}{self.images.index(image) + 1}"

    def by_id(self, image_id: str) -> ImagePart | None:
        number = image_id[len(IMAGE_ID_PREFIX) :]
        index = int(number) - 1 if number.isdigit() else -1
        return self.images[index] if 0 <= index < len(self.images) else None

    def _store(
        self, document: LoadedDocument, block: Block, image: RenderedImage, reason: str
    ) -> ImagePart | None:
        registry().inc(
            "aizoomdoc_renders_total",
            "Rendered images by kind and cache result.",
            kind=image.kind,
            cache="hit" if image.from_cache else "miss",
        )
        if image.cache_key in self._sent_keys:
            return None
        self._sent_keys.add(image.cache_key)
        key = f"chat_images/{self.chat_id}/{block.id}_{image.kind}_{image.cache_key[:12]}.png"
        if objects().head(key) is None:
            objects().put(key, image.png, "image/png")
        row = chat_db().add_file(
            {
                "user_id": self.username,
                "source_type": "chat_render",
                "storage_path": key,
                "filename": key.rsplit("/", 1)[-1],
                "mime_type": "image/png",
                "size_bytes": len(image.png),
            }
        )
        chat_db().add_image(
            self.chat_id,
            self.message_id,
            row["id"],
            image.kind,
            block.id,
            image.width,
            image.height,
        )
        url = object_url(key, base_url=self.base_url)
        self.urls.setdefault(block.id, []).append(url)
        self.emit(
            ev.IMAGE_READY,
            {
                "block_id": block.id,
                "kind": image.kind,
                "url": url,
                "width": image.width,
                "height": image.height,
                "bbox_norm": image.bbox_norm.as_list(),
                "reason": reason,
            },
        )
        side = f"{document.label}, " if document.label else ""
        part = ImagePart(
            png=image.png,
            caption=f"{IMAGE_ID_PREFIX}{len(self.images) + 1} ({side}{reason}): "
            + image.caption(block.id),
            key=image.cache_key,
            block_id=block.id,
            kind=image.kind,
        )
        self.images.append(part)
        self.sides[part.key] = document.label
        return part

    def overview(self, document: LoadedDocument, block: Block, reason: str) -> list[ImagePart]:
        """The block's overview, plus quadrants when the sheet is big (new ones only)."""
        try:
            source = resolve_crop(document, block)
            started = time.perf_counter()
            shots = [renderer().overview(source)]
            shots += renderer().quadrants(source)
            _timed("overview", started)
        except (CropError, RenderError) as exc:
            self.problems.append(f"{block.id}: изображение недоступно ({exc})")
            return []
        parts = [self._store(document, block, shot, reason) for shot in shots]
        return [p for p in parts if p is not None]

    def roi(self, document: LoadedDocument, block: Block, request: RoiRequest) -> list[ImagePart]:
        try:
            region = request.region(self.roi_margin)
        except RegionError as exc:
            self.problems.append(f"{block.id}: область отклонена ({exc})")
            return []
        try:
            source = resolve_crop(document, block)
            started = time.perf_counter()
            shot = renderer().roi(source, region, request.dpi)
            _timed("roi", started)
        except (CropError, RenderError) as exc:
            self.problems.append(f"{block.id}: область недоступна ({exc})")
            return []
        part = self._store(document, block, shot, request.reason)
        return [part] if part else []
