"""`flask users …`: create users (the token is shown once), block, rotate, migrate old tokens."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.auth.tokens import generate_static_token, hash_token, is_weak
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Conflict

users = AppGroup("users", help="Manage users and their static tokens.")


def _user_or_fail(username: str) -> dict:
    user = chat_db().get_user_by_username(username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user the admin role (sees every chat).")
def create(username: str, admin: bool) -> None:
    """Create USERNAME and print its static token (shown only this once)."""
    token = generate_static_token()
    try:
        chat_db().create_user(username.strip(), hash_token(token), "admin" if admin else "user")
    except Conflict as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created user {username!r}. Static token (store it now, it is not kept):", err=True)
    click.echo(token)


@users.command("list")
def list_users() -> None:
    """List users with their status and role."""
    rows = chat_db().list_users()
    click.echo(f"{'USERNAME':<24} {'STATUS':<9} {'ROLE':<6} {'TOKEN':<9} CREATED")
    for user in rows:
        token = "hashed" if user.get("token_hash") else "PLAIN"
        click.echo(
            f"{user['username']:<24} {user['status']:<9} {user.get('role') or 'user':<6} "
            f"{token:<9} {user['created_at']}"
        )


def _set_status(username: str, status: str) -> None:
    user = _user_or_fail(username)
    chat_db().update_user(user["id"], status=status)
    click.echo(f"User {username!r} is now {status}.")


@users.command("block")
@click.argument("username")
def block(username: str) -> None:
    """Block USERNAME: every request of theirs gets 403 from now on."""
    _set_status(username, "blocked")


@users.command("unblock")
@click.argument("username")
def unblock(username: str) -> None:
    """Make USERNAME active again."""
    _set_status(username, "active")


@users.command("rotate-token")
@click.argument("username")
def rotate_token(username: str) -> None:
    """Give USERNAME a new static token (the old one stops working) and print it."""
    user = _user_or_fail(username)
    token = generate_static_token()
    digest = hash_token(token)
    chat_db().update_user(user["id"], token_hash=digest, static_token=f"sha256:{digest}")
    click.echo(f"New static token for {username!r} (store it now, it is not kept):", err=True)
    click.echo(token)


@users.command("migrate-tokens")
def migrate_tokens() -> None:
    """Hash the plain static tokens of a reference-server database, naming weak ones."""
    migrated, weak = 0, []
    for user in chat_db().list_users():
        plain = user.get("static_token") or ""
        if user.get("token_hash") or plain.startswith("sha256:"):
            continue
        digest = hash_token(plain)
        chat_db().update_user(user["id"], token_hash=digest, static_token=f"sha256:{digest}")
        migrated += 1
        if is_weak(plain):
            weak.append(user["username"])
    click.echo(f"Hashed {migrated} token(s).")
    if weak:
        click.echo(
            "Weak tokens (rotate them with `flask users rotate-token NAME`): " + ", ".join(weak)
        )


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
