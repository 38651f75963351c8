"""`flask demo`: the demo drawing set, generated and imported into the embedded projects DB."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

DEMO_DOCUMENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "aizoomdoc:demo-document"))

# Imports the set in a folder and returns its document id: `webapp.projects.cli.run_import`.
# create_app hands it in, because `projects` sits above this package (it synthesizes crops with it).
ImportFolder = Callable[..., str]


def demo_command(import_folder: ImportFolder) -> click.Command:
    """The `flask demo` command, importing through `import_folder`."""

    @click.command("demo")
    @click.option("--quiet", is_flag=True, help="Print only the document id.")
    @with_appcontext
    def demo(quiet: bool) -> None:
        """Generate the demo drawing set (Russian, with crop PDFs) and import it (idempotent)."""
        from webapp.drawings.demo_set import build_demo_set

        with tempfile.TemporaryDirectory() as scratch:
            demo_set = build_demo_set(Path(scratch) / "demo")
            doc_id = import_folder(
                demo_set.root,
                quiet,
                name=demo_set.title,
                client_id="demo",
                project="Демо-проект",
                document_id=DEMO_DOCUMENT_ID,
            )
        click.echo(doc_id)

    return demo


def init_app(app: Flask, import_folder: ImportFolder) -> None:
    app.cli.add_command(demo_command(import_folder))
