"""`flask search`: the blocks the search index ranks for a query, and why each matched;
`flask catalog`: the cross-document index that questions without documents pick from."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext


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


catalog = AppGroup("catalog", help="The cross-document index auto mode picks documents from.")


@catalog.command("update")
@click.option("--client", "client_id", help="Only this client's documents.")
def catalog_update(client_id: str | None) -> None:
    """Catalogue every document that is new or changed since it was catalogued."""
    from webapp.documents.catalog_sync import document_catalog
    from webapp.documents.sources import document_nodes

    keeper = document_catalog()
    nodes = document_nodes(client_id)
    stale = keeper.stale(nodes)
    with click.progressbar(stale, label="Cataloguing", file=click.get_text_stream("stderr")) as bar:
        built = sum(1 for node in bar if keeper.index_node(node))
    keeper.catalog.prune(client_id, {node["id"] for node in nodes}, 0.0)
    click.echo(
        f"{len(nodes)} documents, {built} catalogued now, {len(stale) - built} skipped "
        "(being catalogued by another process)."
    )


@catalog.command("search")
@click.argument("question")
@click.option("--client", "client_id", help="Only this client's documents.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100))
def catalog_search(question: str, client_id: str | None, limit: int) -> None:
    """The documents a question without attachments would be answered from, best first."""
    from webapp.documents.catalog_sync import document_catalog
    from webapp.documents.sources import document_nodes

    keeper = document_catalog()
    nodes = document_nodes(client_id)
    missing = len(keeper.stale(nodes))
    found = keeper.catalog.search(question, {node["id"] for node in nodes}, limit)
    if missing:
        click.echo(f"{missing} documents are not catalogued yet (flask catalog update).", err=True)
    if not found:
        click.echo("No documents match.")
    for candidate in found:
        click.echo(f"{candidate.document_id}  {candidate.score:8.3f}  {candidate.name}")


def init_app(app: Flask) -> None:
    app.cli.add_command(search)
    app.cli.add_command(catalog)
