"""flask-jwt-extended set up for our tokens and our error format.

The signing key is asked for at each use (`config.signing_secret`), so a token is never signed
or accepted with a missing or default secret, while an app that serves no tokens (a CLI command)
needs none.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, jsonify
from flask_jwt_extended import JWTManager

from webapp.config import signing_secret
from webapp.errors import error_body
from webapp.stores import chat_db


def _unauthorized(message: str, code: str = "invalid_token"):
    response = jsonify(error_body(401, message, code))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def init_app(app: Flask) -> None:
    app.config.update(
        JWT_SECRET_KEY=app.config["JWT_SECRET_KEY"],
        JWT_ALGORITHM=app.config["JWT_ALGORITHM"],
        JWT_DECODE_ALGORITHMS=[app.config["JWT_ALGORITHM"]],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=app.config["ACCESS_TOKEN_EXPIRE_MINUTES"]),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ERROR_MESSAGE_KEY="message",
    )
    manager = JWTManager(app)

    @manager.encode_key_loader
    def encode_key(_identity: object) -> str:
        return signing_secret(current_app.config)

    @manager.decode_key_loader
    def decode_key(_header: dict, _payload: dict) -> str:
        return signing_secret(current_app.config)

    @manager.token_in_blocklist_loader
    def revoked(_header: dict, payload: dict) -> bool:
        return chat_db().is_token_revoked(payload["jti"])

    @manager.unauthorized_loader
    def missing(reason: str):
        return _unauthorized(
            "Missing bearer token: send 'Authorization: Bearer <token>'.", "missing_token"
        )

    @manager.invalid_token_loader
    def invalid(reason: str):
        return _unauthorized(f"Invalid token: {reason}.")

    @manager.expired_token_loader
    def expired(_header: dict, _payload: dict):
        return _unauthorized(
            "Token has expired; exchange your static token again.", "token_expired"
        )

    @manager.revoked_token_loader
    def was_revoked(_header: dict, _payload: dict):
        return _unauthorized(
            "Token has been revoked; exchange your static token again.", "token_revoked"
        )

    @manager.needs_fresh_token_loader
    def not_fresh(_header: dict, _payload: dict):
        return _unauthorized("A fresh token is required.")

    @manager.user_lookup_error_loader
    def lookup_failed(_header: dict, _payload: dict):
        return _unauthorized("The user of this token no longer exists.")
