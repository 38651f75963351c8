"""The projects DB contract: tree listing, search and files behave the same everywhere."""

from __future__ import annotations


def _tree(seed, seed_file):
    client = seed(client_id="c1", node_type="client", name="Клиент")
    project = seed(client_id="c1", node_type="project", name="Проект", parent_id=client["id"])
    b = seed(
        client_id="c1",
        node_type="document",
        name="Бета",
        code="АР-2",
        parent_id=project["id"],
        sort_order=1,
    )
    a = seed(
        client_id="c1",
        node_type="document",
        name="Альфа",
        code="АР-1",
        parent_id=project["id"],
        sort_order=1,
    )
    c = seed(client_id="c2", node_type="document", name="АЛЬФА 100%", code=None, sort_order=0)
    seed_file(node_id=a["id"], file_type="result_md", r2_key="tree_docs/a/d.md", file_name="d.md")
    seed_file(
        node_id=a["id"], file_type="crop", r2_key="tree_docs/a/crops/X.pdf", file_name="X.pdf"
    )
    return client, project, a, b, c


def test_listing(projects_store):
    store, seed, seed_file = projects_store
    client, project, a, b, c = _tree(seed, seed_file)
    assert [n["id"] for n in store.list_nodes()] == [c["id"], client["id"]]
    assert [n["id"] for n in store.list_nodes(parent_id=project["id"])] == [a["id"], b["id"]]
    assert [n["id"] for n in store.list_nodes(client_id="c2")] == [c["id"]]
    assert len(store.list_nodes(all_nodes=True)) == 5
    assert len(store.list_nodes(all_nodes=True, node_type="document")) == 3
    assert store.get_node(a["id"])["code"] == "АР-1"
    assert store.get_node("missing") is None
    store.ping()


def test_search(projects_store):
    store, seed, seed_file = projects_store
    _, _, a, b, c = _tree(seed, seed_file)
    assert {n["id"] for n in store.search_documents("альфа", None, 10)} == {a["id"], c["id"]}
    assert [n["id"] for n in store.search_documents("альфа", "c1", 10)] == [a["id"]]
    assert [n["id"] for n in store.search_documents("ар-2", None, 10)] == [b["id"]]
    assert [n["id"] for n in store.search_documents("100%", None, 10)] == [c["id"]]
    assert [n["id"] for n in store.search_documents("%", None, 10)] == [c["id"]]  # literal
    assert store.search_documents("_", None, 10) == []
    assert len(store.search_documents("а", None, 1)) == 1


def test_files(projects_store):
    store, seed, seed_file = projects_store
    _, _, a, b, _ = _tree(seed, seed_file)
    files = store.list_files([a["id"]])
    assert {f["file_type"] for f in files} == {"result_md", "crop"}
    assert all(f["node_id"] == a["id"] and f["job_id"] is None for f in files)
    assert [f["file_type"] for f in store.list_files([a["id"]], ("crop",))] == ["crop"]
    assert store.list_files([b["id"]]) == [] and store.list_files([]) == []
