"""`flask chats purge` and `flask logs prune`: deleted chats and old dialog logs removed."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.chats.purge import purge_pending
from webapp.llm.dialog_log import prune_logs

chats = AppGroup("chats", help="Maintain chats.")
logs = AppGroup("logs", help="Maintain LLM dialog logs.")


@chats.command("purge")
@click.option("--limit", default=1000, show_default=True, help="Chats to purge in this pass.")
def purge(limit: int) -> None:
    """Delete for good the chats users deleted (resumes interrupted purges)."""
    done, failed = purge_pending(limit)
    click.echo(
        f"Purged {done} chat(s)"
        + (f", {failed} failed (retried next time)" if failed else "")
        + "."
    )
    if failed:
        raise SystemExit(1)


@logs.command("prune")
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Remove dialog logs not written to for this many days.",
)
@with_appcontext
def prune(days: int) -> None:
    """Remove old LLM dialog logs."""
    removed = prune_logs(current_app.config["LLM_LOG_DIR"], days)
    click.echo(f"Removed {removed} dialog log(s) older than {days} days.")


def init_app(app: Flask) -> None:
    app.cli.add_command(chats)
    app.cli.add_command(logs)
