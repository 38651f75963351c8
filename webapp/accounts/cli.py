"""`flask roles …`: the role prompts users pick from (their text leads every system prompt)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.stores import chat_db

roles = AppGroup("roles", help="Manage role prompts (user_prompts).")


@roles.command("add")
@click.argument("name")
@click.option("--content", help="The role's text.")
@click.option(
    "--file",
    "path",
    type=click.File("r", encoding="utf-8"),
    help="Read the role's text from a file ('-' for standard input).",
)
@click.option("--description", default=None, help="A short description shown to users.")
def add(name: str, content: str | None, path, description: str | None) -> None:
    """Add a role prompt called NAME."""
    text = path.read() if path else content
    if not text or not text.strip():
        raise click.UsageError("give the role's text with --content or --file")
    role = chat_db().add_role(name.strip(), text.strip(), description)
    click.echo(f"Added role {role['id']}: {role['name']}")


@roles.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include disabled roles.")
def list_roles(show_all: bool) -> None:
    """List role prompts."""
    for role in chat_db().list_roles(active_only=not show_all):
        state = "active" if role["is_active"] else "disabled"
        click.echo(f"{role['id']:>4}  {state:<8}  {role['name']}  {role.get('description') or ''}")


@roles.command("disable")
@click.argument("role_id", type=int)
def disable(role_id: int) -> None:
    """Disable role ROLE_ID (users who chose it fall back to no role)."""
    if chat_db().set_role_active(role_id, False) is None:
        raise click.ClickException(f"no role {role_id}")
    click.echo(f"Disabled role {role_id}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(roles)
