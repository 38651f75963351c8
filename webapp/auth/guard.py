"""Who is calling: JWT verification, the user's status (cached briefly) and ownership checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache
from flask import current_app, g
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from webapp.errors import APIError
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row

_CACHE_KEY = "aizoomdoc.user_cache"


def _user_cache() -> TTLCache:
    cache = current_app.extensions.get(_CACHE_KEY)
    if cache is None:
        ttl = max(float(current_app.config["AUTH_CACHE_SECONDS"]), 0.001)
        cache = current_app.extensions[_CACHE_KEY] = TTLCache(maxsize=10_000, ttl=ttl)
    return cache


def forget_user(user_id: str) -> None:
    """Drop a cached user so a status change applies to the next request of this process."""
    _user_cache().pop(user_id, None)


def load_user(user_id: str) -> Row | None:
    if current_app.config["AUTH_CACHE_SECONDS"] <= 0:
        return chat_db().get_user(user_id)
    cache = _user_cache()
    user = cache.get(user_id)
    if user is None:
        user = chat_db().get_user(user_id)
        if user is not None:
            cache[user_id] = user
    return user


def authenticate() -> Row:
    """Verify the bearer token and return an active user, or raise 401/403."""
    verify_jwt_in_request()
    user = load_user(get_jwt()["sub"])
    if user is None:
        raise APIError(401, "The user of this token no longer exists.", "invalid_token")
    if user["status"] != "active":
        raise APIError(403, f"User is {user['status']}.", "user_" + user["status"])
    g.user = user
    return user


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        authenticate()
        return view(*args, **kwargs)

    wrapper._login_required = True  # type: ignore[attr-defined]
    return wrapper


def current_user() -> Row:
    return g.user


def is_admin(user: Row) -> bool:
    return user.get("role") == "admin"


def owns(user: Row, row: Row | None) -> bool:
    """The row belongs to the caller (owner key is the username), or the caller is an admin."""
    return row is not None and (row.get("user_id") == user["username"] or is_admin(user))
