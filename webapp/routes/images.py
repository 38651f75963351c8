"""Objects behind capability links (`/images/<token>`): no auth header, the token is the key."""

from __future__ import annotations

import mimetypes

from apiflask import APIBlueprint
from flask import Response

from webapp.errors import APIError
from webapp.links import unsign_key
from webapp.stores import objects
from webapp.stores.objects.base import ObjectNotFound, iter_chunks

bp = APIBlueprint("images", __name__, tag="Images")


@bp.get("/images/<token>")
@bp.doc(
    security=[],
    responses={
        200: {
            "description": "The image (PNG) or the file's bytes, of the type its name says",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "ETag": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}},
            },
        },
        404: "Bad or expired token",
    },
)
def get_image(token: str):
    """A rendered image (or stored file) by its signed, expiring token."""
    key = unsign_key(token)
    if key is None:
        raise APIError(404, "Image link is invalid or has expired.", "image_not_found")
    try:
        stream = objects().open(key)
    except ObjectNotFound:
        raise APIError(404, "Image no longer exists.", "image_not_found") from None
    info = objects().head(key)

    def body():
        with stream:
            yield from iter_chunks(stream, 256 * 1024)

    response = Response(body(), mimetype=mimetypes.guess_type(key)[0] or "application/octet-stream")
    if info is not None:
        response.headers["Content-Length"] = str(info.size)
        response.headers["ETag"] = f'"{info.etag}"'
    response.headers["Cache-Control"] = "private, max-age=604800, immutable"
    return response
