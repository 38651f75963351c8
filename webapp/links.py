"""Capability links: signed, expiring references to stored objects, fetchable without headers.

Used for rendered evidence images (`/images/<token>`) and for files when the
storage has no public or presigned URL of its own (the local directory store).
"""

from __future__ import annotations

from flask import current_app, has_request_context, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from webapp.config import signing_secret

SALT = "aizoomdoc.object-link.v1"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_secret(current_app.config), salt=SALT)


def sign_key(key: str) -> str:
    return _serializer().dumps(key)


def unsign_key(token: str) -> str | None:
    """The object key of a valid, unexpired token; None otherwise."""
    try:
        key = _serializer().loads(token, max_age=current_app.config["IMAGE_URL_TTL_SECONDS"])
    except (BadSignature, SignatureExpired):
        return None
    return key if isinstance(key, str) else None


def object_url(key: str, base_url: str | None = None) -> str:
    """A URL a client can fetch: the storage's own (public/presigned) or our signed link.

    Inside a request the link is absolute for that request's host; a run (outside any request)
    passes the `base_url` its stream was opened with.
    """
    from webapp.stores import objects

    ttl = current_app.config["IMAGE_URL_TTL_SECONDS"]
    direct = objects().url(key, ttl)
    if direct:
        return direct
    if base_url is not None or not has_request_context():
        return (base_url or "").rstrip("/") + f"/images/{sign_key(key)}"
    return url_for("images.get_image", token=sign_key(key), _external=True)
