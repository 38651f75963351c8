"""Following the links the server hands out, as a client without our auth headers would."""

from __future__ import annotations

import urllib.parse

import requests


def fetch(client, url: str) -> tuple[int, bytes, str]:
    """(status, body, content type) of a link: our own `/images/...` link (embedded storage)
    through the app's test client, the bucket's public or presigned URL (S3) over HTTP."""
    parts = urllib.parse.urlsplit(url)
    if parts.path.startswith("/images/") and parts.hostname == "localhost":
        response = client.get(parts.path)
        return response.status_code, response.data, response.headers.get("Content-Type", "")
    response = requests.get(url, timeout=10)
    return response.status_code, response.content, response.headers.get("Content-Type", "")
