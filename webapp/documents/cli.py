"""`flask search` and `flask render`: see what the model will read and see for a document."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext


def _document(document_id: str):
    from webapp.pipeline.sources import SourceError, load_node

    try:
        return load_node(document_id)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("search")
@click.argument("document_id")
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of hits.")
@with_appcontext
def search(document_id: str, query: str, limit: int, as_json: bool) -> None:
    """Rank DOCUMENT_ID's blocks for QUERY with the search index."""
    from webapp.pipeline.materials import search_index

    document = _document(document_id)
    hits = search_index().search(document.document, query, limit=limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "block_id": h.block_id,
                        "kind": h.kind,
                        "page": h.page,
                        "score": round(h.score, 4),
                        "snippet": h.snippet,
                        "why": list(h.why),
                    }
                    for h in hits
                ],
                ensure_ascii=False,
            )
        )
        return
    if not hits:
        click.echo("No blocks match.")
    for hit in hits:
        click.echo(
            f"{hit.block_id}  {hit.kind:<5} p.{hit.page or '-':<4} {hit.score:7.3f}  "
            f"[{','.join(hit.why)}] {hit.snippet}"
        )


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
    from flask import current_app

    from webapp.evidence.errors import RenderError
    from webapp.evidence.regions import RegionError, clamp_dpi, parse_region
    from webapp.pipeline.crops import CropError, resolve_crop
    from webapp.pipeline.imaging import renderer

    document = _document(document_id)
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
    app.cli.add_command(search)
    app.cli.add_command(render)
