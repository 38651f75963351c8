"""Point ImageMagick at the project's own policy without touching /etc.

ImageMagick reads its policy once, when Wand loads the library, so this must run before the first
`import wand`: every module here imports Wand lazily, right after calling
`apply_imagemagick_policy()`.
"""

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

POLICY_HOME = Path(__file__).resolve().parent
POLICY_DIR = POLICY_HOME / "ImageMagick"


_checked_load_order = False


def apply_imagemagick_policy() -> Path:
    """Set the environment so ImageMagick reads `ImageMagick/policy.xml` (idempotent).

    MAGICK_CONFIGURE_PATH is searched before /etc (its resource limits win: higher caps);
    XDG_CONFIG_HOME is searched after /etc (its coder rules win: PDF allowed). Returns the
    policy file's path. Warns once if Wand was already loaded (the policy then comes too late).
    """
    global _checked_load_order
    if not _checked_load_order:
        _checked_load_order = True
        if "wand.api" in sys.modules:
            log.warning(
                "ImageMagick was loaded before webapp.evidence applied its policy: the /etc limits "
                "apply (import Wand only after apply_imagemagick_policy())"
            )
    configure_paths = os.environ.get("MAGICK_CONFIGURE_PATH", "")
    if str(POLICY_DIR) not in configure_paths.split(os.pathsep):
        os.environ["MAGICK_CONFIGURE_PATH"] = os.pathsep.join(
            part for part in (str(POLICY_DIR), configure_paths) if part
        )
    os.environ["XDG_CONFIG_HOME"] = str(POLICY_HOME)
    return POLICY_DIR / "policy.xml"
