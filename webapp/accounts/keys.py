"""Users' own Gemini keys, encrypted at rest with a key derived from the server secret."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from webapp.config import signing_secret
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row

CONTEXT = b"aizoomdoc user api keys v1"


@lru_cache(maxsize=4)
def _fernet_for(secret: str) -> Fernet:
    derived = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), CONTEXT, 100_000)
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> Fernet:
    return _fernet_for(signing_secret(current_app.config))


def store_user_key(user: Row, api_key: str | None) -> None:
    encrypted = _fernet().encrypt(api_key.encode()).decode() if api_key else None
    chat_db().set_api_key(user["username"], encrypted)


def load_user_key(user: Row) -> str | None:
    encrypted = chat_db().get_api_key(user["username"])
    if not encrypted:
        return None
    try:
        return _fernet().decrypt(encrypted.encode()).decode()
    except InvalidToken:  # the server secret changed: the stored key cannot be read any more
        return None
