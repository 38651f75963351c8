"""`flask cache …`: look after the render cache of this host."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

cache = AppGroup("cache", help="Maintain the render cache (EVIDENCE_CACHE_DIR).")


def _cache():
    from webapp.pipeline.imaging import build_cache

    found = build_cache(current_app.config)
    if found is None:
        raise click.ClickException("the render cache is off (EVIDENCE_CACHE_ENABLED=false)")
    return found


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(as_json: bool) -> None:
    """Entries, size against the cap, hits and misses."""
    numbers = _cache().stats()
    if as_json:
        click.echo(json.dumps(numbers))
        return
    ratio = numbers["hit_ratio"]
    click.echo(
        f"{numbers['directory']}: {numbers['entries']} entries, "
        f"{_mb(numbers['bytes'])} of {_mb(numbers['max_bytes'])}; "
        f"hits {numbers['hits']}, misses {numbers['misses']}"
        + (f" ({ratio:.0%} hits)" if ratio is not None else "")
    )


@cache.command("clear")
@click.confirmation_option(prompt="Remove every cached render?")
def clear() -> None:
    """Remove every cached render."""
    click.echo(f"Removed {_cache().clear()} entries.")


@cache.command("prune")
def prune() -> None:
    """Remove renders unused for EVIDENCE_CACHE_TTL_DAYS and trim to EVIDENCE_CACHE_MAX_MB;
    also make the index and the files agree."""
    store = _cache()
    fixed = store.reconcile()
    removed = store.prune()
    click.echo(f"Pruned: {json.dumps(removed)}; reconciled: {json.dumps(fixed)}.")


@cache.command("invalidate")
@click.argument("source")
def invalidate(source: str) -> None:
    """Remove the renders of exactly SOURCE (a crop's storage key; no wildcards)."""
    click.echo(f"Removed {_cache().invalidate(source)} renders of {source}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(cache)
