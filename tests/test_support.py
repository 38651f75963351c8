"""The test suite's own helpers: missing parts skip locally and fail under CI, and the samples
folder is found from wherever the repository is cloned."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import find_samples
from tests.support.requirements import in_ci, require, require_tool


@pytest.mark.parametrize("value, ci", [("true", True), ("1", True), ("", False), ("false", False)])
def test_require_skips_locally_and_fails_under_ci(monkeypatch, value, ci):
    monkeypatch.setenv("CI", value)
    assert in_ci() is ci
    require(True, "never reported")
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="frobnicator-that-does-not-exist is not installed"):
        require_tool("frobnicator-that-does-not-exist", "apt-get install frobnicator")


def test_samples_found_from_any_clone(tmp_path: Path):
    repo = tmp_path / "work" / "checkouts" / "aizoomdoc"
    repo.mkdir(parents=True)
    beside = tmp_path / "work" / "checkouts" / "shared" / "samples"
    above = tmp_path / "work" / "shared" / "samples"
    # nothing anywhere: the conventional place next to the repository is named
    assert find_samples(repo, env={}) == beside
    above.mkdir(parents=True)
    assert find_samples(repo, env={}) == above  # in a folder further up
    beside.mkdir(parents=True)
    assert find_samples(repo, env={}) == beside  # the nearest wins
    chosen = tmp_path / "elsewhere"
    assert find_samples(repo, env={"AIZOOMDOC_SAMPLES": str(chosen)}) == chosen  # always first
