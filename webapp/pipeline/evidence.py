"""Evidence for one run: renders the images the model asks for, stores them with the chat,
and tells the client (`tool_call`, `image_ready`), each image once per run (SPEC §5, §7)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from webapp.documents.model import Block
from webapp.evidence.errors import RenderError
from webapp.evidence.regions import RegionError, clamp_dpi, parse_region
from webapp.evidence.render import RenderedImage
from webapp.links import object_url
from webapp.llm.base import ImagePart
from webapp.metrics import REGISTRY
from webapp.pipeline.crops import CropError, resolve_crop
from webapp.pipeline.imaging import renderer
from webapp.pipeline.sources import LoadedDocument
from webapp.runs import events as ev
from webapp.stores import chat_db, objects

log = logging.getLogger("webapp.pipeline.evidence")


def _timed(kind: str, started: float) -> None:
    REGISTRY.observe(
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

    def _store(self, block: Block, image: RenderedImage, reason: str) -> ImagePart | None:
        REGISTRY.inc(
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
        self.emit(
            ev.IMAGE_READY,
            {
                "block_id": block.id,
                "kind": image.kind,
                "url": object_url(key, base_url=self.base_url),
                "width": image.width,
                "height": image.height,
                "bbox_norm": image.bbox_norm.as_list(),
                "reason": reason,
            },
        )
        part = ImagePart(
            png=image.png,
            caption=image.caption(block.id),
            key=image.cache_key,
            block_id=block.id,
            kind=image.kind,
        )
        self.images.append(part)
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
        parts = [self._store(block, shot, reason) for shot in shots]
        return [p for p in parts if p is not None]

    def roi(self, document: LoadedDocument, block: Block, request: dict) -> list[ImagePart]:
        try:
            region = parse_region(
                request.get("bbox_norm"), request.get("sector"), margin=self.roi_margin
            )
        except RegionError as exc:
            self.problems.append(f"{block.id}: область отклонена ({exc})")
            return []
        try:
            source = resolve_crop(document, block)
            started = time.perf_counter()
            shot = renderer().roi(source, region, clamp_dpi(request.get("dpi")))
            _timed("roi", started)
        except (CropError, RenderError) as exc:
            self.problems.append(f"{block.id}: область недоступна ({exc})")
            return []
        part = self._store(block, shot, str(request.get("reason") or "увеличение"))
        return [part] if part else []
