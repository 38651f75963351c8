"""The shipped ImageMagick policy takes effect through the environment, without touching /etc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .helpers import Marker, make_sheet

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
from webapp.evidence.raster import load_wand
load_wand()
import wand.resource
from wand.image import Image
with Image(filename="pdf:" + sys.argv[1], resolution=36) as page:
    size = page.size
print(json.dumps({
    "memory": wand.resource.limits["memory"],
    "area": wand.resource.limits["area"],
    "pdf_size": size,
}))
"""


def test_policy_grants_pdf_and_raises_limits(tmp_path: Path):
    pdf = make_sheet(tmp_path / "sheet.pdf", 720, 360, [Marker(10, 10, 10)])
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(pdf)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pdf_size"] == [360, 180]  # Debian's /etc policy forbids reading PDF at all
    assert report["memory"] >= 2 * 1024**3  # /etc caps it at 256 MiB
    assert report["area"] >= 10**9  # /etc: 128 MP


def test_apply_is_idempotent(monkeypatch):
    from webapp.evidence import policy

    monkeypatch.setenv("MAGICK_CONFIGURE_PATH", "/opt/other")
    first = policy.apply_imagemagick_policy()
    value = policy.os.environ["MAGICK_CONFIGURE_PATH"]
    assert policy.apply_imagemagick_policy() == first and first.is_file()
    assert policy.os.environ["MAGICK_CONFIGURE_PATH"] == value
    assert value.split(":") == [str(policy.POLICY_DIR), "/opt/other"]
    assert policy.os.environ["XDG_CONFIG_HOME"] == str(policy.POLICY_HOME)
