"""The projects tree, search and document results over the embedded projects DB."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def tree(app):
    """client → project → two documents (+ files), and a second client."""
    with app.app_context():
        from webapp.stores import projects_db

        db = projects_db()
        client_node = db.upsert_node(client_id="acme", node_type="client", name="ГК Олимп")
        project = db.upsert_node(
            client_id="acme", node_type="project", name="ЖК Мосфильм", parent_id=client_node["id"]
        )
        ar = db.upsert_node(
            client_id="acme",
            node_type="document",
            name="Кладочные планы",
            code="133/23-ГК-АР4",
            parent_id=project["id"],
            sort_order=2,
        )
        kr = db.upsert_node(
            client_id="acme",
            node_type="document",
            name="Армирование плит",
            code="133/23-ГК-КР1",
            parent_id=project["id"],
            sort_order=1,
        )
        other = db.upsert_node(client_id="other", node_type="client", name="Другой")
        base = f"tree_docs/{ar['id']}"
        for file_type, name in (
            ("result_md", "АР4_document.md"),
            ("blocks_index", "АР4_blocks.json"),
            ("ocr_html", "АР4_ocr.html"),
            ("crop", "crops/AAAA-BBBB-CCC.pdf"),
        ):
            db.upsert_node_file(
                node_id=ar["id"],
                file_type=file_type,
                r2_key=f"{base}/{name}",
                file_name=name.split("/")[-1],
                file_size=10,
            )
        return {"client": client_node, "project": project, "ar": ar, "kr": kr, "other": other}


def test_roots_children_and_order(client, alice, tree):
    roots = client.get("/projects/tree", headers=alice.headers).json
    assert {n["name"] for n in roots} == {"ГК Олимп", "Другой"}
    children = client.get(
        f"/projects/tree?parent_id={tree['project']['id']}", headers=alice.headers
    ).json
    assert [n["name"] for n in children] == ["Армирование плит", "Кладочные планы"]
    assert all(n["files"] == [] for n in children)
    node = children[0]
    assert set(node) == {
        "id",
        "parent_id",
        "client_id",
        "node_type",
        "name",
        "code",
        "version",
        "status",
        "attributes",
        "sort_order",
        "created_at",
        "updated_at",
        "files",
    }


def test_client_filter_type_filter_all_nodes(client, alice, tree):
    acme = client.get("/projects/tree?client_id=acme", headers=alice.headers).json
    assert [n["name"] for n in acme] == ["ГК Олимп"]
    every = client.get("/projects/tree?all_nodes=true", headers=alice.headers).json
    assert len(every) == 5
    docs = client.get(
        "/projects/tree?all_nodes=true&node_type=document", headers=alice.headers
    ).json
    assert {n["code"] for n in docs} == {"133/23-ГК-АР4", "133/23-ГК-КР1"}
    bad = client.get("/projects/tree?node_type=planet", headers=alice.headers)
    assert bad.status_code == 422 and bad.json["error"] == "validation_error"
    assert bad.json["details"] == {"node_type": ["unknown node type"]}


def test_include_files(client, alice, tree):
    nodes = client.get(
        "/projects/tree?all_nodes=true&include_files=true", headers=alice.headers
    ).json
    ar = next(n for n in nodes if n["id"] == tree["ar"]["id"])
    assert sorted(f["file_type"] for f in ar["files"]) == ["ocr_html", "result_md"]
    assert set(ar["files"][0]) == {
        "id",
        "job_id",
        "file_type",
        "r2_key",
        "file_name",
        "file_size",
        "created_at",
    }


@pytest.mark.parametrize("param", ["q", "query"])
def test_search_case_insensitive(client, alice, tree, param):
    found = client.get(f"/projects/search?{param}=кладочные", headers=alice.headers).json
    assert [n["id"] for n in found] == [tree["ar"]["id"]]
    by_code = client.get("/projects/search?q=гк-кр1", headers=alice.headers).json
    assert [n["id"] for n in by_code] == [tree["kr"]["id"]]


def test_search_is_not_a_filter_language(client, alice, tree):
    for text in ("%", "_", "*", ",or(name.neq.x)", "' OR 1=1 --"):
        response = client.get("/projects/search", query_string={"q": text}, headers=alice.headers)
        assert response.status_code == 200 and response.json == [], text


def test_search_validation_and_limit(client, alice, tree):
    for query, field in (("", "q"), ("?q=а&limit=0", "limit"), ("?q=а&limit=101", "limit")):
        response = client.get(f"/projects/search{query}", headers=alice.headers)
        assert response.status_code == 422 and response.json["error"] == "validation_error"
        assert list(response.json["details"]) == [field], query
    one = client.get("/projects/search?q=а&limit=1", headers=alice.headers).json
    assert len(one) == 1
    none = client.get("/projects/search?q=Кладочные&client_id=other", headers=alice.headers)
    assert none.json == []


def test_document_results(client, alice, tree):
    body = client.get(f"/projects/documents/{tree['ar']['id']}/results", headers=alice.headers).json
    assert body["document_node_id"] == tree["ar"]["id"]
    assert sorted(f["file_type"] for f in body["files"]) == [
        "blocks_index",
        "ocr_html",
        "result_md",
    ]
    assert all(f["external_url"] and f["filename"] for f in body["files"])


def test_document_results_errors(client, alice, tree):
    missing = client.get(f"/projects/documents/{uuid.uuid4()}/results", headers=alice.headers)
    assert missing.status_code == 404 and missing.json["error"] == "document_not_found"
    folder = client.get(
        f"/projects/documents/{tree['project']['id']}/results", headers=alice.headers
    )
    assert folder.status_code == 400 and folder.json["error"] == "not_a_document"
    anonymous = client.get(f"/projects/documents/{tree['ar']['id']}/results")
    assert anonymous.status_code == 401 and anonymous.json["error"] == "missing_token"


def test_document_block(client, alice, demo):
    """A citation [#ID] opens its block: text, kind, page and sheet, read from the document."""
    url = f"/projects/documents/{demo}/blocks/DEMO-PLAN-001"
    body = client.get(url, headers=alice.headers).json
    assert body["block_id"] == "DEMO-PLAN-001" and body["document_id"] == demo
    assert (body["kind"], body["page_number"], body["sheet"]) == ("image", 4, "2")
    assert "Кладовая 107" in body["text"] and body["heading"]
    assert "01_25-ДМ-АР.pdf" in body["document_name"]
    # ids are matched as answers write them
    lower = client.get(f"/projects/documents/{demo}/blocks/demo-plan-001", headers=alice.headers)
    assert lower.status_code == 200 and lower.json["block_id"] == "DEMO-PLAN-001"


def test_document_block_errors(client, alice, tree, demo):
    unknown = client.get(f"/projects/documents/{demo}/blocks/NOPE-1", headers=alice.headers)
    assert unknown.status_code == 404 and unknown.json["error"] == "block_not_found"
    missing = client.get(f"/projects/documents/{uuid.uuid4()}/blocks/X", headers=alice.headers)
    assert missing.status_code == 404 and missing.json["error"] == "document_not_found"
    folder = client.get(
        f"/projects/documents/{tree['project']['id']}/blocks/X", headers=alice.headers
    )
    assert folder.status_code == 400 and folder.json["error"] == "not_a_document"
    anonymous = client.get(f"/projects/documents/{demo}/blocks/DEMO-PLAN-001")
    assert anonymous.status_code == 401 and anonymous.json["error"] == "missing_token"
