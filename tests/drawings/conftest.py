"""Fixtures for the drawings package: the demo set, and readers of the PDFs it draws."""

from __future__ import annotations

import base64
import re
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.support.requirements import require_tool
from webapp.drawings.demo_set import DemoSet, build_demo_set


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    return build_demo_set(tmp_path_factory.mktemp("demo"))


def pdf_streams(data: bytes) -> list[bytes]:
    """Decoded content of every stream (Flate or plain) in a PDF."""
    decoded = []
    for match in re.finditer(rb"<<((?:(?!<<|>>).)*?)>>\s*stream\r?\n(.*?)endstream", data, re.S):
        filters, raw = match.group(1), match.group(2)
        try:
            if b"/ASCII85Decode" in filters:
                raw = base64.a85decode(raw.strip(), adobe=True)  # reportlab ends it with ~>
            if b"/FlateDecode" in filters:
                raw = zlib.decompressobj().decompress(raw)
        except (ValueError, zlib.error):
            pass
        decoded.append(raw)
    return decoded


def pdf_page_size(data: bytes) -> tuple[float, float]:
    """Width and height (points) from the first /MediaBox."""
    match = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert match, "no /MediaBox"
    x0, y0, x1, y1 = (float(value) for value in match.groups())
    return x1 - x0, y1 - y0


def pdftotext(path: Path, bbox_norm: tuple[float, float, float, float] | None = None) -> str:
    """Text of a one-page PDF (optionally of a region in 0..1, top-left origin) via poppler."""
    require_tool("pdftotext", "apt-get install poppler-utils")
    command = ["pdftotext", "-layout", "-r", "72"]
    if bbox_norm is not None:
        width, height = pdf_page_size(path.read_bytes())
        x0, y0, x1, y1 = bbox_norm
        command += ["-x", str(int(x0 * width)), "-y", str(int(y0 * height)),
                    "-W", str(int((x1 - x0) * width) + 1), "-H", str(int((y1 - y0) * height) + 1)]
    command += [str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout
