"""Token exchange and logout."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from webapp.auth import service
from webapp.routes.schemas import ExchangeIn, ExchangeOut, MessageOut

bp = APIBlueprint("auth", __name__, tag="Auth")


@bp.post("/auth/exchange")
@bp.input(ExchangeIn, arg_name="body")
@bp.output(ExchangeOut)
@bp.doc(
    responses={
        401: "Unknown static token",
        403: "User blocked or inactive",
        429: {
            "description": "Too many exchanges from this address: nginx's limit_req in front of "
            "the app (roles/nginx, nginx_auth_rate), in HTML",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    }
)
def exchange(body: dict):
    """Exchange a static token for a short-lived access token (JWT)."""
    return service.exchange(body["static_token"])


@bp.post("/auth/logout")
@bp.output(MessageOut)
@bp.doc(
    security=[{"BearerAuth": []}, {}],
    responses={401: "Bad, expired or revoked token (sent, but not valid)"},
)
def logout():
    """Log out; with a bearer token, that token is revoked at once."""
    if request.headers.get("Authorization"):
        verify_jwt_in_request()
        service.revoke(get_jwt())
    return {"message": "Logged out"}
