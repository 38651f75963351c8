"""The caller's profile and settings."""

from __future__ import annotations

from apiflask import APIBlueprint

from webapp.accounts import keys, settings
from webapp.auth.guard import current_user
from webapp.auth.service import public_user
from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import GeminiKeyIn, MeOut, MessageOut, SettingsOut, SettingsPatch

bp = APIBlueprint("me", __name__, tag="Me")


@bp.get("/me")
@protected
@bp.output(MeOut)
@bp.doc(responses=AUTH_RESPONSES)
def me():
    """The caller, their settings and whether they stored their own Gemini key."""
    user = current_user()
    return {
        "user": public_user(user),
        "settings": settings.effective(user),
        "gemini_api_key_configured": keys.load_user_key(user) is not None,
    }


@bp.patch("/me/settings")
@protected
@bp.input(SettingsPatch, arg_name="changes")
@bp.output(SettingsOut)
@bp.doc(responses={**AUTH_RESPONSES, 404: "Unknown role prompt"})
def update_settings(changes: dict):
    """Change any of the seven settings; `{}` returns them unchanged, a null role clears it."""
    return settings.update(current_user(), changes)


@bp.put("/me/gemini-key")
@protected
@bp.input(GeminiKeyIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(responses=AUTH_RESPONSES)
def put_gemini_key(body: dict):
    """Store your own Gemini API key (encrypted at rest, never returned); it is used first."""
    keys.store_user_key(current_user(), body["api_key"].strip())
    return {"message": "Gemini API key stored"}


@bp.delete("/me/gemini-key")
@protected
@bp.output(MessageOut)
@bp.doc(responses=AUTH_RESPONSES)
def delete_gemini_key():
    """Remove your own Gemini API key (the server's key is used again)."""
    keys.store_user_key(current_user(), None)
    return {"message": "Gemini API key removed"}
