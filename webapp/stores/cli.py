"""`flask db sql`: the PostgreSQL migrations for an operator to apply on Supabase.

PostgREST cannot run DDL, so the server never changes a Supabase schema itself: the operator
pastes this output into the Supabase SQL editor (or pipes it to `psql`). Every migration is
idempotent, so printing and applying all of them again is safe.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

MIGRATIONS = Path(__file__).parent / "chatdb" / "migrations"

db = AppGroup("db", help="Database schema (migrations for Supabase/PostgreSQL).")


def migration_sql(dialect: str = "postgres") -> str:
    """All migrations of a dialect in order, each under a header comment naming it."""
    parts = []
    for script in sorted((MIGRATIONS / dialect).glob("*.sql")):
        header = f"-- ==== {script.stem} ({dialect}) " + "=" * max(4, 70 - len(script.stem))
        parts.append(f"{header}\n{script.read_text(encoding='utf-8').rstrip()}\n")
    return "\n".join(parts)


@db.command("sql")
@click.option(
    "--dialect",
    type=click.Choice(["postgres", "sqlite"]),
    default="postgres",
    show_default=True,
    help="Which migrations to print.",
)
def sql(dialect: str) -> None:
    """Print the chat database migrations, in order, ready to paste into the Supabase SQL
    editor (safe to apply again)."""
    click.echo(migration_sql(dialect), nl=False)


def init_app(app: Flask) -> None:
    app.cli.add_command(db)
