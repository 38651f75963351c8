"""`flask ask DOCUMENT "question"`: one question answered in the terminal, with the run's events."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from webapp.accounts import settings as user_settings
from webapp.auth.tokens import generate_static_token, hash_token
from webapp.chats.attachments import Attachments
from webapp.config import ConfigError
from webapp.links import unsign_key
from webapp.runs import events as ev
from webapp.runs.manager import runs
from webapp.stores import chat_db, objects, projects_db

CLI_USER = "cli"


def _cli_user() -> dict:
    user = chat_db().get_user_by_username(CLI_USER)
    if user is None:
        user = chat_db().create_user(CLI_USER, hash_token(generate_static_token()))
    return user


def _local_path(url: str) -> str:
    """Where the image is on this machine (local storage), else its URL."""
    key = unsign_key(url.rsplit("/", 1)[-1]) if "/images/" in url else None
    root = getattr(objects(), "root", None)
    return str(Path(root) / key) if key and root is not None else url


def _show(event: str, data: dict, state: dict) -> None:
    if event == ev.LLM_TOKEN:
        if not state.get("streaming"):
            click.echo("")
            state["streaming"] = True
        sys.stdout.write(data["token"])
        sys.stdout.flush()
        return
    if state.get("streaming"):
        click.echo("")
        state["streaming"] = False
    if event == ev.PHASE_STARTED:
        click.secho(f"▶ {data['description']}", fg="cyan", err=True)
    elif event == ev.PHASE_PROGRESS:
        bar = "█" * int(data["progress"] * 20)
        click.echo(f"  [{bar:<20}] {data['message']}", err=True)
    elif event == ev.QUEUE_POSITION:
        click.echo(
            f"  в очереди: {data['position']} (≈{data['estimated_wait_seconds']} с)", err=True
        )
    elif event == ev.TOOL_CALL:
        click.echo(
            f"  ⚙ {data['tool']}: {json.dumps(data['parameters'], ensure_ascii=False)}", err=True
        )
    elif event == ev.IMAGE_READY:
        click.echo(
            f"  🖼 {data['block_id']} {data['kind']} {data['width']}×{data['height']}: "
            f"{_local_path(data['url'])}",
            err=True,
        )
    elif event == ev.LLM_FINAL:
        if not state.get("tokens_seen"):
            click.echo(data["content"])
        cited = ", ".join(c.get("block_id", "?") for c in data.get("citations", []))
        click.secho(f"\nМодель: {data['model']}. Источники: {cited or '—'}", fg="green", err=True)
    elif event == ev.ERROR:
        click.secho(f"Ошибка: {data['message']}", fg="red", err=True)
    if event == ev.LLM_TOKEN:
        state["tokens_seen"] = True


@click.command("ask")
@click.argument("document_id")
@click.argument("question")
@click.option(
    "--mode",
    type=click.Choice(["simple", "complex"]),
    default=None,
    help="Answering mode (default: the CLI user's setting, simple).",
)
@with_appcontext
def ask(document_id: str, question: str, mode: str | None) -> None:
    """Answer QUESTION about DOCUMENT_ID here, showing the run's progress; exit 1 on error."""
    node = projects_db().get_node(document_id)
    if node is None or node.get("node_type") != "document":
        raise click.ClickException(f"no document {document_id} (see `flask projects import`)")
    user = _cli_user()
    chat = chat_db().create_chat(user["username"], question[:60], "flask ask")
    attachments = Attachments(document_ids=(document_id,))
    message = chat_db().add_message(
        chat["id"], "user", question, attachments={"document_ids": [document_id]}
    )
    settings = user_settings.effective(user)
    if mode:
        settings["model_profile"] = mode
    manager = runs()
    try:
        run, attachment = manager.start(user, chat, message, settings, attachments)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    state: dict = {}
    failed = False
    for event in manager.follow(run["id"], 0, attachment, [] if attachment else None):
        if event is None:  # a heartbeat: nothing to show
            continue
        _show(event.name, event.data, state)
        failed = failed or event.name == ev.ERROR
    if failed:
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(ask)
