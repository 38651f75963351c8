"""`flask search` through the real CLI, on the demo set."""

from __future__ import annotations

import json


def test_search_command(app, demo):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["search", demo, "кладовая 107", "--json", "--limit", "3"])
    hits = json.loads(listed.output)
    assert hits[0]["block_id"] == "DEMO-PLAN-001" and hits[0]["score"] > 0
    assert len(hits) <= 3 and {"block_id", "score", "kind", "page", "snippet"} <= set(hits[0])
    table = runner.invoke(args=["search", demo, "перемычки"])
    assert "DEMO-SPEC-001" in table.output
    missing = runner.invoke(args=["search", "00000000-0000-0000-0000-000000000000", "x"])
    assert missing.exit_code != 0 and "not found" in missing.output
