"""Exchanging a static token for an access token, and revoking access tokens."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app
from flask_jwt_extended import create_access_token

from webapp.auth.tokens import hash_token
from webapp.errors import APIError
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row
from webapp.stores.sqlite import utcnow


def public_user(user: Row) -> Row:
    return {key: user[key] for key in ("id", "username", "status", "created_at")}


def exchange(static_token: str) -> dict:
    """A JWT for the user holding `static_token`: 401 unknown, 403 not active."""
    user = chat_db().get_user_by_token_hash(hash_token(static_token.strip()))
    if user is None:
        raise APIError(401, "Unknown static token.", "invalid_static_token")
    if user["status"] != "active":
        raise APIError(403, f"User is {user['status']}.", "user_" + user["status"])
    chat_db().update_user(user["id"], last_seen_at=utcnow())
    minutes = current_app.config["ACCESS_TOKEN_EXPIRE_MINUTES"]
    return {
        "access_token": create_access_token(identity=user["id"]),
        "token_type": "bearer",
        "expires_in": minutes * 60,
        "user": public_user(user),
    }


def revoke(payload: dict) -> None:
    """Deny this token (by `jti`) until it would have expired anyway."""
    expires = datetime.fromtimestamp(payload["exp"], timezone.utc).isoformat()
    chat_db().revoke_token(payload["jti"], expires)
