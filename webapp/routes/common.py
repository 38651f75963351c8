"""What every protected route shares: authentication first, and its mark in the OpenAPI doc."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from apiflask.scaffold import _annotate

from webapp.auth.guard import authenticate

AUTH_RESPONSES = {401: "Missing, bad, expired or revoked token", 403: "User blocked or inactive"}


def protected(view: Callable) -> Callable:
    """Authenticate before anything else (validation included), and document the bearer auth."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        authenticate()
        return view(*args, **kwargs)

    _annotate(wrapper, security="BearerAuth")
    return wrapper
