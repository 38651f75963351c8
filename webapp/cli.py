"""Top-level `flask` commands: `init` and `config`. Each resource's commands live beside it."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.config import example_env
from webapp.stores import init_schema, stores


@click.command("init")
@with_appcontext
def init() -> None:
    """Create the schema and the data folders (safe to run again)."""
    config = current_app.config
    for key in ("DATA_DIR", "EVIDENCE_CACHE_DIR", "LLM_LOG_DIR"):
        Path(config[key]).mkdir(parents=True, exist_ok=True)
    applied = init_schema(stores())
    for database, names in applied.items():
        click.echo(f"{database} database: " + (", ".join(names) if names else "up to date"))
    click.echo(f"Data folder: {config['DATA_DIR']}")


config_group = AppGroup("config", help="Show the configuration.")


@config_group.command("example")
def example() -> None:
    """Print an env.example with every setting, its default and what it does."""
    click.echo(example_env())


@config_group.command("show")
def show() -> None:
    """Print the effective settings (secrets masked)."""
    from webapp.config import SETTINGS, format_value

    for name, setting in SETTINGS.items():
        value = current_app.config.get(name)
        if setting.secret and value:
            value = "***"
        click.echo(f"{name}={format_value(setting, value) if value is not None else ''}")


def init_app(app: Flask) -> None:
    app.cli.add_command(init)
    app.cli.add_command(config_group)
