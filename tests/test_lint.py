"""The code stays formatted and lint-clean (flake8 and isort, configured in setup.cfg)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PATHS = ["webapp", "tests", "scripts/bench", "wsgi.py", "gunicorn.conf.py"]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    existing = [p for p in PATHS if (ROOT / p).exists()]
    return subprocess.run([str(Path(sys.executable).parent / tool), *args, *existing], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_flake8_clean():
    result = _run("flake8")
    assert result.returncode == 0, result.stdout + result.stderr


def test_isort_clean():
    result = _run("isort", "--check-only", "--diff")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
