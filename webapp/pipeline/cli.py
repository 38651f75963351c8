"""`flask materials DOCUMENT "question"`: what the model would read in round one, and why."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.command("materials")
@click.argument("document_id")
@click.argument("question")
@click.option(
    "--mode",
    type=click.Choice(["simple", "complex"]),
    default="simple",
    show_default=True,
    help="simple: the answering call; complex: the collecting call(s) of the flash model.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def materials(document_id: str, question: str, mode: str, as_json: bool) -> None:
    """Show the blocks DOCUMENT_ID's round one would send for QUESTION: in order, with the
    reason each was chosen (search, title, link), its score, and whether its full text or an
    excerpt is sent; then the sizes of the document map and of the whole prompt.

    Every block is also listed in the document map, so the model can ask for any of them by id:
    a block missing here is reachable, but the model has to know to ask.
    """
    from webapp.documents.sources import SourceError, load_node
    from webapp.pipeline.preview import round_one

    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    try:
        document = load_node(document_id)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    result = round_one([document], question, mode, current_app.config)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    level = result.prefix.levels.get(document.id, "?")
    click.echo(f"Round one for «{question}» on «{document.name}» ({mode} mode)")
    click.echo(f"{'#':>3}  {'block':<14} {'kind':<6}{'page':>5}  {'reason':<9}{'score':>8}  sent")
    for index, block in enumerate(result.blocks, start=1):
        sent = "in prefix" if block["in_prefix"] else ("full" if block["full"] else "excerpt")
        click.echo(
            f"{index:>3}  {block['id']:<14} {block['kind']:<6}{block['page'] or '-':>5}  "
            f"{block['reason']:<9}{block['score']:>8.3f}  {sent}"
        )
    if not result.blocks:
        click.echo("  (no block matches the question: the model has only the document map)")
    whole = "the whole document" if level == "whole" else f"document map, level {level}"
    click.echo(
        f"Prefix: {len(result.prefix.text):,} chars ({whole}; map {result.prefix.map_chars:,} "
        f"chars). Materials: {result.materials_chars:,} chars in {len(result.calls)} call(s). "
        f"Total read in round one: {result.total_chars:,} chars."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(materials)
