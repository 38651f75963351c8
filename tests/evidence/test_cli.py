"""`flask render` and `flask cache …` through the real CLI, on the demo set."""

from __future__ import annotations

import json

from wand.image import Image


def test_render_command(app, demo, tmp_path):
    runner = app.test_cli_runner()
    overview = tmp_path / "plan.png"
    result = runner.invoke(args=["render", demo, "DEMO-PLAN-001", "--out", str(overview)])
    assert result.exit_code == 0, result.output
    assert "grid" in result.output
    with Image(filename=str(overview)) as image:
        assert max(image.size) == 2000
    roi = tmp_path / "roi.png"
    result = runner.invoke(
        args=["render", demo, "DEMO-PLAN-001", "--sector", "b2", "--dpi", "200", "--out", str(roi)]
    )
    assert result.exit_code == 0 and "roi" in result.output and roi.exists()
    bad = runner.invoke(
        args=[
            "render",
            demo,
            "DEMO-PLAN-001",
            "--bbox",
            "0.5,0.5,0.5,0.9",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert bad.exit_code != 0 and not (tmp_path / "x.png").exists()
    unknown = runner.invoke(args=["render", demo, "ZZZZ-ZZZZ-ZZZ", "--out", str(roi)])
    assert unknown.exit_code != 0 and "not in the document" in unknown.output


OFF = "shared render_cache/: not used (STORAGE=local)"


def test_cache_commands(app, demo, tmp_path):
    """On the session's backends: with STORAGE=s3 the renders are shared in the bucket too, and
    every command reports on both levels."""
    shared = app.config["STORAGE"] != "local"
    runner = app.test_cli_runner()
    for sector in ("A1", "B2"):
        rendered = runner.invoke(
            args=[
                "render",
                demo,
                "DEMO-PLAN-001",
                "--sector",
                sector,
                "--out",
                str(tmp_path / f"{sector}.png"),
            ]
        )
        assert rendered.exit_code == 0, rendered.output
    node = runner.invoke(args=["render", demo, "DEMO-NODE-001", "--out", str(tmp_path / "n.png")])
    assert node.exit_code == 0, node.output
    numbers = json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)
    assert numbers["entries"] == 3 and numbers["bytes"] > 0
    assert (numbers["shared"] or {}).get("entries") == (3 if shared else None)
    text = runner.invoke(args=["cache", "stats"]).output.splitlines()
    assert "3 entries" in text[0]
    assert text[1].startswith("shared render_cache/: 3 entries" if shared else OFF)
    plan_key = f"tree_docs/{demo}/crops/DEMO-PLAN-001.pdf"
    wildcard = runner.invoke(args=["cache", "invalidate", f"tree_docs/{demo}/crops/%"])
    assert "Removed 0 renders" in wildcard.output  # no wildcard surprises
    assert "Removed 2 renders" in runner.invoke(args=["cache", "invalidate", plan_key]).output
    pruned = runner.invoke(args=["cache", "prune"]).output.strip().splitlines()
    assert pruned[0].startswith('Pruned: {"expired": 0, "evicted": 0, "freed_bytes": 0}')
    shared_pruned = 'Pruned shared render_cache/: {"expired": 0, "evicted": 0, "freed_bytes": 0'
    assert pruned[1].startswith(shared_pruned if shared else OFF)
    cleared = runner.invoke(args=["cache", "clear", "--yes"]).output.strip().splitlines()
    assert cleared[0] == "Removed 1 entries from this host's cache."
    assert cleared[1] == ("Removed 3 shared renders from render_cache/." if shared else OFF)
    assert json.loads(runner.invoke(args=["cache", "stats", "--json"]).output)["entries"] == 0
