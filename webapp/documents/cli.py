"""`flask search`: the blocks the search index ranks for a query, and why each matched."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import with_appcontext


def _document(document_id: str):
    from webapp.documents.sources import SourceError, load_node

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
    from webapp.documents.search import search_index

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


def init_app(app: Flask) -> None:
    app.cli.add_command(search)
