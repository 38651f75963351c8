"""`flask projects import`: a drawing set into the embedded projects DB (`flask demo` uses it)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.projects.importer import ImportError_, import_set

projects = AppGroup("projects", help="Manage the embedded projects DB.")


def run_import(folder: Path, quiet: bool, **options) -> str:
    """Import the set in `folder` (options of `import_set`), showing progress unless `quiet`;
    returns the document id. `flask demo` (webapp.drawings.cli) is handed this by create_app."""
    if quiet:
        result = import_set(folder, **options)
    else:
        with click.progressbar(length=1, label="Importing crops") as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            result = import_set(folder, progress=progress, **options)
    if not quiet:
        click.echo(
            f"Imported «{result.name}»: {result.blocks} blocks, {result.image_blocks} "
            f"image blocks, {result.crops} crops ({result.synthesized} synthesized).",
            err=True,
        )
    return result.document_id


@projects.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--synthesize-crops",
    is_flag=True,
    help="Draw a vector sheet for every image block whose crop is missing.",
)
@click.option("--name", help="Document name (default: the set's title).")
@click.option(
    "--client",
    "client_id",
    default="default",
    show_default=True,
    help="Client id the document belongs to.",
)
@click.option("--project", default="Импорт", show_default=True, help="Project node name.")
@click.option("--id", "document_id", help="Document node id (re-import replaces it).")
@click.option("--quiet", is_flag=True, help="Print only the document id.")
def import_command(
    path: Path,
    synthesize_crops: bool,
    name: str | None,
    client_id: str,
    project: str,
    document_id: str | None,
    quiet: bool,
) -> None:
    """Import the drawing set in PATH (document.md, blocks.json, ocr.html, crops/)."""
    try:
        doc_id = run_import(
            path,
            quiet,
            name=name,
            client_id=client_id,
            project=project,
            document_id=document_id,
            synthesize_crops=synthesize_crops,
        )
    except ImportError_ as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(doc_id)


def init_app(app: Flask) -> None:
    app.cli.add_command(projects)
