"""`flask demo` through the real CLI."""

from __future__ import annotations


def test_demo_is_idempotent(app, demo):
    again = app.test_cli_runner().invoke(args=["demo", "--quiet"])
    assert again.output.strip().splitlines()[-1] == demo
    with app.app_context():
        from webapp.stores import projects_db

        documents = projects_db().list_nodes(node_type="document", all_nodes=True)
        crops = projects_db().list_files([demo], ("crop",))
    assert [d["id"] for d in documents] == [demo]
    assert len(crops) == 3 and all(
        c["r2_key"].startswith(f"tree_docs/{demo}/crops/") for c in crops
    )
