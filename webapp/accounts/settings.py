"""The seven per-user settings, with the server's defaults where a user has set nothing."""

from __future__ import annotations

from typing import Any

from flask import current_app

from webapp.errors import APIError
from webapp.stores import chat_db
from webapp.stores.chatdb.base import SETTINGS_FIELDS, Row


def defaults() -> dict[str, Any]:
    config = current_app.config
    return {
        "model_profile": "simple",
        "selected_role_prompt_id": None,
        "temperature": config["LLM_TEMPERATURE"],
        "top_p": config["LLM_TOP_P"],
        "thinking_enabled": config["THINKING_ENABLED"],
        "thinking_budget": config["THINKING_BUDGET"],
        "media_resolution": config["MEDIA_RESOLUTION"],
    }


def effective(user: Row) -> dict[str, Any]:
    row = chat_db().get_settings(user["username"]) or {}
    values = defaults()
    for field in SETTINGS_FIELDS:
        if row.get(field) is not None:
            values[field] = row[field]
    values["thinking_enabled"] = bool(values["thinking_enabled"])
    return values


def update(user: Row, changes: dict[str, Any]) -> dict[str, Any]:
    """Persist the given fields (all seven may change); an unknown or disabled role is 404."""
    changes = {k: v for k, v in changes.items() if k in SETTINGS_FIELDS}
    role_id = changes.get("selected_role_prompt_id")
    if role_id is not None:
        role = chat_db().get_role(role_id)
        if role is None or not role.get("is_active"):
            raise APIError(404, f"Role prompt {role_id} not found.", "role_not_found")
    if changes:
        chat_db().save_settings(user["username"], changes)
    return effective(user)
