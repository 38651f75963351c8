"""Who is calling: JWT verification, the user's status (cached briefly) and ownership checks."""

from __future__ import annotations

import threading
import time

from cachetools import TTLCache
from flask import Flask, current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from webapp.errors import APIError
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row

EXTENSION = "aizoomdoc.auth"
VERIFIED_TOKENS_SECONDS = 300  # a verified token's claims are remembered this long at most


class AuthCaches:
    """What this process remembers about callers: users' status (AUTH_CACHE_SECONDS) and the
    claims of bearer tokens already verified. cachetools caches are not thread-safe: one lock."""

    def __init__(self, user_seconds: float) -> None:
        self.lock = threading.Lock()
        self.users: TTLCache = TTLCache(maxsize=10_000, ttl=max(float(user_seconds), 0.001))
        self.verified: TTLCache = TTLCache(maxsize=20_000, ttl=VERIFIED_TOKENS_SECONDS)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = AuthCaches(app.config["AUTH_CACHE_SECONDS"])


def _caches() -> AuthCaches:
    return current_app.extensions[EXTENSION]


def forget_user(user_id: str) -> None:
    """Drop a cached user so a status change applies to the next request of this process."""
    caches = _caches()
    with caches.lock:
        caches.users.pop(user_id, None)


def load_user(user_id: str) -> Row | None:
    if current_app.config["AUTH_CACHE_SECONDS"] <= 0:
        return chat_db().get_user(user_id)
    caches = _caches()
    with caches.lock:
        user = caches.users.get(user_id)
    if user is None:
        user = chat_db().get_user(user_id)
        if user is not None:
            with caches.lock:
                caches.users[user_id] = user
    return user


BEARER = "Bearer "


def _verified_claims() -> dict:
    """The claims of the request's bearer token.

    A token verified once (signature, expiry, type) is remembered by this process until it
    expires, so later requests skip the decoding; its revocation is still checked every time.
    """
    header = request.headers.get("Authorization", "")
    token = header[len(BEARER) :].strip() if header.startswith(BEARER) else ""
    caches = _caches()
    with caches.lock:
        claims = caches.verified.get(token) if token else None
    if claims is None or claims["exp"] <= time.time():
        verify_jwt_in_request()  # the full check; its failures answer 401 themselves
        claims = get_jwt()
        with caches.lock:
            caches.verified[token] = claims
    elif chat_db().is_token_revoked(claims["jti"]):
        raise APIError(
            401,
            "Token has been revoked; exchange your static token again.",
            "token_revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return claims


def authenticate() -> Row:
    """Verify the bearer token and return an active user, or raise 401/403."""
    user = load_user(_verified_claims()["sub"])
    if user is None:
        raise APIError(
            401,
            "The user of this token no longer exists.",
            "invalid_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if user["status"] != "active":
        raise APIError(403, f"User is {user['status']}.", "user_" + user["status"])
    g.user = user
    return user


def current_user() -> Row:
    return g.user


def is_admin(user: Row) -> bool:
    return user.get("role") == "admin"


def owns(user: Row, row: Row | None) -> bool:
    """The row belongs to the caller (owner key is the username), or the caller is an admin."""
    return row is not None and (row.get("user_id") == user["username"] or is_admin(user))
