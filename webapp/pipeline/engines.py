"""Which engine answers a user: their own Gemini key first, the server's key, else the offline
engine. Also the per-chat dialog log hook."""

from __future__ import annotations

from flask import current_app

from webapp.llm.base import LLMEngine
from webapp.llm.dialog_log import DialogLog
from webapp.llm.local import LocalEngine
from webapp.stores.chatdb.base import Row


def user_api_key(user: Row) -> str | None:
    from webapp.accounts.keys import load_user_key

    return load_user_key(user)


def engine_for(user: Row) -> LLMEngine:
    """Gemini with the user's own key or else the server's; the offline engine when the
    provider is `local` or there is no key at all."""
    config = current_app.config
    key = user_api_key(user) or config["DEFAULT_GEMINI_API_KEY"]
    if config["LLM_PROVIDER"] == "gemini" or (key and config["LLM_PROVIDER"] != "local"):
        if key:
            from webapp.llm.gemini import GeminiEngine

            return GeminiEngine.from_config(config, key)
    return LocalEngine(token_delay=config["LOCAL_TOKEN_DELAY"])


def dialog_logger(chat_id: str):
    config = current_app.config
    if not config["LLM_LOG_ENABLED"]:
        return None
    return DialogLog(
        config["LLM_LOG_DIR"], chat_id, config["LLM_LOG_TRUNCATE_CHARS"], config["LLM_LOG_MAX_MB"]
    )
