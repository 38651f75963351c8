"""`flask cache …`: look after the render cache: this host's disk level (EVIDENCE_CACHE_DIR) and,
with STORAGE=s3, the level all hosts share (`render_cache/` in the bucket). Each command says
what it did on each level."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.evidence.cache import RenderCache
from webapp.evidence.shared import SharedRenderLevel, build_shared_level

cache = AppGroup(
    "cache",
    help="Maintain the render cache: this host's (EVIDENCE_CACHE_DIR) and the shared one "
    "(render_cache/ in the bucket, with STORAGE=s3).",
)
SHARED_OFF = "shared render_cache/: not used (STORAGE=local)"


def _local() -> RenderCache:
    from webapp.evidence.service import build_cache

    found = build_cache(current_app.config)  # without a store: the disk level alone
    if found is None:
        raise click.ClickException("the render cache is off (EVIDENCE_CACHE_ENABLED=false)")
    return found


def _shared() -> SharedRenderLevel | None:
    from webapp.stores import objects

    return build_shared_level(current_app.config, objects())


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(as_json: bool) -> None:
    """Entries, size against the cap, hits and misses (shared level: entries and size)."""
    numbers = _local().stats()
    shared = _shared()
    shared_numbers = shared.stats() if shared is not None else None
    if as_json:
        click.echo(json.dumps({**numbers, "shared": shared_numbers}))
        return
    ratio = numbers["hit_ratio"]
    click.echo(
        f"{numbers['directory']}: {numbers['entries']} entries, "
        f"{_mb(numbers['bytes'])} of {_mb(numbers['max_bytes'])}; "
        f"hits {numbers['hits']}, misses {numbers['misses']}"
        + (f" ({ratio:.0%} hits)" if ratio is not None else "")
    )
    if shared_numbers is None:
        click.echo(SHARED_OFF)
    else:
        click.echo(
            f"shared {shared_numbers['location']}: {shared_numbers['entries']} entries, "
            f"{_mb(shared_numbers['bytes'])} of {_mb(shared_numbers['max_bytes'])}"
        )


@cache.command("clear")
@click.confirmation_option(prompt="Remove every cached render (this host's and the shared ones)?")
def clear() -> None:
    """Remove every cached render, on this host and in the shared level."""
    click.echo(f"Removed {_local().clear()} entries from this host's cache.")
    shared = _shared()
    if shared is None:
        click.echo(SHARED_OFF)
    else:
        click.echo(f"Removed {shared.clear()} shared renders from render_cache/.")


@cache.command("prune")
def prune() -> None:
    """Remove renders unused for EVIDENCE_CACHE_TTL_DAYS and trim to EVIDENCE_CACHE_MAX_MB (and
    make the index and the files agree); in the shared level remove renders shared longer ago
    than the TTL, then the oldest beyond SHARED_RENDER_CACHE_MAX_MB."""
    store = _local()
    fixed = store.reconcile()
    removed = store.prune()
    click.echo(f"Pruned: {json.dumps(removed)}; reconciled: {json.dumps(fixed)}.")
    shared = _shared()
    if shared is None:
        click.echo(SHARED_OFF)
    else:
        click.echo(f"Pruned shared render_cache/: {json.dumps(shared.prune())}.")


@cache.command("invalidate")
@click.argument("source")
def invalidate(source: str) -> None:
    """Remove this host's renders of exactly SOURCE (a crop's storage key; no wildcards).
    Shared renders need no invalidating: their keys carry the source's version."""
    click.echo(f"Removed {_local().invalidate(source)} renders of {source}.")


@click.command("render")
@click.argument("document_id")
@click.argument("block_id")
@click.option(
    "--kind",
    type=click.Choice(["overview", "quadrants", "roi"]),
    default=None,
    help="What to render (default: roi when a region is given, else overview).",
)
@click.option("--sector", help="A sector A1…C3 of the overview's grid (roi).")
@click.option("--bbox", help="x1,y1,x2,y2 in 0..1 of the crop, top-left origin (roi).")
@click.option("--dpi", default=300, show_default=True, type=int, help="ROI resolution.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG file to write (quadrants: FILE_TL.png, FILE_TR.png, …).",
)
@with_appcontext
def render(
    document_id: str,
    block_id: str,
    kind: str | None,
    sector: str | None,
    bbox: str | None,
    dpi: int,
    out: Path,
) -> None:
    """Render BLOCK_ID of DOCUMENT_ID as the model would see it."""
    from webapp.documents.sources import SourceError, load_node
    from webapp.evidence.crops import CropError, resolve_crop
    from webapp.evidence.errors import RenderError
    from webapp.evidence.regions import RegionError, clamp_dpi, parse_region
    from webapp.evidence.service import renderer

    try:
        document = load_node(document_id)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    block = document.document.get(block_id)
    if block is None:
        raise click.ClickException(f"block {block_id} is not in the document")
    kind = kind or ("roi" if sector or bbox else "overview")
    try:
        source = resolve_crop(document, block)
        if kind == "overview":
            images = [("", renderer().overview(source))]
        elif kind == "quadrants":
            shots = renderer().quadrants(source)
            if not shots:
                raise click.ClickException("this crop is small enough: no quadrants are made")
            images = list(zip(("_TL", "_TR", "_BL", "_BR"), shots))
        else:
            bbox_value = bbox.split(",") if bbox else None
            region = parse_region(bbox_value, sector, margin=current_app.config["ROI_MARGIN"])
            images = [("", renderer().roi(source, region, clamp_dpi(dpi)))]
    except (CropError, RenderError, RegionError) as exc:
        raise click.ClickException(str(exc)) from None
    for suffix, image in images:
        path = out.with_name(out.stem + suffix + (out.suffix or ".png"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.png)
        click.echo(f"{path}  {image.width}×{image.height}  {image.caption(block.id)}")


def init_app(app: Flask) -> None:
    app.cli.add_command(cache)
    app.cli.add_command(render)
