"""Parts a test needs from the machine (PostgreSQL, Ghostscript, ImageMagick, poppler, container
tools): missing ones skip the test on a developer's machine, and fail it under CI (`CI=true`), where
a skip would hide that the suite did not really run.

The one deliberate exception is the third-party samples folder (`samples_dir` in tests/conftest.py):
it is data from outside the repository that a CI machine may lack, so it stays a skip everywhere.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (`.ci/run` exports CI=true; so do most CI services)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def missing(reason: str) -> NoReturn:
    """Skip (locally) or fail (under CI) the current test because `reason` is missing."""
    if in_ci():
        pytest.fail(f"required on CI, but {reason}", pytrace=False)
    pytest.skip(reason)


def require(condition: object, reason: str) -> None:
    """Go on when `condition` holds; otherwise `missing(reason)`."""
    if not condition:
        missing(reason)


def require_tool(name: str, hint: str) -> str:
    """The path of the executable `name`, or skip/fail naming what to install (`hint`)."""
    path = shutil.which(name)
    require(path, f"{name} is not installed ({hint})")
    return path  # type: ignore[return-value]


def require_imagemagick() -> None:
    """Wand loads the MagickWand library on import; without it nothing can be rendered."""
    try:
        from wand.image import Image  # noqa: F401
    except ImportError as exc:
        missing(f"ImageMagick (MagickWand) cannot be loaded: {exc}")
